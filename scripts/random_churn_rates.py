"""Is the random-churn profile stationary? Monthly churn of its monthly-plan accounts per
calendar year of the window, from the simulator's truth (issue 13, item 4: the 90-day
calibration on one seed moves with the realised churn of that world's last year).

    .venv/bin/python scripts/random_churn_rates.py --accounts 4000 --seeds 1 2 3
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd

from churnlab.data import contract as S
from churnlab.sim.profiles import simulate_profile


def yearly_rates(n_accounts: int, seed: int, months: int = 24) -> dict:
    w = simulate_profile("random-churn", n_accounts, months, seed)
    a = w.tables[S.ACCOUNTS].merge(w.truth_accounts, on=S.ACCOUNT_ID)
    term = w.tables[S.SUBSCRIPTIONS].groupby(S.ACCOUNT_ID)[S.TERM_MONTHS].first()
    monthly = a[S.ACCOUNT_ID].map(term).to_numpy() == 1
    churn, start = pd.to_datetime(a["churn_date"]), pd.to_datetime(a[S.CREATED_AT])
    out = {}
    for m in pd.date_range(churn.min().to_period("M").to_timestamp(), churn.max(), freq="MS"):
        alive = monthly & (start < m) & (churn.isna() | (churn >= m)).to_numpy()
        left = alive & ((churn >= m) & (churn < m + pd.offsets.MonthBegin())).to_numpy()
        out.setdefault(m.year, []).append(left.sum() / max(alive.sum(), 1))
    return {year: round(float(np.mean(r)), 4) for year, r in out.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=4000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    args = ap.parse_args(argv)
    for seed in args.seeds:
        print(f"seed {seed}: mean monthly churn of monthly plans by year "
              f"{yearly_rates(args.accounts, seed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
