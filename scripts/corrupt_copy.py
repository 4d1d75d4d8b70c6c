"""A corrupted copy of a data folder, to see `churnlab validate` refuse it.

Copies DATA (Parquet folder with signal_map.yaml, e.g. the demo) to OUT and breaks six
rules, one row each: a duplicated account_id, a subscription that ends before it starts,
a negative MRR, an event for an unknown account, an event type missing from the signal
map, and an NPS of 11. Then:

    .venv/bin/python scripts/corrupt_copy.py --data data/raw/demo --out /tmp/corrupt
    .venv/bin/churnlab validate --data /tmp/corrupt      # exit 1, six named errors
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pandas as pd

from churnlab.catalog import Catalog


def corrupt(data: Path, out: Path) -> None:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    shutil.copy(data / "signal_map.yaml", out / "signal_map.yaml")
    if (data / "interventions.parquet").is_file():
        shutil.copy(data / "interventions.parquet", out / "interventions.parquet")

    accounts = pd.read_parquet(data / "accounts.parquet")
    accounts = pd.concat([accounts, accounts.iloc[[0]]], ignore_index=True)   # duplicate_key
    accounts.to_parquet(out / "accounts.parquet", index=False)

    subs = pd.read_parquet(data / "subscriptions.parquet")
    i = subs.index[subs["end_date"].notna()][0]
    subs.loc[i, "end_date"] = subs.loc[i, "start_date"] - pd.Timedelta(days=10)  # end < start
    subs.loc[subs.index[5], "mrr"] = -100.0                                        # negative
    subs.to_parquet(out / "subscriptions.parquet", index=False)

    events = pd.read_parquet(data / "events.parquet")
    nps = events.index[events["event_type"] == "nps_response"][0]
    events.loc[nps, "value"] = 11.0                                                # NPS 0-10
    extra = events.iloc[[0, 1]].copy()
    extra.iloc[0, extra.columns.get_loc("account_id")] = "NO-SUCH-ACCOUNT"         # orphan
    extra.iloc[1, extra.columns.get_loc("event_type")] = "slack_message"           # unmapped
    pd.concat([events, extra], ignore_index=True).to_parquet(out / "events.parquet",
                                                             index=False)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=Catalog.here().raw())
    ap.add_argument("--out", type=Path, default=Path("/tmp/corrupt"))
    args = ap.parse_args(argv)
    corrupt(args.data, args.out)
    print(f"corrupted copy of {args.data} -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
