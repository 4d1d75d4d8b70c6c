"""Time and peak memory of ``churnlab train`` and ``churnlab score`` at several sizes.

Each size is simulated into a temporary folder (36 months, seed 42), then the real CLI
runs train (landmarks, rolling-origin backtest of every model, champion refit) and
score in their own processes; peak resident memory is each process's own (``wait4``).
Results are appended to RESULTS_survival.md.

    .venv/bin/python benchmarks/bench_survival.py [--sizes 5000 50000] [--months 36]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_foundation import data_end, run  # noqa: E402

HERE = Path(__file__).parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[5000, 50000])
    ap.add_argument("--months", type=int, default=36)
    ap.add_argument("--start", default="2023-11-01")
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args()
    cli = [sys.executable, "-m", "churnlab.cli", "-q"]
    as_of = data_end(args.start, args.months)
    rows = []
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        for n in args.sizes:
            data = Path(tmp) / f"sim{n}"
            run(cli + ["simulate", "--accounts", str(n), "--months", str(args.months),
                       "--seed", "42", "--start", args.start, "--out", str(data)])
            models = Path(tmp) / f"models{n}"
            wall, rss = run(cli + ["train", "--data", str(data), "--as-of", as_of,
                                   "--model-dir", str(models)])
            rows.append((n, "train (landmarks + backtest of 6 models x 3 origins + refit)",
                         wall, rss))
            wall, rss = run(cli + ["score", "--data", str(data), "--as-of", as_of,
                                   "--model", str(models), "--out", str(Path(tmp) / "s.parquet")])
            rows.append((n, "score (snapshot + champion)", wall, rss))
            print(rows[-2:], flush=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
    lines = [f"\n## {stamp} UTC on {platform.node()} ({os.cpu_count()} cores, Python "
             f"{platform.python_version()}), {args.months} months, as-of {as_of}\n",
             "| accounts | step | wall time (s) | peak memory (MB) |", "|---:|---|---:|---:|"]
    lines += [f"| {n:,} | {step} | {w:.1f} | {r:.0f} |" for n, step, w, r in rows]
    path = HERE / "RESULTS_survival.md"
    if not path.exists():
        path.write_text("# Survival benchmark results\n\nWritten by "
                        "`benchmarks/bench_survival.py`.\n")
    with path.open("a") as fh:
        fh.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
