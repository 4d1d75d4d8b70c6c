"""Spark and DuckDB compute the same features and landmarks, column by column.

Two simulated worlds: the demo SaaS with its events split into an ``events/`` folder of
Parquet parts, and a consumer product unlike it (one plan, monthly only, single user).
As-of dates on a month boundary and mid-month; accounts with no events at all; the
labels (durations, churn flags) of the landmarks too. Floats agree to 1e-9.
"""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from churnlab.data import contract as S
from churnlab.data.spark import SparkEngine, to_spark_sql
from churnlab.data.warehouse import open_warehouse
from churnlab.errors import InputError
from churnlab.features import snapshot as F
from churnlab.features.landmarks import make_landmarks
from churnlab.sim.generate import simulate_saas, write_simulation
from churnlab.sim.profiles import simulate_profile, write_profile

pyspark = pytest.importorskip("pyspark", reason="the spark extra: pip install 'churnlab[spark]'")
pytestmark = pytest.mark.slow


def _assert_same(duck: pd.DataFrame, spark: pd.DataFrame) -> None:
    assert list(duck.columns) == list(spark.columns)
    assert len(duck) == len(spark)
    for col in duck.columns:
        a, b = duck[col], spark[col]
        assert a.dtype == b.dtype, f"{col}: {a.dtype} vs {b.dtype}"
        if pd.api.types.is_float_dtype(a):
            np.testing.assert_allclose(b.to_numpy(float), a.to_numpy(float), rtol=1e-9,
                                       atol=1e-9, equal_nan=True, err_msg=col)
        else:
            same = (a == b) | (a.isna() & b.isna())
            assert same.all(), f"{col}: {(~same).sum()} rows differ"


@pytest.fixture(scope="module")
def session():
    from churnlab.data.spark import spark_session

    spark = spark_session("local[2]", {"spark.sql.shuffle.partitions": "4"})
    yield spark
    spark.stop()


@pytest.fixture(scope="module")
def demo_world(tmp_path_factory):
    root = tmp_path_factory.mktemp("spark_demo")
    sim = simulate_saas(n_accounts=250, n_months=14, seed=5, start="2024-01-01")
    data = write_simulation(sim, root / "data")
    events = pd.read_parquet(data / "events.parquet")
    (data / "events.parquet").unlink()
    parts = data / "events"
    parts.mkdir()
    for k, chunk in enumerate(np.array_split(np.arange(len(events)), 3)):
        events.iloc[chunk].to_parquet(parts / f"part-{k}.parquet", index=False)
    # two accounts that never produce an event, active all along
    accounts = pd.read_parquet(data / "accounts.parquet")
    subs = pd.read_parquet(data / "subscriptions.parquet")
    quiet = accounts.iloc[:2].copy()
    quiet[S.ACCOUNT_ID] = ["QUIET-1", "QUIET-2"]
    qsubs = subs.iloc[:2].copy()
    qsubs[S.ACCOUNT_ID] = quiet[S.ACCOUNT_ID].to_numpy()
    qsubs[S.SUBSCRIPTION_ID] = ["QS-1", "QS-2"]
    qsubs[S.START_DATE] = pd.Timestamp("2023-06-01")
    qsubs[S.END_DATE] = pd.NaT
    pd.concat([accounts, quiet]).to_parquet(data / "accounts.parquet", index=False)
    pd.concat([subs, qsubs]).to_parquet(data / "subscriptions.parquet", index=False)
    shutil.rmtree(data / "truth", ignore_errors=True)
    return data


@pytest.fixture(scope="module")
def consumer_world(tmp_path_factory):
    root = tmp_path_factory.mktemp("spark_consumer")
    world = simulate_profile("consumer", n_accounts=300, n_months=12, seed=3)
    return write_profile(world, root / "data")


DATES = ["2024-09-01", "2024-10-17", "2024-12-01"]   # month boundaries and mid-month


@pytest.mark.parametrize("world", ["demo_world", "consumer_world"])
def test_spark_features_and_landmarks_equal_duckdb(world, session, request):
    data = request.getfixturevalue(world)
    with open_warehouse(data) as wh:
        duck_snap = F.make_snapshot(wh, "2024-11-01")
        duck_land = make_landmarks(wh, DATES)
        wh.heavy = SparkEngine(data, session=session)
        spark_snap = F.make_snapshot(wh, "2024-11-01")
        spark_land = make_landmarks(wh, DATES)
    assert len(duck_land) > 200 and duck_land[F.EVENT].sum() > 0
    _assert_same(duck_snap, spark_snap)
    _assert_same(duck_land, spark_land)
    if world == "demo_world":   # the accounts without events are there, with zero counts
        quiet = spark_snap[spark_snap[S.ACCOUNT_ID].str.startswith("QUIET")]
        assert len(quiet) == 2
        counts = [c for c in quiet.columns if c.endswith("__sum_90d")]
        assert counts and (quiet[counts] == 0).all().all()


def test_day_differences_are_calendar_days_on_spark(session):
    """DuckDB's date_diff('day') on timestamps counts calendar days; Spark's counts 24-hour
    periods. Our SQL takes differences between DATEs, which agree."""
    sql = ("SELECT date_diff('day', CAST(TIMESTAMP '2024-01-01 20:00:00' AS DATE), "
           "CAST(TIMESTAMP '2024-01-02 08:00:00' AS DATE)) AS d, "
           "TIMESTAMP '2024-01-30 10:00:00' + to_days(CAST(3 AS INTEGER)) AS t, "
           "DATE '2024-01-31' + to_months(CAST(1 AS INTEGER)) AS m")
    row = session.sql(to_spark_sql(sql)).collect()[0]
    assert row["d"] == 1
    assert pd.Timestamp(row["t"]) == pd.Timestamp("2024-02-02 10:00:00")
    assert pd.Timestamp(row["m"]) == pd.Timestamp("2024-02-29")


def test_spark_engine_refuses_csv_with_the_reason(tmp_path, session, tiny_tables):
    from conftest import write_tables

    folder = write_tables(tiny_tables, tmp_path / "csv", fmt="csv")
    with pytest.raises(InputError, match="Parquet only"):
        SparkEngine(folder, session=session)


def test_cli_engine_spark_writes_the_same_features(demo_world, session, tmp_path):
    from churnlab.cli import main

    outs = {}
    for engine in ("duckdb", "spark"):
        outs[engine] = tmp_path / f"{engine}.parquet"
        assert main(["-q", "features", "--data", str(demo_world), "--as-of", "2024-11-01",
                     "--engine", engine, "--out", str(outs[engine])]) == 0
    _assert_same(pd.read_parquet(outs["duckdb"]), pd.read_parquet(outs["spark"]))
