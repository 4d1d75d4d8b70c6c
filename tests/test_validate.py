"""The validator: each rule catches its corruption of the tiny dataset, and only it."""

import hashlib
from pathlib import Path
from typing import Callable, NamedTuple

import pandas as pd
import pytest
from conftest import TINY_AS_OF, make_tiny_tables, write_tables

from churnlab.data import contract as S
from churnlab.data.checks import (
    ERROR,
    ROW,
    TABLE_LEVEL_RULES,
    WARNING,
    InvalidDataError,
    ValidationReport,
)
from churnlab.data.validation import require_valid, validate
from churnlab.data.warehouse import open_warehouse

FORMATS = ["parquet", "csv", "duckdb"]


def run_validation(tables, folder, fmt="parquet", as_of=TINY_AS_OF, **options):
    data = write_tables(tables, folder / fmt, fmt)
    with open_warehouse(data) as wh:
        return validate(wh, as_of=as_of, **options)


def found(report: ValidationReport, severity: str = ERROR):
    return [(v.table, v.column, v.rule, v.n_rows)
            for v in report.violations if v.severity == severity]


def append_row(df: pd.DataFrame, **values) -> pd.DataFrame:
    row = pd.DataFrame([values]).astype({c: df[c].dtype for c in values if c in df
                                        and not isinstance(values[c], str)})
    return pd.concat([df, row], ignore_index=True)


def as_text(df: pd.DataFrame, column: str) -> None:
    """Store a column as text so that a bad value can be planted in it."""
    if pd.api.types.is_datetime64_any_dtype(df[column]):
        df[column] = df[column].dt.strftime("%Y-%m-%d").astype(object)
    else:
        df[column] = df[column].map(lambda v: None if pd.isna(v) else str(v))


# ------------------------------------------------------------------ corruptions
def drop_segment(t):
    t[S.ACCOUNTS] = t[S.ACCOUNTS].drop(columns=[S.SEGMENT])


def drop_mrr_and_arr(t):
    t[S.SUBSCRIPTIONS] = t[S.SUBSCRIPTIONS].drop(columns=[S.MRR])


def mrr_abc(t):
    as_text(t[S.SUBSCRIPTIONS], S.MRR)
    t[S.SUBSCRIPTIONS].loc[1, S.MRR] = "abc"


def start_date_13_45(t):
    as_text(t[S.SUBSCRIPTIONS], S.START_DATE)
    t[S.SUBSCRIPTIONS].loc[2, S.START_DATE] = "2023-13-45"


def event_time_yesterday(t):
    as_text(t[S.EVENTS], S.EVENT_TIME)
    t[S.EVENTS].loc[3, S.EVENT_TIME] = "yesterday"


def value_lots(t):
    as_text(t[S.EVENTS], S.VALUE)
    t[S.EVENTS].loc[[0, 4], S.VALUE] = "lots"


def term_not_whole(t):
    as_text(t[S.SUBSCRIPTIONS], S.TERM_MONTHS)
    t[S.SUBSCRIPTIONS].loc[0, S.TERM_MONTHS] = "1.5"


def name_and_plan_missing(t):
    t[S.ACCOUNTS].loc[2, S.NAME] = None
    t[S.SUBSCRIPTIONS].loc[[0, 3], S.PLAN] = ["  ", None]


def duplicate_account(t):
    copy = t[S.ACCOUNTS].iloc[[2]].assign(**{S.NAME: "Gamma again"})
    t[S.ACCOUNTS] = pd.concat([t[S.ACCOUNTS], copy], ignore_index=True)


def duplicate_subscription(t):
    t[S.SUBSCRIPTIONS].loc[3, S.SUBSCRIPTION_ID] = "S1"


def end_before_start(t):
    t[S.SUBSCRIPTIONS].loc[2, S.END_DATE] = pd.Timestamp("2024-01-10")   # S3 starts 01-20


def end_equals_start(t):
    t[S.SUBSCRIPTIONS].loc[2, S.END_DATE] = pd.Timestamp("2024-01-20")


def zero_and_negative_terms(t):
    t[S.SUBSCRIPTIONS].loc[[3, 4], S.TERM_MONTHS] = [0, -12]


def renewal_starts_before_previous_ends(t):
    t[S.SUBSCRIPTIONS].loc[2, S.START_DATE] = pd.Timestamp("2024-01-10")  # S2 ends 01-15


def add_on_inside_open_ended_subscription(t):
    t[S.SUBSCRIPTIONS] = append_row(
        t[S.SUBSCRIPTIONS], **{S.SUBSCRIPTION_ID: "S6", S.ACCOUNT_ID: "A3", S.PLAN: "addon",
                               S.START_DATE: pd.Timestamp("2024-03-01"),
                               S.END_DATE: pd.Timestamp("2024-04-01"), S.MRR: 100.0,
                               S.TERM_MONTHS: 1, S.DISCOUNT_PCT: 0.0})


def subscription_of_unknown_account(t):
    t[S.SUBSCRIPTIONS] = append_row(
        t[S.SUBSCRIPTIONS], **{S.SUBSCRIPTION_ID: "S6", S.ACCOUNT_ID: "A9", S.PLAN: "basic",
                               S.START_DATE: pd.Timestamp("2023-03-01"),
                               S.END_DATE: pd.Timestamp("2023-04-01"), S.MRR: 100.0,
                               S.TERM_MONTHS: 1, S.DISCOUNT_PCT: 0.0})


def events_of_unknown_account(t):
    for day in ("2024-01-01", "2024-02-01"):
        t[S.EVENTS] = append_row(t[S.EVENTS], **{
            S.ACCOUNT_ID: "A9", S.EVENT_TIME: pd.Timestamp(day),
            S.EVENT_TYPE: "logins", S.VALUE: 2.0})


def intervention_of_unknown_account(t):
    t[S.INTERVENTIONS].loc[0, S.ACCOUNT_ID] = "A9"


def events_long_after_churn_and_before_start(t):
    for account, day in (("A1", "2023-12-15"),   # 105 days after A1 churned (2023-09-01)
                         ("A1", "2023-11-15"),   # 75 days after: close enough
                         ("A3", "2022-10-01")):  # 123 days before A3's first start
        t[S.EVENTS] = append_row(t[S.EVENTS], **{
            S.ACCOUNT_ID: account, S.EVENT_TIME: pd.Timestamp(day),
            S.EVENT_TYPE: "logins", S.VALUE: 1.0})


def unknown_event_types(t):
    t[S.EVENTS].loc[[0, 1, 4], S.EVENT_TYPE] = "mystery_event"
    t[S.EVENTS].loc[6, S.EVENT_TYPE] = "other_thing"


def nps_above_ten_and_negative_users(t):
    t[S.EVENTS].loc[2, S.VALUE] = 11.0          # nps_response: 0-10
    t[S.EVENTS].loc[4, S.VALUE] = -3.0          # weekly_active_users: min 0


def negative_mrr(t):
    t[S.SUBSCRIPTIONS].loc[1, S.MRR] = -10.0


def negative_arr_only(t):
    subs = t[S.SUBSCRIPTIONS]
    t[S.SUBSCRIPTIONS] = subs.drop(columns=[S.MRR]).assign(**{S.ARR: subs[S.MRR] * 12})
    t[S.SUBSCRIPTIONS].loc[4, S.ARR] = -1.0


def discounts_outside_percent_points(t):
    t[S.SUBSCRIPTIONS].loc[1, S.DISCOUNT_PCT] = 150.0
    t[S.INTERVENTIONS].loc[0, S.DISCOUNT_PCT] = -5.0


def dates_after_as_of(t):
    t[S.ACCOUNTS].loc[3, S.CREATED_AT] = pd.Timestamp("2024-08-01")
    t[S.SUBSCRIPTIONS].loc[2, S.START_DATE] = pd.Timestamp("2024-08-01")
    t[S.EVENTS].loc[4, S.EVENT_TIME] = pd.Timestamp("2024-07-02 10:00")
    t[S.EVENTS].loc[5, S.EVENT_TIME] = pd.Timestamp("2024-07-01 23:00")   # the as-of day
    t[S.INTERVENTIONS].loc[0, S.STARTED_AT] = pd.Timestamp("2024-07-15")


def outcome_won(t):
    t[S.INTERVENTIONS].loc[0, S.OUTCOME] = "won"


def cause_pricing(t):
    # a diagnosed cause that is not a root cause (a play's name), beside valid ones
    iv = t[S.INTERVENTIONS]
    iv[S.DIAGNOSED_CAUSE] = "value_perception"
    iv.loc[0, S.DIAGNOSED_CAUSE] = "pricing"
    if len(iv) > 1:
        iv.loc[1, S.DIAGNOSED_CAUSE] = None


class Case(NamedTuple):
    """A corruption, the errors it must raise (table, column, rule, n_rows) and nothing
    else, and optionally what the first violation's example rows and each violation's
    message must show."""

    corrupt: Callable
    expected: list
    examples: dict | None = None
    messages: tuple = ()


CASES = [
    Case(drop_segment, [(S.ACCOUNTS, S.SEGMENT, "missing_column", 4)],
         messages=("required column segment is missing",)),
    Case(drop_mrr_and_arr, [(S.SUBSCRIPTIONS, S.MRR, "missing_column", 5)],
         messages=("mrr (or arr) is missing",)),
    Case(mrr_abc, [(S.SUBSCRIPTIONS, S.MRR, "wrong_type", 1)],
         {ROW: [2], S.SUBSCRIPTION_ID: ["S2"], S.MRR: ["abc"]}),
    Case(start_date_13_45, [(S.SUBSCRIPTIONS, S.START_DATE, "wrong_type", 1)],
         {ROW: [3], S.SUBSCRIPTION_ID: ["S3"], S.START_DATE: ["2023-13-45"]},
         ("start_date must be a date (YYYY-MM-DD)",)),
    Case(event_time_yesterday, [(S.EVENTS, S.EVENT_TIME, "wrong_type", 1)],
         {ROW: [4], S.EVENT_TIME: ["yesterday"]}),
    Case(value_lots, [(S.EVENTS, S.VALUE, "wrong_type", 2)], {ROW: [1, 5]}),
    Case(term_not_whole, [(S.SUBSCRIPTIONS, S.TERM_MONTHS, "wrong_type", 1)],
         {S.TERM_MONTHS: ["1.5"]}, ("term_months must be a whole number",)),
    Case(name_and_plan_missing, [(S.ACCOUNTS, S.NAME, "missing_value", 1),
                                 (S.SUBSCRIPTIONS, S.PLAN, "missing_value", 2)],
         {ROW: [3], S.ACCOUNT_ID: ["A3"]}),
    Case(duplicate_account, [(S.ACCOUNTS, S.ACCOUNT_ID, "duplicate_key", 2)],
         {ROW: [3, 5], S.ACCOUNT_ID: ["A3", "A3"]}),
    Case(duplicate_subscription, [(S.SUBSCRIPTIONS, S.SUBSCRIPTION_ID, "duplicate_key", 2)],
         {ROW: [1, 4], S.SUBSCRIPTION_ID: ["S1", "S1"], S.ACCOUNT_ID: ["A1", "A3"]}),
    Case(end_before_start, [(S.SUBSCRIPTIONS, S.END_DATE, "end_not_after_start", 1)],
         {S.SUBSCRIPTION_ID: ["S3"]}),
    Case(end_equals_start, [(S.SUBSCRIPTIONS, S.END_DATE, "end_not_after_start", 1)],
         {S.SUBSCRIPTION_ID: ["S3"]}),
    Case(zero_and_negative_terms, [(S.SUBSCRIPTIONS, S.TERM_MONTHS, "non_positive_term", 2)],
         {S.SUBSCRIPTION_ID: ["S4", "S5"], S.TERM_MONTHS: [0, -12]}),
    Case(renewal_starts_before_previous_ends,
         [(S.SUBSCRIPTIONS, S.START_DATE, "overlapping_subscriptions", 1)],
         {S.SUBSCRIPTION_ID: ["S3"], "overlaps_subscription": ["S2"]}),
    Case(add_on_inside_open_ended_subscription,
         [(S.SUBSCRIPTIONS, S.START_DATE, "overlapping_subscriptions", 1)],
         {S.SUBSCRIPTION_ID: ["S6"], "overlaps_subscription": ["S4"]}),
    Case(subscription_of_unknown_account,
         [(S.SUBSCRIPTIONS, S.ACCOUNT_ID, "unknown_account", 1)], {S.ACCOUNT_ID: ["A9"]}),
    Case(events_of_unknown_account, [(S.EVENTS, S.ACCOUNT_ID, "unknown_account", 2)],
         {ROW: [8, 9], S.ACCOUNT_ID: ["A9", "A9"]}),
    Case(intervention_of_unknown_account,
         [(S.INTERVENTIONS, S.ACCOUNT_ID, "unknown_account", 1)], {S.ACCOUNT_ID: ["A9"]}),
    Case(events_long_after_churn_and_before_start,
         [(S.EVENTS, S.EVENT_TIME, "event_outside_subscriptions", 2)],
         {ROW: [8, 10], S.ACCOUNT_ID: ["A1", "A3"]}, ("not more than 90 days",)),
    Case(unknown_event_types, [(S.EVENTS, S.EVENT_TYPE, "unknown_event_type", 3),
                               (S.EVENTS, S.EVENT_TYPE, "unknown_event_type", 1)],
         {ROW: [1, 2, 5], S.EVENT_TYPE: ["mystery_event"] * 3},
         ("event type 'mystery_event' is not in the signal map",
          "event type 'other_thing' is not in the signal map")),
    Case(nps_above_ten_and_negative_users, [(S.EVENTS, S.VALUE, "value_out_of_range", 1),
                                            (S.EVENTS, S.VALUE, "value_out_of_range", 1)],
         {ROW: [3], S.VALUE: [11.0]},
         ("'nps_response' event must be between 0 and 10",
          "'weekly_active_users' event must be at least 0")),
    Case(negative_mrr, [(S.SUBSCRIPTIONS, S.MRR, "negative_money", 1)], {S.MRR: [-10.0]}),
    Case(negative_arr_only, [(S.SUBSCRIPTIONS, S.ARR, "negative_money", 1)],
         {S.SUBSCRIPTION_ID: ["S5"]}),
    Case(discounts_outside_percent_points,
         [(S.SUBSCRIPTIONS, S.DISCOUNT_PCT, "discount_out_of_range", 1),
          (S.INTERVENTIONS, S.DISCOUNT_PCT, "discount_out_of_range", 1)],
         {S.DISCOUNT_PCT: [150.0]}, ("percent points and must be between 0 and 100",)),
    Case(dates_after_as_of, [(S.ACCOUNTS, S.CREATED_AT, "future_date", 1),
                             (S.SUBSCRIPTIONS, S.START_DATE, "future_date", 1),
                             (S.EVENTS, S.EVENT_TIME, "future_date", 1),
                             (S.INTERVENTIONS, S.STARTED_AT, "future_date", 1)],
         {ROW: [4], S.ACCOUNT_ID: ["A4"]}, ("created_at must not be after the as-of date "
                                            "2024-07-01",)),
    Case(outcome_won, [(S.INTERVENTIONS, S.OUTCOME, "invalid_outcome", 1)],
         {S.OUTCOME: ["won"]}, ("outcome must be one of saved, churned, pending",)),
    Case(cause_pricing, [(S.INTERVENTIONS, S.DIAGNOSED_CAUSE, "invalid_cause", 1)],
         {S.DIAGNOSED_CAUSE: ["pricing"]},
         ("diagnosed_cause must be one of product_fit, service_experience",)),
]
# Every corruption runs on Parquet; these also on CSV (all text) and a DuckDB file.
IN_EVERY_FORMAT = {start_date_13_45, duplicate_subscription, unknown_event_types,
                   dates_after_as_of}
FORMAT_CASES = [pytest.param(case, fmt, id=f"{case.corrupt.__name__}-{fmt}")
                for case in CASES
                for fmt in (FORMATS if case.corrupt in IN_EVERY_FORMAT else ["parquet"])]


def snapshot(data: Path) -> dict:
    """Every input file's bytes and modification time."""
    files = [data] if data.is_file() else sorted(p for p in data.rglob("*") if p.is_file())
    return {p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in files}


@pytest.fixture(scope="module")
def tiny_warehouse(tmp_path_factory):
    """The valid tiny dataset, opened once for the tests that only read it."""
    with open_warehouse(write_tables(make_tiny_tables(), tmp_path_factory.mktemp("tiny"))) as wh:
        yield wh


CATALOG = "SELECT count(*) FROM duckdb_tables() UNION ALL SELECT count(*) FROM duckdb_views()"


# ------------------------------------------------------------------------ tests
@pytest.mark.parametrize("fmt", FORMATS)
def test_the_tiny_data_passes_with_no_errors_and_no_warnings(tiny_tables, tmp_path, fmt):
    report = run_validation(tiny_tables, tmp_path, fmt)
    assert report.ok
    assert report.violations == [] and report.skipped == []
    assert report.row_counts == {S.ACCOUNTS: 4, S.SUBSCRIPTIONS: 5, S.EVENTS: 7,
                                 S.INTERVENTIONS: 1}
    assert "OK: 0 errors, 0 warnings" in report.render()


@pytest.mark.parametrize("case, fmt", FORMAT_CASES)
def test_each_corruption_triggers_exactly_its_rule_and_only_reads(tmp_path, case, fmt):
    tables = make_tiny_tables()
    case.corrupt(tables)
    data = write_tables(tables, tmp_path / fmt, fmt)
    before = snapshot(data)
    with open_warehouse(data) as wh:
        objects = wh.con.execute(CATALOG).fetchall()
        report = validate(wh, as_of=TINY_AS_OF)
        assert wh.con.execute(CATALOG).fetchall() == objects   # nothing created
    assert snapshot(data) == before                               # nothing written

    assert found(report) == case.expected
    assert found(report, WARNING) == []
    assert not report.ok
    for v in report.errors:
        if v.rule in TABLE_LEVEL_RULES:   # about a whole column: no row to show
            assert v.examples.empty
        else:
            assert len(v.examples) == min(v.n_rows, 10) and ROW in v.examples.columns
    if case.examples:
        first = report.errors[0].examples
        for column, values in case.examples.items():
            assert first[column].tolist() == values, column
    for v, text in zip(report.errors, case.messages):
        assert text in v.message


def test_subscriptions_that_touch_do_not_overlap(tiny_tables, tmp_path):
    tiny_tables[S.SUBSCRIPTIONS].loc[2, S.START_DATE] = pd.Timestamp("2024-01-15")
    assert run_validation(tiny_tables, tmp_path).violations == []


def test_events_close_to_a_subscription_pass_and_the_distance_is_a_setting(tiny_tables,
                                                                           tmp_path):
    events_long_after_churn_and_before_start(tiny_tables)
    assert run_validation(tiny_tables, tmp_path / "a", far_outside_days=200).ok
    strict = run_validation(tiny_tables, tmp_path / "b", far_outside_days=30)
    assert found(strict) == [(S.EVENTS, S.EVENT_TIME, "event_outside_subscriptions", 3)]


def test_subscriptions_may_give_arr_instead_of_mrr(tiny_tables, tmp_path):
    subs = tiny_tables[S.SUBSCRIPTIONS]
    tiny_tables[S.SUBSCRIPTIONS] = subs.drop(columns=[S.MRR]).assign(**{S.ARR: subs[S.MRR] * 12})
    assert run_validation(tiny_tables, tmp_path).violations == []


def test_a_misspelt_column_is_missing_with_a_suggestion_and_extra(tiny_tables, tmp_path):
    tiny_tables[S.EVENTS] = tiny_tables[S.EVENTS].rename(columns={S.ACCOUNT_ID: "acount_id"})
    report = run_validation(tiny_tables, tmp_path)
    assert found(report) == [(S.EVENTS, S.ACCOUNT_ID, "missing_column", 7)]
    assert "did you mean 'acount_id'?" in report.errors[0].message
    assert found(report, WARNING) == [(S.EVENTS, "acount_id", "extra_column", 7)]
    skipped = {(s.rule, s.table) for s in report.skipped}
    assert {("unknown_account", S.EVENTS), ("event_outside_subscriptions", S.EVENTS)} <= skipped


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_extra_columns_are_listed_as_warnings_and_ignored(tiny_tables, tmp_path, fmt):
    tiny_tables[S.ACCOUNTS]["crm_notes"] = "x"
    tiny_tables[S.EVENTS]["source_system"] = "segment"
    report = run_validation(tiny_tables, tmp_path, fmt)
    assert report.ok
    assert found(report, WARNING) == [(S.ACCOUNTS, "crm_notes", "extra_column", 4),
                                      (S.EVENTS, "source_system", "extra_column", 7)]


def test_accounts_without_subscription_are_a_warning(tiny_tables, tmp_path):
    tiny_tables[S.ACCOUNTS] = append_row(tiny_tables[S.ACCOUNTS], **{
        S.ACCOUNT_ID: "A5", S.NAME: "Epsilon", S.SEGMENT: "SMB", S.INDUSTRY: "Retail",
        S.REGION: "NA", S.CSM_OWNER: "alice", S.CREATED_AT: pd.Timestamp("2024-01-01"),
        S.IS_STRATEGIC_LOGO: False})
    report = run_validation(tiny_tables, tmp_path)
    assert report.ok
    assert found(report, WARNING) == [(S.ACCOUNTS, S.ACCOUNT_ID,
                                       "account_without_subscription", 1)]
    assert report.warnings[0].examples[S.ACCOUNT_ID].tolist() == ["A5"]


def test_open_ended_subscriptions_and_events_without_value_are_valid(tiny_tables, tmp_path):
    assert tiny_tables[S.SUBSCRIPTIONS][S.END_DATE].isna().any()
    assert tiny_tables[S.EVENTS][S.VALUE].isna().any()
    tiny_tables[S.EVENTS] = tiny_tables[S.EVENTS].drop(columns=[S.VALUE])
    assert run_validation(tiny_tables, tmp_path, "csv").violations == []


def test_wrong_types_include_non_finite_numbers(tiny_tables, tmp_path):
    as_text(tiny_tables[S.SUBSCRIPTIONS], S.MRR)
    tiny_tables[S.SUBSCRIPTIONS].loc[[0, 4], S.MRR] = ["inf", "nan"]
    report = run_validation(tiny_tables, tmp_path, "csv")
    assert found(report) == [(S.SUBSCRIPTIONS, S.MRR, "wrong_type", 2)]
    assert report.errors[0].examples[S.MRR].tolist() == ["inf", "nan"]


def test_examples_are_capped_at_ten_of_twenty_five_bad_rows(tiny_tables, tmp_path):
    extra = pd.DataFrame({
        S.ACCOUNT_ID: "A2",
        S.EVENT_TIME: pd.date_range("2023-06-01", periods=25, freq="D"),
        S.EVENT_TYPE: "nps_response", S.VALUE: 42.0})
    tiny_tables[S.EVENTS] = pd.concat([tiny_tables[S.EVENTS], extra], ignore_index=True)
    report = run_validation(tiny_tables, tmp_path)
    (v,) = report.errors
    assert (v.rule, v.n_rows, len(v.examples)) == ("value_out_of_range", 25, 10)
    assert v.examples[ROW].tolist() == list(range(8, 18))   # the first ten, in stored order
    assert "first 10 of 25 rows" in report.render()
    smaller = run_validation(tiny_tables, tmp_path / "three", max_examples=3)
    assert len(smaller.errors[0].examples) == 3


def test_a_bad_date_string_in_csv_is_reported_with_its_row(tiny_tables, tmp_path):
    start_date_13_45(tiny_tables)
    report = run_validation(tiny_tables, tmp_path, "csv")
    (v,) = report.errors
    assert (v.table, v.column, v.rule) == (S.SUBSCRIPTIONS, S.START_DATE, "wrong_type")
    assert v.examples.to_dict("records") == [
        {ROW: 3, S.SUBSCRIPTION_ID: "S3", S.ACCOUNT_ID: "A2", S.START_DATE: "2023-13-45"}]
    assert "2023-13-45" in report.render()


def test_checks_that_need_an_uncastable_column_are_skipped_and_listed(tiny_tables, tmp_path):
    start_date_13_45(tiny_tables)
    report = run_validation(tiny_tables, tmp_path)
    skipped = {s.rule for s in report.skipped if s.table == S.SUBSCRIPTIONS}
    assert {"end_not_after_start", "overlapping_subscriptions",
            "event_outside_subscriptions", "future_date"} <= skipped
    assert "checks not run" in report.render()
    assert "subscriptions.start_date has 1 value(s) that are not a date" in report.render()


def test_checks_that_need_a_missing_column_are_skipped(tiny_tables, tmp_path):
    tiny_tables[S.ACCOUNTS] = tiny_tables[S.ACCOUNTS].drop(columns=[S.ACCOUNT_ID])
    tiny_tables[S.SUBSCRIPTIONS] = tiny_tables[S.SUBSCRIPTIONS].drop(columns=[S.END_DATE])
    report = run_validation(tiny_tables, tmp_path)
    assert found(report) == [(S.ACCOUNTS, S.ACCOUNT_ID, "missing_column", 4),
                             (S.SUBSCRIPTIONS, S.END_DATE, "missing_column", 5)]
    skipped = {s.rule for s in report.skipped}
    assert {"duplicate_key", "unknown_account", "account_without_subscription",
            "end_not_after_start", "overlapping_subscriptions"} <= skipped


def test_an_empty_subscriptions_table_is_an_error(tiny_tables, tmp_path):
    tiny_tables[S.SUBSCRIPTIONS] = tiny_tables[S.SUBSCRIPTIONS].iloc[0:0]
    report = run_validation(tiny_tables, tmp_path)
    assert found(report) == [(S.SUBSCRIPTIONS, "", "empty_table", 0)]
    assert found(report, WARNING) == [(S.ACCOUNTS, S.ACCOUNT_ID,
                                       "account_without_subscription", 4)]


def test_as_of_defaults_to_today(tiny_warehouse):
    report = validate(tiny_warehouse)
    assert report.as_of == pd.Timestamp.today().normalize()
    assert report.ok


def test_an_earlier_as_of_makes_later_rows_future(tiny_warehouse):
    report = validate(tiny_warehouse, as_of="2024-06-01")
    assert found(report) == [(S.EVENTS, S.EVENT_TIME, "future_date", 2)]


def test_require_valid_raises_with_the_rendered_report(tiny_tables, tmp_path):
    duplicate_subscription(tiny_tables)
    with open_warehouse(write_tables(tiny_tables, tmp_path / "bad")) as wh:
        with pytest.raises(InvalidDataError) as caught:
            require_valid(wh, as_of=TINY_AS_OF)
    error = caught.value
    assert isinstance(error, ValueError)
    assert found(error.report) == [(S.SUBSCRIPTIONS, S.SUBSCRIPTION_ID, "duplicate_key", 2)]
    text = str(error)
    assert text == error.report.render()
    assert "== subscriptions ==" in text and "[duplicate_key]" in text and "S1" in text


def test_require_valid_returns_the_report_on_valid_data(tiny_warehouse):
    report = require_valid(tiny_warehouse, as_of=TINY_AS_OF)
    assert isinstance(report, ValidationReport) and report.ok


def test_report_frame_has_one_row_per_violation(tiny_tables, tmp_path):
    dates_after_as_of(tiny_tables)
    tiny_tables[S.EVENTS]["source_system"] = "segment"
    report = run_validation(tiny_tables, tmp_path)
    frame = report.to_frame()
    assert list(frame.columns) == ["table", "column", "rule", "severity", "n_rows", "message"]
    assert len(frame) == len(report.violations) == 5
    assert frame["severity"].tolist().count(WARNING) == 1
    assert frame["n_rows"].sum() == 4 + 7


def test_render_groups_violations_by_table_in_contract_order(tiny_tables, tmp_path):
    dates_after_as_of(tiny_tables)
    text = run_validation(tiny_tables, tmp_path).render()
    headings = [line for line in text.splitlines() if line.startswith("== ")]
    assert headings == [f"== {t} ==" for t in (S.ACCOUNTS, S.SUBSCRIPTIONS, S.EVENTS,
                                                S.INTERVENTIONS)]
    assert "INVALID: 4 errors, 0 warnings" in text
    assert "ERROR [future_date] accounts.created_at: 1 row" in text


def test_values_no_signal_could_hold_are_refused_with_table_column_and_rows(tiny_tables,
                                                                            tmp_path):
    """Issue 17 item 4: three 'logins' rows of 1e308 validated, then the features held
    inf and the report failed naming no table, column or row."""
    ev = tiny_tables[S.EVENTS]
    huge = ev[ev[S.EVENT_TYPE] == "logins"].assign(**{S.VALUE: 1e308})
    tiny_tables[S.EVENTS] = pd.concat([ev, huge, huge.iloc[[0]]], ignore_index=True)
    with open_warehouse(write_tables(tiny_tables, tmp_path / "d")) as wh:
        report = validate(wh, as_of=TINY_AS_OF)
    bad = [v for v in report.violations if v.rule == "value_too_large"]
    assert len(bad) == 1 and bad[0].table == S.EVENTS and bad[0].column == S.VALUE
    assert bad[0].n_rows == 3 and "'logins'" in bad[0].message and not report.ok
