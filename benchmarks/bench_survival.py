"""Time and peak memory of ``churnlab train`` and ``churnlab score`` at several sizes.

Each size is simulated into a temporary folder (36 months, seed 42), then the real CLI
runs train (landmarks, rolling-origin backtest of every model, champion refit) and
score in their own processes; peak resident memory is each process's own (``wait4``).
Every command's output (train with its progress bars, so the per-step times of a long
run are on record even if it is stopped) goes to ``--log``. Each row is printed as
soon as it is measured; the table is appended to RESULTS_survival.md at the end.

    nice -n 10 .venv/bin/python benchmarks/bench_survival.py [--sizes 5000 50000] \
        [--months 36] [--log benchmarks/bench_survival.log]
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

sys.path.insert(0, str(Path(__file__).parent))
from bench_foundation import data_end  # noqa: E402

HERE = Path(__file__).parent


def run_logged(cmd: list[str], log: Path) -> tuple[float, float]:
    """Run ``cmd`` with its output appended to ``log``; (wall seconds, peak RSS MB)."""
    with log.open("a") as fh:
        fh.write(f"\n$ {' '.join(cmd)}\n[{dt.datetime.now(dt.timezone.utc):%H:%M:%S} UTC]\n")
        fh.flush()
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        fh.write(f"\n[{dt.datetime.now(dt.timezone.utc):%H:%M:%S} UTC] {wall:.1f} s, "
                 f"peak {usage.ru_maxrss / 1024:.0f} MB\n")
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd)} (see {log})")
    return wall, usage.ru_maxrss / 1024


def load_average() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[5000, 50000])
    ap.add_argument("--months", type=int, default=36)
    ap.add_argument("--start", default="2023-11-01")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--log", type=Path, default=HERE / "bench_survival.log")
    args = ap.parse_args()
    cli = [sys.executable, "-m", "churnlab.cli"]
    as_of = data_end(args.start, args.months)
    rows = []
    loads = [load_average()]
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        for n in args.sizes:
            data = Path(tmp) / f"sim{n}"
            wall, rss = run_logged(cli + ["-q", "simulate", "--accounts", str(n), "--months",
                                          str(args.months), "--seed", "42", "--start",
                                          args.start, "--out", str(data)], args.log)
            print(f"{n} simulate {wall:.1f} s {rss:.0f} MB (not part of train)", flush=True)
            models = Path(tmp) / f"models{n}"
            wall, rss = run_logged(cli + ["train", "--data", str(data), "--as-of", as_of,
                                          "--model-dir", str(models)], args.log)
            rows.append((n, "train (landmarks + backtest of 6 models x 3 origins + refit)",
                         wall, rss))
            print(rows[-1], flush=True)
            loads.append(load_average())
            wall, rss = run_logged(cli + ["-q", "score", "--data", str(data), "--as-of", as_of,
                                          "--model", str(models), "--out",
                                          str(Path(tmp) / "s.parquet")], args.log)
            rows.append((n, "score (snapshot + champion)", wall, rss))
            print(rows[-1], flush=True)
            loads.append(load_average())
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
    lines = [f"\n## {stamp} UTC on {platform.node()} ({os.cpu_count()} cores, Python "
             f"{platform.python_version()}), {args.months} months, as-of {as_of}\n",
             "| accounts | step | wall time (s) | peak memory (MB) |", "|---:|---|---:|---:|"]
    lines += [f"| {n:,} | {step} | {w:.1f} | {r:.0f} |" for n, step, w, r in rows]
    lines += ["", f"Load averages (1/5/15 min) at the start and after each step: "
              f"{'; '.join(loads)}. Per-step progress in `{args.log.name}`."]
    path = HERE / "RESULTS_survival.md"
    if not path.exists():
        path.write_text("# Survival benchmark results\n\nWritten by "
                        "`benchmarks/bench_survival.py`.\n")
    with path.open("a") as fh:
        fh.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
