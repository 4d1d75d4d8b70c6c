"""Read a customer's inputs into one embedded DuckDB engine.

``--data`` may be a folder of Parquet or CSV files (``accounts.parquet`` or
``accounts.csv`` ...), or a DuckDB database file holding tables of those names.

Two layers of views are registered:

* ``raw_<table>``: the data exactly as stored (what the validator inspects);
* ``<table>``: typed and normalised (string ids, DATE/TIMESTAMP columns, ``mrr``
  derived from ``arr`` when only ARR is given, ``value`` defaulting to 1, optional
  columns present with defaults). Everything downstream reads only these.

Nothing is copied into memory: DuckDB scans the files out of core.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from churnlab.data import contract as S
from churnlab.data.signal_map import SignalMap, default_signal_map_path, load_signal_map
from churnlab.errors import InputError

log = logging.getLogger(__name__)


_SQL_TYPES = {S.STRING: "VARCHAR", S.DATE: "DATE", S.TIMESTAMP: "TIMESTAMP",
              S.FLOAT: "DOUBLE", S.INTEGER: "BIGINT", S.BOOLEAN: "BOOLEAN"}


_OPTIONAL_DEFAULTS = {
    (S.ACCOUNTS, S.IS_STRATEGIC_LOGO): "FALSE",
    (S.ACCOUNTS, S.IS_REFERENCE): "FALSE",
    (S.ACCOUNTS, S.EXPANSION_POTENTIAL): "NULL",
    (S.SUBSCRIPTIONS, S.DISCOUNT_PCT): "0.0",
    (S.EVENTS, S.VALUE): "1.0",
}


class DataSourceError(InputError):
    """The data location cannot be read as churnlab inputs."""


def sql_type(logical: str) -> str:
    return _SQL_TYPES[logical]


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


@dataclass
class Warehouse:
    """An open DuckDB connection with the input tables registered as views.

    Attributes
    ----------
    con : the DuckDB connection.
    source : the ``--data`` location.
    tables : names of the input tables present (required ones always, optional ones
        only when supplied).
    raw_columns : table -> {column: DuckDB type} as stored.
    signal_map : the parsed signal map.
    signal_map_path : where it was read from.
    heavy : the engine of the event-scale work (features, landmarks) when it is not
        this DuckDB connection: a :class:`churnlab.data.spark.SparkEngine`.
    """

    con: duckdb.DuckDBPyConnection
    source: Path
    tables: tuple[str, ...]
    raw_columns: dict[str, dict[str, str]]
    signal_map: SignalMap
    signal_map_path: Path
    heavy: object | None = field(default=None, repr=False, compare=False)
    memory_limit: str | None = None     # DuckDB's, as asked for (None: its default)
    _fingerprint: str | None = field(default=None, init=False, repr=False, compare=False)

    def query(self, sql: str, params=None):
        """Run SQL and return a pandas DataFrame."""
        return self.con.execute(sql, params or []).df()

    def heavy_query(self, sql: str):
        """Run event-scale SQL (written in DuckDB's dialect) on the heavy engine: Spark
        when one is attached (:func:`churnlab.data.spark.attach_spark`), else DuckDB."""
        return self.query(sql) if self.heavy is None else self.heavy.query(sql)

    def table(self, name: str):
        return self.query(f"SELECT * FROM {quote(name)}")

    def has(self, table: str) -> bool:
        return table in self.tables

    def release_cache(self) -> None:
        """Hand DuckDB's cached buffers back to the system (after the feature passes it
        keeps hundreds of MB of them at 50,000 accounts): its memory limit is lowered,
        which evicts them, and set back."""
        self.con.execute("SET memory_limit = '64MB'")
        if self.memory_limit:
            self.con.execute(f"SET memory_limit = '{self.memory_limit}'")
        else:
            self.con.execute("RESET memory_limit")

    def close(self) -> None:
        if self.heavy is not None:
            self.heavy.close()
        self.con.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def fingerprint(self) -> str:
        """A content hash of the inputs (files' bytes, or the DuckDB tables' rows),
        computed once per opened warehouse."""
        if self._fingerprint is None:
            self._fingerprint = self._hash_inputs()
        return self._fingerprint

    def _hash_inputs(self) -> str:
        h = hashlib.sha256()
        if self.source.is_dir():
            for path in sorted(input_files(self.source).values()) + [self.signal_map_path]:
                h.update(path.name.encode())
                with path.open("rb") as fh:
                    for block in iter(lambda: fh.read(1 << 20), b""):
                        h.update(block)
        else:
            for table in self.tables:
                digest = self.con.execute(
                    f"SELECT count(*), sum(hash(t)) FROM raw_{table} AS t").fetchone()
                h.update(f"{table}:{digest}".encode())
            h.update(self.signal_map_path.read_bytes())
        return h.hexdigest()[:16]


def input_files(folder: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for table in S.TABLE_SPECS:
        candidates = [folder / f"{table}.parquet", folder / f"{table}.csv",
                      folder / table]  # a folder of parquet parts
        for path in candidates:
            if path.is_file() or (path.is_dir() and any(path.glob("*.parquet"))):
                found[table] = path
                break
    return found


def _scan_sql(path: Path) -> str:
    if path.is_dir():
        return f"read_parquet({_literal(path / '*.parquet')})"
    if path.suffix == ".parquet":
        return f"read_parquet({_literal(path)})"
    # CSV: everything as text first; the typed layer casts and the validator reports
    # values that do not cast, with their rows.
    return f"read_csv({_literal(path)}, header=true, all_varchar=true)"


def _find_signal_map(data: Path, signal_map: str | Path | None) -> Path:
    if signal_map is not None:
        return Path(signal_map)
    beside = (data if data.is_dir() else data.parent) / S.SIGNAL_MAP_FILE
    if beside.exists():
        return beside
    log.warning("no %s beside the data; using churnlab's default signal map",
                S.SIGNAL_MAP_FILE)
    return default_signal_map_path()


def open_warehouse(data: str | Path, signal_map: str | Path | None = None,
                   memory_limit: str | None = None, threads: int | None = None) -> Warehouse:
    """Register the inputs found at ``data`` as DuckDB views.

    Parameters
    ----------
    data : folder of Parquet/CSV files, or a DuckDB database file.
    signal_map : path of the signal map YAML; default ``signal_map.yaml`` beside the
        data, else churnlab's default map.
    memory_limit, threads : DuckDB settings (e.g. ``"4GB"``).
    """
    data = Path(data)
    if not data.exists():
        raise DataSourceError(f"data location does not exist: {data}")
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")     # the contract's zone (data/README.md)
    try:  # quiet in terminals; inside a Jupyter kernel DuckDB refuses without ipywidgets
        con.execute("SET enable_progress_bar = false")
    except duckdb.Error:
        pass
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    present: list[str] = []
    if data.is_dir():
        files = input_files(data)
        for table, path in files.items():
            con.execute(f"CREATE VIEW raw_{table} AS SELECT * FROM {_scan_sql(path)}")
            present.append(table)
    else:
        try:
            con.execute(f"ATTACH {_literal(data)} AS src (READ_ONLY)")
        except duckdb.Error as exc:
            raise DataSourceError(f"{data} is neither a folder nor a DuckDB file: {exc}") from exc
        names = {r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'src'").fetchall()}
        names |= {r[0] for r in con.execute(
            "SELECT view_name FROM duckdb_views() WHERE database_name = 'src'").fetchall()}
        for table in S.TABLE_SPECS:
            if table in names:
                con.execute(f"CREATE VIEW raw_{table} AS SELECT * FROM src.main.{quote(table)}")
                present.append(table)
    missing = [t for t in S.REQUIRED_TABLES if t not in present]
    if missing:
        raise DataSourceError(
            f"{data}: required table(s) missing: {', '.join(missing)} "
            f"(expected {', '.join(t + '.parquet|.csv' for t in missing)})")
    raw_columns = {t: {row[0]: row[1] for row in con.execute(f"DESCRIBE raw_{t}").fetchall()}
                   for t in present}
    map_path = _find_signal_map(data, signal_map)
    smap = load_signal_map(map_path)
    wh = Warehouse(con, data, tuple(present), raw_columns, smap, map_path,
                   memory_limit=memory_limit)
    register_typed_views(wh)
    return wh


def cast_sql(column: str, logical: str, raw_type: str = "VARCHAR") -> str:
    """SQL that casts a stored column to its logical type (NULL when it cannot).

    Time zone rule: times are UTC. A column stored with a time zone (``TIMESTAMP WITH
    TIME ZONE``) or as text with an offset (``2025-04-01T10:00:00+02:00``) is converted
    to UTC; a naive one is taken as UTC already."""
    typ = sql_type(logical)
    raw = raw_type.upper()
    if logical in (S.TIMESTAMP, S.DATE) and ("TIME ZONE" in raw or raw.startswith("TIMESTAMPTZ")
                                             or raw == "VARCHAR"):
        return f"CAST(timezone('UTC', TRY_CAST({column} AS TIMESTAMPTZ)) AS {typ})"
    return f"TRY_CAST({column} AS {typ})"


def typed_select(table: str, raw_cols: dict[str, str], cast=cast_sql) -> str:
    """The typed view's select list of ``table`` over its stored columns; ``cast``
    writes one column's cast (DuckDB's rules by default)."""
    spec = S.TABLE_SPECS[table]
    parts = []
    for col, logical in spec.columns.items():
        typ = sql_type(logical)
        if table == S.SUBSCRIPTIONS and col == S.ARR:
            continue  # derived below from mrr
        if col in raw_cols:
            expr = cast(quote(col), logical, raw_cols[col])
            if (table, col) in _OPTIONAL_DEFAULTS:
                expr = f"COALESCE({expr}, {_OPTIONAL_DEFAULTS[(table, col)]})"
        elif table == S.SUBSCRIPTIONS and col == S.MRR and S.ARR in raw_cols:
            expr = f"TRY_CAST({quote(S.ARR)} AS DOUBLE) / 12.0"
        else:
            expr = f"CAST({_OPTIONAL_DEFAULTS.get((table, col), 'NULL')} AS {typ})"
        parts.append(f"{expr} AS {quote(col)}")
    if table == S.SUBSCRIPTIONS:
        mrr_expr = ("TRY_CAST(mrr AS DOUBLE)" if S.MRR in raw_cols
                    else "TRY_CAST(arr AS DOUBLE) / 12.0" if S.ARR in raw_cols
                    else "CAST(NULL AS DOUBLE)")  # neither: the validator reports it
        parts.append(f"{mrr_expr} * 12.0 AS {quote(S.ARR)}")

    return ", ".join(parts)


def register_typed_views(wh: Warehouse) -> None:
    """(Re)create the typed views over the raw ones; optional tables absent in the
    data become empty views with the right columns."""
    for table, spec in S.TABLE_SPECS.items():
        if table in wh.tables:
            select = typed_select(table, wh.raw_columns[table])
            wh.con.execute(f"CREATE OR REPLACE VIEW {table} AS SELECT {select} FROM raw_{table}")
        else:
            cols = ", ".join(f"CAST(NULL AS {sql_type(t)}) AS {quote(c)}"
                             for c, t in spec.columns.items())
            wh.con.execute(f"CREATE OR REPLACE VIEW {table} AS SELECT {cols} WHERE FALSE")
