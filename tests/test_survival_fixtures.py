"""Shared, cached survival artefacts of the small simulated SaaS (no tests here).

The champion is trained once per process on ``tests/_simdata.py``'s simulation with a
small configuration (fewer trees); backtest, model and scores are reused by
test_survival.py, test_backtest.py and test_notebook_02.py.
"""

from __future__ import annotations

import tempfile
from functools import lru_cache
from pathlib import Path

SURV_SEED = 0
N_ESTIMATORS = 150
N_ORIGINS = 3


def sim_as_of(data: str):
    from churnlab.data.lifecycle import observation_end
    from churnlab.data.warehouse import open_warehouse

    with open_warehouse(data) as wh:
        return observation_end(wh)


@lru_cache(maxsize=2)
def trained(data: str):
    """(model, card, model_dir, snapshot at as-of, scores) on the simulated SaaS."""
    from churnlab.data.warehouse import open_warehouse
    from churnlab.evaluation.champion import train_champion
    from churnlab.features.snapshot import make_snapshot
    from churnlab.models.scoring import score_accounts

    model_dir = Path(tempfile.mkdtemp(prefix="churnlab-models-"))
    as_of = sim_as_of(data)
    with open_warehouse(data) as wh:
        model, card = train_champion(wh, as_of, model_dir, n_origins=N_ORIGINS,
                                     n_estimators=N_ESTIMATORS, random_state=SURV_SEED)
        snapshot = make_snapshot(wh, as_of)
    return model, card, model_dir, snapshot, score_accounts(model, snapshot, as_of)
