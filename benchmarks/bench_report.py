"""Wall time and peak memory of the monthly report (`churnlab report`) at several sizes.

For each size: simulate the SaaS (or reuse ``--data``), train the champion with
`churnlab train` and score the book with `churnlab score` (both timed too: the 50k
train/score rows are issue 4's survival benchmark at that size), then render the
latest complete month with `churnlab report --model ...`. Each step is its own process; the peak resident memory
is the largest single process of the step (the report's notebook kernel is a child
process: ``wait4`` reports the maximum over the process tree's members). Results are
appended to RESULTS_report.md.

    .venv/bin/python benchmarks/bench_report.py [--sizes 5000 50000] [--months 36]
    .venv/bin/python benchmarks/bench_report.py --data data/raw/demo   # one existing folder
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


def bench_one(cli, raw: Path, tmp: Path, as_of: str, month: str, n_label) -> list[tuple]:
    rows = []
    models, reports = tmp / "models", tmp / "reports"
    steps = {
        "train (landmarks + backtest + champion)": cli + [
            "train", "--data", str(raw), "--as-of", as_of, "--model-dir", str(models)],
        "score (snapshot + champion)": cli + [
            "score", "--data", str(raw), "--as-of", as_of, "--model", str(models),
            "--out", str(tmp / "scores.parquet")],
        f"report {month} (papermill + HTML + packs)": cli + [
            "report", "--month", month, "--data", str(raw), "--model", str(models),
            "--out", str(reports)],
    }
    for step, cmd in steps.items():
        print(f"{n_label:>6}: {step} ...", flush=True)
        wall, peak = run(cmd)
        rows.append((n_label, step, wall, peak))
        print(f"        {wall:7.1f} s, peak {peak:7.0f} MB", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 50000])
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--start", default="2023-11-01")
    parser.add_argument("--data", type=Path, default=None,
                        help="benchmark this existing data folder instead of simulating")
    args = parser.parse_args()
    cli = [sys.executable, "-m", "churnlab.cli", "-q"]
    rows = []
    if args.data is not None:
        from churnlab.data.warehouse import open_warehouse
        from churnlab.pipeline.months import latest_complete_month

        with open_warehouse(args.data) as wh:
            month = latest_complete_month(wh)
            n = wh.con.execute("SELECT count(*) FROM accounts").fetchone()[0]
        with tempfile.TemporaryDirectory() as tmp:
            rows += bench_one(cli, args.data, Path(tmp), str((month + 1).start_time.date()),
                              str(month), f"{n:,}")
    else:
        as_of = data_end(args.start, args.months)
        month = str(dt.date.fromisoformat(data_end(args.start, args.months - 1)))[:7]
        for n in args.sizes:
            with tempfile.TemporaryDirectory() as tmp:
                raw = Path(tmp) / "raw"
                print(f"{n:>6}: simulate ...", flush=True)
                wall, peak = run(cli + ["simulate", "--accounts", str(n), "--months",
                                        str(args.months), "--seed", "7", "--start", args.start,
                                        "--out", str(raw)])
                rows.append((f"{n:,}", "simulate", wall, peak))
                rows += bench_one(cli, raw, Path(tmp), as_of, month, f"{n:,}")
    load = os.getloadavg()
    lines = [f"\n## {dt.datetime.now():%Y-%m-%d %H:%M} on {platform.node()} "
             f"({os.cpu_count()} cores, Python {platform.python_version()}), "
             f"load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}\n",
             "| accounts | step | wall time (s) | peak memory (MB) |", "|---:|---|---:|---:|"]
    lines += [f"| {n} | {step} | {wall:.1f} | {peak:.0f} |" for n, step, wall, peak in rows]
    path = HERE / "RESULTS_report.md"
    if not path.exists():
        path.write_text("# Monthly report benchmark results\n\nWritten by "
                        "`benchmarks/bench_report.py`.\n")
    with path.open("a") as fh:
        fh.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
