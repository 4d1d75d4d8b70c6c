"""The synthetic SaaS: deterministic, follows the data contract, and plants what it says.

One seeded world is simulated once per module (2,500 accounts x 36 months); the
determinism tests use smaller ones. Every test checks something the simulator could
get wrong.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pandas as pd
import pytest
import yaml

from churnlab.data import contract as S
from churnlab.data import lifecycle
from churnlab.data.signal_map import SignalMap, default_signal_map_path, load_signal_map
from churnlab.data.warehouse import open_warehouse
from churnlab.sim.generate import simulate_saas, write_simulation
from churnlab.sim.params import (
    ARM_CONTROL,
    CHURN_DATE,
    CHURN_PATH,
    CHURNED,
    EARLY_TERMINATION,
    EVALUATING,
    MONTH_START,
    NO_ACTION,
    NO_WARNING_CHURN,
    ORACLE_RISK_90D,
    PATH_EVALUATING,
    PATH_NO_WARNING,
    PLAYBOOKS,
    Q_BEFORE,
    TRUE_EFFECT,
    SimulatedSaaS,
)
from churnlab.sim.truth import annual_logo_churn, oracle_evaluation, summarise_simulation

N_ACCOUNTS, N_MONTHS, SEED = 2500, 36, 7
COMPETITIVE = ("competitor_comparison", "competitor_webinar", "data_export_request",
               "competitor_feature_request")
RISK_EVENTS = COMPETITIVE + ("budget_cut_mentioned", "pricing_question", "pause_request",
                             "champion_left", "champion_role_changed", "new_leadership",
                             "merger_acquisition")
DECOYS = ("dashboard_views", "newsletter_opened", "help_article_viewed")


@pytest.fixture(scope="module")
def sim() -> SimulatedSaaS:
    return simulate_saas(N_ACCOUNTS, N_MONTHS, seed=SEED)


@pytest.fixture(scope="module")
def signal_map() -> SignalMap:
    return load_signal_map(default_signal_map_path())


@pytest.fixture(scope="module")
def events(sim) -> pd.DataFrame:
    """Events with plain string columns and each account's churn date and path."""
    ev = sim.events.astype({S.ACCOUNT_ID: str, S.EVENT_TYPE: str})
    truth = sim.truth_accounts.set_index(S.ACCOUNT_ID)[[CHURN_DATE, CHURN_PATH]]
    ev = ev.join(truth, on=S.ACCOUNT_ID)
    ev["days_before_churn"] = (ev[CHURN_DATE] - ev[S.EVENT_TIME]).dt.total_seconds() / 86400
    return ev


@pytest.fixture(scope="module")
def before_churn(events) -> pd.DataFrame:
    """Events of churned accounts in the year before their churn."""
    return events[events["days_before_churn"].between(0, 365)]


@pytest.fixture(scope="module")
def churners(sim) -> pd.DataFrame:
    """Churners whose previous 200 days lie inside the data window."""
    t = sim.truth_accounts
    late = t[CHURN_DATE] >= sim.start + pd.Timedelta(days=200)
    return t[t[CHURNED] & late].set_index(S.ACCOUNT_ID)


def _window_stat(ev, event_type, lo, hi, how="mean"):
    """Per account: the ``how`` of values of ``event_type`` lo <= days before churn < hi."""
    m = (ev[S.EVENT_TYPE] == event_type) & (ev["days_before_churn"] >= lo) & (
        ev["days_before_churn"] < hi)
    return ev[m].groupby(S.ACCOUNT_ID)[S.VALUE].agg(how)


# ----------------------------------------------------------------- determinism
def test_the_same_seed_gives_identical_tables():
    a = simulate_saas(300, 12, seed=3)
    b = simulate_saas(300, 12, seed=3)
    for name, df in {**a.input_tables(), **a.truth_tables()}.items():
        other = {**b.input_tables(), **b.truth_tables()}[name]
        pd.testing.assert_frame_equal(df, other, obj=name)
    assert a.signal_effects == b.signal_effects
    assert a.params == b.params


def test_a_different_seed_gives_a_different_world():
    a = simulate_saas(300, 12, seed=3)
    b = simulate_saas(300, 12, seed=4)
    assert not a.events.equals(b.events)
    assert not a.truth_accounts[CHURNED].equals(b.truth_accounts[CHURNED])


def test_written_files_are_byte_identical_for_the_same_seed(tmp_path):
    digests = []
    for run in ("a", "b"):
        out = write_simulation(simulate_saas(200, 6, seed=11), tmp_path / run)
        digests.append({p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                        for p in sorted(out.rglob("*")) if p.is_file()})
    assert digests[0] == digests[1]
    assert "truth/account_months.parquet" in digests[0]


# -------------------------------------------------------------------- contract
_DTYPE_CHECKS = {
    S.STRING: lambda s: (pd.api.types.is_string_dtype(s) or s.dtype == object)
    and s.dropna().map(type).eq(str).all(),
    S.DATE: lambda s: pd.api.types.is_datetime64_dtype(s)
    and (s.dropna() == s.dropna().dt.normalize()).all(),
    S.TIMESTAMP: pd.api.types.is_datetime64_dtype,
    S.FLOAT: pd.api.types.is_float_dtype,
    S.INTEGER: pd.api.types.is_integer_dtype,
    S.BOOLEAN: pd.api.types.is_bool_dtype,
}


@pytest.mark.parametrize("table", list(S.TABLE_SPECS))
def test_input_tables_follow_the_schema(sim, table):
    df = sim.input_tables()[table]
    spec = S.TABLE_SPECS[table]
    assert set(spec.required) <= set(df.columns)
    assert set(df.columns) <= set(spec.columns)
    for column in df.columns:
        check = _DTYPE_CHECKS[spec.columns[column]]
        sample = df[column] if len(df) < 200_000 else df[column].iloc[::97]
        assert check(sample), f"{table}.{column} is not {spec.columns[column]}: {df[column].dtype}"
    if spec.key:
        assert not df.duplicated(list(spec.key)).any()
    assert len(df) > 0


def test_ids_and_categories_are_well_formed(sim):
    acc = sim.accounts
    assert acc[S.ACCOUNT_ID].str.fullmatch(r"A\d{6}").all()
    assert sim.subscriptions[S.SUBSCRIPTION_ID].str.fullmatch(r"S\d{7}").all()
    assert set(acc[S.SEGMENT]) == set(S.SEGMENTS)
    assert set(acc[S.EXPANSION_POTENTIAL]) == {"low", "medium", "high"}
    assert 10 <= acc[S.CSM_OWNER].nunique() <= 25
    assert acc[S.IS_STRATEGIC_LOGO].any() and acc[S.IS_REFERENCE].any()
    # every account has subscriptions, events reference known accounts only
    assert set(sim.subscriptions[S.ACCOUNT_ID]) == set(acc[S.ACCOUNT_ID])
    assert set(sim.events[S.ACCOUNT_ID].unique()) <= set(acc[S.ACCOUNT_ID])


def test_arr_is_log_normal_with_segment_medians_near_the_targets(sim):
    subs = sim.subscriptions
    first = subs.sort_values(S.START_DATE).groupby(S.ACCOUNT_ID).first()
    arr = (first[S.MRR] * 12).groupby(sim.accounts.set_index(S.ACCOUNT_ID)[S.SEGMENT]).median()
    for segment, target in zip(S.SEGMENTS, (6_000, 35_000, 160_000)):
        assert 0.6 * target < arr[segment] < 1.5 * target, (segment, arr[segment])


def test_subscriptions_are_contiguous_half_open_and_never_overlap(sim):
    subs = sim.subscriptions.sort_values([S.ACCOUNT_ID, S.START_DATE])
    ended = subs[S.END_DATE].notna()
    assert (subs.loc[ended, S.END_DATE] > subs.loc[ended, S.START_DATE]).all()
    nxt = subs.groupby(S.ACCOUNT_ID)[S.START_DATE].shift(-1)
    has_next = nxt.notna()
    # a later row starts exactly where the previous one ends: no gap, no overlap
    assert (nxt[has_next] == subs.loc[has_next, S.END_DATE]).all()
    # only the last row of an account may be open-ended, and only on a monthly term
    open_rows = subs[subs[S.END_DATE].isna()]
    assert not has_next[open_rows.index].any()
    assert (open_rows[S.TERM_MONTHS] == 1).all()
    assert (subs[S.MRR] > 0).all() and subs[S.DISCOUNT_PCT].between(0, 30).all()


def test_created_at_precedes_the_first_subscription(sim):
    first = sim.subscriptions.groupby(S.ACCOUNT_ID)[S.START_DATE].min()
    created = sim.accounts.set_index(S.ACCOUNT_ID)[S.CREATED_AT]
    gap = (first - created.reindex(first.index)).dt.days
    assert gap.between(0, 30).all()
    # an initial book signed 0.5-5 years before the start, the rest during the window
    before = first < sim.start
    assert 0.5 < before.mean() < 0.7
    assert (first[before] >= sim.start - pd.DateOffset(months=61)).all()


def test_renewal_terms_mix_monthly_annual_and_multi_year(sim):
    terms = sim.subscriptions.join(sim.accounts.set_index(S.ACCOUNT_ID)[S.SEGMENT],
                                   on=S.ACCOUNT_ID)
    share_monthly = terms.groupby(S.SEGMENT)[S.TERM_MONTHS].apply(lambda t: (t == 1).mean())
    assert share_monthly["SMB"] > share_monthly["Mid-Market"] > share_monthly["Enterprise"]
    assert {1, 12, 24, 36} <= set(terms[S.TERM_MONTHS])
    # annual accounts get a new subscription per term, with expansions and downgrades
    annual = terms[terms[S.TERM_MONTHS] == 12].sort_values([S.ACCOUNT_ID, S.START_DATE])
    change = annual.groupby(S.ACCOUNT_ID)[S.MRR].pct_change().dropna()
    assert (change > 0.15).any() and (change < -0.1).any()


def test_every_event_type_of_the_signal_map_occurs_and_no_other(sim, signal_map):
    assert set(sim.events[S.EVENT_TYPE].unique()) == set(signal_map.signals)


def test_event_values_respect_the_signal_map_ranges(sim, signal_map):
    stats = sim.events.groupby(S.EVENT_TYPE)[S.VALUE].agg(["min", "max"])
    assert sim.events[S.VALUE].notna().all()
    for spec in signal_map:
        lo, hi = stats.loc[spec.event_type]
        if spec.min_value is not None:
            assert lo >= spec.min_value, spec.event_type
        if spec.max_value is not None:
            assert hi <= spec.max_value, spec.event_type
    assert stats.loc["plan_limit_usage", "max"] <= 120


def test_events_lie_inside_the_data_window_and_a_covering_subscription(sim, events):
    first = sim.subscriptions.groupby(S.ACCOUNT_ID)[S.START_DATE].min()
    starts = events[S.ACCOUNT_ID].map(first)
    assert (events[S.EVENT_TIME] >= starts).all()
    assert (events[S.EVENT_TIME] >= sim.start).all() and (events[S.EVENT_TIME] < sim.end).all()
    churned = events[CHURN_DATE].notna()
    assert (events.loc[churned, S.EVENT_TIME] < events.loc[churned, CHURN_DATE]).all()


def test_weekly_aggregates_are_one_row_per_account_week_at_monday_midnight(sim, signal_map):
    weekly = [s.event_type for s in signal_map if s.grain == "weekly"]
    ev = sim.events[sim.events[S.EVENT_TYPE].isin(weekly)]
    assert (ev[S.EVENT_TIME].dt.weekday == 0).all()
    assert (ev[S.EVENT_TIME] == ev[S.EVENT_TIME].dt.normalize()).all()
    assert not ev.duplicated([S.ACCOUNT_ID, S.EVENT_TIME, S.EVENT_TYPE]).any()
    per_type = ev.groupby(S.EVENT_TYPE).size()
    assert per_type.nunique() == 1  # every usage metric on every account-week


def test_the_warehouse_reads_the_written_simulation_and_finds_the_same_churn(sim, tmp_path):
    out = write_simulation(sim, tmp_path / "demo")
    with open_warehouse(out) as wh:
        outcomes = lifecycle.churn_outcomes(wh, obs_end=sim.end)
        counts = {t: wh.con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in wh.tables}
    assert counts[S.EVENTS] == len(sim.events)
    assert outcomes.groupby(S.ACCOUNT_ID).size().max() == 1  # one service span each
    found = outcomes[outcomes["churned"]].set_index(S.ACCOUNT_ID)["churn_date"]
    truth = sim.truth_accounts.set_index(S.ACCOUNT_ID)
    confirmed = truth[truth[CHURNED] & (truth[CHURN_DATE] + pd.Timedelta(days=S.GRACE_DAYS)
                                        <= sim.end)][CHURN_DATE]
    pd.testing.assert_series_equal(found.sort_index().astype("datetime64[ns]"),
                                   confirmed.sort_index(), check_names=False)


def test_account_months_cover_exactly_the_accounts_active_at_each_month_start(sim):
    months = sim.truth_account_months
    first = sim.subscriptions.groupby(S.ACCOUNT_ID)[S.START_DATE].min()
    churn = sim.truth_accounts.set_index(S.ACCOUNT_ID)[CHURN_DATE].reindex(first.index)
    expected = []
    for m in sorted(months[MONTH_START].unique()):
        active = (first <= m) & (churn.isna() | (churn > m))
        expected.append((m, int(active.sum())))
    counts = months.groupby(MONTH_START).size()
    assert len(counts) == N_MONTHS
    assert [(m, int(counts[m])) for m, _ in expected] == expected
    assert not months.duplicated([S.ACCOUNT_ID, MONTH_START]).any()


# -------------------------------------------------------------- written files
def test_write_simulation_writes_inputs_map_and_truth(sim, tmp_path):
    out = write_simulation(sim, tmp_path / "world")
    for table in S.TABLE_SPECS:
        assert (out / f"{table}.parquet").is_file()
    assert (out / S.SIGNAL_MAP_FILE).read_bytes() == default_signal_map_path().read_bytes()
    truth = out / "truth"
    for name in ("accounts", "shocks", "account_months", "evaluations", "interventions"):
        assert (truth / f"{name}.parquet").is_file()
    effects = yaml.safe_load((truth / "signal_effects.yaml").read_text())["event_types"]
    assert set(effects) == set(load_signal_map(default_signal_map_path()).signals)
    params = pd.read_json(truth / "params.json", typ="series")
    assert params["n_accounts"] == N_ACCOUNTS and params["seed"] == SEED
    months = pd.read_parquet(truth / "account_months.parquet")
    assert {MONTH_START, EVALUATING, ORACLE_RISK_90D, "monthly_hazard",
            "latent_health"} <= set(months.columns)


def test_write_simulation_replaces_an_old_simulation_but_not_other_folders(tmp_path):
    small = simulate_saas(100, 4, seed=1)
    out = write_simulation(small, tmp_path / "sim")
    write_simulation(small, out)  # an earlier simulation is replaced
    assert (out / "truth" / "params.json").is_file()
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError):
        write_simulation(small, precious)
    assert (precious / "notes.txt").read_text() == "keep me"
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


# ------------------------------------------------------------ contract calendar
def test_annual_accounts_churn_at_a_renewal_boundary_unless_terminated_early(sim):
    subs = sim.subscriptions.sort_values([S.ACCOUNT_ID, S.START_DATE])
    last = subs.groupby(S.ACCOUNT_ID).last()
    truth = sim.truth_accounts.set_index(S.ACCOUNT_ID)
    churned = truth[truth[CHURNED]].drop(columns=S.TERM_MONTHS).join(last)
    # a churned account's last end date is its churn date
    assert (churned[S.END_DATE] == churned[CHURN_DATE]).all()
    long_terms = churned[churned[S.TERM_MONTHS] > 1]
    boundary = long_terms.apply(
        lambda r: r[S.START_DATE] + pd.DateOffset(months=int(r[S.TERM_MONTHS])), axis=1)
    at_boundary = boundary == long_terms[CHURN_DATE]
    early = long_terms[EARLY_TERMINATION]
    assert (at_boundary | early).all()
    assert (at_boundary[~early]).all() and not (at_boundary & early).any()
    assert 0 < early.sum() < 0.3 * len(long_terms)
    # monthly accounts churn on a monthly boundary: the start's day of month
    monthly = churned[churned[S.TERM_MONTHS] == 1]
    assert (monthly[CHURN_DATE].dt.day == monthly[S.START_DATE].dt.day).all()


def test_open_annual_terms_end_at_their_renewal_date_after_the_data_end(sim):
    subs = sim.subscriptions
    truth = sim.truth_accounts.set_index(S.ACCOUNT_ID)
    live = subs[subs[S.ACCOUNT_ID].map(~truth[CHURNED]) & (subs[S.TERM_MONTHS] > 1)]
    current = live[live[S.END_DATE] >= sim.end]
    assert len(current) > 0
    expected = current.apply(lambda r: r[S.START_DATE] + pd.DateOffset(
        months=int(r[S.TERM_MONTHS])), axis=1)
    assert (expected == current[S.END_DATE]).all()


# --------------------------------------------------------- signals and lead times
def test_competitive_signals_come_14_to_60_days_before_an_evaluated_churn(before_churn, churners):
    ev = before_churn
    comp = ev[ev[S.EVENT_TYPE].isin(COMPETITIVE) & (ev["days_before_churn"] <= 120)]
    first = comp.groupby(S.ACCOUNT_ID)["days_before_churn"].max()
    evaluated = churners.index[churners[CHURN_PATH] == PATH_EVALUATING]
    seen = first.reindex(evaluated).dropna()
    assert len(seen) > 0.7 * len(evaluated)
    assert seen.between(14, 60).mean() > 0.75


def test_usage_falls_before_an_evaluated_churn(before_churn, churners):
    recent = _window_stat(before_churn, "weekly_active_users", 0, 60)
    before = _window_stat(before_churn, "weekly_active_users", 120, 180)
    both = pd.concat([recent, before], axis=1, keys=["recent", "before"]).dropna()
    evaluated = both[both.index.isin(churners.index[churners[CHURN_PATH] == PATH_EVALUATING])]
    assert len(evaluated) > 100
    assert (evaluated["recent"] < evaluated["before"]).mean() > 0.8
    assert (evaluated["recent"].sum() / evaluated["before"].sum()) < 0.8


def test_engagement_sentiment_and_response_times_worsen_before_an_evaluated_churn(
        before_churn, churners):
    evaluated = churners.index[churners[CHURN_PATH] == PATH_EVALUATING]
    for event_type, worse in (("email_response_hours", np.greater), ("nps_response", np.less),
                              ("outcome_kpi", np.less)):
        recent = _window_stat(before_churn, event_type, 0, 60).reindex(evaluated)
        before = _window_stat(before_churn, event_type, 120, 365).reindex(evaluated)
        assert worse(recent.mean(), before.mean()), event_type


# ------------------------------------------------------------------------ traps
def test_decoys_occur_at_the_same_rate_for_churners_and_stayers(sim, events):
    days = sim.truth_accounts.set_index(S.ACCOUNT_ID)
    end = days[CHURN_DATE].fillna(sim.end).clip(upper=sim.end)
    first = sim.subscriptions.groupby(S.ACCOUNT_ID)[S.START_DATE].min().clip(lower=sim.start)
    exposure = (end - first.reindex(end.index)).dt.days.clip(lower=1)
    for decoy in DECOYS:
        total = events[events[S.EVENT_TYPE] == decoy].groupby(S.ACCOUNT_ID)[S.VALUE].sum()
        rate = total.reindex(exposure.index).fillna(0) / exposure
        by_group = rate[exposure > 90].groupby(days[CHURNED]).mean()
        assert 0.8 < by_group[True] / by_group[False] < 1.25, decoy
        assert sim.signal_effects[decoy]["decoy"] and not sim.signal_effects[decoy]["effect"]


def test_tickets_follow_active_users_and_have_no_effect_of_their_own(sim, events, before_churn,
                                                                    churners):
    weekly = events[events[S.EVENT_TYPE] == "weekly_active_users"]
    wau = weekly.groupby(S.ACCOUNT_ID)[S.VALUE].mean()
    tickets = events[events[S.EVENT_TYPE] == "ticket_opened"].groupby(S.ACCOUNT_ID).size()
    weeks = weekly.groupby(S.ACCOUNT_ID).size()
    per_week = (tickets.reindex(weeks.index).fillna(0) / weeks)
    assert per_week.corr(wau.reindex(weeks.index), method="spearman") > 0.5
    # before an evaluated churn tickets fall with usage, but not per active user
    evaluated = churners.index[churners[CHURN_PATH] == PATH_EVALUATING]
    counts = {}
    for name, (lo, hi) in {"recent": (0, 60), "before": (120, 180)}.items():
        t = _window_stat(before_churn, "ticket_opened", lo, hi, "count")
        t = t.reindex(evaluated).fillna(0)
        w = _window_stat(before_churn, "weekly_active_users", lo, hi, "sum").reindex(evaluated)
        counts[name] = (t.sum(), w.sum())
    assert counts["recent"][0] < counts["before"][0]
    per_user = (counts["recent"][0] / counts["recent"][1]) / (counts["before"][0] /
                                                              counts["before"][1])
    assert 0.75 < per_user < 1.3
    truth = sim.signal_effects["ticket_opened"]
    assert truth["confounded"] and not truth["effect"] and "weekly_active_users" in truth[
        "confounder"]
    assert truth["naive_direction"] == "lower_among_churners"


def test_some_churn_comes_with_almost_no_warning(before_churn, churners):
    ev = before_churn
    risky = ev[ev[S.EVENT_TYPE].isin(RISK_EVENTS) & (ev["days_before_churn"] <= 90)].groupby(
        S.ACCOUNT_ID).size()
    quiet = risky.reindex(churners.index).fillna(0) == 0
    no_warning = churners[NO_WARNING_CHURN]
    evaluated = churners[CHURN_PATH] == PATH_EVALUATING
    assert no_warning.sum() >= 10 and (churners[CHURN_PATH] == PATH_NO_WARNING).sum() >= 10
    assert quiet[no_warning].mean() > 0.3
    assert quiet[evaluated].mean() < 0.15


def test_some_healthy_accounts_that_stay_show_risk_signals(sim, events):
    truth = sim.truth_accounts.set_index(S.ACCOUNT_ID)
    healthy_stayers = truth.index[~truth[CHURNED] & (truth["base_health"] > 75)
                                  & (truth["n_evaluations"] == 0)]
    risky = events[events[S.EVENT_TYPE].isin(["champion_left", "competitor_webinar",
                                               "pricing_question"])]
    assert risky[S.ACCOUNT_ID].isin(healthy_stayers).sum() > 20
    # a champion who leaves is sometimes replaced by a strong one: barely any effect
    left = sim.truth_shocks[sim.truth_shocks["shock_type"] == "champion_left"]
    assert (left["effect_size"] > -0.25).mean() > 0.2


def test_shocks_carry_root_causes_and_flags_appear_at_the_shock(sim, events):
    shocks = sim.truth_shocks
    assert set(shocks["root_cause"]) == set(S.ROOT_CAUSES)
    assert (shocks["effect_size"] < 0).all()
    seen = shocks[(shocks["shock_type"] == "champion_left") & shocks["observed"]]
    flags = events[events[S.EVENT_TYPE] == "champion_left"]
    assert len(flags) == len(seen)
    pairs = flags.merge(seen, on=S.ACCOUNT_ID)
    same_day = (pairs[S.EVENT_TIME].dt.normalize() == pairs["shock_time"]).groupby(
        pairs[S.ACCOUNT_ID]).any()
    assert same_day.all()


# ------------------------------------------------------------------ calibration
def test_annual_logo_churn_is_ordered_by_segment_and_plausible(sim):
    rates = annual_logo_churn(sim).set_index(S.SEGMENT)["churn_rate"]
    assert rates["SMB"] > rates["Mid-Market"] > rates["Enterprise"]
    assert 0.20 < rates["SMB"] < 0.45
    assert 0.07 < rates["Mid-Market"] < 0.22
    assert 0.02 < rates["Enterprise"] < 0.13


def test_the_oracle_is_calibrated_and_well_below_perfect(sim):
    result = oracle_evaluation(sim)
    assert 0.75 < result["oracle_concordance"] < 0.92
    assert abs(result["oracle_mean_risk"] / result["observed_rate"] - 1) < 0.2
    months = sim.truth_account_months
    assert months[ORACLE_RISK_90D].between(0, 1).all()
    assert (months["monthly_hazard"] <= months[ORACLE_RISK_90D] + 1e-9).all()
    # knowing the evaluating state is worth a lot, but it is not the whole story
    risk = months.groupby(EVALUATING)[ORACLE_RISK_90D].mean()
    assert risk[True] > 5 * risk[False]


def test_summary_quotes_churn_by_segment_and_the_oracle(sim):
    summary = summarise_simulation(sim)
    for segment in S.SEGMENTS:
        assert 0 < summary[f"annual_logo_churn[{segment}]"] < 1
    assert 0.5 < summary["oracle_concordance"] <= 1
    assert summary["events"] == len(sim.events)


# ---------------------------------------------------------------- interventions
def test_interventions_are_randomised_between_arms(sim):
    iv = sim.truth_interventions
    assert len(iv) > 100
    assert set(iv[S.PLAYBOOK]) == set(PLAYBOOKS) | {NO_ACTION}
    assert 0.2 < (iv[S.ARM] == ARM_CONTROL).mean() < 0.4
    # randomised: arms alike before the playbook starts
    by_arm = iv.groupby(S.ARM)[Q_BEFORE].mean()
    assert abs(by_arm["control"] - by_arm["treatment"]) < 0.05
    assert (iv.loc[iv[S.ARM] == "control", TRUE_EFFECT] == 0).all()
    assert (iv.loc[iv[S.ARM] == "treatment", TRUE_EFFECT] >= 0).all()
    assert iv[TRUE_EFFECT].max() > 0.1
    concessions = iv.loc[iv[S.PLAYBOOK] == "pricing_concession", S.DISCOUNT_PCT]
    assert concessions.between(10, 25).all() and (concessions >= 20).any()


def test_intervention_outcomes_agree_with_the_churn_truth(sim):
    iv = sim.interventions.join(sim.truth_accounts.set_index(S.ACCOUNT_ID)[[CHURNED]],
                                on=S.ACCOUNT_ID)
    assert set(iv[S.OUTCOME]) <= set(S.INTERVENTION_OUTCOMES)
    assert iv.loc[iv[S.OUTCOME] == "churned", CHURNED].all()
    assert (iv[S.STARTED_AT] >= sim.start).all() and (iv[S.STARTED_AT] < sim.end).all()


def test_progress_bar_and_bad_arguments(capsys):
    simulate_saas(50, 3, seed=0, progress=True)
    assert "simulating" in capsys.readouterr().err
    with pytest.raises(ValueError, match="n_accounts"):
        simulate_saas(0, 12)
    with pytest.raises(ValueError, match="start"):
        simulate_saas(100, 12, start="soon")


def test_signal_effects_describe_every_event_type(sim, signal_map):
    effects = sim.signal_effects
    assert set(effects) == set(signal_map.signals)
    for name, entry in effects.items():
        assert entry["family"] == signal_map[name].family
        assert entry["direction"] in ("lower_before_churn", "higher_before_churn", "none")
        assert entry["effect"] == (entry["direction"] != "none")
    assert effects["competitor_comparison"]["lead_time_days"] == [14, 60]
    assert re.search("health", effects["weekly_active_users"]["mechanism"])
