"""One risk language (issue 16): the tier, the health score and the probability never
contradict each other, a row says why where two figures could seem to disagree, and the
next steps import into a CRM."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnlab.actions.risk_language import (
    DEFAULT_CUTS,
    RiskCuts,
    apply_risk_language,
    check_risk_language,
    health_from_probability,
    tier_from_health,
)
from churnlab.actions.tasks import CRM_COLUMNS, crm_tasks, next_steps
from churnlab.data import contract as S
from churnlab.errors import InputError

AS_OF = pd.Timestamp("2026-11-01")


def test_health_keeps_the_articles_scale_at_the_cuts():
    c = RiskCuts(red=0.3, yellow=0.12)
    h = health_from_probability([0.0, 0.12, 0.3, 1.0], c)
    np.testing.assert_allclose(h, [100, 80, 60, 0])
    grid = np.linspace(0, 1, 501)
    assert (np.diff(health_from_probability(grid, c)) < 0).all()     # strictly decreasing
    assert tier_from_health([80, 79.6, 79.4, 60, 59.4]).tolist() == [
        "green", "green", "yellow", "yellow", "red"]


def test_cuts_out_of_order_are_refused_with_the_rule():
    with pytest.raises(InputError, match="yellow < red"):
        RiskCuts(red=0.1, yellow=0.2)


def _rows(n=400, seed=0):
    rng = np.random.default_rng(seed)
    days = rng.integers(1, 365, n).astype(float)
    p90 = rng.beta(1, 12, n)
    # churn mostly at the renewal: before-renewal grows with the days to renewal
    p_ren = np.clip(p90 + rng.beta(1, 6, n) * (days > 90), 0, 1)
    return pd.DataFrame({S.ACCOUNT_ID: [f"a{i}" for i in range(n)],
                         S.ARR: rng.choice([3e3, 2e4, 1e5, 5e5], n), "p_churn_90d": p90,
                         "p_churn_before_renewal": p_ren, "days_to_renewal": days})


@pytest.mark.parametrize("cuts", [DEFAULT_CUTS, RiskCuts(red=0.4, yellow=0.05)])
def test_the_rule_holds_on_every_row_and_a_broken_row_is_caught(cuts):
    out = apply_risk_language(_rows(), cuts)
    assert check_risk_language(out, cuts) == []
    # the tier is the band of the decision probability at the cuts, up to the health's
    # rounding (to 0.1 when stored, to a whole point when banded: at most 0.55 points),
    # in probability at the flattest slope of the scale
    tol = 0.55 * max((1 - cuts.red) / 60, (cuts.red - cuts.yellow) / 20, cuts.yellow / 20)
    p = out["p_churn_decision"].to_numpy()
    assert (out.loc[p >= cuts.red + tol, "tier"] == "red").all()
    assert (out.loc[(p >= cuts.yellow + tol) & (p < cuts.red - tol), "tier"] == "yellow").all()
    assert (out.loc[p < cuts.yellow - tol, "tier"] == "green").all()
    broken = out.copy()
    i = broken.index[broken["tier"] == "green"][0]
    broken.loc[i, "tier"] = "red"
    assert any("not the band of its health" in m for m in check_risk_language(broken, cuts))
    silent = out.copy()
    j = silent.index[silent["tier_reason"] != ""]
    assert len(j), "the world has rows whose risk sits at a renewal beyond 90 days"
    silent.loc[j[0], "tier_reason"] = ""
    assert any("no reason" in m for m in check_risk_language(silent, cuts))


def test_a_renewal_far_ahead_and_a_large_green_account_renewing_soon_are_explained():
    rows = pd.DataFrame({S.ACCOUNT_ID: ["far", "soon", "small"],
                         S.ARR: [50_000.0, 900_000.0, 1_000.0],
                         "p_churn_90d": [0.02, 0.03, 0.03],
                         "p_churn_before_renewal": [0.45, 0.03, 0.03],
                         "days_to_renewal": [200.0, 20.0, 20.0]})
    out = apply_risk_language(rows).set_index(S.ACCOUNT_ID)
    assert out.loc["far", "tier"] == "red"
    assert "renewal in 200 days" in out.loc["far", "tier_reason"]
    assert "45%" in out.loc["far", "tier_reason"] and "2%" in out.loc["far", "tier_reason"]
    assert out.loc["soon", "tier"] == "green"
    assert "renews in 20 days" in out.loc["soon", "tier_reason"]
    assert out.loc["small", "tier_reason"] == ""        # nothing that could seem to disagree


def test_next_steps_are_ordered_dated_and_import_as_crm_tasks():
    tri = pd.DataFrame({
        S.ACCOUNT_ID: ["r1", "y1", "g1", "g2"], S.NAME: ["Red Co", "Yellow Co", "Green Co",
                                                         "Quiet Co"],
        S.CSM_OWNER: ["ann", "ann", "bob", "bob"], "priority": [1, 2, 3, 4],
        "tier": ["red", "yellow", "green", "green"], "tier_reason": ["", "", "", ""],
        "p_churn_decision": [0.5, 0.15, 0.02, 0.01],
        "drivers": [["Usage fell 40%"], [], ["Competitor mentioned"], []],
        "action": ["Start the save protocol now: executive engagement.",
                   "Proactive engagement: check in this week.", "Monitor.", "Monitor."],
        "playbook_text": ["Call the sponsor", "Check in", "", ""]})
    tasks = pd.DataFrame({S.ACCOUNT_ID: ["r1", "g1", "r1"],
                          "priority": ["high", "urgent", "urgent"],
                          "due_date": [AS_OF + pd.Timedelta(days=2), AS_OF + pd.Timedelta(days=1),
                                       AS_OF + pd.Timedelta(days=1)]})
    steps = next_steps(tri, tasks, AS_OF).set_index(S.ACCOUNT_ID)
    assert list(steps.index) == ["r1", "y1", "g1"]          # the quiet green one has none
    assert steps.loc["r1", "due_date"] == AS_OF + pd.Timedelta(days=1)   # earliest task
    assert steps.loc["r1", "task_priority"] == "urgent"
    assert steps.loc["y1", "due_date"] == AS_OF + pd.Timedelta(days=7)
    assert "50% chance" in steps.loc["r1", "evidence"] and "Usage fell" in \
        steps.loc["r1", "evidence"]
    crm = crm_tasks(steps.reset_index(), tri)
    assert list(crm.columns) == CRM_COLUMNS
    assert crm["due_date"].tolist() == ["2026-11-02", "2026-11-08", "2026-11-02"]
    assert crm["priority"].tolist() == ["Urgent", "Normal", "Urgent"]
    assert crm.loc[0, "subject"] == "Start the save protocol now: Red Co"
    assert crm.loc[0, "account"] == "Red Co" and "Call the sponsor" in crm.loc[0, "description"]


def test_monthly_plans_and_a_one_price_book_get_no_renewal_timing_reason():
    """A monthly plan always renews within 90 days and a one-price book has no 'large'
    account: neither is a reason to explain a green tier (the consumer profile's report
    had one on every green row)."""
    rows = pd.DataFrame({S.ACCOUNT_ID: ["m", "a"], S.ARR: [900_000.0, 900_000.0],
                         S.TERM_MONTHS: [1, 12], "p_churn_90d": [0.03, 0.03],
                         "p_churn_before_renewal": [0.01, 0.03],
                         "days_to_renewal": [12.0, 20.0]})
    small = pd.DataFrame({S.ACCOUNT_ID: ["s"], S.ARR: [1_000.0], S.TERM_MONTHS: [12],
                          "p_churn_90d": [0.03], "p_churn_before_renewal": [0.03],
                          "days_to_renewal": [20.0]})
    out = apply_risk_language(pd.concat([rows] + [small] * 8, ignore_index=True))
    assert out.loc[0, "tier_reason"] == ""                   # monthly
    assert out.loc[1, "tier_reason"].startswith("Green although it renews in 20 days")
    one_price = apply_risk_language(pd.concat([small] * 10, ignore_index=True))
    assert (one_price["tier_reason"] == "").all()


def test_a_probability_on_a_rounding_edge_gets_one_tier_everywhere():
    """p = 10.4% is health 79.47 (79.5 as stored, shown as 80: green); the 90-day band
    must be read the same way or the row gets a spurious reason."""
    rows = pd.DataFrame({S.ACCOUNT_ID: ["edge"], S.ARR: [100.0], S.TERM_MONTHS: [1],
                         "p_churn_90d": [0.104], "p_churn_before_renewal": [0.04],
                         "days_to_renewal": [17.0]})
    out = apply_risk_language(rows)
    assert out.loc[0, "health"] == 79.5 and out.loc[0, "tier"] == "green"
    assert out.loc[0, "tier_reason"] == ""
    assert check_risk_language(out) == []
