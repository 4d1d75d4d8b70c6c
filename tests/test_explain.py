"""Explanations: exact SHAP additivity, family weights, sentences for every event type and
statistic, and drivers that name planted shocks on the simulated SaaS."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _simdata import sim_as_of, simulated_data, trained

from churnlab.actions.triage import triage_accounts
from churnlab.data import contract as S
from churnlab.data.signal_map import (
    SignalSpec,
    default_signal_map_path,
    load_signal_map,
    parse_signal_map,
)
from churnlab.explain.accounts import explain_accounts, global_importance
from churnlab.explain.attribution import (
    family_contributions,
    feature_event_type,
    feature_family,
    probability_allocation,
    shap_values,
)
from churnlab.explain.sentences import render_sentence
from churnlab.features import snapshot as F
from churnlab.sim.truth import planted_shocks, root_cause_agreement, shock_hit_rate
from churnlab.stats import wilson_interval

SMAP = load_signal_map(default_signal_map_path())
# xgboost's contributions are float32: their sum carries ~1e-7 relative rounding per term
ADD_TOL = 1e-4


@pytest.fixture(scope="session")
def sim_data(tmp_path_factory) -> str:
    return str(simulated_data(tmp_path_factory.getbasetemp() / "churnlab-sim"))


@pytest.fixture(scope="module")
def fitted(sim_data):
    model, card, model_dir, snapshot, scores = trained(sim_data)
    expl = explain_accounts(model, snapshot, SMAP, top_n=3)
    return model, snapshot, scores, expl


# ------------------------------------------------------------------ sentences (no model)
def stats_of(spec: SignalSpec) -> list[str]:
    w = [f"{k}_{d}d" for d in F.WINDOWS for k in
         {"count": ["sum"], "gauge": ["mean"], "flag": ["any"]}[spec.kind]]
    extra = {"count": ["trend"], "gauge": ["last", "trend"], "flag": []}[spec.kind]
    return w + extra + ["days_since"]


def test_every_event_type_and_every_statistic_renders_a_sentence_with_its_label():
    row = {S.TERM_MONTHS: 12, "days_to_renewal": 20, "next_renewal": pd.Timestamp("2026-11-21")}
    for spec in SMAP:
        for i, stat in enumerate(stats_of(spec)):
            name = F.feature_name(spec.event_type, stat)
            for value in (0.0, 3.0, np.nan):
                row[name] = value
                text = render_sentence(name, pd.Series(row), SMAP,
                                               pd.Series({name: 1.0}))
                assert spec.label.lower() in text.lower(), (name, value, text)
                assert text[0].isupper() or text[0].isdigit(), text
                assert "nan" not in text.lower().replace("financial", ""), text
    for family in S.FAMILIES:
        for w in F.WINDOWS:
            text = render_sentence(f"fam_{family}__events_{w}d",
                                           pd.Series({f"fam_{family}__events_{w}d": 4}), SMAP)
            assert text.startswith(f"4 {family} events in the last {w} days")


def test_a_customers_own_event_type_reads_with_its_own_label():
    smap = parse_signal_map({"event_types": {
        "seat_reclaim": {"family": "usage", "kind": "count", "label": "seats reclaimed by admins"}}})
    text = render_sentence("seat_reclaim__sum_30d", pd.Series({"seat_reclaim__sum_30d": 5}),
                                   smap, pd.Series({"seat_reclaim__sum_30d": 0.0}))
    assert text == "5 seats reclaimed by admins in the last 30 days (book median 0)"


def test_sentences_quote_the_value_and_its_reference():
    row = pd.Series({"weekly_active_users__mean_30d": 65.0,
                     "weekly_active_users__trend": 65.0 / 120.0 - 1,
                     "data_export_request__sum_30d": 2.0,
                     "champion_left__any_90d": 1, "first_value_reached__any_180d": 0,
                     S.TERM_MONTHS: 12, "days_to_renewal": 20,
                     "next_renewal": pd.Timestamp("2026-11-21"),
                     "logins__sum_30d": 40.0, "logins__trend": np.log(41.0 / 101.0)})
    say = lambda f: render_sentence(f, row, SMAP)  # noqa: E731
    assert say("weekly_active_users__trend") == ("Weekly active users fell 46% in the last 30 "
                                                 "days vs the 3 months before (from 120 users "
                                                 "to 65 users)")
    assert say("data_export_request__sum_30d") == "2 data export requests in the last 30 days"
    assert say("champion_left__any_90d") == "Champion left the company in the last 90 days"
    assert say("first_value_reached__any_180d").endswith("not in the last 180 days")
    assert say("days_to_renewal") == "Annual renewal in 20 days (2026-11-21)"
    assert say("term_months") == "Annual contract (12-month term)"
    assert say("logins__trend") == ("Logins fell 60% in the last 30 days vs the 3 months before "
                                    "(100 a month before, 40 in the last 30 days)")


# ------------------------------------------------------------------ SHAP on the champion
def test_shap_values_plus_base_equal_the_models_risk_score_on_every_row(fitted):
    model, snapshot, _, expl = fitted
    phi, base = shap_values(model, snapshot)
    assert list(phi.columns) == list(model.feature_names_)
    np.testing.assert_allclose(phi.sum(axis=1) + base, model.risk_score(snapshot), atol=ADD_TOL)
    fam = expl[[c for c in expl.columns if c.startswith("family__")]]
    np.testing.assert_allclose(fam.sum(axis=1) + expl["base_value"], model.risk_score(snapshot),
                               atol=ADD_TOL)


def test_the_probability_allocation_adds_up_and_keeps_each_features_sign(fitted):
    model, snapshot, _, expl = fitted
    phi, base = shap_values(model, snapshot)
    alloc = probability_allocation(model, phi, base)
    p = 1 / (1 + np.exp(-model.risk_score(snapshot)))
    np.testing.assert_allclose(alloc.sum(axis=1), p - 1 / (1 + np.exp(-base)), atol=1e-6)
    nz = phi.abs().to_numpy() > 1e-9
    assert (np.sign(alloc.to_numpy())[nz] == np.sign(phi.to_numpy())[nz]).all()
    share = expl[[c for c in expl.columns if c.startswith("pshare__")]].sum(axis=1)
    np.testing.assert_allclose(share, expl["p_next_month"] - expl["p_base_month"], atol=1e-6)


def test_drivers_raise_the_risk_strongest_first_and_protective_factors_lower_it(fitted):
    model, snapshot, _, expl = fitted
    assert len(expl) == len(snapshot)
    assert list(expl["account_id"]) == list(snapshot["account_id"])
    for shap_up, shap_down, fams, drivers, feats in zip(
            expl["driver_shap"], expl["protective_shap"], expl["driver_families"],
            expl["drivers"], expl["driver_features"]):
        assert all(v > 0 for v in shap_up) and list(shap_up) == sorted(shap_up, reverse=True)
        assert all(v < 0 for v in shap_down) and list(shap_down) == sorted(shap_down)
        assert len(drivers) == len(fams) == len(feats) <= 3
        assert "contract" not in fams
        assert len({feature_event_type(f) for f in feats}) == len(feats)
    phi, _ = shap_values(model, snapshot)
    signal = [c for c in phi.columns if feature_family(c, SMAP) != "contract"]
    i = int(np.argmax(phi[signal].max(axis=1).to_numpy()))
    assert expl["driver_features"].iloc[i][0] == phi[signal].iloc[i].idxmax()


def test_learned_family_shares_sum_to_one_beside_the_articles_defaults(fitted):
    model, snapshot, _, _ = fitted
    imp = global_importance(model, snapshot, SMAP)
    assert imp["learned_share"].sum() == pytest.approx(1.0)
    assert imp["learned_share_core"].sum() == pytest.approx(1.0)
    assert (np.diff(imp["learned_share"].to_numpy()) <= 0).all()
    core = imp.set_index("family")["default_share"].dropna()
    assert set(core.index) == set(S.DEFAULT_WEIGHT_RANGES)
    assert core.sum() == pytest.approx(1.0)
    mids = {f: (lo + hi) / 2 for f, (lo, hi) in S.DEFAULT_WEIGHT_RANGES.items()}
    assert core["usage"] == pytest.approx(mids["usage"] / sum(mids.values()))   # 0.35 / 1.05
    phi, _ = shap_values(model, snapshot)
    fam = family_contributions(phi, SMAP)
    assert imp.set_index("family").loc["usage", "mean_abs_shap"] == \
        pytest.approx(fam["usage"].abs().mean())


@pytest.mark.slow
def test_drivers_name_a_planted_shocks_family_far_more_often_than_by_chance(fitted, sim_data):
    """Accounts hit in the last 90 days by a strong planted shock (truth/shocks.parquet):
    how often their top-3 drivers name a family where the shock shows. Chance: how often
    the same families appear among the drivers of accounts without any shock in the
    year. The hit rate's 95% Wilson interval must lie above chance (the rate itself is
    quoted in benchmarks/RESULTS_explain.md; it is not "most" for every shock type)."""
    _, snapshot, _, expl = fitted
    as_of = sim_as_of(sim_data)
    shocks = planted_shocks(f"{sim_data}/truth", as_of, max_age_days=90)
    rates = shock_hit_rate(expl, shocks).set_index("shock_type")
    quiet_ids = set(snapshot["account_id"]) - set(
        planted_shocks(f"{sim_data}/truth", as_of, min_effect=0.0,
                               max_age_days=365)["account_id"])
    quiet = expl[expl["account_id"].isin(quiet_ids)]
    assert len(quiet) > 100
    have = [set(f) for f in quiet["driver_families"]]
    shocked = shocks[shocks["account_id"].isin(expl["account_id"])]
    chance = np.mean([np.mean([bool(h & set(fams)) for h in have])
                      for fams in shocked["families"]])
    n, hits = rates.loc["all", "accounts"], rates.loc["all", "hits"]
    assert n >= 50
    lo, _ = wilson_interval(hits, n)
    assert lo > chance, (hits, n, chance)


@pytest.mark.slow
def test_triage_root_cause_agrees_with_the_planted_shocks_class_far_more_often_than_by_chance(
        fitted, sim_data):
    """Triage's root cause (stated flags first, else the SHAP votes above the book's
    usual) against the true class of the strong shock of the last 90 days. Chance is
    the agreement of the two class mixes; the 95% Wilson interval must lie above it.
    The uncentred votes of the top drivers alone (the fallback without SHAP values)
    must do worse: the centring and the stated flags are what earn the agreement."""

    model, snapshot, scores, expl = fitted
    as_of = sim_as_of(sim_data)
    shocks = planted_shocks(f"{sim_data}/truth", as_of, max_age_days=90)
    phi, _ = shap_values(model, snapshot.reset_index(drop=True))
    tri = triage_accounts(scores, expl, snapshot, signal_map=SMAP, phi=phi)
    a = root_cause_agreement(tri, shocks)
    assert a["accounts"] >= 50
    assert a["lo"] > a["chance"], a
    drivers_only = root_cause_agreement(
        triage_accounts(scores, expl, snapshot, signal_map=SMAP), shocks)
    assert a["agree"] > drivers_only["agree"], (a["agree"], drivers_only["agree"])
    basis = tri["root_cause_basis"]
    stated = basis.str.startswith("stated: ")
    assert stated.any() and (~stated).any()
