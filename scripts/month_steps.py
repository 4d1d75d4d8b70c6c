"""Where one `churnlab report` goes: the same command, with the month's steps (scoring,
explaining and triaging the book, last month's tiers and scores, the experiment read-out,
uplift, expansion, the notebook) wrapped in timers. Prints seconds per step.

    .venv/bin/python scripts/month_steps.py --data /tmp/w50k --month 2026-10 \\
        --model /tmp/m50k --out /tmp/rep50b
"""

from __future__ import annotations

import argparse
import functools
import time

import churnlab.pipeline.month as month
import churnlab.pipeline.render as render
from churnlab.cli import main as cli

SECONDS: dict[str, float] = {}


def _timed(module, name: str) -> None:
    fn = getattr(module, name)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            SECONDS[name] = SECONDS.get(name, 0.0) + time.perf_counter() - t0

    setattr(module, name, wrapper)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--month", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    for name in ("book", "rule_tiers", "score_accounts", "run_experiments", "uplift_rows",
                 "validate_uplift", "target_book", "run_expansion"):
        _timed(month, name)
    for name in ("require_valid", "resolve_model", "compute_month", "run_notebook"):
        _timed(render, name)
    t0 = time.perf_counter()
    try:
        cli(["--quiet", "report", "--data", a.data, "--month", a.month, "--model", a.model,
             "--out", a.out, "--force"])
    except SystemExit:
        pass
    for name, s in sorted(SECONDS.items(), key=lambda kv: -kv[1]):
        print(f"{name:>16}: {s:6.1f} s")
    print(f"{'total':>16}: {time.perf_counter() - t0:6.1f} s")


if __name__ == "__main__":
    main()
