"""churnlab's point-in-time features against a hand-written DuckDB aggregate of the
same windows over the same events, in one process on one opened warehouse.

The hand-written query is what an analyst would write for one as-of date: per account
and event type, the sums and counts of the 30/90/180-day windows and the trend's prior
window, the latest value and the days since the last event, straight from the Parquet
files (no typed views, no population, no signal map). churnlab's ``make_snapshot`` does
that and more (the active population and contract, availability of pre-aggregated
rows, the wide per-kind columns), so the ratio is its overhead over the bare aggregate.

    .venv/bin/python benchmarks/features_vs_handwritten.py --data DIR --as-of 2026-11-01

Prints one JSON line: {"churnlab_s": ..., "handwritten_s": ..., "ratio": ...}; each time
is the best of ``--repeat`` runs, the two run alternately (this VM's speed drifts over
minutes), and ``median_pair_ratio`` is the median of the ratios of each pair.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from churnlab.data.warehouse import open_warehouse
from churnlab.features.snapshot import make_snapshot

HANDWRITTEN = """
SELECT account_id, event_type,
       sum(value) FILTER (WHERE age < 30) AS sum_30, count(*) FILTER (WHERE age < 30) AS n_30,
       sum(value) FILTER (WHERE age < 90) AS sum_90, count(*) FILTER (WHERE age < 90) AS n_90,
       sum(value) FILTER (WHERE age < 180) AS sum_180, count(*) FILTER (WHERE age < 180) AS n_180,
       sum(value) FILTER (WHERE age >= 30 AND age < 120) AS sum_prior,
       count(*) FILTER (WHERE age >= 30 AND age < 120) AS n_prior,
       arg_max(value, event_time) AS last_value, min(age) AS days_since
FROM (SELECT account_id, event_type, value, event_time,
             date_diff('day', CAST(event_time AS DATE), DATE '{t}') AS age
      FROM read_parquet('{events}')
      WHERE event_time < TIMESTAMP '{t}' AND event_time >= TIMESTAMP '{t}' - INTERVAL 365 DAY)
GROUP BY account_id, event_type
"""


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--as-of", required=True)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    events = args.data / "events.parquet"
    if not events.exists():
        events = args.data / "events" / "*.parquet"
    with open_warehouse(args.data) as wh:
        sql = HANDWRITTEN.format(t=args.as_of, events=events)
        wh.con.execute(sql).df()                # warm the file cache for both
        pairs = []
        for _ in range(args.repeat):            # interleaved: this VM's speed drifts
            hand = best_of(lambda: wh.con.execute(sql).df(), 1)
            ours = best_of(lambda: make_snapshot(wh, args.as_of), 1)
            pairs.append((hand, ours))
    hand, ours = min(p[0] for p in pairs), min(p[1] for p in pairs)
    ratios = sorted(o / h for h, o in pairs)
    print(json.dumps({"churnlab_s": round(ours, 3), "handwritten_s": round(hand, 3),
                      "ratio": round(ours / hand, 2),
                      "median_pair_ratio": round(ratios[len(ratios) // 2], 2),
                      "pair_ratios": [round(r, 2) for r in ratios]}))

if __name__ == "__main__":
    main()
