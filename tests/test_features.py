"""Point-in-time features and landmark datasets."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlglot
import yaml
from conftest import make_tiny_tables, write_tables
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from churnlab.data import contract as S
from churnlab.data.signal_map import default_signal_map_path, load_signal_map, parse_signal_map
from churnlab.data.warehouse import open_warehouse
from churnlab.features import snapshot as F
from churnlab.features.landmarks import censor_at, make_landmarks


@pytest.fixture
def wh(tiny_data):
    with open_warehouse(tiny_data) as w:
        yield w


def _row(df, account):
    return df.set_index(S.ACCOUNT_ID).loc[account]


def test_snapshot_has_one_row_per_active_account(wh):
    snap = F.make_snapshot(wh, "2023-06-15")
    assert list(snap[S.ACCOUNT_ID]) == ["A1", "A2", "A3", "A4"]
    assert snap[S.ACCOUNT_ID].is_unique


def test_weekly_rows_count_only_once_their_week_has_ended(wh):
    # A1 has a weekly `logins` row for the week starting 2023-07-03 (value 3).
    before = _row(F.make_snapshot(wh, "2023-07-09"), "A1")
    after = _row(F.make_snapshot(wh, "2023-07-10"), "A1")
    assert before["logins__sum_30d"] == 0
    assert after["logins__sum_30d"] == 3
    assert after["logins__days_since"] == 0


def test_windows_sum_counts_and_average_gauges(wh):
    snap = _row(F.make_snapshot(wh, "2023-07-10"), "A1")
    # logins rows: 12 (week of 2023-03-06, available 03-13: 119 days before) and 3.
    assert snap["logins__sum_30d"] == 3
    assert snap["logins__sum_90d"] == 3
    assert snap["logins__sum_180d"] == 15
    assert snap["logins__days_since"] == 0
    a2 = _row(F.make_snapshot(wh, "2023-07-10"), "A2")
    assert a2["nps_response__mean_90d"] == 9
    assert a2["nps_response__last"] == 9
    assert np.isnan(_row(F.make_snapshot(wh, "2023-07-10"), "A3")["nps_response__last"])


def test_flags_and_family_counts(wh):
    snap = _row(F.make_snapshot(wh, "2024-04-01"), "A2")
    # champion left on 2024-03-01: 31 days before the as-of date
    assert snap["champion_left__any_30d"] == 0
    assert snap["champion_left__any_90d"] == 1
    assert snap["champion_left__days_since"] == 31
    assert snap["fam_relationship__events_90d"] == 1
    a4 = _row(F.make_snapshot(wh, "2024-04-01"), "A4")
    assert a4["competitor_webinar__sum_90d"] == 1 and a4["fam_competitive__events_30d"] == 0


def test_accounts_without_events_get_zero_counts_and_capped_recency(wh):
    snap = _row(F.make_snapshot(wh, "2023-06-15"), "A4")
    assert snap["ticket_opened__sum_90d"] == 0
    assert snap["ticket_opened__days_since"] == F.LOOKBACK_DAYS
    assert snap["champion_left__any_180d"] == 0


def test_contract_columns(wh):
    snap = _row(F.make_snapshot(wh, "2024-03-01"), "A2")
    assert snap[S.ARR] == 132000.0
    assert snap["arr_change_12m"] == pytest.approx(0.1)
    assert snap[S.SEGMENT] == "Enterprise"
    assert bool(snap[S.IS_STRATEGIC_LOGO])


def test_landmark_labels_count_days_to_churn_or_censoring(wh):
    lm = make_landmarks(wh, ["2023-03-01", "2023-06-01"])
    a1 = lm[lm[S.ACCOUNT_ID] == "A1"].set_index(F.LANDMARK)
    assert a1.loc[pd.Timestamp("2023-03-01"), F.DURATION] == 184
    assert (a1[F.EVENT] == 1).all()
    a3 = lm[lm[S.ACCOUNT_ID] == "A3"].set_index(F.LANDMARK)
    # censored at the data's end (2024-06-11)
    assert a3.loc[pd.Timestamp("2023-06-01"), F.DURATION] == 376
    assert (a3[F.EVENT] == 0).all()


def test_censor_at_hides_churn_not_yet_confirmed(wh):
    lm = make_landmarks(wh, ["2023-03-01", "2023-06-01", "2023-09-01"])
    seen = censor_at(lm, "2023-09-15")
    a1 = seen[seen[S.ACCOUNT_ID] == "A1"]
    assert (seen[F.LANDMARK] < pd.Timestamp("2023-09-15")).all()
    assert (a1[F.EVENT] == 0).all()        # churn 2023-09-01 + 30 days grace > cutoff
    assert (seen[F.DURATION] <= (pd.Timestamp("2023-09-15") - pd.to_datetime(seen[F.LANDMARK])).dt.days).all()
    later = censor_at(lm, "2023-10-15")
    assert (later[later[S.ACCOUNT_ID] == "A1"][F.EVENT] == 1).all()


def test_landmark_at_or_after_data_end_is_refused(wh):
    with pytest.raises(ValueError, match="not before the data's end"):
        make_landmarks(wh, ["2024-06-11"])


def test_dates_split_over_passes_give_the_same_landmarks(wh):
    dates = ["2023-03-01", "2023-06-01", "2023-07-10", "2023-09-01"]
    one = F.make_snapshots(wh, dates)
    per_date = F.make_snapshots(wh, dates, max_rows_per_pass=1)   # one date per pass
    pd.testing.assert_frame_equal(one, per_date)
    alone = F.make_snapshot(wh, "2023-07-10")
    pd.testing.assert_frame_equal(one[one[F.LANDMARK] == "2023-07-10"].reset_index(drop=True),
                                  alone)


def test_known_rows_are_reused_only_where_they_are_this_datas_rows(wh, tmp_path):
    """make_snapshots(known=landmarks) equals a fresh computation, whether every date,
    some or none is in the known rows (also after a Parquet round trip); rows whose
    accounts or contract values differ from the data's are not taken."""
    dates = ["2023-03-01", "2023-06-01", "2023-09-01"]
    fresh = F.make_snapshots(wh, dates)
    lm = make_landmarks(wh, dates[:2])
    lm.to_parquet(tmp_path / "lm.parquet")
    for known in (lm, pd.read_parquet(tmp_path / "lm.parquet")):
        pd.testing.assert_frame_equal(F.make_snapshots(wh, dates, known=known), fresh)
        pd.testing.assert_frame_equal(F.make_snapshots(wh, dates[:2], known=known),
                                      fresh[fresh[F.LANDMARK] < "2023-09-01"])
    stale = lm.copy()
    stale.loc[stale[F.LANDMARK] == "2023-03-01", S.ARR] += 1.0      # another data's ARR
    stale.loc[stale[F.LANDMARK] == "2023-03-01", "tenure_days"] = -1   # and tenure
    missing = lm[lm[S.ACCOUNT_ID] != "A1"]                          # an account short
    for known in (stale, missing):
        pd.testing.assert_frame_equal(F.make_snapshots(wh, dates, known=known), fresh)
    # a reused date really is taken from the known rows (not recomputed)
    feature = next(c for c in lm.columns if "__" in c)               # an event feature
    marked = lm.copy()
    marked.loc[marked[F.LANDMARK] == "2023-06-01", feature] = -7
    got = F.make_snapshots(wh, dates, known=marked)
    assert (got.loc[got[F.LANDMARK] == "2023-06-01", feature] == -7).all()
    assert not (got.loc[got[F.LANDMARK] != "2023-06-01", feature] == -7).any()


def test_snapshot_sql_transpiles_to_spark(wh):
    sql = F.snapshot_sql("2024-01-01", wh.signal_map)
    spark = sqlglot.transpile(sql, read="duckdb", write="spark")[0]
    assert "FILTER" in spark.upper() or "CASE WHEN" in spark.upper()
    sqlglot.parse_one(spark, read="spark")  # round-trips without error



def _map_of(tmp_path, types: dict) -> Path:
    full = load_signal_map(default_signal_map_path()).to_dict()["event_types"]
    path = tmp_path / "map.yaml"
    path.write_text(yaml.safe_dump(parse_signal_map({"event_types": {
        t: dict(full[t], **over) for t, over in types.items()}}).to_dict()))
    return path


@pytest.mark.parametrize("order", [(3.0, 7.0), (7.0, 3.0)])
def test_a_gauges_latest_reading_is_the_larger_on_a_tie_whatever_the_row_order(
        tmp_path, order):
    tables = make_tiny_tables()
    tie = pd.DataFrame({S.ACCOUNT_ID: ["A2", "A2"],
                        S.EVENT_TIME: pd.to_datetime(["2024-05-01 10:00"] * 2),
                        S.EVENT_TYPE: ["nps_response"] * 2, S.VALUE: list(order)})
    tables[S.EVENTS] = pd.concat([tables[S.EVENTS], tie], ignore_index=True)
    with open_warehouse(write_tables(tables, tmp_path)) as w:
        a2 = _row(F.make_snapshot(w, "2024-07-01"), "A2")
    assert a2["nps_response__last"] == 7.0
    assert a2["nps_response__mean_90d"] == 5.0


def test_a_map_without_gauges_or_pre_aggregated_rows_gives_the_same_columns(tmp_path):
    """A usage-counts-only map (no gauge: no latest value; every type a point event:
    no grain) gives each of its columns the value the full map gives it."""
    tables = make_tiny_tables()
    with open_warehouse(write_tables(tables, tmp_path / "full")) as w:
        full = F.make_snapshot(w, "2024-07-01")
    counts = _map_of(tmp_path, {"ticket_opened": {}, "competitor_webinar": {},
                                "champion_left": {}})
    with open_warehouse(write_tables(tables, tmp_path / "counts", signal_map=counts)) as w:
        assert not any(s.kind == "gauge" or s.grain != "event" for s in w.signal_map)
        small = F.make_snapshot(w, "2024-07-01")
    cols = [c for c in small.columns if c.split("__")[0] in
            ("ticket_opened", "competitor_webinar", "champion_left")]
    assert len(cols) >= 12 and not any(c.endswith("__last") for c in small.columns)
    pd.testing.assert_frame_equal(small[cols], full[cols])
    assert _row(small, "A3")["ticket_opened__sum_30d"] == 1


# --------------------------------------------------------------- point in time
EVENT_TYPES = ["logins", "weekly_active_users", "nps_response", "champion_left",
               "ticket_opened", "email_response_hours", "data_export_request"]
DAY0 = pd.Timestamp("2023-01-01")

events_strategy = st.lists(
    st.tuples(st.sampled_from(["A1", "A2", "A3", "A4"]),
              st.integers(0, 700),                       # day offset
              st.integers(0, 23),                        # hour
              st.sampled_from(EVENT_TYPES),
              st.one_of(st.none(), st.integers(0, 10).map(float))),
    min_size=1, max_size=40)


def _events(rows):
    return pd.DataFrame({
        S.ACCOUNT_ID: [r[0] for r in rows],
        S.EVENT_TIME: [DAY0 + pd.Timedelta(days=r[1], hours=r[2]) for r in rows],
        S.EVENT_TYPE: [r[3] for r in rows],
        S.VALUE: [r[4] for r in rows],
    })


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=events_strategy, as_of_day=st.integers(30, 650), data=st.data())
def test_events_at_or_after_as_of_never_change_features(tmp_path_factory, rows, as_of_day, data):
    as_of = DAY0 + pd.Timedelta(days=as_of_day)
    events = _events(rows)
    future = events[S.EVENT_TIME] >= as_of
    # change every future event: delete some, rewrite value/type/time of the rest
    changed = events.copy()
    drop = data.draw(st.lists(st.booleans(), min_size=len(events), max_size=len(events)))
    changed.loc[future, S.VALUE] = changed.loc[future, S.VALUE].astype(float).fillna(0.0) + 7
    changed.loc[future, S.EVENT_TYPE] = "champion_left"
    changed.loc[future, S.EVENT_TIME] = changed.loc[future, S.EVENT_TIME] + pd.Timedelta(hours=5)
    changed = changed[~(future & pd.Series(drop, index=events.index))]
    extra = _events([("A3", as_of_day, 0, "data_export_request", 99.0)])  # at as-of exactly
    changed = pd.concat([changed, extra], ignore_index=True)

    # a signal map with just the types used keeps each example fast; the SQL is
    # generated by the same code as for the full map
    full = load_signal_map(default_signal_map_path())
    small = parse_signal_map({"event_types": {
        t: v for t, v in full.to_dict()["event_types"].items() if t in EVENT_TYPES}})
    map_path = tmp_path_factory.mktemp("map") / "map.yaml"
    map_path.write_text(yaml.safe_dump(small.to_dict()))
    snaps, passes = [], []
    later = as_of + pd.Timedelta(days=45)    # a later date in the same pass over the events
    for name, ev in (("orig", events), ("changed", changed)):
        tables = make_tiny_tables()
        tables[S.EVENTS] = ev.reset_index(drop=True)
        folder = tmp_path_factory.mktemp(name)
        with open_warehouse(write_tables(tables, folder, signal_map=map_path)) as w:
            snaps.append(F.make_snapshot(w, as_of))
            both = F.make_snapshots(w, [later, as_of])
            passes.append(both[both[F.LANDMARK] == as_of].reset_index(drop=True))
    pd.testing.assert_frame_equal(snaps[0], snaps[1])
    # landmarks in one pass: the rows at T are the snapshot at T, whatever follows T
    pd.testing.assert_frame_equal(passes[0], snaps[0])
    pd.testing.assert_frame_equal(passes[1], snaps[0])


def test_rows_saved_to_parquet_are_reused_from_the_file_and_an_unreadable_file_is_not(
        wh, tmp_path, caplog):
    dates = ["2023-05-01", "2023-06-01", "2023-07-01"]
    lm = make_landmarks(wh, dates)
    feature = "logins__sum_180d"
    marked = lm.copy()
    marked.loc[marked[F.LANDMARK] == "2023-06-01", feature] = -7
    marked.to_parquet(tmp_path / "landmarks.parquet", index=False)
    got = F.make_snapshots(wh, ["2023-06-01", "2023-08-01"], known=tmp_path / "landmarks.parquet")
    assert (got.loc[got[F.LANDMARK] == "2023-06-01", feature] == -7).all()
    pd.testing.assert_frame_equal(got[got[F.LANDMARK] == "2023-08-01"].reset_index(drop=True),
                                  F.make_snapshots(wh, ["2023-08-01"]))
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    again = F.make_snapshots(wh, dates, known=tmp_path / "broken.parquet")
    pd.testing.assert_frame_equal(again, F.make_snapshots(wh, dates))
    assert "not reusing" in caplog.text


def test_known_rows_serve_a_restriction_to_some_accounts(wh):
    """With ``accounts``, a known date is reused for those accounts (its other rows
    ignored), and equals the rows computed from the events for them."""
    dates = ["2023-06-01", "2023-07-01"]
    lm = make_landmarks(wh, dates)
    marked = lm.assign(**{"logins__sum_180d": -7.0})
    got = F.make_snapshots(wh, dates, accounts=["A2", "A3"], known=marked)
    assert set(got[S.ACCOUNT_ID]) == {"A2", "A3"} and (got["logins__sum_180d"] == -7).all()
    fresh = F.make_snapshots(wh, dates, accounts=["A2", "A3"])
    pd.testing.assert_frame_equal(got.drop(columns="logins__sum_180d"),
                                  fresh.drop(columns="logins__sum_180d"))


def _written_equals_built(wh, dates, path, **kw):
    from churnlab.features.landmarks import write_landmarks

    disk = write_landmarks(wh, dates, path, **kw)
    built = make_landmarks(wh, dates)
    pd.testing.assert_frame_equal(disk.between(None, None), built, check_exact=True)
    return disk, built


def test_landmarks_written_pass_by_pass_are_the_table_built_whole(wh, tmp_path):
    """One date per pass (so the file is appended to six times), on the tiny world
    (an account with no events, a weekly gauge) and on a consumer world unlike the demo
    (one plan, monthly only, single user): the file reads back as make_landmarks'
    table exactly, one row group per date."""
    import pyarrow.parquet as pq

    from churnlab.sim.profiles import simulate_profile, write_profile

    dates = pd.date_range("2023-01-01", "2023-06-01", freq="MS")
    disk, built = _written_equals_built(wh, dates, tmp_path / "tiny.parquet",
                                        max_rows_per_pass=1)
    assert pq.ParquetFile(disk.path).num_row_groups == len(dates) == len(disk.dates())
    write_profile(simulate_profile("consumer", 300, 14, seed=5), tmp_path / "consumer")
    with open_warehouse(tmp_path / "consumer") as cw:
        from churnlab.data import lifecycle

        end = lifecycle.observation_end(cw)
        dates = pd.date_range(end - pd.DateOffset(months=8), end - pd.Timedelta(days=1),
                              freq="MS")
        _, built = _written_equals_built(cw, dates, tmp_path / "consumer.parquet",
                                         max_rows_per_pass=2000)
        assert built[F.LANDMARK].nunique() == len(dates) and built[S.PLAN].nunique() == 1


def test_a_pass_that_does_not_fit_the_first_passs_types_builds_the_table_whole(
        wh, tmp_path, monkeypatch):
    from churnlab.features import landmark_rows as R

    with pytest.raises(R.SchemaMismatch, match="2023-02-01.*column x"):
        first = pd.DataFrame({F.LANDMARK: pd.to_datetime(["2023-01-01"]), "x": ["a"]})
        with R.DateGroupWriter(tmp_path / "bad.parquet", first) as w:
            w.write(first)
            w.write(pd.DataFrame({F.LANDMARK: pd.to_datetime(["2023-02-01"]),
                                  "x": [object()]}))
    calls = []

    def flaky(self, rows):          # the second part does not fit
        calls.append(len(rows))
        if len(calls) == 2:
            raise R.SchemaMismatch("column x: expected string")
        return real(self, rows)

    real = R.DateGroupWriter.write
    monkeypatch.setattr(R.DateGroupWriter, "write", flaky)
    dates = pd.date_range("2023-01-01", "2023-04-01", freq="MS")
    _written_equals_built(wh, dates, tmp_path / "whole.parquet", max_rows_per_pass=1)
    assert len(calls) == 3          # two parts, then the whole table at once
