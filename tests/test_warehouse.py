"""Reading inputs from a Parquet folder, a CSV folder or a DuckDB file."""

import pandas as pd
import pytest
from conftest import write_tables

from churnlab.data import contract as S
from churnlab.data.warehouse import DataSourceError, open_warehouse


@pytest.mark.parametrize("fmt", ["parquet", "csv", "duckdb"])
def test_every_format_gives_the_same_typed_tables(tiny_tables, tmp_path, fmt):
    with open_warehouse(write_tables(tiny_tables, tmp_path / "p", "parquet")) as ref, \
         open_warehouse(write_tables(tiny_tables, tmp_path / fmt, fmt)) as other:
        for table in S.TABLE_SPECS:
            expected = ref.table(table).sort_values(list(ref.table(table).columns[:2]))
            got = other.table(table).sort_values(list(expected.columns[:2]))
            pd.testing.assert_frame_equal(expected.reset_index(drop=True),
                                          got.reset_index(drop=True), check_dtype=False)


def test_typed_views_fill_defaults_and_derive_arr(tiny_tables, tmp_path):
    subs = tiny_tables[S.SUBSCRIPTIONS].drop(columns=[S.MRR, S.DISCOUNT_PCT])
    subs[S.ARR] = [6000.0, 120000.0, 132000.0, 36000.0, 30000.0]
    tiny_tables[S.SUBSCRIPTIONS] = subs
    tiny_tables[S.EVENTS][S.VALUE] = None
    del tiny_tables[S.INTERVENTIONS]
    with open_warehouse(write_tables(tiny_tables, tmp_path / "arr")) as wh:
        got = wh.table(S.SUBSCRIPTIONS).set_index(S.SUBSCRIPTION_ID)
        assert got.loc["S2", S.MRR] == pytest.approx(10000.0)
        assert got.loc["S2", S.ARR] == pytest.approx(120000.0)
        assert (got[S.DISCOUNT_PCT] == 0).all()
        assert (wh.table(S.EVENTS)[S.VALUE] == 1.0).all()
        assert not wh.has(S.INTERVENTIONS)
        assert list(wh.table(S.INTERVENTIONS).columns) == list(S.INTERVENTIONS_SPEC.columns)


def test_missing_required_table_is_named(tiny_tables, tmp_path):
    folder = write_tables(tiny_tables, tmp_path / "x")
    (folder / "events.parquet").unlink()
    with pytest.raises(DataSourceError, match="required table\\(s\\) missing: events"):
        open_warehouse(folder)


def test_nonexistent_or_unreadable_location_is_a_clear_error(tmp_path):
    with pytest.raises(DataSourceError, match="does not exist"):
        open_warehouse(tmp_path / "nope")
    bogus = tmp_path / "file.duckdb"
    bogus.write_text("not a database")
    with pytest.raises(DataSourceError, match="neither a folder nor a DuckDB file"):
        open_warehouse(bogus)


def test_fingerprint_is_stable_and_changes_with_the_data(tiny_tables, tmp_path):
    a = write_tables(tiny_tables, tmp_path / "a")
    b = write_tables(tiny_tables, tmp_path / "b")
    with open_warehouse(a) as wa, open_warehouse(b) as wb:
        assert wa.fingerprint() == wb.fingerprint()
    tiny_tables[S.EVENTS].loc[0, S.VALUE] = 13.0
    c = write_tables(tiny_tables, tmp_path / "c")
    with open_warehouse(c) as wc, open_warehouse(a) as wa:
        assert wc.fingerprint() != wa.fingerprint()


@pytest.mark.parametrize("fmt", ["parquet", "csv", "duckdb"])
def test_time_zone_aware_timestamps_are_converted_to_utc(tiny_tables, tmp_path, fmt):
    """Issue 17 item 2: warehouses export TIMESTAMP WITH TIME ZONE; the contract's zone
    is UTC. The same instants given in Madrid time (with offsets in CSV) validate and
    give the same typed times and the same features as naive UTC times."""
    from conftest import TINY_AS_OF

    from churnlab.data.validation import validate
    from churnlab.features.snapshot import make_snapshot

    naive = write_tables(tiny_tables, tmp_path / "naive")
    ev = tiny_tables[S.EVENTS]
    madrid = pd.to_datetime(ev[S.EVENT_TIME]).dt.tz_localize("UTC").dt.tz_convert(
        "Europe/Madrid")
    if fmt == "csv":                                      # text with offsets
        madrid = madrid.map(lambda t: t.isoformat())
    tiny_tables[S.EVENTS] = ev.assign(**{S.EVENT_TIME: madrid})
    aware = write_tables(tiny_tables, tmp_path / "aware", fmt=fmt)
    with open_warehouse(naive) as a, open_warehouse(aware) as b:
        assert validate(b, as_of=TINY_AS_OF).ok
        times = f"SELECT {S.EVENT_TIME} FROM {S.EVENTS} ORDER BY 1"
        pd.testing.assert_frame_equal(a.query(times), b.query(times))
        pd.testing.assert_frame_equal(make_snapshot(a, TINY_AS_OF), make_snapshot(b, TINY_AS_OF))


@pytest.mark.parametrize("limit", [None, "300MB"])
def test_releasing_duckdbs_cache_keeps_its_memory_limit_and_its_answers(tiny_data, limit):
    with open_warehouse(tiny_data, memory_limit=limit) as wh:
        setting = "SELECT current_setting('memory_limit')"
        before = wh.con.execute(setting).fetchone()[0]
        counted = wh.query("SELECT count(*) AS n FROM events")
        wh.release_cache()
        assert wh.con.execute(setting).fetchone()[0] == before
        pd.testing.assert_frame_equal(wh.query("SELECT count(*) AS n FROM events"), counted)
        if limit is not None:
            assert before.startswith("286")     # 300 MB in MiB, as DuckDB shows it
