"""Where one `churnlab report` goes: the same command, with the month's steps (scoring,
explaining and triaging the book, last month's tiers and scores, the experiment read-out,
uplift, expansion, the notebook) wrapped in timers. Prints seconds per step and the peak
resident memory of this process (sampled every 0.2 s) while each step ran; the notebook's
kernel is a child process and counted in its step.

    .venv/bin/python scripts/month_steps.py --data /tmp/w50k --month 2026-10 \\
        --model /tmp/m50k --out /tmp/rep50b
"""

from __future__ import annotations

import argparse
import functools
import threading
import time

import psutil

import churnlab.pipeline.month as month
import churnlab.pipeline.render as render
from churnlab.cli import main as cli

SECONDS: dict[str, float] = {}
PEAK_MB: dict[str, float] = {}
RUNNING: list[str] = []


def _sample() -> None:
    me = psutil.Process()
    while True:
        total = 0
        for p in [me, *me.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        for name in list(RUNNING):
            PEAK_MB[name] = max(PEAK_MB.get(name, 0.0), total / 2**20)
        time.sleep(0.2)


def _timed(module, name: str) -> None:
    fn = getattr(module, name)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        RUNNING.append(name)
        try:
            return fn(*args, **kwargs)
        finally:
            RUNNING.remove(name)
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
    threading.Thread(target=_sample, daemon=True).start()
    t0 = time.perf_counter()
    RUNNING.append("total")
    try:
        cli(["--quiet", "report", "--data", a.data, "--month", a.month, "--model", a.model,
             "--out", a.out, "--force"])
    except SystemExit:
        pass
    for name, s in sorted(SECONDS.items(), key=lambda kv: -kv[1]):
        print(f"{name:>16}: {s:6.1f} s   peak {PEAK_MB.get(name, float('nan')):7,.0f} MB")
    print(f"{'total':>16}: {time.perf_counter() - t0:6.1f} s   peak "
          f"{PEAK_MB.get('total', float('nan')):7,.0f} MB")


if __name__ == "__main__":
    main()
