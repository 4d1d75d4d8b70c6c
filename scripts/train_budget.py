"""Where the backtest's time goes, and what fewer boosting rounds cost in accuracy.

Builds the demo's (or ``--data``'s) training landmarks once, then runs the default
backtest (3 origins) for each model kind alone, timing each, the champion the rule would
pick from them, the gradient-boosted hazard at other fixed ``n_estimators`` and with
early stopping (30 rounds, cap 300): mean Harrell's C over the origins and wall time;
and the round count early stopping chose at each origin.
Issue 14 item 3 asks that the champion's backtest concordance not fall by more than 0.003.

    .venv/bin/python scripts/train_budget.py [--data data/raw/demo] [--as-of 2026-11-01]
        [--trees 300 150 100] [--kinds KIND ...] [--no-early-stopping]

On a large book, time the boosted hazard's round counts alone:
``--kinds --no-early-stopping`` (no per-kind backtests, no early-stopping run).
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from churnlab.data import lifecycle
from churnlab.data.warehouse import open_warehouse
from churnlab.evaluation.backtest import plan_backtest, run_backtest
from churnlab.evaluation.champion import choose_champion
from churnlab.features import snapshot as F
from churnlab.features.landmarks import make_landmarks, monthly_dates
from churnlab.models.baselines import make_model
from churnlab.models.survival_base import BASELINE_KINDS, SURVIVAL_KINDS, training_rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="data/raw/demo")
    parser.add_argument("--as-of", default="2026-11-01")
    parser.add_argument("--trees", type=int, nargs="+", default=[300, 150, 100])
    parser.add_argument("--kinds", nargs="*", default=SURVIVAL_KINDS + BASELINE_KINDS,
                        help="model kinds to backtest one by one (none: skip)")
    parser.add_argument("--no-early-stopping", action="store_true")
    args = parser.parse_args()
    as_of = pd.Timestamp(args.as_of)
    with open_warehouse(args.data) as wh:
        plan = plan_backtest(as_of, lifecycle.observation_start(wh))
        first = min(plan.origins) - pd.DateOffset(months=plan.lookback_months)
        t0 = time.perf_counter()
        lm = make_landmarks(wh, monthly_dates(first, as_of - pd.Timedelta(days=1)),
                            obs_end=as_of)
        print(f"landmarks: {len(lm):,} rows in {time.perf_counter() - t0:.1f} s")
        smap = wh.signal_map
    rows, summaries = [], []
    for kind in args.kinds:
        t0 = time.perf_counter()
        bt = run_backtest(lm, plan.origins, (kind,), plan.lookback_months, signal_map=smap)
        summaries.append(bt.summary())
        rows.append({"model": kind, "n_estimators": "", "seconds": time.perf_counter() - t0,
                     "harrell_c": bt.summary()["harrell_c"].iloc[0]})
        print(rows[-1], flush=True)
    for trees in args.trees:
        t0 = time.perf_counter()
        bt = run_backtest(lm, plan.origins, ("hazard_xgb",), plan.lookback_months,
                          signal_map=smap, n_estimators=trees, early_stopping=0)
        rows.append({"model": "hazard_xgb", "n_estimators": trees,
                     "seconds": time.perf_counter() - t0,
                     "harrell_c": bt.summary()["harrell_c"].iloc[0],
                     "uno_c": bt.summary()["uno_c"].iloc[0]})
        print(rows[-1], flush=True)
    if args.no_early_stopping:
        print(pd.DataFrame(rows).round(4).to_string(index=False))
        return
    t0 = time.perf_counter()
    bt = run_backtest(lm, plan.origins, ("hazard_xgb",), plan.lookback_months,
                      signal_map=smap, early_stopping=30)
    rows.append({"model": "hazard_xgb", "n_estimators": "early stopping",
                 "seconds": time.perf_counter() - t0,
                 "harrell_c": bt.summary()["harrell_c"].iloc[0]})
    print(rows[-1], flush=True)
    summary = pd.concat(summaries)
    champ = choose_champion(summary)
    print(f"champion (the rule on the per-kind backtests): {champ}, Harrell's C "
          f"{summary.at[champ, 'harrell_c']:.4f}, Uno's C {summary.at[champ, 'uno_c']:.4f}")
    for origin in plan.origins:
        first = origin - pd.DateOffset(months=plan.lookback_months)
        train = training_rows(lm[pd.to_datetime(lm[F.LANDMARK]) >= first], origin)
        m = make_model("hazard_xgb", 0, smap, early_stopping=30).fit(train)
        print(f"early stopping at origin {origin.date()}: {m.n_trees_} rounds")
    out = pd.DataFrame(rows)
    n_kinds = len(SURVIVAL_KINDS + BASELINE_KINDS)
    out["share_of_backtest"] = out["seconds"] / out["seconds"].iloc[:n_kinds].sum()
    print(out.round(4).to_string(index=False))


if __name__ == "__main__":
    main()
