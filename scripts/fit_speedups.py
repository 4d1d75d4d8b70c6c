"""Before/after checks of this round's exact speed-ups, each on the same rows twice:

1. Cox's PH check: the vectorised scaled Schoenfeld residuals against lifelines' own
   (``scaled_schoenfeld`` switched off), on one backtest origin's training rows: fit
   time, largest difference of the PH test statistics, strata and coefficients;
2. the boosted hazard fed a row-major array against the column-major one pandas returns:
   median fit time of 3 alternated pairs and the largest difference of the survival
   curves at 30, 90 and 180 days;
3. ``make_snapshots`` at the expansion model's 12 monthly dates, from the events and from
   the landmark rows (``known=``): time and frame equality.

    .venv/bin/python scripts/fit_speedups.py --data data/raw/demo \\
        --landmarks data/processed/demo/landmarks.parquet --origin 2026-04-01
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

import churnlab.models.hazard as hazard
import churnlab.models.lifelines_models as lifelines_models
from churnlab.data import contract as S
from churnlab.data.warehouse import open_warehouse
from churnlab.features import snapshot as F
from churnlab.features.landmarks import monthly_dates
from churnlab.models.baselines import make_model
from churnlab.models.survival_base import training_rows


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="data/raw/demo")
    ap.add_argument("--landmarks", default="data/processed/demo/landmarks.parquet")
    ap.add_argument("--origin", default="2026-04-01")
    a = ap.parse_args()
    lm = pd.read_parquet(a.landmarks)
    origin = pd.Timestamp(a.origin)
    when = pd.to_datetime(lm[F.LANDMARK])
    train = training_rows(lm[when >= origin - pd.DateOffset(months=12)], origin, S.GRACE_DAYS)
    test = lm[when == origin].reset_index(drop=True)
    print(f"{len(train):,} training rows before {origin.date()}, {len(test):,} scored at it")

    fast, t_fast = timed(lambda: make_model("cox").fit(train))
    vectorised = lifelines_models.scaled_schoenfeld
    lifelines_models.scaled_schoenfeld = lambda fitter, df: None     # lifelines' own
    try:
        slow, t_slow = timed(lambda: make_model("cox").fit(train))
    finally:
        lifelines_models.scaled_schoenfeld = vectorised
    cols = ["test_statistic", "p"]
    diff = np.abs(fast.ph_test_[cols].to_numpy() - slow.ph_test_[cols].to_numpy()).max()
    print(f"cox: {t_slow:.1f} s with lifelines' residuals, {t_fast:.1f} s vectorised; PH "
          f"test max difference {diff:.1e}; strata {slow.strata_} / {fast.strata_}; "
          f"coefficients max difference "
          f"{(fast.fitter_.params_ - slow.fitter_.params_).abs().max():.1e}")

    row_major = hazard._array
    column_major = lambda x: x.to_numpy(dtype=np.float32, na_value=np.nan)  # noqa: E731
    make_model("hazard_xgb", n_estimators=10).fit(train)         # warm-up (first-call costs)
    seconds, fits = {"column": [], "row": []}, {}
    for i in range(3):      # alternated pairs: this VM's speed drifts by minutes
        pairs = [("column", column_major), ("row", row_major)]
        for name, to_array in (pairs if i % 2 == 0 else pairs[::-1]):
            hazard._array = to_array
            try:
                fits[name], t = timed(lambda: make_model("hazard_xgb").fit(train))
            finally:
                hazard._array = row_major
            seconds[name].append(t)
    gap = np.abs(fits["column"].predict_survival(test, [30, 90, 180])
                 - fits["row"].predict_survival(test, [30, 90, 180])).max()
    print(f"hazard_xgb (3 alternated pairs): median {np.median(seconds['column']):.1f} s "
          f"column-major, {np.median(seconds['row']):.1f} s row-major; survival max "
          f"difference {gap:.1e}")

    with open_warehouse(a.data) as wh:
        last = (pd.Timestamp(when.max()) - pd.DateOffset(months=2)).to_period("M").to_timestamp()
        dates = monthly_dates(last - pd.DateOffset(months=11), last)
        fresh, t_events = timed(lambda: F.make_snapshots(wh, dates))
        reused, t_known = timed(lambda: F.make_snapshots(wh, dates, known=lm))
    pd.testing.assert_frame_equal(fresh, reused)
    print(f"make_snapshots at {len(dates)} dates ({dates[0].date()}..{dates[-1].date()}): "
          f"{t_events:.1f} s from the events, {t_known:.1f} s from the landmark rows; "
          "equal frames")


if __name__ == "__main__":
    main()
