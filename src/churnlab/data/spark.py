"""Spark as a second engine for the event-scale work (``--engine spark``).

The point-in-time features and the landmark dataset are SQL written once, in DuckDB's
dialect (:mod:`churnlab.features.snapshot`, :mod:`churnlab.data.lifecycle`). On Spark
that same SQL is transpiled by sqlglot, with three rewrites where a literal translation
would change the meaning:

* ``to_days(n)`` / ``to_months(n)`` (DuckDB intervals of a computed length) become
  ``make_dt_interval(n)`` / ``make_ym_interval(0, n)``: sqlglot leaves them as they are,
  and Spark has no such functions;
* day differences are always taken between DATEs in our SQL: on timestamps DuckDB's
  ``date_diff('day', a, b)`` counts calendar-day boundaries and Spark's
  ``datediff(DAY, a, b)`` counts whole 24-hour periods;
* the session time zone is UTC, the contract's zone, so ``CAST(ts AS DATE)`` cuts
  days where DuckDB does.

Reading: the same contract as DuckDB, Parquet only (a ``<table>.parquet`` file or a
``<table>/`` folder of ``*.parquet`` parts); pandas writes nanosecond timestamps, which
Spark refuses, so they are read as integers and converted to microseconds exactly.
The typed views are the warehouse's own (:func:`churnlab.data.warehouse.typed_select`),
so defaults and derivations (``mrr`` from ``arr``, ``value`` 1) are the same.

Everything else (validation's row-level messages, lifecycles, models, reports) stays on
DuckDB: what grows with the events is computed here. ``docs/spark.md`` says how to point
it at a cluster.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import sqlglot
from sqlglot import exp

from churnlab.data import contract as S
from churnlab.data.warehouse import DataSourceError, input_files, quote, sql_type, typed_select

log = logging.getLogger(__name__)

DEFAULT_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "8",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.legacy.parquet.nanosAsLong": "true",
    "spark.driver.memory": "4g",
    "spark.sql.ansi.enabled": "false",
}

# Spark's simple type names as DuckDB's, for the typed layer's cast rules
_DUCK_TYPES = {"string": "VARCHAR", "double": "DOUBLE", "float": "FLOAT", "bigint": "BIGINT",
               "int": "INTEGER", "smallint": "SMALLINT", "tinyint": "TINYINT",
               "boolean": "BOOLEAN", "date": "DATE", "timestamp": "TIMESTAMP",
               "timestamp_ntz": "TIMESTAMP"}


_INT_TYPES = {"bigint": 64, "int": 32, "smallint": 16, "tinyint": 8}


def spark_session(master: str | None = None, conf: dict | None = None):
    """A Spark session for churnlab: ``local[*]`` unless ``master`` (or the
    ``spark.master`` of an existing session or ``SPARK_MASTER``) says otherwise."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - the extra is installed in CI
        raise DataSourceError("--engine spark needs PySpark and Java 17+: "
                              "pip install 'churnlab[spark]'") from exc
    builder = SparkSession.builder.appName("churnlab")
    if master:
        builder = builder.master(master)
    elif not SparkSession.getActiveSession():
        builder = builder.master(os.environ.get("SPARK_MASTER", "local[*]"))
    for key, value in {**DEFAULT_CONF, **(conf or {})}.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def _make_interval(node):
    """sqlglot parses ``to_days(n)`` as ToDays and ``to_months(n)`` as an unknown call."""
    if isinstance(node, exp.ToDays):
        return exp.func("MAKE_DT_INTERVAL", node.this)
    if isinstance(node, exp.Anonymous) and str(node.this).upper() == "TO_MONTHS":
        return exp.func("MAKE_YM_INTERVAL", exp.Literal.number(0), node.expressions[0])
    return node


def to_spark_sql(sql: str) -> str:
    """DuckDB-dialect SQL as Spark SQL (see the module notes for the rewrites)."""
    tree = sqlglot.parse_one(sql, read="duckdb").transform(_make_interval)
    return tree.sql(dialect="spark")


def _parquet_files(path: Path) -> list[Path]:
    return sorted(path.glob("*.parquet")) if path.is_dir() else [path]


class SparkEngine:
    """The input tables registered as Spark views (``raw_<table>``, ``<table>``), and
    :meth:`query` that runs churnlab's DuckDB-dialect SQL on them."""

    def __init__(self, data: str | Path, session=None, master: str | None = None,
                 conf: dict | None = None):
        self.data = Path(data)
        if not self.data.is_dir():
            raise DataSourceError(f"--engine spark reads a folder of Parquet files; "
                                  f"{self.data} is not a folder")
        files = input_files(self.data)
        not_parquet = [p.name for p in files.values()
                       if p.is_file() and p.suffix != ".parquet"]
        if not_parquet:
            raise DataSourceError(f"--engine spark reads Parquet only; {', '.join(not_parquet)} "
                                  f"is not (DuckDB converts a CSV: COPY (SELECT * FROM "
                                  f"'events.csv') TO 'events.parquet')")
        self.spark = session or spark_session(master, conf)
        self.tables = tuple(files)
        self.raw_columns: dict[str, dict[str, str]] = {}
        for table, path in files.items():
            self._register_raw(table, path)
        for table, spec in S.TABLE_SPECS.items():
            if table in self.tables:
                select = typed_select(table, self.raw_columns[table], cast=_spark_cast)
                body = f"SELECT {select} FROM raw_{table}"
            else:
                cols = ", ".join(f"CAST(NULL AS {sql_type(t)}) AS {quote(c)}"
                                 for c, t in spec.columns.items())
                body = f"SELECT {cols} WHERE FALSE"
            self.spark.sql(f"CREATE OR REPLACE TEMP VIEW {table} AS {to_spark_sql(body)}")

    def _register_raw(self, table: str, path: Path) -> None:
        schema = pq.read_schema(_parquet_files(path)[0])
        nanos = {f.name for f in schema
                 if str(f.type).startswith("timestamp[ns")}
        df = self.spark.read.parquet(str(path.resolve()))
        df = df.selectExpr(*(f"timestamp_micros(`{c}` div 1000) AS `{c}`" if c in nanos
                             else f"`{c}`" for c in df.columns))
        df.createOrReplaceTempView(f"raw_{table}")
        types = dict(df.dtypes)
        self.raw_columns[table] = {c: _DUCK_TYPES.get(t, t.upper()) for c, t in types.items()}

    def query(self, sql: str) -> pd.DataFrame:
        """Run DuckDB-dialect SQL on Spark, returning the pandas types DuckDB returns:
        datetimes in microseconds, integer columns with nulls as nullable integers."""
        frame = self.spark.sql(to_spark_sql(sql))
        kinds = dict(frame.dtypes)
        out = frame.toPandas()
        for col, kind in kinds.items():
            if kind in ("date", "timestamp", "timestamp_ntz"):
                out[col] = pd.to_datetime(out[col]).astype("datetime64[us]")
            elif kind in _INT_TYPES:
                width = _INT_TYPES[kind]
                nullable = out[col].isna().any()
                out[col] = out[col].astype(f"Int{width}" if nullable else f"int{width}")
        return out

    def close(self) -> None:
        for table in self.tables:
            self.spark.catalog.dropTempView(f"raw_{table}")
            self.spark.catalog.dropTempView(table)


def _spark_cast(column: str, logical: str, raw_type: str = "VARCHAR") -> str:
    """Spark's cast of a stored column: with the session in UTC, a text time with an
    offset is converted to UTC by the cast itself."""
    return f"TRY_CAST({column} AS {sql_type(logical)})"


def attach_spark(wh, session=None, master: str | None = None, conf: dict | None = None):
    """Route the warehouse's event-scale SQL (features, landmarks) to Spark."""
    wh.heavy = SparkEngine(wh.source, session=session, master=master, conf=conf)
    log.info("engine: Spark %s (%s) for features and landmarks",
             wh.heavy.spark.version, wh.heavy.spark.sparkContext.master)
    return wh
