"""The 5,000-account demo from scratch, timed: the main job of `make demo` (simulate,
validate, features, landmarks, backtest, champion, report with packs) in fresh folders,
``--runs`` times in a row, so that the spread of this machine shows.

    .venv/bin/python benchmarks/bench_demo.py --runs 3 [--out benchmarks/RESULTS_demo.md]

Each run is a separate ``churnlab demo`` process: its wall time, the peak resident memory
of the process and its children (the backtest's workers), and the times it prints
itself (the backtest's progress bar, the report's "done in"). The issue's target: under
90 seconds.
"""

from __future__ import annotations

import argparse
import re
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path


def one_run(folder: Path) -> dict:
    cmd = [sys.executable, "-m", "churnlab.cli", "demo", "--raw", str(folder / "raw"),
           "--processed", str(folder / "processed"), "--model-dir", str(folder / "models"),
           "--reports", str(folder / "reports")]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    run = subprocess.run(cmd, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    text = run.stdout + run.stderr
    backtest = re.findall(r"backtest: 100%\|[^|]*\| \d+/\d+ \[(\d+):(\d+)<", text)
    report = re.findall(r"done in (\d+)s -> ", text)
    return {"wall_s": wall,
            "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            "peak_mb": after.ru_maxrss / 1024,       # the largest child's, in KB on Linux
            "backtest_s": int(backtest[-1][0]) * 60 + int(backtest[-1][1]) if backtest else None,
            "report_s": int(report[-1]) if report else None}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", default=None, help="append the table to this Markdown file")
    a = ap.parse_args()
    rows = []
    for i in range(a.runs):
        with tempfile.TemporaryDirectory(prefix="churnlab-demo-") as tmp:
            rows.append(one_run(Path(tmp)))
        r = rows[-1]
        print(f"run {i + 1}: {r['wall_s']:.1f} s wall, {r['cpu_s']:.0f} CPU-s, peak "
              f"{r['peak_mb']:.0f} MB, backtest {r['backtest_s']} s, report {r['report_s']} s",
              flush=True)
    walls = sorted(r["wall_s"] for r in rows)
    median = walls[len(walls) // 2]
    lines = [f"\n## {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC: `churnlab demo` from "
             f"scratch, {a.runs} runs\n",
             "| run | wall (s) | CPU (s) | peak RSS (MB) | backtest (s) | report (s) |",
             "|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {i + 1} | {r['wall_s']:.1f} | {r['cpu_s']:.0f} | {r['peak_mb']:.0f} | "
              f"{r['backtest_s']} | {r['report_s']} |" for i, r in enumerate(rows)]
    lines.append(f"\nMedian {median:.1f} s, range {walls[0]:.1f}-{walls[-1]:.1f} s "
                 "(target: under 90 s).")
    print("\n".join(lines))
    if a.out:
        with open(a.out, "a", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
