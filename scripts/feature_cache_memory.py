"""What the feature passes leave in the process: resident memory after
``write_landmarks`` (what ``churnlab train`` runs), after ``release_memory`` (gc, glibc's
trim, Arrow's pool), after ``Warehouse.release_cache`` (DuckDB's buffers), and around
reading the written table back.

    .venv/bin/python scripts/feature_cache_memory.py --data /tmp/w50k --start 2026-01-01 \\
        --end 2026-06-01
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import pandas as pd
import psutil

from churnlab.data.warehouse import open_warehouse
from churnlab.features.landmarks import monthly_dates, write_landmarks
from churnlab.memory import release_memory


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--start", required=True)
    ap.add_argument("--end", required=True)
    a = ap.parse_args()
    me = psutil.Process()
    say = lambda what: print(f"{what:<40} {me.memory_info().rss / 2**20:>7,.0f} MB")  # noqa: E731
    dates = monthly_dates(a.start, a.end)
    with open_warehouse(a.data) as wh, tempfile.TemporaryDirectory() as tmp:
        say("warehouse open")
        rows = write_landmarks(wh, dates, Path(tmp) / "lm.parquet",
                               obs_end=dates[-1] + pd.DateOffset(months=1))
        say(f"{len(dates)} dates written")
        release_memory()
        say("after release_memory")
        wh.release_cache()
        say("after release_cache")
        table = rows.between(None, None)
        say(f"read back ({len(table):,} rows)")
        del table
        release_memory()
        say("dropped, after release_memory")


if __name__ == "__main__":
    main()
