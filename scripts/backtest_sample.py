"""What screening the backtest on a sample of accounts costs in accuracy and saves in time.

Builds a world's training landmarks once, then runs the default backtest (every model
kind, 3 origins) with each ``--caps`` value as ``max_train_accounts`` (0: every model on
every account): wall time, each model's mean Harrell's and Uno's C over the origins, the
accounts it trained on, and the champion the rule picks. ``--mode screen`` (the default,
what ``churnlab train`` does) backtests the finalists again on every account
(:func:`screened_backtest`); ``--mode sample`` trains every model on the sample only.
Every run is judged on every account at each origin. Issue 14 item 3: the champion's
backtest concordance must not fall by more than 0.003.

    .venv/bin/python scripts/backtest_sample.py --data /tmp/w20k [--caps 0 10000 5000]
        [--mode screen|sample]
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from churnlab.data import lifecycle
from churnlab.data.warehouse import open_warehouse
from churnlab.evaluation.backtest import plan_backtest, run_backtest, screened_backtest
from churnlab.evaluation.champion import choose_champion
from churnlab.features.landmarks import make_landmarks, monthly_dates


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="data/raw/demo")
    parser.add_argument("--as-of", default=None, help="default: the data's observation end")
    parser.add_argument("--caps", type=int, nargs="+", default=[0, 10000, 5000])
    parser.add_argument("--mode", choices=("screen", "sample"), default="screen")
    args = parser.parse_args()
    with open_warehouse(args.data) as wh:
        as_of = pd.Timestamp(args.as_of) if args.as_of else lifecycle.observation_end(wh)
        plan = plan_backtest(as_of, lifecycle.observation_start(wh))
        first = min(plan.origins) - pd.DateOffset(months=plan.lookback_months)
        t0 = time.perf_counter()
        lm = make_landmarks(wh, monthly_dates(first, as_of - pd.Timedelta(days=1)),
                            obs_end=as_of)
        print(f"as-of {as_of.date()}: {len(lm):,} landmark rows, "
              f"{lm['account_id'].nunique():,} accounts in {time.perf_counter() - t0:.1f} s",
              flush=True)
        smap = wh.signal_map
    out = []
    for cap in args.caps:
        t0 = time.perf_counter()
        if args.mode == "screen":
            bt, _ = screened_backtest(lm, plan.origins, lookback_months=plan.lookback_months,
                                      signal_map=smap, max_train_accounts=cap or None)
        else:
            bt = run_backtest(lm, plan.origins, lookback_months=plan.lookback_months,
                              signal_map=smap, max_train_accounts=cap or None)
        seconds = time.perf_counter() - t0
        s = bt.summary()
        if "train_accounts" in bt.metrics:
            s["train_accounts"] = bt.metrics.groupby("model")["train_accounts"].mean()
        champ = choose_champion(s)
        print(f"\ncap {cap or 'all'}: {seconds:.1f} s, champion {champ}, train rows per "
              f"origin {list(bt.folds['rows'])}", flush=True)
        print(s[[c for c in ("harrell_c", "uno_c", "calibration_error_90d", "train_accounts")
                 if c in s]].round(4).to_string(), flush=True)
        out.append((cap, seconds, champ, s))
    print("\n| training accounts | seconds | champion | champion's Harrell C | Uno C |")
    print("|---|---:|---|---:|---:|")
    for cap, seconds, champ, s in out:
        print(f"| {cap or 'all'} | {seconds:.0f} | {champ} | {s.loc[champ, 'harrell_c']:.4f} | "
              f"{s.loc[champ, 'uno_c']:.4f} |")


if __name__ == "__main__":
    main()
