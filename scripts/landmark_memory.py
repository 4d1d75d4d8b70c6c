"""What the landmark table costs in memory: its pandas size, and this process's resident
memory after the feature passes, after handing freed heap back
(``churnlab.memory.release_memory``) and after closing DuckDB.

    .venv/bin/python scripts/landmark_memory.py --data /tmp/w50k --start 2024-12-01 \\
        --end 2026-10-01
"""

from __future__ import annotations

import argparse
import time

import pandas as pd
import psutil

from churnlab.data.warehouse import open_warehouse
from churnlab.features.landmarks import make_landmarks, monthly_dates
from churnlab.memory import release_memory


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--start", required=True)
    ap.add_argument("--end", required=True)
    ap.add_argument("--grace-days", type=int, default=30)
    a = ap.parse_args()
    me = psutil.Process()
    rss = lambda: me.memory_info().rss / 2**20  # noqa: E731
    dates = monthly_dates(a.start, a.end)
    with open_warehouse(a.data) as wh:
        print(f"warehouse open: {rss():,.0f} MB resident")
        t0 = time.perf_counter()
        lm = make_landmarks(wh, dates, grace_days=a.grace_days,
                            obs_end=dates[-1] + pd.DateOffset(months=1))
        print(f"{len(dates)} landmark dates in {time.perf_counter() - t0:.0f} s: "
              f"{len(lm):,} rows x {lm.shape[1]} columns, "
              f"{lm.memory_usage(deep=True).sum() / 2**20:,.0f} MB in pandas; "
              f"{rss():,.0f} MB resident")
        release_memory()
        print(f"after release_memory: {rss():,.0f} MB resident")
    print(f"DuckDB closed: {rss():,.0f} MB resident")


if __name__ == "__main__":
    main()
