"""Service spans, churn and renewal dates derived from subscriptions."""

import pandas as pd
import pytest
from conftest import write_tables

from churnlab.data import contract as S
from churnlab.data import lifecycle
from churnlab.data.warehouse import open_warehouse


@pytest.fixture
def wh(tiny_data):
    with open_warehouse(tiny_data) as w:
        yield w


def test_renewal_inside_grace_period_continues_the_account(wh):
    spans = wh.query(lifecycle.spans_sql()).set_index(S.ACCOUNT_ID)
    assert spans.loc["A2", "span_start"] == pd.Timestamp("2023-01-15")
    assert spans.loc["A2", "span_end"] == pd.Timestamp("2025-01-20")
    assert spans.groupby(level=0).size().max() == 1


def test_gap_longer_than_grace_starts_a_new_span(tiny_tables, tmp_path):
    subs = tiny_tables[S.SUBSCRIPTIONS]
    subs.loc[subs[S.SUBSCRIPTION_ID] == "S3", S.START_DATE] = pd.Timestamp("2024-03-01")
    with open_warehouse(write_tables(tiny_tables, tmp_path / "gap")) as w:
        out = lifecycle.churn_outcomes(w, obs_end="2024-07-01").set_index("span_no")
        a2 = out[out[S.ACCOUNT_ID] == "A2"]
    assert len(a2) == 2
    assert bool(a2.loc[1, "churned"]) and a2.loc[1, "churn_date"] == pd.Timestamp("2024-01-15")
    assert not bool(a2.loc[2, "churned"])


def test_churn_is_confirmed_only_after_the_grace_period(wh):
    # A1's last subscription ends 2023-09-01; seen from 2023-09-20 it may still renew.
    early = lifecycle.churn_outcomes(wh, obs_end="2023-09-20").set_index(S.ACCOUNT_ID)
    late = lifecycle.churn_outcomes(wh, obs_end="2023-10-01").set_index(S.ACCOUNT_ID)
    assert not early.loc["A1", "churned"]
    assert late.loc["A1", "churned"] and late.loc["A1", "churn_date"] == pd.Timestamp("2023-09-01")


@pytest.mark.parametrize("as_of, account, expected", [
    ("2023-06-15", "A1", "2023-07-01"),   # monthly: next monthly boundary
    ("2023-06-15", "A2", "2024-01-15"),   # annual: term end
    ("2024-06-11", "A4", "2024-12-01"),   # 18-month term
    ("2023-07-01", "A3", "2023-08-01"),   # on a boundary: the next one, not today
])
def test_next_renewal_is_the_first_contract_boundary_after_as_of(wh, as_of, account, expected):
    active = lifecycle.active_accounts(wh, as_of).set_index(S.ACCOUNT_ID)
    assert active.loc[account, "next_renewal"] == pd.Timestamp(expected)
    assert active.loc[account, "days_to_renewal"] == (pd.Timestamp(expected) - pd.Timestamp(as_of)).days


def test_active_accounts_are_those_covered_by_a_subscription(wh):
    assert set(lifecycle.active_accounts(wh, "2023-06-15")[S.ACCOUNT_ID]) == {"A1", "A2", "A3", "A4"}
    assert set(lifecycle.active_accounts(wh, "2023-09-01")[S.ACCOUNT_ID]) == {"A2", "A3", "A4"}
    # 2024-01-17 falls in A2's 5-day gap between terms: not covered that day
    assert "A2" not in set(lifecycle.active_accounts(wh, "2024-01-17")[S.ACCOUNT_ID])


def test_future_subscriptions_are_invisible_at_an_earlier_as_of(wh):
    active = lifecycle.active_accounts(wh, "2023-12-01").set_index(S.ACCOUNT_ID)
    # the renewal S3 (starts 2024-01-20) is not known yet: tenure counts from S2 only
    assert active.loc["A2", S.SUBSCRIPTION_ID] == "S2"
    assert active.loc["A2", "tenure_days"] == (pd.Timestamp("2023-12-01") - pd.Timestamp("2023-01-15")).days


def test_observation_end_is_the_day_after_the_last_dated_row(wh):
    assert lifecycle.observation_end(wh) == pd.Timestamp("2024-06-11")


def test_a_subscription_starting_after_the_last_event_does_not_extend_the_data(tiny_tables,
                                                                                tmp_path):
    """Issue 17 item 3: one subscription starting after the events stop moved the data's
    end, and a report for a month without events came out as if complete."""
    from churnlab.data.warehouse import open_warehouse
    from churnlab.errors import InputError
    from churnlab.pipeline.months import check_month

    subs = tiny_tables[S.SUBSCRIPTIONS]
    late = subs.iloc[[3]].assign(**{S.SUBSCRIPTION_ID: "S9",
                                    S.START_DATE: pd.Timestamp("2024-09-15"),
                                    S.END_DATE: pd.NaT, S.ACCOUNT_ID: "A4"})
    tiny_tables[S.SUBSCRIPTIONS] = pd.concat([subs, late], ignore_index=True)
    with open_warehouse(write_tables(tiny_tables, tmp_path / "d")) as wh:
        assert lifecycle.observation_end(wh) == pd.Timestamp("2024-06-11")   # last event
        with pytest.raises(InputError, match="2024-08 is beyond the data: the data covers "
                                             "2023-01-01 to 2024-06-10"):
            check_month(wh, "2024-08")
