"""A small simulated SaaS shared by the signal, health and notebook tests.

It is simulated once per test session into pytest's base temporary folder (the
folder is the cache: a second request finds ``truth/params.json`` and reuses it), and
the expensive analyses are computed once per process (``functools.lru_cache`` keyed by
the folder). Sizes are chosen to keep the suite fast while leaving enough churners
(about 280 in the lookback year) for the planted effects to be measurable.
"""

from __future__ import annotations

import tempfile
from functools import lru_cache
from pathlib import Path

import yaml

from churnlab.evaluation.health import evaluate_out_of_time
from churnlab.signals.analysis import analyse_signals
from churnlab.signals.evidence import collect_evidence
from churnlab.signals.summary import summarise_signals

N_ACCOUNTS, N_MONTHS, SIM_SEED = 2000, 30, 7
ANALYSIS_SEED = 42
LANDMARK_ROWS = 3000
# the health score's out-of-time check: a training landmark every two months
HEALTH_STEP_MONTHS = 2
HEALTH_BOOTSTRAP = 200


def simulated_data(base: Path) -> Path:
    """The simulated SaaS folder (inputs + ``truth/``), simulated on first use."""
    from churnlab.sim.generate import simulate_saas, write_simulation
    from churnlab.sim.params import PARAMS_FILE, TRUTH_DIR

    out = Path(base) / f"saas_{N_ACCOUNTS}x{N_MONTHS}_seed{SIM_SEED}"
    if not (out / TRUTH_DIR / PARAMS_FILE).is_file():
        write_simulation(simulate_saas(N_ACCOUNTS, N_MONTHS, seed=SIM_SEED), out)
    return out


def signal_truth(data: Path) -> dict:
    """``truth/signal_effects.yaml``: event type -> planted effect."""
    with (Path(data) / "truth" / "signal_effects.yaml").open() as fh:
        return yaml.safe_load(fh)["event_types"]


@lru_cache(maxsize=2)
def signal_analysis(data: str):
    """(evidence, per-window table, summary) of the leading-signal analysis at the data end."""
    from churnlab.data.warehouse import open_warehouse

    with open_warehouse(data) as wh:
        evidence = collect_evidence(wh, None, seed=ANALYSIS_SEED,
                                            max_landmark_rows=LANDMARK_ROWS)
    table = analyse_signals(evidence=evidence)
    return evidence, table, summarise_signals(table)


@lru_cache(maxsize=2)
def health_evaluation(data: str):
    """The out-of-time evaluation of the health score (default vs learned weights)."""
    from churnlab.data.warehouse import open_warehouse

    with open_warehouse(data) as wh:
        return evaluate_out_of_time(wh, step_months=HEALTH_STEP_MONTHS,
                                           n_bootstrap=HEALTH_BOOTSTRAP,
                                           random_state=ANALYSIS_SEED)


# ------------------------------------------------ survival artefacts (one champion)
# The champion is trained once per process with a small configuration (fewer trees);
# backtest, model and scores are reused by the survival, backtest, report and notebook tests.
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


def experiments_world(base: Path) -> Path:
    """A demo-shaped world big enough for about 80 accounts per save play (5,000
    accounts, 36 months, seed 11), simulated on first use (experiments and uplift)."""
    from churnlab.sim.generate import simulate_saas, write_simulation

    out = Path(base) / "churnlab-exp-demo"
    if not (out / "truth" / "params.json").is_file():
        write_simulation(simulate_saas(5000, 36, seed=11), out)
    return out


def assert_paired_without_outputs(script: Path) -> None:
    """The jupytext script and its committed .ipynb hold the same cells, no outputs."""
    import jupytext
    import nbformat

    paired = nbformat.read(Path(script).with_suffix(".ipynb"), as_version=4)
    assert [c.source for c in jupytext.read(script).cells] == [c.source for c in paired.cells]
    assert all(not c.get("outputs") for c in paired.cells if c.cell_type == "code")
