"""Validation's building blocks: violations, the report, the SQL context and helpers the rules share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import pandas as pd

from churnlab.data import contract as S
from churnlab.data import lifecycle
from churnlab.data.warehouse import Warehouse, cast_sql, quote
from churnlab.errors import DataError

ERROR, WARNING = "error", "warning"


ROW = "row"


"""Name of the row-identifier column in every example frame (1-based, as stored)."""


# Columns shown in every example row to identify it, besides ``row``.
ID_COLUMNS = {
    S.ACCOUNTS: (S.ACCOUNT_ID,),
    S.SUBSCRIPTIONS: (S.SUBSCRIPTION_ID, S.ACCOUNT_ID),
    S.EVENTS: (S.ACCOUNT_ID, S.EVENT_TIME, S.EVENT_TYPE),
    S.INTERVENTIONS: (S.INTERVENTION_ID, S.ACCOUNT_ID),
}


# Required columns that may hold nulls, and what a null means.
NULLABLE = {(S.SUBSCRIPTIONS, S.END_DATE): "open-ended subscription"}


# The date of each table that cannot lie after the as-of (extract) date.
DATED_COLUMNS = {S.ACCOUNTS: S.CREATED_AT, S.SUBSCRIPTIONS: S.START_DATE,
                 S.EVENTS: S.EVENT_TIME, S.INTERVENTIONS: S.STARTED_AT}


MONEY_COLUMNS = (S.MRR, S.ARR)


# An empty accounts or subscriptions table leaves nothing to analyse; no events is odd.
EMPTY_TABLE_SEVERITY = {S.ACCOUNTS: ERROR, S.SUBSCRIPTIONS: ERROR, S.EVENTS: WARNING}


TYPE_WORDS = {
    S.DATE: "a date (YYYY-MM-DD)",
    S.TIMESTAMP: "a date or timestamp (YYYY-MM-DD[ HH:MM:SS])",
    S.FLOAT: "a finite number",
    S.INTEGER: "a whole number",
    S.BOOLEAN: "true or false",
}


FAR_FUTURE = lifecycle.FAR_FUTURE


# Rules about a whole table or column: their report line shows no row count.
TABLE_LEVEL_RULES = ("empty_table", "missing_column", "extra_column")


# ------------------------------------------------------------------------ results
@dataclass(frozen=True)
class Violation:
    """One broken rule in one column of one table.

    Attributes
    ----------
    table, column : where (``column`` may name several, comma-separated, for a key).
    rule : short rule id, e.g. ``"duplicate_key"``.
    message : a plain sentence stating the rule.
    n_rows : how many rows break it.
    examples : at most ``max_examples`` of those rows: ``row`` (1-based position as
        stored), identifying columns and the offending columns.
    severity : ``"error"`` (nothing downstream runs) or ``"warning"``.
    """

    table: str
    column: str
    rule: str
    message: str
    n_rows: int
    examples: pd.DataFrame = field(default_factory=pd.DataFrame, compare=False, repr=False)
    severity: str = ERROR


@dataclass(frozen=True)
class SkippedCheck:
    """A rule that was not run because its inputs are missing or not valid."""

    rule: str
    table: str
    reason: str


@dataclass
class ValidationReport:
    """Everything :func:`validate` found.

    Attributes
    ----------
    violations : broken rules, in table then rule order.
    row_counts : table -> number of rows as stored.
    as_of : the extract date the data was checked against.
    skipped : rules not run because their inputs are missing or do not cast.
    source : the data location.
    """

    violations: list[Violation]
    row_counts: dict[str, int]
    as_of: pd.Timestamp
    skipped: list[SkippedCheck] = field(default_factory=list)
    source: str = ""

    @property
    def errors(self) -> list[Violation]:
        return [v for v in self.violations if v.severity == ERROR]

    @property
    def warnings(self) -> list[Violation]:
        return [v for v in self.violations if v.severity == WARNING]

    @property
    def ok(self) -> bool:
        """True when no rule of severity ``error`` is broken (warnings allowed)."""
        return not self.errors

    def to_frame(self) -> pd.DataFrame:
        """One row per violation: table, column, rule, severity, n_rows, message."""
        columns = ["table", "column", "rule", "severity", "n_rows", "message"]
        return pd.DataFrame([{c: getattr(v, c) for c in columns} for v in self.violations],
                            columns=columns)

    def render(self, max_colwidth: int = 40) -> str:
        """The report as text, grouped by table, with examples as small tables."""
        return render_report(self, max_colwidth)


class InvalidDataError(DataError):
    """The inputs break the data contract; ``.report`` holds the details."""

    def __init__(self, report: ValidationReport):
        self.report = report
        super().__init__(report.render())

    def __str__(self) -> str:
        return self.report.render()


# ------------------------------------------------------------------------ context
@dataclass
class Context:
    """What every rule needs: the warehouse, the settings, and which columns are usable."""

    wh: Warehouse
    as_of: pd.Timestamp
    max_examples: int
    far_outside_days: int
    unusable: dict[tuple[str, str], str] = field(default_factory=dict)
    skipped: list[SkippedCheck] = field(default_factory=list)

    @property
    def as_of_sql(self) -> str:
        return f"DATE '{self.as_of.date().isoformat()}'"

    def has(self, table: str, column: str | None = None) -> bool:
        if table not in self.wh.tables:
            return False
        return column is None or column in self.wh.raw_columns[table]

    def usable(self, rule: str, table: str, *columns: str) -> bool:
        """Whether ``rule`` can run on these columns; records why not when it cannot.

        An optional table that was not supplied makes the rule silently inapplicable.
        """
        if table not in self.wh.tables:
            return False
        for column in columns:
            if not self.has(table, column):
                reason = f"{table}.{column} is missing"
            else:
                reason = self.unusable.get((table, column))
            if reason:
                self.skipped.append(SkippedCheck(rule, table, reason))
                return False
        return True

    def raw_type(self, table: str, column: str) -> str:
        return self.wh.raw_columns.get(table, {}).get(column, "VARCHAR")

    def relation(self, table: str, raw: bool = False, numbered: bool = True) -> str:
        """SQL for the table's contract columns, cast to their logical types exactly as
        the typed views cast them (or as stored, ``raw=True``), with the ``row`` number
        first when ``numbered`` (counting queries leave it out: it costs a scan order)."""
        cols = [c for c in S.TABLE_SPECS[table].columns if self.has(table, c)]
        exprs = [quote(c) if raw else
                 f"{cast_sql(quote(c), S.TABLE_SPECS[table].columns[c], self.raw_type(table, c))}"
                 f" AS {quote(c)}" for c in cols]
        if numbered:
            exprs.insert(0, f"row_number() OVER () AS {quote(ROW)}")
        return f"(SELECT {', '.join(exprs)} FROM raw_{table})"

    def source(self, table: str, raw: bool = False) -> "Source":
        return lambda numbered: self.relation(table, raw=raw, numbered=numbered)

    def ids(self, table: str, *extra: str) -> list[str]:
        """``row``, the identifying columns present, then ``extra`` (no repeats)."""
        cols = [ROW] + [c for c in ID_COLUMNS[table] if self.has(table, c)]
        return cols + [c for c in extra if c not in cols]

    def scalar(self, sql: str):
        return self.wh.con.execute(sql).fetchone()[0]

    def examples(self, sql: str) -> pd.DataFrame:
        return self.wh.query(sql).reset_index(drop=True)


def select_sql(columns) -> str:
    """SQL select list: plain names are quoted, ``expr AS name`` items kept as given."""
    return ", ".join(c if " AS " in c else quote(c) for c in columns)


Source = Callable[[bool], str]


"""A rule's rows: SQL for a relation given whether it must carry the ``row`` number."""


def row_violations(ctx: Context, table: str, column: str, rule: str, message: str,
                    where: str, show, source: Source | None = None,
                    severity: str = ERROR, n_rows: int | None = None) -> list[Violation]:
    """Count the rows of ``source`` (default: the cast table) matching ``where`` (unless
    ``n_rows`` is known) and return one :class:`Violation` with the first
    ``max_examples`` of them, in stored order."""
    source = source or ctx.source(table)
    if n_rows is None:
        n_rows = ctx.scalar(f"SELECT count(*) FROM {source(False)} AS t WHERE {where}")
    if not n_rows:
        return []
    examples = ctx.examples(f"SELECT {select_sql(show)} FROM {source(True)} AS t WHERE {where} "
                            f"ORDER BY {quote(ROW)} LIMIT {int(ctx.max_examples)}")
    return [Violation(table, column, rule, message, int(n_rows), examples, severity)]


def grouped_violations(ctx: Context, table: str, column: str, rule: str, source: Source,
                        group: str, where: str, show, message: Callable[[str], str],
                        severity: str = ERROR) -> list[Violation]:
    """One :class:`Violation` per value of ``group`` among the rows of ``source``
    matching ``where`` (e.g. one per unknown event type), each with its row count and
    its first ``max_examples`` rows. Two queries, however many groups."""
    counts = ctx.wh.con.execute(
        f"SELECT {group} AS _grp, count(*) AS _n FROM {source(False)} AS t "
        f"WHERE {where} GROUP BY 1 ORDER BY _n DESC, _grp").fetchall()
    if not counts:
        return []
    examples = ctx.examples(
        f"SELECT {group} AS _grp, {select_sql(show)} FROM {source(True)} AS t WHERE {where} "
        f"QUALIFY row_number() OVER (PARTITION BY {group} ORDER BY {quote(ROW)}) "
        f"<= {int(ctx.max_examples)} ORDER BY {quote(ROW)}")
    out = []
    for grp, n_rows in counts:
        rows = examples[examples["_grp"] == grp].drop(columns="_grp").reset_index(drop=True)
        out.append(Violation(table, column, rule, message(grp), int(n_rows), rows, severity))
    return out


def count_each(ctx: Context, table: str, conditions: dict[str, str]) -> dict[str, int]:
    """Rows of ``raw_<table>`` matching each condition, in one scan."""
    if not conditions:
        return {}
    counts = ctx.wh.con.execute(
        "SELECT " + ", ".join(f"count_if({c})" for c in conditions.values())
        + f" FROM raw_{table}").fetchone()
    return {column: int(n or 0) for column, n in zip(conditions, counts)}  # NULL if empty


def sql_string(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def signal_map_relation(ctx: Context) -> str:
    rows = ", ".join(
        f"({sql_string(s.event_type)}, CAST({'NULL' if s.min_value is None else s.min_value}"
        f" AS DOUBLE), CAST({'NULL' if s.max_value is None else s.max_value} AS DOUBLE))"
        for s in ctx.wh.signal_map)
    return f"(SELECT * FROM (VALUES {rows}) AS m(event_type, min_value, max_value))"


def is_text(ctx: Context, table: str, column: str) -> bool:
    return ctx.wh.raw_columns[table][column].upper().startswith("VARCHAR")


def blank_sql(ctx: Context, table: str, column: str) -> str:
    """SQL: the stored value is missing (null, or blank text)."""
    c = quote(column)
    return f"({c} IS NULL OR trim({c}) = '')" if is_text(ctx, table, column) else f"{c} IS NULL"


def money_column(ctx: Context) -> str | None:
    """The column subscriptions' MRR comes from: ``mrr``, else ``arr`` (mrr = arr / 12)."""
    for column in MONEY_COLUMNS:
        if ctx.has(S.SUBSCRIPTIONS, column):
            return column
    return None



# ---------------------------------------------------------------------- rendering
def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def render_report(report: ValidationReport, max_colwidth: int = 40) -> str:
    """Human-readable report: a summary line, then each table's violations with
    their example rows, then the checks that could not run."""
    lines = [f"churnlab data validation of {report.source or 'the data'} "
             f"(as of {report.as_of.date()})",
             "rows: " + ", ".join(f"{t} {n:,}" for t, n in report.row_counts.items())]
    n_err, n_warn = len(report.errors), len(report.warnings)
    verdict = "INVALID" if n_err else "OK"
    lines.append(f"{verdict}: {_plural(n_err, 'error')}, {_plural(n_warn, 'warning')}")
    for table in S.TABLE_SPECS:
        found = [v for v in report.violations if v.table == table]
        if not found:
            continue
        lines += ["", f"== {table} =="]
        for v in found:
            where = f"{table}.{v.column}" if v.column else table
            count = "" if v.rule in TABLE_LEVEL_RULES else f": {_plural(v.n_rows, 'row')}"
            lines.append(f"{v.severity.upper()} [{v.rule}] {where}{count}")
            lines.append(f"  {v.message}")
            if not v.examples.empty:
                shown = len(v.examples)
                if shown < v.n_rows:
                    lines.append(f"  first {shown} of {v.n_rows:,} rows:")
                text = v.examples.to_string(index=False, max_colwidth=max_colwidth)
                lines += ["    " + line for line in text.splitlines()]
    if report.skipped:
        lines += ["", "checks not run (their inputs are missing or do not cast):"]
        for s in report.skipped:
            lines.append(f"  [{s.rule}] on {s.table}: {s.reason}")
    return "\n".join(lines)
