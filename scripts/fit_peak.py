"""One model fitted on one backtest origin's training rows, read from a saved landmark
table: the process's peak resident memory before and after the fit, the fit's time and,
with ``--compare-copy``, whether a fit on a re-indexed copy of the rows
(``reset_index(drop=True)``, what ``SurvivalModel.fit`` did before it took a view)
scores the origin's rows identically. ``--sample N``: train on the screen's seeded
sample of N accounts, as the backtest's screen does. Run it with
``PYTHONPATH=<worktree>/src`` to measure an older revision.

    .venv/bin/python scripts/fit_peak.py \\
        --landmarks /tmp/m50k9/hazard_xgb-2026-11-01-49b445b0/landmarks.parquet \\
        --signal-map /tmp/w50k/signal_map.yaml --origin 2026-04-01
    .venv/bin/python scripts/fit_peak.py --landmarks ... --signal-map ... \\
        --origin 2026-02-01 --kind logistic_90d --sample 5000 --compare-copy
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import pandas as pd

from churnlab.data.signal_map import load_signal_map
from churnlab.evaluation.backtest import training_sample
from churnlab.features.landmark_rows import ParquetLandmarks
from churnlab.models.baselines import make_model
from churnlab.models.survival_base import training_rows


def _peak_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--landmarks", required=True)
    ap.add_argument("--signal-map", required=True)
    ap.add_argument("--origin", required=True)
    ap.add_argument("--kind", default="hazard_xgb")
    ap.add_argument("--sample", type=int, default=None)
    ap.add_argument("--lookback-months", type=int, default=12)
    ap.add_argument("--compare-copy", action="store_true")
    a = ap.parse_args()
    lm = ParquetLandmarks(a.landmarks)
    smap = load_signal_map(a.signal_map)
    origin = pd.Timestamp(a.origin)
    accounts = training_sample(lm, a.sample, 0) if a.sample else None
    train = training_rows(lm.between(origin - pd.DateOffset(months=a.lookback_months),
                                     origin - pd.Timedelta(1, "ns"), accounts=accounts),
                          origin, 30)
    before = _peak_kb()
    t0 = time.perf_counter()
    model = make_model(a.kind, 0, smap).fit(train)
    print(f"{a.kind} at {origin.date()} on {len(train)} rows: {time.perf_counter() - t0:.1f} s, "
          f"peak {before} KB before the fit, {_peak_kb()} KB after")
    if a.compare_copy:
        test = lm.between(origin, origin)
        copied = make_model(a.kind, 0, smap).fit(train.reset_index(drop=True))
        x, y = model.risk_score(test), copied.risk_score(test)
        print(f"scores on {len(test)} rows equal to a fit on a copy: {np.array_equal(x, y)} "
              f"(largest difference {np.abs(x - y).max():.3g})")


if __name__ == "__main__":
    main()
