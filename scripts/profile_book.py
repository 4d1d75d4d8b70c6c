"""Where the report's book step (score, explain, triage and recap every account) spends
its time: cProfile of ``pipeline.book.book`` on a saved model's as-of date, the top
functions by cumulative time (the profiler's overhead inflates pure-Python loops).

    .venv/bin/python scripts/profile_book.py --data /tmp/w50k --model /tmp/m50k6
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time

import pandas as pd

from churnlab.data.warehouse import open_warehouse
from churnlab.features.snapshot import make_snapshot
from churnlab.models.registry import load_model
from churnlab.pipeline.book import book


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--top", type=int, default=25)
    a = ap.parse_args()
    model = load_model(a.model)
    as_of = pd.Timestamp(model.card["as_of"])
    with open_warehouse(a.data) as wh:
        snap = make_snapshot(wh, as_of)
        t0 = time.perf_counter()
        book(wh, model, as_of, snapshot=snap)
        print(f"book at {as_of.date()} on {len(snap):,} accounts: "
              f"{time.perf_counter() - t0:.1f} s without the profiler")
        prof = cProfile.Profile()
        prof.enable()
        book(wh, model, as_of, snapshot=snap)
        prof.disable()
    pstats.Stats(prof).sort_stats("cumulative").print_stats(a.top)


if __name__ == "__main__":
    main()
