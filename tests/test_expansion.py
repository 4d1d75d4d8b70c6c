"""Expansion: contract changes from hand-made subscriptions, attribution to the last
milestone, the stratified comparison against the simulator's planted QBR effect, the
propensity score checked out of time, notebook 05, and a world without milestones."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from _simdata import assert_paired_without_outputs
from sklearn.impute import SimpleImputer

from churnlab.actions.expansion import attribute, contract_changes
from churnlab.data import contract as S
from churnlab.data.warehouse import open_warehouse
from churnlab.pipeline.expansion import run_expansion
from churnlab.present.notebook import run_notebook
from churnlab.sim.generate import simulate_saas, write_simulation
from churnlab.sim.params import SimulationParams
from churnlab.sim.profiles import simulate_profile, write_profile
from churnlab.sim.truth import planted_milestone_effects
from churnlab.stats import MedianImputer

SCRIPT = Path(__file__).resolve().parents[1] / "notebooks" / "05_expansion.py"


def test_contract_changes_find_expansions_and_contractions_within_a_span():
    subs = pd.DataFrame({
        S.ACCOUNT_ID: ["A", "A", "A", "B", "B", "C", "C"],
        S.SUBSCRIPTION_ID: ["1", "2", "3", "4", "5", "6", "7"],
        S.START_DATE: pd.to_datetime(["2024-01-01", "2025-01-01", "2025-06-10",
                                      "2024-01-01", "2024-04-01", "2024-01-01",
                                      "2025-03-01"]),
        S.END_DATE: pd.to_datetime(["2025-01-01", "2025-06-10", None, "2024-04-01", None,
                                    "2024-06-01", None]),
        S.MRR: [100.0, 150.0, 120.0, 50.0, 50.2, 80.0, 200.0],
        S.TERM_MONTHS: [12, 12, 12, 1, 1, 12, 12]})
    c = contract_changes(subs).set_index([S.ACCOUNT_ID, "changed_at"])
    a1 = c.loc[("A", pd.Timestamp("2025-01-01"))]
    assert a1["kind"] == "expansion" and a1["arr_change"] == 600 and a1["at_renewal"]
    a2 = c.loc[("A", pd.Timestamp("2025-06-10"))]
    assert a2["kind"] == "contraction" and not a2["at_renewal"]       # mid-term
    assert "B" not in c.index.get_level_values(0)      # 0.4% change: not a change
    assert "C" not in c.index.get_level_values(0)      # a new span after a gap: a win-back


def test_each_expansion_is_credited_to_the_last_milestone_inside_the_window():
    changes = pd.DataFrame({S.ACCOUNT_ID: ["A", "B", "C"],
                            "changed_at": pd.to_datetime(["2025-05-01"] * 3),
                            "arr_change": [100.0, 50.0, 10.0], "kind": "expansion"})
    events = pd.DataFrame({S.ACCOUNT_ID: ["A", "A", "B", "C"],
                           S.EVENT_TIME: pd.to_datetime(["2025-01-15", "2025-04-01",
                                                         "2024-11-01", "2025-05-01"]),
                           S.EVENT_TYPE: ["qbr", "training", "qbr", "qbr"]})
    out = attribute(changes, events, window_days=120).set_index(S.ACCOUNT_ID)
    assert out.loc["A", "milestone"] == "training" and out.loc["A", "days_before"] == 30
    assert pd.isna(out.loc["B", "milestone"])          # 181 days before: outside
    assert pd.isna(out.loc["C", "milestone"])          # the same day is not "before"


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """The same seed, growth effects planted, with and without the QBR effect."""
    out = {}
    for name, effects in (("none", {}), ("qbr", {"qbr_held": 1.8})):
        path = tmp_path_factory.getbasetemp() / f"churnlab-expansion-{name}"
        if not (path / "truth" / "params.json").is_file():
            write_simulation(simulate_saas(
                5000, 36, seed=42,
                params=SimulationParams.growth_effects(milestone_expansion_effects=effects)),
                path)
        with open_warehouse(path) as wh:
            out[name] = (path, run_expansion(wh))
    return out


@pytest.mark.slow
def test_the_comparison_moves_with_the_planted_qbr_effect(planted):
    truth = planted_milestone_effects(planted["qbr"][0] / "truth")
    assert truth.set_index("milestone").loc["qbr_held", "sign"] == "more"
    ratio = {k: v[1].comparison.set_index("milestone").loc["qbr_held"]
             for k, v in planted.items()}
    # the planted effect raises the stratified ratio over the same seed without it
    assert ratio["qbr"]["adjusted_ratio"] > ratio["none"]["adjusted_ratio"]
    assert ratio["qbr"]["adjusted_lo"] > 1
    # stratifying removes most of what the crude ratio owes to who gets QBRs
    for r in ratio.values():
        assert abs(r["adjusted_ratio"] - 1) < abs(r["crude_ratio"] - 1)
    e = planted["qbr"][1]
    up = e.changes[e.changes["kind"] == "expansion"]
    assert e.attributed["arr_change"].sum() == pytest.approx(up["arr_change"].sum())
    credited = e.attributed["milestone"].dropna()
    assert set(credited) <= {"qbr_held", "onboarding_milestone", "first_value_reached"}
    assert any("weekly_report_opened" in n for n in e.notes)   # a stream, not a milestone
    assert e.propensity_auc > 0.6
    assert len(e.candidates) == 15 and e.candidates["reason"].str.len().gt(0).all()


def test_a_world_without_milestones_says_so_and_still_counts_changes(tmp_path):
    path = tmp_path / "usage"
    write_profile(simulate_profile("usage-only", 400, 18, seed=3), path)
    with open_warehouse(path) as wh:
        e = run_expansion(wh)
    assert any("names no value milestone" in n for n in e.notes)
    assert e.attributed.empty or e.attributed["milestone"].isna().all()
    assert e.summary()


def test_the_script_and_the_committed_notebook_05_are_the_same_cells_without_outputs():
    assert_paired_without_outputs(SCRIPT)


@pytest.mark.slow
def test_notebook_05_runs_and_quotes_the_summary(planted, tmp_path):
    path, e = planted["qbr"]
    out = run_notebook(SCRIPT, tmp_path / "05.ipynb",
                       dict(data_dir=str(path), truth_dir=str(path / "truth")))
    nb = nbformat.read(out, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    assert len([o for o in outputs if "image/png" in o.get("data", {})]) >= 2
    text = "\n".join(o["data"]["text/markdown"] for o in outputs
                     if "text/markdown" in o.get("data", {}))
    assert e.summary() in text


def test_a_large_book_fits_the_propensity_on_whole_accounts_and_says_so(tmp_path):
    """Past max_fit_rows account-months the propensity model is fitted on a seeded sample
    of whole accounts (a note says how many): the same candidates on a rerun, another
    ranking than the full fit, the bookkeeping (changes, attribution, comparison)
    untouched. A one-plan, usage-only, 18-month world without expansions says so."""
    path = tmp_path / "small"
    write_simulation(simulate_saas(800, 24, seed=5), path)
    with open_warehouse(path) as wh:
        full = run_expansion(wh)
        capped = run_expansion(wh, max_fit_rows=4000)
        again = run_expansion(wh, max_fit_rows=4000)
    assert not any("propensity model was fitted on" in n for n in full.notes)
    note = next(n for n in capped.notes if "propensity model was fitted on" in n)
    fitted, total = (int(x.replace(",", "")) for x in re.findall(r"\d[\d,]*", note)[:2])
    assert 3600 <= fitted <= 4400 and fitted < total     # whole accounts: about the cap
    assert len(full.candidates) > 0
    pd.testing.assert_frame_equal(capped.candidates, again.candidates)
    assert not capped.candidates["p_expand"].equals(full.candidates["p_expand"])
    for part in ("changes", "attributed", "comparison"):
        pd.testing.assert_frame_equal(getattr(capped, part), getattr(full, part))
    usage = tmp_path / "usage"
    write_profile(simulate_profile("usage-only", 400, 18, seed=3), usage)
    with open_warehouse(usage) as wh:
        e = run_expansion(wh, max_fit_rows=500)
    assert any("propensity model was fitted on" in n for n in e.notes)
    assert any("no propensity score" in n for n in e.notes) and e.candidates.empty


def test_the_median_imputer_is_scikit_learns_value_for_value():
    """``stats.MedianImputer`` (a plain nanmedian) against the scikit-learn imputer it
    replaces, ``SimpleImputer(strategy="median", keep_empty_features=True)``: even and odd
    counts of observed values, ties (rounded values), wide scales, a column with nothing
    observed (filled with 0), mostly-missing columns; a different median rule or a
    dropped empty column would differ."""
    rng = np.random.default_rng(11)
    for trial in range(60):
        n, p = int(rng.integers(1, 200)), int(rng.integers(1, 6))
        x = rng.normal(size=(n, p)) * 10.0 ** rng.integers(-3, 6)
        if trial % 3 == 0:
            x = np.round(x)
        x[rng.random((n, p)) < rng.uniform(0, 0.9)] = np.nan
        if trial % 5 == 0:
            x[:, 0] = np.nan
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = SimpleImputer(strategy="median", keep_empty_features=True).fit(x)
        got = MedianImputer().fit(x)
        np.testing.assert_array_equal(got.statistics_, want.statistics_)
        np.testing.assert_array_equal(got.transform(x), want.transform(x))
        assert not np.isnan(got.transform(x)).any()
