"""Notebook 03_explain_risk runs on the simulated SaaS with the trained champion and its
findings quote the package's numbers; `churnlab explain` writes the same triage."""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat
import pandas as pd
import pytest
from _simdata import sim_as_of, simulated_data, trained

from churnlab.cli import main
from churnlab.data.warehouse import open_warehouse
from churnlab.pipeline.book import book as book_at
from churnlab.present.notebook import notebook_parameters, run_notebook
from churnlab.sim.truth import planted_shocks, shock_hit_rate

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SCRIPT = NOTEBOOKS / "03_explain_risk.py"
PAIRED = NOTEBOOKS / "03_explain_risk.ipynb"


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
    assert {"data_dir", "as_of", "model_path", "top_n", "truth_dir"} <= set(params)
    nb = jupytext.read(SCRIPT)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    for line in tagged[0].source.splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            assert name.strip().isidentifier()
            compile(value.strip(), "<literal>", "eval")
            assert "(" not in value, line
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not any(line.lstrip().startswith(("def ", "class "))
                           for line in cell.source.splitlines())


@pytest.mark.slow
def test_notebook_runs_and_its_findings_quote_the_numbers(sim_data, tmp_path):
    _, _, model_dir, _, _ = trained(sim_data)
    params = dict(data_dir=sim_data, model_path=str(model_dir), top_n=3, n_walkthroughs=2,
                  truth_dir=f"{sim_data}/truth")
    out = run_notebook(SCRIPT, tmp_path / "03_explain_risk.ipynb", params)
    nb = nbformat.read(out, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    figures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(figures) >= 6          # weights, beeswarm, dependence, 2 waterfalls, mix
    findings = outputs[-1]["data"]["text/markdown"]
    assert findings.startswith("## Findings")

    model, _, _, _, _ = trained(sim_data)
    with open_warehouse(sim_data) as wh:
        book = book_at(wh, model, sim_as_of(sim_data), drivers=3)
    tri = book.triage
    red = tri[tri["tier"] == "red"]
    assert f"{len(red)} of {len(tri)} accounts are in the red tier" in findings
    assert f"${tri['expected_arr_saved'].sum():,.0f} for the whole book" in findings
    first = book.importance.iloc[0]
    assert f"**{first['family']}** ({first['learned_share']:.0%} of mean |SHAP|)" in findings
    rates = shock_hit_rate(book.explanations,
                                   planted_shocks(f"{sim_data}/truth", book.as_of))
    assert f"on {rates.iloc[0]['hits']} of {rates.iloc[0]['accounts']} accounts" in findings
    # the walk-throughs quote the top of the queue
    text = "\n".join(o["data"]["text/markdown"] for o in outputs
                     if "text/markdown" in o.get("data", {}))
    for name, sentence in zip(tri["name"].head(2), tri["drivers"].head(2)):
        assert f"**{name}**" in text
        if len(sentence):
            assert sentence[0] in text


@pytest.mark.slow
def test_the_explain_command_writes_the_triage_tasks_and_packs(sim_data, tmp_path):
    model, _, model_dir, _, _ = trained(sim_data)
    as_of = sim_as_of(sim_data)
    out = tmp_path / "explained"
    code = main(["-q", "explain", "--data", sim_data, "--as-of", str(as_of.date()),
                 "--model", str(model_dir), "--out", str(out)])
    assert code == 0
    accounts = pd.read_parquet(out / "accounts.parquet")
    with open_warehouse(sim_data) as wh:
        book = book_at(wh, model, as_of)
    assert list(accounts["account_id"]) == list(book.triage["account_id"])
    pd.testing.assert_series_equal(accounts["expected_arr_saved"],
                                   book.triage["expected_arr_saved"], check_names=False)
    tasks = pd.read_csv(out / "tasks.csv")
    assert len(tasks) == len(book.tasks)
    assert set(tasks["source"]) <= {"red_tier", "nps_detractor", "competitive"}
    assert len(list((out / "packs").glob("*.html"))) == book.triage["csm_owner"].nunique()
    assert pd.read_csv(out / "accounts.csv")["drivers"].str.len().gt(0).any()


def test_the_explain_command_refuses_invalid_data_before_loading_a_model(tmp_path, tiny_tables,
                                                                        capsys):
    from conftest import write_tables

    tables = dict(tiny_tables)
    tables["subscriptions"] = tables["subscriptions"].assign(mrr=-1.0)
    data = write_tables(tables, tmp_path / "bad")
    code = main(["-q", "explain", "--data", str(data), "--as-of", "2024-07-01",
                 "--model", str(tmp_path / "no-model"), "--out", str(tmp_path / "out")])
    assert code == 1
    assert "negative_money" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    good = write_tables(tiny_tables, tmp_path / "good")
    code = main(["-q", "explain", "--data", str(good), "--as-of", "2024-07-01",
                 "--model", str(tmp_path / "no-model"), "--out", str(tmp_path / "out")])
    assert code == 3                     # valid data, no model there: no usable model
    assert "no model.joblib" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
