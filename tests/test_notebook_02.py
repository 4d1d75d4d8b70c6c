"""Notebook 02_time_to_churn runs on the simulated SaaS, reuses the champion it is given,
and its findings quote the numbers the package computes for that champion."""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat
import pandas as pd
import pytest
from _simdata import N_ESTIMATORS, N_ORIGINS, SURV_SEED, simulated_data, trained

from churnlab.models.registry import load_model
from churnlab.models.survival_base import BACKTEST_TABLES, CHAMPION_FILE
from churnlab.present.notebook import notebook_parameters, run_notebook
from churnlab.sim.truth import oracle_metrics

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SCRIPT = NOTEBOOKS / "02_time_to_churn.py"
PAIRED = NOTEBOOKS / "02_time_to_churn.ipynb"


@pytest.fixture(scope="session")
def sim_data(tmp_path_factory) -> str:
    return str(simulated_data(tmp_path_factory.getbasetemp() / "churnlab-sim"))


def test_the_script_and_the_committed_notebook_are_the_same_cells_without_outputs():
    script = jupytext.read(SCRIPT)
    paired = nbformat.read(PAIRED, as_version=4)
    assert [c.source for c in script.cells] == [c.source for c in paired.cells]
    assert all(not c.get("outputs") for c in paired.cells if c.cell_type == "code")


def test_the_parameters_cell_holds_literals_only_and_no_cell_defines_anything():
    params = notebook_parameters(SCRIPT)
    assert {"data_dir", "as_of", "model_dir", "n_origins", "n_estimators",
            "truth_dir"} <= set(params)
    nb = jupytext.read(SCRIPT)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    for line in tagged[0].source.splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            assert name.strip().isidentifier()
            compile(value.strip(), "<literal>", "eval")
            assert "(" not in value, line          # no calls in the parameters cell
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not any(line.lstrip().startswith(("def ", "class "))
                           for line in cell.source.splitlines())


@pytest.mark.slow
def test_notebook_reuses_the_champion_and_its_findings_quote_the_backtest(sim_data, tmp_path):
    model, card, model_dir, _, scores = trained(sim_data)
    # the backtest travels with the saved model, so a reader can reuse it
    saved = load_model(model_dir).backtest_
    for name in BACKTEST_TABLES:
        pd.testing.assert_frame_equal(getattr(saved, name), getattr(model.backtest_, name),
                                      check_dtype=False)
    stamp = (model_dir / CHAMPION_FILE).stat().st_mtime_ns
    params = dict(data_dir=sim_data, model_dir=str(model_dir), n_origins=N_ORIGINS,
                  n_estimators=N_ESTIMATORS, seed=SURV_SEED, truth_dir=f"{sim_data}/truth")
    out = run_notebook(SCRIPT, tmp_path / "02_time_to_churn.ipynb", params)
    # the champion was reused, not retrained
    assert (model_dir / CHAMPION_FILE).stat().st_mtime_ns == stamp
    nb = nbformat.read(out, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    figures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(figures) >= 7       # 3 Kaplan-Meier, forest, backtest, calibration, scores
    text = "\n".join(o["data"].get("text/markdown", "") + o["data"].get("text/plain", "")
                     for o in outputs if "data" in o)
    assert card["model_id"] in text
    assert "PH check:" in text and "AFT family:" in text
    findings = outputs[-1]["data"]["text/markdown"]
    assert findings.startswith("## Findings")

    # independently: the fixture's in-memory backtest, the oracle on its rows, its scores
    bt = model.backtest_
    c = bt.summary().loc[card["kind"]]
    assert f"concordance of {c['harrell_c']:.3f} (Harrell; Uno {c['uno_c']:.3f})" in findings
    base = bt.summary()["harrell_c"]
    assert f"the health score {base['health']:.3f}" in findings
    assert f"the 90-day logistic baseline {base['logistic_90d']:.3f}" in findings
    oracle = oracle_metrics(bt, f"{sim_data}/truth")
    assert f"reaches {oracle['harrell_c'].mean():.3f}" in findings
    assert f"ranks {c['churned_arr_top10']:.0%} of the next quarter's churned ARR" in findings
    assert f"{100 * c['calibration_error_90d']:.1f} percentage points" in findings
    assert (f"Across the {len(scores):,} active accounts, the expected ARR lost within 90 "
            f"days is ${scores['expected_arr_lost_90d'].sum():,.0f}") in findings
    assert "Accounts in the red tier have a median time to churn of" in findings
