"""The backtest in one process and in worker processes: wall time of each, and whether
the figures agree (metrics and scores to 1e-9 relative, folds exactly).

    .venv/bin/python scripts/backtest_jobs.py --landmarks data/processed/demo/landmarks.parquet \
        --origins 2025-12-01 2026-02-01 2026-04-01 --jobs 1 2

(the demo's landmarks after ``make demo``; its default origins at as-of 2026-11-01, a
12-month training window, every model, no signal map).
"""

from __future__ import annotations

import argparse
import logging
import time

import pandas as pd

from churnlab.evaluation.backtest import run_backtest


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--landmarks", required=True)
    parser.add_argument("--origins", nargs="+", required=True)
    parser.add_argument("--lookback-months", type=int, default=12)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    lm = pd.read_parquet(args.landmarks)
    origins = [pd.Timestamp(o) for o in args.origins]
    runs = {}
    for jobs in args.jobs:
        t0 = time.perf_counter()
        runs[jobs] = run_backtest(lm, origins, lookback_months=args.lookback_months, jobs=jobs)
        c = runs[jobs].summary()["harrell_c"].round(4).to_dict()
        print(f"jobs={jobs}: {time.perf_counter() - t0:.1f} s; Harrell C {c}", flush=True)
    first = runs[args.jobs[0]]
    for jobs, bt in runs.items():
        pd.testing.assert_frame_equal(bt.metrics, first.metrics, check_exact=False, rtol=1e-9)
        pd.testing.assert_frame_equal(bt.scores, first.scores, check_exact=False, rtol=1e-9)
        pd.testing.assert_frame_equal(bt.folds, first.folds, check_exact=True)
    print("the runs agree")


if __name__ == "__main__":
    main()
