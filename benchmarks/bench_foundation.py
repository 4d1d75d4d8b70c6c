"""Time and peak memory of simulate, validate, features and landmarks at several sizes.

Each step runs as its own process (the real CLI), so the peak resident memory is that
step's own (read from ``wait4``'s rusage). Results are appended to RESULTS.md.

    .venv/bin/python benchmarks/bench_foundation.py [--sizes 5000 50000] [--months 36]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent


def run(cmd: list[str]) -> tuple[float, float]:
    """Run ``cmd``; return (wall seconds, peak RSS in MB). Fails loudly."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    out = proc.stdout.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{out}")
    print(out.strip().splitlines()[-1] if out.strip() else "", flush=True)
    return wall, usage.ru_maxrss / 1024


def data_end(start: str, months: int) -> str:
    d = dt.date.fromisoformat(start)
    y, m = divmod(d.month - 1 + months, 12)
    return dt.date(d.year + y, m + 1, 1).isoformat()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 50000])
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--start", default="2023-11-01")
    parser.add_argument("--landmarks", type=int, default=12, help="monthly landmark dates")
    args = parser.parse_args()
    cli = [sys.executable, "-m", "churnlab.cli", "-q"]
    as_of = data_end(args.start, args.months)
    first = data_end(args.start, args.months - args.landmarks)
    last = data_end(args.start, args.months - 1)
    rows = []
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            raw = Path(tmp) / "raw"
            steps = {
                "simulate": cli + ["simulate", "--accounts", str(n), "--months", str(args.months),
                                   "--seed", "7", "--start", args.start, "--out", str(raw)],
                "validate": cli + ["validate", "--data", str(raw)],
                "features (1 as-of)": cli + ["features", "--data", str(raw), "--as-of", as_of,
                                             "--out", str(Path(tmp) / "f.parquet")],
                f"landmarks ({args.landmarks} months)": cli + [
                    "landmarks", "--data", str(raw), "--start", first, "--end", last,
                    "--out", str(Path(tmp) / "lm.parquet")],
            }
            for step, cmd in steps.items():
                print(f"{n:>6} accounts: {step} ...", flush=True)
                wall, peak = run(cmd)
                size = sum(f.stat().st_size for f in raw.rglob("*") if f.is_file()) / 2**20
                rows.append((n, step, wall, peak, size))
                print(f"        {wall:7.1f} s, peak {peak:7.0f} MB", flush=True)
    lines = [
        f"\n## {dt.datetime.now():%Y-%m-%d %H:%M} on {platform.node()} "
        f"({os.cpu_count()} cores, Python {platform.python_version()}), "
        f"{args.months} months\n",
        "| accounts | step | wall time (s) | peak memory (MB) | input size on disk (MB) |",
        "|---:|---|---:|---:|---:|",
    ]
    lines += [f"| {n:,} | {step} | {wall:.1f} | {peak:.0f} | {size:.0f} |"
              for n, step, wall, peak, size in rows]
    with (HERE / "RESULTS.md").open("a") as fh:
        fh.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
