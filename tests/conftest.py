"""Shared fixtures: a tiny hand-made dataset that follows the data contract exactly."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from churnlab.data import contract as S
from churnlab.data.signal_map import default_signal_map_path

# the suite runs on pytest-xdist's workers: backtests stay in one process each (the
# parallel backtest has its own test, tests/test_backtest.py)
os.environ.setdefault("CHURNLAB_JOBS", "1")


def make_tiny_tables() -> dict[str, pd.DataFrame]:
    """Four accounts, valid under every rule, as of 2024-07-01.

    A1 SMB monthly, churned 2023-09-01; A2 enterprise annual, renewed with a 5-day
    gap (inside the grace period); A3 mid-market monthly, open-ended; A4 annual,
    current term ends after the as-of date.
    """
    accounts = pd.DataFrame({
        S.ACCOUNT_ID: ["A1", "A2", "A3", "A4"],
        S.NAME: ["Acme Ltd", "Beta Corp", "Gamma & Sons", "Delta <b>Inc</b>"],
        S.SEGMENT: ["SMB", "Enterprise", "Mid-Market", "Mid-Market"],
        S.INDUSTRY: ["Retail", "Finance", "Software", "Health"],
        S.REGION: ["EMEA", "NA", "NA", "APAC"],
        S.CSM_OWNER: ["alice", "bob", "bob", "carol"],
        S.CREATED_AT: pd.to_datetime(["2022-12-20", "2023-01-10", "2023-01-25", "2023-05-01"]),
        S.IS_STRATEGIC_LOGO: [False, True, False, False],
    })
    subscriptions = pd.DataFrame({
        S.SUBSCRIPTION_ID: ["S1", "S2", "S3", "S4", "S5"],
        S.ACCOUNT_ID: ["A1", "A2", "A2", "A3", "A4"],
        S.PLAN: ["basic", "pro", "pro", "team", "team"],
        S.START_DATE: pd.to_datetime(["2023-01-01", "2023-01-15", "2024-01-20",
                                      "2023-02-01", "2023-06-01"]),
        S.END_DATE: pd.to_datetime(["2023-09-01", "2024-01-15", "2025-01-20", None,
                                    "2024-12-01"]),
        S.MRR: [500.0, 10000.0, 11000.0, 3000.0, 2500.0],
        S.TERM_MONTHS: [1, 12, 12, 1, 18],
        S.DISCOUNT_PCT: [0.0, 10.0, 0.0, 0.0, 15.0],
    })
    events = pd.DataFrame({
        S.ACCOUNT_ID: ["A1", "A1", "A2", "A2", "A3", "A3", "A4"],
        S.EVENT_TIME: pd.to_datetime(["2023-03-06", "2023-07-03", "2023-05-01 09:30",
                                      "2024-03-01", "2024-06-03", "2024-06-10 12:00",
                                      "2024-02-14"], format="ISO8601"),
        S.EVENT_TYPE: ["logins", "logins", "nps_response", "champion_left",
                       "weekly_active_users", "ticket_opened", "competitor_webinar"],
        S.VALUE: [12.0, 3.0, 9.0, None, 40.0, None, 1.0],
    })
    interventions = pd.DataFrame({
        S.INTERVENTION_ID: ["I1"],
        S.ACCOUNT_ID: ["A2"],
        S.STARTED_AT: pd.to_datetime(["2024-03-10"]),
        S.PLAYBOOK: ["executive_engagement"],
        S.DISCOUNT_PCT: [0.0],
        S.ARM: ["treatment"],
        S.OUTCOME: ["pending"],
    })
    return {S.ACCOUNTS: accounts, S.SUBSCRIPTIONS: subscriptions, S.EVENTS: events,
            S.INTERVENTIONS: interventions}


TINY_AS_OF = "2024-07-01"


def write_tables(tables: dict[str, pd.DataFrame], folder: Path, fmt: str = "parquet",
                 signal_map: Path | None = None) -> Path:
    """Write tables as ``<table>.parquet`` / ``.csv`` (or one DuckDB file when
    ``fmt == 'duckdb'``) plus the signal map; return the ``--data`` path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(signal_map or default_signal_map_path(), folder / S.SIGNAL_MAP_FILE)
    if fmt == "duckdb":
        import duckdb

        path = folder / "churn.duckdb"
        con = duckdb.connect(str(path))
        for name, df in tables.items():
            con.register("_df", df)
            con.execute(f"CREATE TABLE {name} AS SELECT * FROM _df")
            con.unregister("_df")
        con.close()
        return path
    for name, df in tables.items():
        if fmt == "csv":
            df.to_csv(folder / f"{name}.csv", index=False)
        else:
            df.to_parquet(folder / f"{name}.parquet", index=False)
    return folder


@pytest.fixture
def tiny_tables() -> dict[str, pd.DataFrame]:
    return make_tiny_tables()


@pytest.fixture
def tiny_data(tmp_path, tiny_tables) -> Path:
    """A valid tiny dataset on disk (Parquet folder)."""
    return write_tables(tiny_tables, tmp_path / "tiny")
