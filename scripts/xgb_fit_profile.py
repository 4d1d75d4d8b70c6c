"""Where one fit of the gradient-boosted hazard goes: a cProfile of ``hazard_xgb`` fitted
on one backtest origin's training rows (its 12-month window), the boosting rounds, the
quantile sketch xgboost's sklearn API builds per booster, and the months-ahead offsets.

    .venv/bin/python scripts/xgb_fit_profile.py --landmarks data/processed/demo/landmarks.parquet \\
        --origin 2026-04-01
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time

import pandas as pd

from churnlab.evaluation.backtest import training_rows
from churnlab.features import snapshot as F
from churnlab.models.baselines import make_model

PARTS = {"boosting rounds (Booster.update)": "update",
         "DMatrix/QuantileDMatrix construction": "_init",
         "months-ahead offsets (two cross-fitted models)": "_months_ahead_offsets"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--landmarks", required=True)
    ap.add_argument("--origin", default="2026-04-01")
    a = ap.parse_args()
    lm = pd.read_parquet(a.landmarks)
    origin = pd.Timestamp(a.origin)
    when = pd.to_datetime(lm[F.LANDMARK])
    train = training_rows(lm[when >= origin - pd.DateOffset(months=12)], origin, 30)
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    model = make_model("hazard_xgb").fit(train)
    prof.disable()
    print(f"hazard_xgb fit at {origin.date()}: {time.perf_counter() - t0:.1f} s on "
          f"{model.n_person_months_:,} person-months x {len(model.feature_names_)} inputs")
    stats = pstats.Stats(prof).stats
    for label, func in PARTS.items():
        cum = sum(v[3] for k, v in stats.items() if k[2] == func)
        print(f"  {label}: {cum:.1f} s")


if __name__ == "__main__":
    main()
