"""How the cost of a monthly run grows with the book: wall time and peak memory of every
step at several sizes, DuckDB and Spark, against a hand-written DuckDB aggregate.

For each size (36 months of history by default): simulate, validate, features at the
as-of date and 12 monthly landmarks on DuckDB, the same two on Spark local mode, then
(up to ``--full-up-to`` accounts) the month end to end: train (landmarks + backtest +
champion), score, explain (SHAP + triage + packs) and the report. Each step is its own
process (``run``: peak RSS from ``wait4``, children included). A last step times
churnlab's features against the hand-written aggregate in one process
(``features_vs_handwritten.py``, best of 3). Results are appended to RESULTS_scale.md.

    .venv/bin/python benchmarks/bench_scale.py [--sizes 5000 20000 50000 200000]
        [--full-up-to 50000] [--no-spark]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_foundation import data_end, run  # noqa: E402

HERE = Path(__file__).parent
# a month as it runs: `train` (features at 18 dates, landmarks, backtest, champion) then
# `report` (features, score, explain, triage, the notebook and the CSM packs); the
# separate features/landmarks/score/explain steps show the parts
MONTH_STEPS = ("train (landmarks + backtest + champion)", "report (papermill + HTML + packs)")


def bench_size(cli, n: int, tmp: Path, args) -> list[tuple]:
    raw, rows = tmp / "raw", []
    as_of = data_end(args.start, args.months)
    first = data_end(args.start, args.months - 12)
    last = data_end(args.start, args.months - 1)
    month = last[:7]
    models = tmp / "models"
    steps = {"simulate": ["simulate", "--accounts", str(n), "--months", str(args.months),
                          "--seed", "7", "--start", args.start, "--out", str(raw)],
             "validate": ["validate", "--data", str(raw), "--as-of", as_of]}
    engines = ["duckdb"] + ([] if args.no_spark else ["spark"])
    for engine in engines:
        steps[f"features [{engine}]"] = [
            "features", "--data", str(raw), "--as-of", as_of, "--engine", engine,
            "--out", str(tmp / f"features-{engine}.parquet")]
        steps[f"landmarks (12 dates) [{engine}]"] = [
            "landmarks", "--data", str(raw), "--start", first, "--end", last,
            "--engine", engine, "--out", str(tmp / f"landmarks-{engine}.parquet")]
    if n <= args.full_up_to:
        steps["train (landmarks + backtest + champion)"] = [
            "train", "--data", str(raw), "--as-of", as_of, "--model-dir", str(models)]
        steps["score"] = ["score", "--data", str(raw), "--as-of", as_of, "--model",
                          str(models), "--out", str(tmp / "scores.parquet")]
        steps["explain (SHAP + triage + packs)"] = [
            "explain", "--data", str(raw), "--as-of", as_of, "--model", str(models),
            "--out", str(tmp / "explain")]
        steps["report (papermill + HTML + packs)"] = [
            "report", "--month", month, "--data", str(raw), "--model", str(models),
            "--out", str(tmp / "reports")]
    for step, cmd in steps.items():
        print(f"{n:>7,}: {step} ...", flush=True)
        wall, peak = run(cli + cmd)
        rows.append((n, step, wall, peak))
        print(f"         {wall:7.1f} s, peak {peak:7.0f} MB", flush=True)
    for engine in engines:   # Spark and DuckDB landmarks must agree
        if engine != "duckdb":
            import pandas as pd

            a = pd.read_parquet(tmp / "landmarks-duckdb.parquet")
            b = pd.read_parquet(tmp / f"landmarks-{engine}.parquet")
            pd.testing.assert_frame_equal(a, b, rtol=1e-9, atol=1e-9)
            print(f"         landmarks [{engine}] equal to DuckDB's ({len(a):,} rows)")
    out = subprocess.run([sys.executable, str(HERE / "features_vs_handwritten.py"), "--data",
                          str(raw), "--as-of", as_of], check=True, capture_output=True,
                         text=True).stdout
    ratio = json.loads(out.strip().splitlines()[-1])
    rows.append((n, "features: churnlab / hand-written DuckDB aggregate (in process, best of 3)",
                 ratio["churnlab_s"], f"{ratio['ratio']:.2f}x of {ratio['handwritten_s']:.2f} s"))
    if n <= args.full_up_to:
        month_wall = sum(w for k, s, w, _ in rows if s in MONTH_STEPS)
        month_peak = max(p for k, s, w, p in rows if s in MONTH_STEPS)
        rows.append((n, "month end to end (train + report, DuckDB)", month_wall, month_peak))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 20000, 50000, 200000])
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--start", default="2023-11-01")
    parser.add_argument("--full-up-to", type=int, default=50000,
                        help="sizes above this get simulate/validate/features/landmarks only")
    parser.add_argument("--no-spark", action="store_true")
    args = parser.parse_args()
    cli = [sys.executable, "-m", "churnlab.cli", "-q"]
    path = HERE / "RESULTS_scale.md"
    if not path.exists():
        path.write_text("# Scale benchmark results\n\nWritten by `benchmarks/bench_scale.py`.\n")
    for n in args.sizes:      # each size's table is written as soon as it is measured
        with tempfile.TemporaryDirectory() as tmp:
            rows = bench_size(cli, n, Path(tmp), args)
        load = os.getloadavg()
        lines = [f"\n## {dt.datetime.now():%Y-%m-%d %H:%M} on {platform.node()} "
                 f"({os.cpu_count()} cores, Python {platform.python_version()}), {n:,} accounts, "
                 f"{args.months} months, load average at the end {load[0]:.1f} / {load[1]:.1f} / "
                 f"{load[2]:.1f}\n",
                 f"`{' '.join(['.venv/bin/python', 'benchmarks/bench_scale.py'] + sys.argv[1:])}`\n",
                 "| accounts | step | wall time (s) | peak memory (MB) |", "|---:|---|---:|---:|"]
        lines += [f"| {k:,} | {step} | {wall:.1f} | "
                  f"{peak if isinstance(peak, str) else f'{peak:.0f}'} |"
                  for k, step, wall, peak in rows]
        with path.open("a") as fh:
            fh.write("\n".join(lines) + "\n")
        print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main()
