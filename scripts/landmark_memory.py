"""What the landmark table costs in memory: this process's resident memory after the
feature passes, after handing freed heap back (``churnlab.memory.release_memory``) and
after closing DuckDB. By default the table is built in memory (``make_landmarks``; its
pandas size is printed); ``--to-disk`` writes it to Parquet pass by pass as ``churnlab
train`` does (``write_landmarks``), then also hands DuckDB's buffers back
(``Warehouse.release_cache``) and reads the table back whole and drops it.

    .venv/bin/python scripts/landmark_memory.py --data /tmp/w50k --start 2024-12-01 \\
        --end 2026-10-01
    .venv/bin/python scripts/landmark_memory.py --data /tmp/w50k --start 2026-01-01 \\
        --end 2026-06-01 --to-disk
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd
import psutil

from churnlab.data.warehouse import open_warehouse
from churnlab.features.landmarks import make_landmarks, monthly_dates, write_landmarks
from churnlab.memory import release_memory


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--start", required=True)
    ap.add_argument("--end", required=True)
    ap.add_argument("--grace-days", type=int, default=30)
    ap.add_argument("--to-disk", action="store_true")
    a = ap.parse_args()
    me = psutil.Process()
    say = lambda what: print(f"{what:<48} {me.memory_info().rss / 2**20:>7,.0f} MB resident")  # noqa: E731
    dates = monthly_dates(a.start, a.end)
    obs_end = dates[-1] + pd.DateOffset(months=1)
    with open_warehouse(a.data) as wh, tempfile.TemporaryDirectory() as tmp:
        say("warehouse open")
        t0 = time.perf_counter()
        if a.to_disk:
            rows = write_landmarks(wh, dates, Path(tmp) / "lm.parquet",
                                   grace_days=a.grace_days, obs_end=obs_end)
            say(f"{len(dates)} dates written in {time.perf_counter() - t0:.0f} s")
        else:
            lm = make_landmarks(wh, dates, grace_days=a.grace_days, obs_end=obs_end)
            say(f"{len(dates)} dates in {time.perf_counter() - t0:.0f} s: {len(lm):,} rows x "
                f"{lm.shape[1]} columns, {lm.memory_usage(deep=True).sum() / 2**20:,.0f} MB "
                "in pandas;")
        release_memory()
        say("after release_memory")
        if a.to_disk:
            wh.release_cache()
            say("after release_cache")
            table = rows.between(None, None)
            say(f"read back ({len(table):,} rows)")
            del table
            release_memory()
            say("dropped, after release_memory")
    say("DuckDB closed")


if __name__ == "__main__":
    main()
