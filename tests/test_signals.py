"""Leading-signal analysis: statistics by hand, signals on a hand-built dataset, and
recovery of the planted truth on a small simulated SaaS."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import write_tables
from scipy import stats

from churnlab.data import contract as S
from churnlab.data.signal_map import default_signal_map_path, load_signal_map
from churnlab.data.warehouse import open_warehouse
from churnlab.signals.adjusted import compare_adjusted, describe_adjustment
from churnlab.signals.analysis import analyse_signals
from churnlab.signals.cohort import (
    CHURNER,
    DEFAULT_WINDOWS,
    FELL,
    GROUP,
    IS_CHURNER,
    LOOK_STEP_DAYS,
    OCCURRED,
    REF_DATE,
    ROSE,
    TRAILING_DAYS,
    make_cohort,
)
from churnlab.signals.derive import check_windows, derive_signals, look_windows
from churnlab.signals.evidence import collect_evidence
from churnlab.signals.peers import ABOVE, BELOW, NOT_REACHED, PEER_KINDS
from churnlab.signals.summary import lead_time_table, summarise_signals
from churnlab.stats import bh_qvalues, fisher_p, mantel_haenszel_rr, risk_ratio, wilson_interval

Z = stats.norm.ppf(0.975)


# ============================================================== statistics, by hand
def test_lift_and_katz_interval_match_a_hand_computation():
    # 30 of 100 churners vs 10 of 100 renewals showed the signal
    lift, lo, hi, se = risk_ratio(30, 100, 10, 100)
    hand_se = np.sqrt(1 / 30 - 1 / 100 + 1 / 10 - 1 / 100)
    assert lift == pytest.approx(3.0)
    assert se == pytest.approx(hand_se)
    assert lo == pytest.approx(3.0 * np.exp(-Z * hand_se))
    assert hi == pytest.approx(3.0 * np.exp(Z * hand_se))
    assert (lo, hi) == pytest.approx((1.5508, 5.8033), abs=1e-4)


def test_a_zero_cell_gets_half_a_count_everywhere():
    lift, lo, hi, se = risk_ratio(0, 50, 5, 100)
    assert lift == pytest.approx((0.5 / 51) / (5.5 / 101))
    assert se == pytest.approx(np.sqrt(1 / 0.5 - 1 / 51 + 1 / 5.5 - 1 / 101))
    assert lo < lift < hi


def test_a_signal_never_seen_has_no_lift():
    lift, lo, hi, _ = risk_ratio(0, 50, 0, 100)
    assert np.isnan(lift) and np.isnan(lo) and np.isnan(hi)


def test_benjamini_hochberg_matches_a_known_example():
    p = np.array([0.01, 0.04, 0.03, 0.005])
    # sorted 0.005, 0.01, 0.03, 0.04 -> 0.02, 0.02, 0.04, 0.04
    assert bh_qvalues(p) == pytest.approx([0.02, 0.04, 0.04, 0.02])
    rng = np.random.default_rng(3)
    many = rng.uniform(size=200) ** 3
    assert bh_qvalues(many) == pytest.approx(stats.false_discovery_control(many))


def test_benjamini_hochberg_ignores_missing_p_values():
    q = bh_qvalues([0.01, np.nan, 0.04])
    assert np.isnan(q[1])
    assert q[[0, 2]] == pytest.approx([0.02, 0.04])


def test_fisher_p_values_are_scipys():
    p = fisher_p([3, 30], [10, 100], [1, 10], [12, 100])
    assert p[0] == pytest.approx(stats.fisher_exact([[3, 7], [1, 11]]).pvalue)
    assert p[1] == pytest.approx(stats.fisher_exact([[30, 70], [10, 90]]).pvalue)


def test_mantel_haenszel_with_one_stratum_is_the_crude_lift():
    mh, lo, hi, p = mantel_haenszel_rr([30], [100], [10], [100])
    crude, clo, chi, _ = risk_ratio(30, 100, 10, 100)
    assert mh == pytest.approx(crude)
    # Greenland-Robins and Katz variances agree for a single stratum only roughly
    assert lo == pytest.approx(clo, rel=0.05) and hi == pytest.approx(chi, rel=0.05)
    assert p < 1e-3


def test_mantel_haenszel_removes_confounding_by_the_strata():
    # within each usage stratum the signal is equally common among churners and
    # renewals (lift 1), but churners sit mostly in the low-usage stratum, where the
    # signal is rare: the crude lift is far from 1, the stratified one is 1.
    a, n1, c, n0 = [5, 80], [50, 100], [20, 8], [200, 10]
    crude, *_ = risk_ratio(sum(a), sum(n1), sum(c), sum(n0))
    mh, lo, hi, p = mantel_haenszel_rr(a, n1, c, n0)
    assert crude > 2
    assert mh == pytest.approx(1.0)
    assert lo < 1 < hi and p > 0.5


def test_wilson_interval_contains_the_proportion():
    lo, hi = wilson_interval(np.array([0, 5, 10]), np.array([10, 10, 10]))
    assert lo[0] == pytest.approx(0) and hi[2] == pytest.approx(1)
    assert lo[1] < 0.5 < hi[1]


# ========================================================== signal definitions
def test_each_kind_of_event_becomes_the_right_binary_signal():
    smap = load_signal_map(default_signal_map_path())
    sigs = {s.signal: s for s in derive_signals(smap, dense_types=["ticket_opened"])}
    assert "champion_left:occurred" in sigs                       # flag
    assert "competitor_webinar:occurred" in sigs                  # sparse count
    assert {"logins:fell", "logins:rose"} <= set(sigs)            # weekly count
    assert {"ticket_opened:fell", "ticket_opened:rose"} <= set(sigs)  # dense by data
    assert {"weekly_active_users:fell", "weekly_active_users:rose"} <= set(sigs)
    nps = sigs["nps_response:alert"]                              # gauge with alert
    assert (nps.threshold, nps.side) == (7.0, "below")
    assert sigs["invoice_days_late:alert"].side == "above"
    assert "nps_response:fell" not in sigs
    every_type = {s.event_type for s in sigs.values()}
    assert every_type == set(smap.signals)


def test_trailing_periods_fit_inside_their_windows():
    looks = look_windows(DEFAULT_WINDOWS)
    assert (0, 30) in looks and (30, 30) in looks and (150, 30) in looks
    for o, length in looks:
        assert any(lo <= o and o + length <= hi for lo, hi in DEFAULT_WINDOWS)
    with pytest.raises(ValueError):
        check_windows([(30, 10)])


# ================================================= a hand-built dataset, day by day
AS_OF = "2024-07-01"


def _weekly(account, start, end, value_before, value_after=None, change=None):
    weeks = pd.date_range(start, end, freq="W-MON")
    values = [value_before if change is None or w < pd.Timestamp(change) else value_after
              for w in weeks]
    return pd.DataFrame({S.ACCOUNT_ID: account, S.EVENT_TIME: weeks,
                         S.EVENT_TYPE: "weekly_active_users", S.VALUE: values})


def make_signal_tables() -> dict[str, pd.DataFrame]:
    """C1 churns 2024-03-01 (confirmed by 2024-07-01) after its champion left twice
    (91 and 29 days before) and its weekly active users fell from 100 to 40 in the
    week of 2023-12-04; C2 ends 2024-06-20 (not confirmed by the as-of date); S1
    renews yearly (boundary 2024-06-01 in the lookback year); N1 started 2024-03-01
    on monthly terms (three boundaries in the year)."""
    ids = ["C1", "C2", "S1", "N1"]
    accounts = pd.DataFrame({
        S.ACCOUNT_ID: ids, S.NAME: ids, S.SEGMENT: "SMB", S.INDUSTRY: "x", S.REGION: "y",
        S.CSM_OWNER: "z", S.CREATED_AT: pd.to_datetime(["2022-06-01"] * 3 + ["2024-03-01"])})
    subscriptions = pd.DataFrame({
        S.SUBSCRIPTION_ID: ["s1", "s2", "s3", "s4"], S.ACCOUNT_ID: ids, S.PLAN: "p",
        S.START_DATE: pd.to_datetime(["2022-06-01", "2022-06-01", "2022-06-01", "2024-03-01"]),
        S.END_DATE: pd.to_datetime(["2024-03-01", "2024-06-20", "2025-06-01", None]),
        S.MRR: [1000.0, 500.0, 2000.0, 300.0], S.TERM_MONTHS: [1, 1, 12, 1]})
    events = pd.concat([
        _weekly("C1", "2022-06-06", "2024-02-19", 100, 40, change="2023-12-04"),
        _weekly("S1", "2022-06-06", "2024-06-17", 100),
        _weekly("N1", "2024-03-04", "2024-06-17", 20),
        pd.DataFrame({S.ACCOUNT_ID: ["C1", "C1"],
                      S.EVENT_TIME: pd.to_datetime(["2023-12-01", "2024-02-01"]),
                      S.EVENT_TYPE: "champion_left", S.VALUE: 1.0}),
    ], ignore_index=True)
    return {S.ACCOUNTS: accounts, S.SUBSCRIPTIONS: subscriptions, S.EVENTS: events}


@pytest.fixture(scope="module")
def hand_wh(tmp_path_factory):
    path = write_tables(make_signal_tables(), tmp_path_factory.mktemp("signals") / "hand")
    with open_warehouse(path) as wh:
        yield wh


@pytest.fixture(scope="module")
def hand_evidence(hand_wh):
    return collect_evidence(hand_wh, AS_OF, hazard=False)


def test_churners_are_seen_at_churn_and_stayers_at_a_renewal_they_passed(hand_wh):
    cohort = make_cohort(hand_wh, AS_OF, seed=0).set_index(S.ACCOUNT_ID)
    assert set(cohort.index) == {"C1", "S1", "N1"}     # C2's churn is not confirmed yet
    assert cohort.loc["C1", GROUP] == CHURNER
    assert cohort.loc["C1", REF_DATE] == pd.Timestamp("2024-03-01")
    assert cohort.loc["C1", S.ARR] == pytest.approx(12000.0)
    assert cohort.loc["S1", REF_DATE] == pd.Timestamp("2024-06-01")
    n1_boundaries = pd.to_datetime(["2024-04-01", "2024-05-01", "2024-06-01"])
    assert cohort.loc["N1", REF_DATE] in n1_boundaries
    assert cohort.loc["N1", "n_boundaries"] == 3


def test_the_stayers_reference_draw_is_seeded(hand_wh):
    draws = {make_cohort(hand_wh, AS_OF, seed=s).set_index(S.ACCOUNT_ID).loc["N1", REF_DATE]
             for s in range(12)}
    again = make_cohort(hand_wh, AS_OF, seed=5)
    assert again.equals(make_cohort(hand_wh, AS_OF, seed=5))
    assert len(draws) > 1


def _row(ev, account):
    return int(np.flatnonzero(ev.cohort[S.ACCOUNT_ID].to_numpy() == account)[0])


def test_flag_windows_and_first_appearance_are_counted_in_days(hand_evidence):
    ev = hand_evidence
    c1 = _row(ev, "C1")
    # champion left 91 and 29 days before C1's churn
    assert list(ev.appeared["champion_left:occurred"][c1]) == [1, 0, 1]
    assert ev.first_age["champion_left:occurred"][c1] == 91
    lead = lead_time_table(ev, ["champion_left:occurred"])
    assert lead.set_index(S.ACCOUNT_ID).loc["C1", "lead_days"] == 91


def test_a_fall_is_first_seen_within_one_trailing_period_of_its_onset(hand_evidence):
    ev = hand_evidence
    c1 = _row(ev, "C1")
    # the first weekly row at 40 (week of 2023-12-04) is available 81 days before churn
    onset = (pd.Timestamp("2024-03-01") - pd.Timestamp("2023-12-11")).days
    first = ev.first_age["weekly_active_users:fell"][c1]
    assert onset - TRAILING_DAYS <= first <= onset
    assert list(ev.appeared["weekly_active_users:fell"][c1]) == [1, 1, 0]
    assert not np.nansum(ev.appeared["weekly_active_users:rose"][c1])
    s1 = _row(ev, "S1")
    assert list(ev.appeared["weekly_active_users:fell"][s1]) == [0, 0, 0]


def test_windows_before_an_account_was_observable_are_left_out(hand_evidence):
    ev = hand_evidence
    n1 = _row(ev, "N1")
    days = (ev.cohort.loc[n1, REF_DATE] - pd.Timestamp("2024-03-01")).days
    flags = ev.appeared["champion_left:occurred"][n1]
    for (lo, hi), value in zip(ev.windows, flags):
        assert np.isnan(value) == (days < hi)
    # no baseline before the horizon: a fall cannot be judged at all
    assert np.isnan(ev.appeared["weekly_active_users:fell"][n1]).all()


def test_the_table_counts_what_the_indicators_say(hand_evidence):
    table = analyse_signals(evidence=hand_evidence).set_index(["signal", "window"])
    row = table.loc[("champion_left:occurred", "90-180")]
    assert (row["n_churners"], row["churners_with"]) == (1, 1)
    assert row["n_stayers"] == 1            # N1 is not observable 90-180 days back
    assert row["coverage_arr"] == pytest.approx(1.0)
    assert row["lead_median"] == 91
    assert set(table["direction"]) <= {"risk", "protective", "none"}
    summary = summarise_signals(table.reset_index())
    assert list(summary["rank"]) == list(range(1, len(summary) + 1))
    assert summary["signal"].is_unique


# ================================================ the planted truth of a simulated SaaS
from _simdata import signal_analysis, signal_truth, simulated_data  # noqa: E402


@pytest.fixture(scope="session")
def sim_data(tmp_path_factory) -> str:
    return str(simulated_data(tmp_path_factory.getbasetemp() / "churnlab-sim"))


@pytest.fixture(scope="session")
def analysis(sim_data):
    return signal_analysis(sim_data)


@pytest.fixture(scope="session")
def truth(sim_data):
    return signal_truth(sim_data)


def expected_direction(sig: pd.Series, planted: str) -> str:
    """The direction a derived signal must show if the planted effect is right:
    ``planted`` is ``higher_before_churn`` or ``lower_before_churn``."""
    higher = planted == "higher_before_churn"
    if sig["kind"] in (OCCURRED, ROSE, ABOVE):
        return "risk" if higher else "protective"
    if sig["kind"] in (FELL, BELOW, NOT_REACHED):
        return "protective" if higher else "risk"
    above = "above" in sig["label"]          # alerts: "... above 48 hours" / "... below 7"
    return "risk" if above == higher else "protective"


@pytest.mark.slow
def test_the_cohort_churners_are_the_simulated_churners_of_the_year(sim_data, analysis):
    evidence, _, _ = analysis
    truth_accounts = pd.read_parquet(f"{sim_data}/truth/accounts.parquet")
    as_of = evidence.as_of
    start = as_of - pd.DateOffset(months=12)
    confirmed = as_of - pd.Timedelta(days=S.GRACE_DAYS)
    churn_date = pd.to_datetime(truth_accounts["churn_date"])
    expected = set(truth_accounts.loc[truth_accounts["churned"].astype(bool)
                                      & (churn_date >= start) & (churn_date <= confirmed),
                                      S.ACCOUNT_ID])
    cohort = evidence.cohort
    assert set(cohort.loc[cohort[IS_CHURNER], S.ACCOUNT_ID]) == expected
    stayers = cohort[~cohort[IS_CHURNER]]
    assert stayers[REF_DATE].between(start, as_of - pd.Timedelta(days=1)).all()


@pytest.mark.slow
def test_strong_planted_signals_are_found_with_the_planted_direction(analysis, truth):
    _, _, summary = analysis
    strong = [et for et, t in truth.items()
              if t["effect"] and t["lead_time_days"] and t["family"] in ("usage", "competitive")]
    assert len(strong) >= 6
    for event_type in strong:
        rows = summary[summary["event_type"] == event_type]
        found = [r for _, r in rows.iterrows() if r["direction"] != "none"
                 and r["direction"] == expected_direction(r, truth[event_type]["direction"])]
        assert found, f"{event_type}: planted {truth[event_type]['direction']} not found"


def _planted_change(planted: str) -> str:
    return ROSE if planted == "higher_before_churn" else FELL


@pytest.mark.slow
def test_no_reported_signal_contradicts_its_planted_direction(analysis, truth):
    """Levels (occurred, alerts) and the planted change (a fall of what is planted
    lower before churn, a rise of what is planted higher) must point the planted way.
    The opposite change is left free: a rise after an earlier at-risk dip (a saved
    account recovering, then slipping again) is itself a sign of risk in this world."""
    _, _, summary = analysis
    reported = summary[summary["direction"] != "none"]
    checked = 0
    for _, row in reported.iterrows():
        planted = truth[row["event_type"]]
        if not planted["effect"] or planted["confounded"]:
            continue
        opposite_change = (row["kind"] in (FELL, ROSE)
                           and row["kind"] != _planted_change(planted["direction"]))
        if opposite_change:
            continue
        assert row["direction"] == expected_direction(row, planted["direction"]), row["signal"]
        checked += 1
    assert checked >= 10


@pytest.mark.slow
def test_decoys_are_not_reported_as_findings(analysis, truth):
    _, table, summary = analysis
    decoys = [et for et, t in truth.items() if t["decoy"]]
    assert decoys
    rows = table[table["event_type"].isin(decoys)]
    assert len(rows) >= 3 * len(decoys)
    assert (rows["q_value"] >= 0.05).all(), rows.loc[rows["q_value"] < 0.05, ["signal", "window"]]
    assert (summary.loc[summary["event_type"].isin(decoys), "direction"] == "none").all()


@pytest.mark.slow
def test_the_confounded_signal_is_no_risk_once_usage_is_accounted_for(analysis, truth):
    evidence, _, summary = analysis
    confounded = [et for et, t in truth.items() if t["confounded"]]
    assert confounded
    for event_type in confounded:
        adjusted = compare_adjusted(evidence, event_type)
        views = adjusted[adjusted["view"] != "naive"]
        assert set(views["view"]) == {"per active user", "usage-stratified"}
        q = bh_qvalues(views["p_value"])
        assert not ((q < 0.05) & (views["lift"] > 1)).any(), views
        # the naive view does see a difference: that is the trap
        naive = adjusted[adjusted["view"] == "naive"]
        assert (naive["p_value"] < 0.05).any()
        ranked = summary[summary["event_type"] == event_type]
        # what names a signal is the event type's adjusted direction: whatever a raw
        # comparison shows (its level against peers moves with usage too), the confounded
        # event type is never named a risk
        assert (ranked["named_as"] != "risk").all(), ranked[["signal", "direction"]]
        assert (ranked["adj_direction"] != "risk").all()
        text = describe_adjustment(adjusted, "tickets")
        assert "naive view would have" in text


def _median_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Distribution-free interval of a median from order statistics."""
    x = np.sort(values)
    n = x.size
    lo = int(stats.binom.ppf((1 - level) / 2, n, 0.5))
    hi = int(stats.binom.isf((1 - level) / 2, n, 0.5))
    return x[max(lo - 1, 0)], x[min(hi, n - 1)]


@pytest.mark.slow
def test_lead_times_fall_in_the_planted_windows(analysis, truth):
    evidence, _, summary = analysis
    leads = lead_time_table(evidence)
    checked = 0
    for _, row in summary[summary["direction"] == "risk"].iterrows():
        planted = truth[row["event_type"]]
        if not planted["effect"] or not planted["lead_time_days"] or row["kind"] in PEER_KINDS:
            continue                     # level signals have no first appearance
        start, end = planted["lead_time_days"]
        # resolution of the method: an appearance is registered by a trailing period
        # (TRAILING_DAYS) on a weekly grid (LOOK_STEP_DAYS) of weekly rows that count
        # once their week has ended (7 days); point events are exact to the day.
        slack = (TRAILING_DAYS + LOOK_STEP_DAYS + 7
                 if row["kind"] in (FELL, ROSE) else 7)
        days = leads.loc[leads["signal"] == row["signal"], "lead_days"].to_numpy()
        lo, hi = _median_interval(days)
        assert lo <= end + slack and hi >= start - slack, (row["signal"], lo, hi, start, end)
        checked += 1
    assert checked >= 8


@pytest.mark.slow
def test_strong_risk_signals_also_raise_the_hazard_of_churn(analysis):
    _, _, summary = analysis
    top = summary[summary["direction"] == "risk"].head(5)
    assert len(top) == 5
    assert (top["hr_lo"] > 1).all(), top[["signal", "hr", "hr_lo", "hr_hi"]]
