"""Triage: save classes from evidence, discount rules, the priority queue, tasks, and
the save-class calibration on interventions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnlab.actions.playbooks import discount_guidance
from churnlab.actions.root_cause import STATED_CAUSE_DAYS, TriageInputError
from churnlab.actions.save_class import CALIBRATION_MIN_N, SAVE_PRIOR
from churnlab.actions.tasks import make_tasks
from churnlab.actions.triage import triage_accounts
from churnlab.data import contract as S
from churnlab.data.signal_map import default_signal_map_path, load_signal_map
from churnlab.sim.truth import root_cause_agreement
from churnlab.stats import wilson_interval

SMAP = load_signal_map(default_signal_map_path())
AS_OF = pd.Timestamp("2026-11-01")


def book(n: int = 6, seed: int = 0):
    """(scores, explanations, snapshot) of ``n`` hand-made accounts."""
    rng = np.random.default_rng(seed)
    ids = [f"A{i}" for i in range(n)]
    arr = rng.choice([5_000.0, 20_000.0, 80_000.0, 200_000.0], n)
    p90 = rng.uniform(0.01, 0.5, n)
    scores = pd.DataFrame({
        S.ACCOUNT_ID: ids, "as_of": AS_OF, S.ARR: arr, "next_renewal": AS_OF + pd.Timedelta(days=40),
        "days_to_renewal": 40, "p_churn_90d": p90, "p_churn_before_renewal": p90 * 0.8,
        "expected_arr_lost_before_renewal": p90 * 0.8 * arr, "model_id": "m"})
    expl = pd.DataFrame({
        S.ACCOUNT_ID: ids,
        "drivers": [["Weekly active users fell 40%"]] * n,
        "driver_families": [["usage"]] * n,
        "driver_features": [["weekly_active_users__trend"]] * n,
        "driver_shap": [[0.5]] * n,
        "protective": [[]] * n, "contract_drivers": [[]] * n, "dominant_family": "usage"})
    snapshot = pd.DataFrame({
        S.ACCOUNT_ID: ids, S.SEGMENT: "Mid-Market", S.CSM_OWNER: ["ann", "bob"] * (n // 2),
        S.IS_STRATEGIC_LOGO: False, S.IS_REFERENCE: False, S.EXPANSION_POTENTIAL: "low",
        S.ARR: arr, "fam_competitive__events_30d": 0, "fam_competitive__events_90d": 0,
        "fam_relationship__events_90d": 0})
    return scores, expl, snapshot


def test_the_queue_is_ordered_by_expected_arr_saved_which_is_p90_times_save_probability_times_arr():
    scores, expl, snap = book(40, seed=3)
    tri = triage_accounts(scores, expl, snap, signal_map=SMAP)
    assert list(tri["priority"]) == list(range(1, 41))
    expected = tri["p_churn_90d"] * tri["save_probability"] * tri["arr"]
    np.testing.assert_allclose(tri["expected_arr_saved"], expected)
    assert (np.diff(tri["expected_arr_saved"].to_numpy()) <= 0).all()
    assert set(tri["account_id"]) == set(scores["account_id"])


def test_save_class_is_low_for_a_committed_competitor_with_a_product_fit_gap_and_high_without_evidence():
    scores, expl, snap = book(4)
    snap.loc[0, "data_export_request__sum_30d"] = 2
    snap.loc[0, "fam_competitive__events_30d"] = 3
    expl.at[0, "driver_features"] = ["competitor_feature_request__sum_90d"]
    expl.at[0, "driver_families"] = ["competitive"]
    tri = triage_accounts(scores, expl, snap, signal_map=SMAP).set_index("account_id")
    assert tri.loc["A0", "root_cause"] == "product_fit"
    assert tri.loc["A0", "save_class"] == "low"
    assert tri.loc["A0", "save_probability"] == pytest.approx(0.175)
    assert any("competitor" in e for e in tri.loc["A0", "save_evidence"])
    assert (tri.drop(index="A0")["save_class"] == "high").all()
    assert tri.loc["A1", "save_probability"] == pytest.approx(0.70)


def test_root_cause_follows_the_drivers_features():
    scores, expl, snap = book(4)
    cases = {0: ("ticket_escalated__sum_30d", "support", "service_experience"),
             1: ("budget_cut_mentioned__any_90d", "financial", "circumstantial"),
             2: ("champion_left__any_90d", "relationship", "value_perception"),
             3: ("repeat_issue__sum_90d", "support", "product_fit")}
    for i, (feature, family, _) in cases.items():
        expl.at[i, "driver_features"] = [feature]
        expl.at[i, "driver_families"] = [family]
    tri = triage_accounts(scores, expl, snap, signal_map=SMAP).set_index("account_id")
    for i, (_, _, cause) in cases.items():
        assert tri.loc[f"A{i}", "root_cause"] == cause


def test_a_recent_stated_flag_names_the_root_cause_before_the_model_votes():
    scores, expl, snap = book(4)
    for i in range(4):   # every account's driver says service experience
        expl.at[i, "driver_features"] = ["ticket_escalated__sum_30d"]
        expl.at[i, "driver_families"] = ["support"]
    snap["budget_cut_mentioned__days_since"] = [12.0, 120.0, np.nan, 40.0]
    snap["champion_left__days_since"] = [np.nan, np.nan, np.nan, 5.0]
    snap["first_value_reached__days_since"] = 3.0    # a lifecycle flag: good news, not a cause
    tri = triage_accounts(scores, expl, snap, signal_map=SMAP).set_index("account_id")
    assert tri.loc["A0", "root_cause"] == "circumstantial"
    assert tri.loc["A0", "root_cause_basis"] == "stated: budget cuts mentioned 12 days ago"
    # older than STATED_CAUSE_DAYS, or none: the model's votes decide
    assert STATED_CAUSE_DAYS < 120
    assert tri.loc["A1", "root_cause"] == tri.loc["A2", "root_cause"] == "service_experience"
    assert tri.loc["A1", "root_cause_basis"] == ("model: service experience signals weigh more "
                                                 "than usual in the book")   # no SHAP: no lead
    # two stated flags: the most recent one (champion left 5 days ago) names the cause
    assert tri.loc["A3", "root_cause"] == "value_perception"
    assert "champion left the company 5 days ago" in tri.loc["A3", "root_cause_basis"]


def test_with_every_features_shap_the_cause_most_above_the_books_usual_wins():
    """Value perception is fed by five families, so its raw votes are large everywhere;
    the account whose support signals stand out is a service case even though its
    value-perception votes are larger, and an account at the book's usual is unclear."""
    scores, expl, snap = book(4)
    phi = pd.DataFrame(0.0, index=range(4), columns=[
        "weekly_active_users__trend", "meeting_held__sum_90d", "ticket_escalated__sum_30d"])
    phi["weekly_active_users__trend"] = [0.8, 0.8, 0.8, 1.6]
    phi["meeting_held__sum_90d"] = 0.4
    phi["ticket_escalated__sum_30d"] = [0.0, 0.0, 0.3, 0.0]
    tri = triage_accounts(scores, expl, snap, signal_map=SMAP, phi=phi) \
        .set_index("account_id")
    assert tri.loc["A2", "root_cause"] == "service_experience"
    assert tri.loc["A2", "root_cause_basis"] == ("model: service experience signals weigh more "
                                                 "than usual in the book, led by escalated "
                                                 "tickets")
    assert tri.loc["A2", "root_cause_votes"]["service_experience"] == pytest.approx(0.3 - 0.075)
    assert tri.loc["A3", "root_cause"] == "value_perception"
    assert tri.loc["A0", "root_cause"] == tri.loc["A1", "root_cause"] == "unclear"
    assert tri.loc["A0", "playbook"] == "save_conversation"
    # a given baseline (the book's usual when triaging a few accounts) replaces the mean
    base = pd.Series({"product_fit": 0.0, "service_experience": 0.5,
                      "value_perception": 0.0, "circumstantial": 0.0})
    tri = triage_accounts(scores, expl, snap, signal_map=SMAP, phi=phi,
                                 cause_baseline=base).set_index("account_id")
    assert (tri["root_cause"] == "value_perception").all()
    with pytest.raises(TriageInputError, match="phi: 3 rows for 4 snapshot rows"):
        triage_accounts(scores, expl, snap, signal_map=SMAP, phi=phi.iloc[:3])


def test_no_discount_when_the_cause_is_not_price_or_value():
    out = discount_guidance(
        ["product_fit", "service_experience", "value_perception", "value_perception"],
        ["medium"] * 4, competitor=[2, 2, 0, 0], budget=[1, 1, 0, 0],
        price_questions=[3, 3, 2, 0], is_strategic=[True, True, False, False])
    assert list(out["discount_max_pct"]) == [0, 0, 15, 0]
    assert out["discount_guidance"][0].startswith("No discount: the cause is product fit")
    assert out["discount_guidance"][1].startswith("No discount: the cause is service experience")
    assert "commitment" in out["discount_guidance"][2]
    assert out["discount_guidance"][3].startswith("No discount: no price")   # no price evidence
    assert not out["needs_exec_approval"].any()


def test_thirty_percent_or_more_is_only_for_strategic_accounts_and_always_flagged_for_executive_approval():
    out = discount_guidance(
        ["circumstantial"] * 4, ["low", "low", "medium", "high"], competitor=[2, 2, 0, 0],
        budget=[1, 1, 1, 1], price_questions=[0] * 4, is_strategic=[True, False, False, True])
    assert list(out["discount_max_pct"]) == [30, 25, 15, 15]
    assert list(out["needs_exec_approval"]) == [True, False, False, False]
    assert "EXECUTIVE APPROVAL" in out["discount_guidance"][0]
    assert all("commitment" in t for t in out["discount_guidance"])


def test_pricing_concession_is_recommended_only_with_a_discount():
    scores, expl, snap = book(2)
    snap["pricing_question__sum_90d"] = [3, 0]
    tri = triage_accounts(scores, expl, snap, signal_map=SMAP).set_index("account_id")
    assert tri.loc["A0", "discount_max_pct"] == 15
    assert "pricing_concession" in tri.loc["A0", "playbook"]
    assert tri.loc["A1", "discount_max_pct"] == 0
    assert "pricing_concession" not in tri.loc["A1", "playbook"]


def test_low_save_class_and_small_arr_get_one_conversation():
    scores, expl, snap = book(4)
    scores[S.ARR] = [1_000.0, 500_000.0, 50_000.0, 60_000.0]
    for i in (0, 1):
        snap.loc[i, "data_export_request__sum_30d"] = 1
        expl.at[i, "driver_features"] = ["competitor_feature_request__sum_90d"]
        expl.at[i, "driver_families"] = ["competitive"]
    tri = triage_accounts(scores, expl, snap, signal_map=SMAP).set_index("account_id")
    assert tri.loc["A0", "save_class"] == tri.loc["A1", "save_class"] == "low"
    assert tri.loc["A0", "action"].startswith("One conversation")
    assert not tri.loc["A1", "action"].startswith("One conversation")


def test_tier_and_health_are_bands_of_the_chance_of_churning_by_the_next_renewal():
    scores, expl, snap = book(4)
    scores["p_churn_90d"] = [0.40, 0.12, 0.05, 0.01]
    scores["p_churn_before_renewal"] = [0.30, 0.05, 0.30, 0.01]   # renewal in 40 days
    tri = triage_accounts(scores, expl, snap, signal_map=SMAP).set_index("account_id")
    # the larger of the two (the renewal is inside the 90 days); cuts red 25%, yellow 10%
    np.testing.assert_allclose(tri.loc[["A0", "A1", "A2", "A3"], "p_churn_decision"],
                               [0.40, 0.12, 0.30, 0.01])
    assert tri.loc[["A0", "A1", "A2", "A3"], "tier"].tolist() == ["red", "yellow", "red",
                                                                  "green"]
    assert (tri.loc[tri["tier"] == "green", "health"] >= 80).all()
    assert (tri.loc[tri["tier"] == "red", "health"] < 60).all()


def test_tasks_turn_red_tier_nps_detractors_and_competitive_signals_into_crm_rows():
    scores, expl, snap = book(4)
    scores["p_churn_90d"] = [0.40, 0.10, 0.05, 0.01]
    scores["p_churn_before_renewal"] = [0.30, 0.08, 0.04, 0.01]
    snap["nps_response__last"] = [9.0, 3.0, 8.0, 2.0]
    snap["nps_response__days_since"] = [10, 20, 30, 200]   # A3's low score is too old
    snap.loc[2, "fam_competitive__events_30d"] = 2
    tri = triage_accounts(scores, expl, snap, signal_map=SMAP)
    tasks = make_tasks(tri, AS_OF)
    got = set(zip(tasks["account_id"], tasks["source"]))
    assert got == {("A0", "red_tier"), ("A1", "nps_detractor"), ("A2", "competitive")}
    row = tasks.set_index("source").loc["competitive"]
    assert row["priority"] == "urgent" and row["due_date"] == AS_OF + pd.Timedelta(days=1)
    assert row["owner"] == snap.set_index("account_id").loc["A2", S.CSM_OWNER]
    assert list(tasks.columns[:6]) == ["account_id", "owner", "priority", "due_date", "reason",
                                       "source"]


def test_running_save_plays_are_reported_and_names_come_from_the_accounts_table():
    scores, expl, snap = book(2)
    iv = pd.DataFrame({S.ACCOUNT_ID: ["A0", "A1"],
                       S.STARTED_AT: [AS_OF - pd.Timedelta(days=20), AS_OF - pd.Timedelta(days=400)],
                       S.PLAYBOOK: ["executive_engagement", "pricing_concession"],
                       S.OUTCOME: ["pending", "pending"]})
    accounts = pd.DataFrame({S.ACCOUNT_ID: ["A0", "A1"], S.NAME: ["Acme", "Beta"]})
    tri = triage_accounts(scores, expl, snap, interventions=iv, accounts=accounts,
                                 signal_map=SMAP).set_index("account_id")
    assert tri.loc["A0", "active_playbook"] == "executive_engagement"
    assert pd.isna(tri.loc["A1", "active_playbook"])          # started too long ago
    assert tri.loc["A0", "name"] == "Acme"


def test_bad_inputs_are_refused_with_the_table_and_column():
    scores, expl, snap = book(2)
    with pytest.raises(TriageInputError, match="scores: missing column.*p_churn_90d"):
        triage_accounts(scores.drop(columns="p_churn_90d"), expl, snap, signal_map=SMAP)
    with pytest.raises(TriageInputError, match="explanations: no row for scored account A1"):
        triage_accounts(scores, expl.iloc[:1], snap, signal_map=SMAP)
    with pytest.raises(TriageInputError, match="account_id must be unique"):
        triage_accounts(pd.concat([scores, scores]), expl, snap, signal_map=SMAP)


def test_calibration_replaces_class_midpoints_only_with_enough_treated_outcomes():
    scores, expl, snap = book(2)
    cal = pd.DataFrame({"save_class": ["high", "medium"], "arm": ["treatment", "treatment"],
                        "n": [CALIBRATION_MIN_N, CALIBRATION_MIN_N - 1],
                        "rate": [0.55, 0.9]})
    tri = triage_accounts(scores, expl, snap, calibration=cal, signal_map=SMAP)
    assert (tri["save_class"] == "high").all()
    assert np.allclose(tri["save_probability"], 0.55)
    assert SAVE_PRIOR["medium"] == pytest.approx(0.40)


def test_root_cause_agreement_counts_matches_and_the_chance_level():
    tri = pd.DataFrame({S.ACCOUNT_ID: list("abcd"),
                        "root_cause": ["product_fit", "product_fit", "circumstantial",
                                       "service_experience"]})
    shocks = pd.DataFrame({S.ACCOUNT_ID: list("abcdz"),
                           "root_cause": ["product_fit", "circumstantial", "circumstantial",
                                          "value_perception", "product_fit"]})
    a = root_cause_agreement(tri, shocks)
    assert (a["accounts"], a["agree"]) == (4, 2)
    # predicted mix 1/2 pf, 1/4 circ, 1/4 svc; true mix 1/4 pf, 1/2 circ, 1/4 vp
    assert a["chance"] == pytest.approx(0.5 * 0.25 + 0.25 * 0.5)
    lo, hi = wilson_interval(2, 4)
    assert (a["lo"], a["hi"]) == pytest.approx((lo, hi))


def test_a_csms_diagnosis_of_a_running_play_overrides_the_inferred_root_cause():
    scores, expl, snap = book(4)
    for i in range(4):   # every account's driver says service experience
        expl.at[i, "driver_features"] = ["ticket_escalated__sum_30d"]
        expl.at[i, "driver_families"] = ["support"]
    day = AS_OF - pd.Timedelta(days=20)
    iv = pd.DataFrame({S.ACCOUNT_ID: ["A0", "A1", "A2"],
                       S.STARTED_AT: [day, AS_OF - pd.Timedelta(days=400), day],
                       S.PLAYBOOK: ["product_team_involvement"] * 3,
                       S.OUTCOME: ["pending"] * 3,
                       S.DIAGNOSED_CAUSE: ["product_fit", "product_fit", None]})
    tri = triage_accounts(scores, expl, snap, interventions=iv, signal_map=SMAP) \
        .set_index("account_id")
    assert tri.loc["A0", "root_cause"] == "product_fit"
    assert tri.loc["A0", "root_cause_basis"] == ("diagnosed by the CSM when the play "
                                                 f"started on {day.date()}")
    assert tri.loc["A0", "playbook"].startswith("product_team_involvement")
    # a play over 120 days old, or one without a diagnosis: the model's votes still decide
    for a in ("A1", "A2", "A3"):
        assert tri.loc[a, "root_cause"] == "service_experience"
        assert tri.loc[a, "root_cause_basis"].startswith("model:")
