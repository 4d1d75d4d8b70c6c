"""Notebook 01_leading_signals runs on the simulated SaaS and its findings quote the
analysis the package computes with the same parameters."""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat
import pytest
from _simdata import (
    ANALYSIS_SEED,
    HEALTH_BOOTSTRAP,
    HEALTH_STEP_MONTHS,
    LANDMARK_ROWS,
    health_evaluation,
    signal_analysis,
    simulated_data,
)

from churnlab.present.notebook import notebook_parameters, run_notebook

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SCRIPT = NOTEBOOKS / "01_leading_signals.py"
PAIRED = NOTEBOOKS / "01_leading_signals.ipynb"


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
    assert {"data_dir", "as_of", "windows", "seed"} <= set(params)
    assert params["as_of"] in (None, "None")      # papermill reports defaults as source text
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
def test_notebook_runs_and_its_findings_quote_the_numbers(sim_data, tmp_path):
    params = dict(data_dir=sim_data, seed=ANALYSIS_SEED, max_landmark_rows=LANDMARK_ROWS,
                  n_bootstrap=HEALTH_BOOTSTRAP, training_step_months=HEALTH_STEP_MONTHS)
    out = run_notebook(SCRIPT, tmp_path / "01_leading_signals.ipynb", params)
    nb = nbformat.read(out, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    figures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(figures) >= 7
    findings = outputs[-1]["data"]["text/markdown"]
    assert findings.startswith("## Findings")

    _, _, summary = signal_analysis(sim_data)
    risk = summary[summary["direction"] == "risk"]
    assert f"{len(risk)} of {len(summary)} signals" in findings
    for sentence in risk["sentence"].head(5):
        assert sentence in findings
    evaluation = health_evaluation(sim_data)
    m = evaluation.metrics.set_index("weighting")
    assert (f"concordance {m.loc['learned', 'concordance']:.3f} vs "
            f"{m.loc['default', 'concordance']:.3f}") in findings
