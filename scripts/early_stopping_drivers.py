"""Early stopping vs a fixed round count: concordance and the drivers' hit rate.

Trains the champion on the test suite's simulated world (2,000 accounts, 30 months, seed
7; simulated into ``--base`` on first use) with ``--early-stopping`` rounds (0 = off, the
default) and prints the backtest concordance of each model and how often the top-3
drivers name the family where a strong planted shock of the last 90 days shows, beside
the chance level (the same families among the drivers of accounts without a shock), as
tests/test_explain.py measures it.

    .venv/bin/python scripts/early_stopping_drivers.py --early-stopping 0
    .venv/bin/python scripts/early_stopping_drivers.py --early-stopping 30
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _simdata import N_ESTIMATORS, N_ORIGINS, SURV_SEED, sim_as_of, simulated_data  # noqa: E402

from churnlab.data.warehouse import open_warehouse  # noqa: E402
from churnlab.evaluation.champion import train_champion  # noqa: E402
from churnlab.explain.accounts import explain_accounts  # noqa: E402
from churnlab.features.snapshot import make_snapshot  # noqa: E402
from churnlab.sim.truth import planted_shocks, shock_hit_rate  # noqa: E402
from churnlab.stats import wilson_interval  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--early-stopping", type=int, default=0)
    ap.add_argument("--base", default=str(Path(tempfile.gettempdir()) / "churnlab-es"))
    a = ap.parse_args()
    data = simulated_data(Path(a.base))
    as_of = sim_as_of(data)
    with open_warehouse(data) as wh:
        model, card = train_champion(wh, as_of, tempfile.mkdtemp(), n_origins=N_ORIGINS,
                                     n_estimators=N_ESTIMATORS, random_state=SURV_SEED,
                                     early_stopping=a.early_stopping)
        snapshot = make_snapshot(wh, as_of)
        smap = wh.signal_map
    expl = explain_accounts(model, snapshot, smap, top_n=3)
    shocks = planted_shocks(f"{data}/truth", as_of, max_age_days=90)
    rates = shock_hit_rate(expl, shocks).set_index("shock_type")
    quiet_ids = set(snapshot["account_id"]) - set(planted_shocks(
        f"{data}/truth", as_of, min_effect=0.0, max_age_days=365)["account_id"])
    have = [set(f) for f in expl[expl["account_id"].isin(quiet_ids)]["driver_families"]]
    shocked = shocks[shocks["account_id"].isin(expl["account_id"])]
    chance = np.mean([np.mean([bool(h & set(fams)) for h in have])
                      for fams in shocked["families"]])
    n, hits = rates.loc["all", "accounts"], rates.loc["all", "hits"]
    lo, hi = wilson_interval(hits, n)
    print(f"early stopping {a.early_stopping}: champion {card['kind']}, "
          f"{card.get('boosting_rounds')} rounds; drivers name the shock's family for "
          f"{hits} of {n} ({hits / n:.1%}, 95% {lo:.1%}-{hi:.1%}); chance {chance:.1%}")
    print(pd.DataFrame(card["backtest_summary"])[["model", "harrell_c"]].to_string(index=False))


if __name__ == "__main__":
    main()
