"""Check a customer's inputs against the data contract, rule by rule, in SQL.

Each rule is a named function (``check_duplicate_keys``, ``check_end_after_start`` ...)
that runs SQL in the warehouse's DuckDB engine over the ``raw_<table>`` views and
returns :class:`Violation` objects: the table, the column, a short rule id, a sentence
stating the rule, how many rows break it, and at most ``max_examples`` of those rows
(``LIMIT``-ed in SQL: nothing is pulled into pandas but the examples). DuckDB scans the
files out of core, so the same code checks four rows or tens of millions.

Every example row carries ``row``: its 1-based position in the table as stored (for a
CSV file, the file's line number minus one for the header).

Rules read the raw columns cast exactly as the typed views cast them
(``TRY_CAST(column AS <type>)``), so what passes here is what downstream code sees.
A rule whose inputs are missing or hold values that do not cast is not run; the report
lists it under "checks not run" with the reason. Validation only reads: it creates
nothing in the connection and writes nothing.

:func:`validate` runs every rule and returns a :class:`ValidationReport`;
:func:`require_valid` raises :class:`InvalidDataError` (whose message is the rendered
report) when any rule of severity ``error`` is broken. Every command runs it first, so
nothing downstream runs on bad data.

Rule ids (see ``data/README.md`` for the full contract): ``empty_table``,
``missing_column``, ``extra_column``, ``wrong_type``, ``missing_value``,
``duplicate_key``, ``end_not_after_start``, ``non_positive_term``,
``overlapping_subscriptions``, ``unknown_account``, ``account_without_subscription``,
``event_outside_subscriptions``, ``unknown_event_type``, ``value_out_of_range``,
``negative_money``, ``discount_out_of_range``, ``future_date``, ``invalid_outcome``.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Callable

import pandas as pd

from churnlab import lifecycle
from churnlab import schema as S
from churnlab.warehouse import Warehouse, quote, sql_type

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
_TYPE_WORDS = {
    S.DATE: "a date (YYYY-MM-DD)",
    S.TIMESTAMP: "a date or timestamp (YYYY-MM-DD[ HH:MM:SS])",
    S.FLOAT: "a finite number",
    S.INTEGER: "a whole number",
    S.BOOLEAN: "true or false",
}
_FAR_FUTURE = lifecycle.FAR_FUTURE
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


class InvalidDataError(ValueError):
    """The inputs break the data contract; ``.report`` holds the details."""

    def __init__(self, report: ValidationReport):
        self.report = report
        super().__init__(report.render())

    def __str__(self) -> str:
        return self.report.render()


# ------------------------------------------------------------------------ context
@dataclass
class _Context:
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

    def relation(self, table: str, raw: bool = False, numbered: bool = True) -> str:
        """SQL for the table's contract columns, cast to their logical types exactly as
        the typed views cast them (or as stored, ``raw=True``), with the ``row`` number
        first when ``numbered`` (counting queries leave it out: it costs a scan order)."""
        cols = [c for c in S.TABLE_SPECS[table].columns if self.has(table, c)]
        exprs = [quote(c) if raw else
                 f"TRY_CAST({quote(c)} AS {sql_type(S.TABLE_SPECS[table].columns[c])}) "
                 f"AS {quote(c)}" for c in cols]
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


def _select(columns) -> str:
    """SQL select list: plain names are quoted, ``expr AS name`` items kept as given."""
    return ", ".join(c if " AS " in c else quote(c) for c in columns)


Source = Callable[[bool], str]
"""A rule's rows: SQL for a relation given whether it must carry the ``row`` number."""


def _row_violations(ctx: _Context, table: str, column: str, rule: str, message: str,
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
    examples = ctx.examples(f"SELECT {_select(show)} FROM {source(True)} AS t WHERE {where} "
                            f"ORDER BY {quote(ROW)} LIMIT {int(ctx.max_examples)}")
    return [Violation(table, column, rule, message, int(n_rows), examples, severity)]


def _grouped_violations(ctx: _Context, table: str, column: str, rule: str, source: Source,
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
        f"SELECT {group} AS _grp, {_select(show)} FROM {source(True)} AS t WHERE {where} "
        f"QUALIFY row_number() OVER (PARTITION BY {group} ORDER BY {quote(ROW)}) "
        f"<= {int(ctx.max_examples)} ORDER BY {quote(ROW)}")
    out = []
    for grp, n_rows in counts:
        rows = examples[examples["_grp"] == grp].drop(columns="_grp").reset_index(drop=True)
        out.append(Violation(table, column, rule, message(grp), int(n_rows), rows, severity))
    return out


def _count_each(ctx: _Context, table: str, conditions: dict[str, str]) -> dict[str, int]:
    """Rows of ``raw_<table>`` matching each condition, in one scan."""
    if not conditions:
        return {}
    counts = ctx.wh.con.execute(
        "SELECT " + ", ".join(f"count_if({c})" for c in conditions.values())
        + f" FROM raw_{table}").fetchone()
    return {column: int(n or 0) for column, n in zip(conditions, counts)}  # NULL if empty


def _sql_string(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def _signal_map_relation(ctx: _Context) -> str:
    rows = ", ".join(
        f"({_sql_string(s.event_type)}, CAST({'NULL' if s.min_value is None else s.min_value}"
        f" AS DOUBLE), CAST({'NULL' if s.max_value is None else s.max_value} AS DOUBLE))"
        for s in ctx.wh.signal_map)
    return f"(SELECT * FROM (VALUES {rows}) AS m(event_type, min_value, max_value))"


def _is_text(ctx: _Context, table: str, column: str) -> bool:
    return ctx.wh.raw_columns[table][column].upper().startswith("VARCHAR")


def _blank(ctx: _Context, table: str, column: str) -> str:
    """SQL: the stored value is missing (null, or blank text)."""
    c = quote(column)
    return f"({c} IS NULL OR trim({c}) = '')" if _is_text(ctx, table, column) else f"{c} IS NULL"


def _money_column(ctx: _Context) -> str | None:
    """The column subscriptions' MRR comes from: ``mrr``, else ``arr`` (mrr = arr / 12)."""
    for column in MONEY_COLUMNS:
        if ctx.has(S.SUBSCRIPTIONS, column):
            return column
    return None


# ------------------------------------------------------------------ rules: structure
def check_tables_not_empty(ctx: _Context, row_counts: dict[str, int]) -> list[Violation]:
    """``empty_table``: accounts and subscriptions must hold rows (events: a warning)."""
    out = []
    for table, severity in EMPTY_TABLE_SEVERITY.items():
        if ctx.has(table) and row_counts.get(table, 0) == 0:
            out.append(Violation(table, "", "empty_table",
                                 f"the {table} table must hold at least one row", 0,
                                 pd.DataFrame(), severity))
    return out


def check_required_columns(ctx: _Context, row_counts: dict[str, int]) -> list[Violation]:
    """``missing_column``: every required column of the table spec is present
    (subscriptions may give ``arr`` instead of ``mrr``)."""
    out = []
    for table in ctx.wh.tables:
        found = list(ctx.wh.raw_columns[table])
        for column in S.TABLE_SPECS[table].required:
            if ctx.has(table, column):
                continue
            if table == S.SUBSCRIPTIONS and column == S.MRR:
                if ctx.has(table, S.ARR):
                    continue
                message = f"required column {S.MRR} (or {S.ARR}) is missing"
            else:
                message = f"required column {column} is missing"
            close = difflib.get_close_matches(column.lower(), [f.lower() for f in found],
                                              n=1, cutoff=0.75)
            if close:
                message += f"; did you mean {found[[f.lower() for f in found].index(close[0])]!r}?"
            message += f" (found: {', '.join(found) or 'no columns'})"
            out.append(Violation(table, column, "missing_column", message,
                                 row_counts.get(table, 0), pd.DataFrame(), ERROR))
    return out


def check_extra_columns(ctx: _Context, row_counts: dict[str, int]) -> list[Violation]:
    """``extra_column`` (warning): columns that are not in the contract are ignored."""
    out = []
    for table in ctx.wh.tables:
        known = S.TABLE_SPECS[table].columns
        for column in ctx.wh.raw_columns[table]:
            if column not in known:
                out.append(Violation(
                    table, column, "extra_column",
                    f"column {column} is not part of the contract and is ignored",
                    row_counts.get(table, 0), pd.DataFrame(), WARNING))
    return out


def check_types(ctx: _Context) -> list[Violation]:
    """``wrong_type``: stored values that do not cast to the column's logical type
    (they would silently become null in the typed views). Non-finite numbers (NaN,
    inf) and non-whole integers are wrong types too. Marks such columns unusable."""
    out = []
    for table in ctx.wh.tables:
        spec_columns = S.TABLE_SPECS[table].columns
        conditions = {}
        for column, logical in spec_columns.items():
            if logical == S.STRING or not ctx.has(table, column):
                continue
            c, typ = quote(column), sql_type(logical)
            bad = f"TRY_CAST({c} AS {typ}) IS NULL"
            if logical == S.FLOAT:
                bad = f"({bad} OR NOT isfinite(TRY_CAST({c} AS DOUBLE)))"
            elif logical == S.INTEGER:
                bad = (f"({bad} OR TRY_CAST({c} AS DOUBLE) IS NULL "
                       f"OR TRY_CAST({c} AS DOUBLE) <> TRY_CAST({c} AS BIGINT))")
            present = f"{c} IS NOT NULL"
            if _is_text(ctx, table, column):
                present += f" AND trim({c}) <> ''"
            conditions[column] = f"({present} AND {bad})"
        for column, n_rows in _count_each(ctx, table, conditions).items():
            if not n_rows:
                continue
            logical = spec_columns[column]
            ctx.unusable[(table, column)] = (
                f"{table}.{column} has {n_rows} value(s) that are not {_TYPE_WORDS[logical]}")
            out += _row_violations(
                ctx, table, column, "wrong_type", f"{column} must be {_TYPE_WORDS[logical]}",
                conditions[column], ctx.ids(table, column),
                source=ctx.source(table, raw=True), n_rows=n_rows)
    return out


def check_missing_values(ctx: _Context) -> list[Violation]:
    """``missing_value``: required columns hold a value in every row (null or blank
    text is missing). ``end_date`` may be null (open-ended); event ``value`` is
    optional (null means 1)."""
    out = []
    for table in ctx.wh.tables:
        conditions = {}
        for column in S.TABLE_SPECS[table].required:
            if (table, column) in NULLABLE:
                continue
            if table == S.SUBSCRIPTIONS and column == S.MRR:
                column = _money_column(ctx)
            if column is not None and ctx.has(table, column):  # else: missing_column
                conditions[column] = _blank(ctx, table, column)
        for column, n_rows in _count_each(ctx, table, conditions).items():
            out += _row_violations(
                ctx, table, column, "missing_value",
                f"{column} is required: every row must have a value", conditions[column],
                ctx.ids(table, column), source=ctx.source(table, raw=True), n_rows=n_rows)
    return out


# -------------------------------------------------------------- rules: keys, ranges
def check_duplicate_keys(ctx: _Context) -> list[Violation]:
    """``duplicate_key``: account_id in accounts and subscription_id in subscriptions
    are unique. Counts every row whose key appears more than once."""
    out = []
    for table in ctx.wh.tables:
        key = S.TABLE_SPECS[table].key
        if not key or not ctx.usable("duplicate_key", table, *key):
            continue
        cols = ", ".join(quote(k) for k in key)
        not_null = " AND ".join(f"{quote(k)} IS NOT NULL" for k in key)
        dups = (f"(SELECT {cols} FROM {ctx.relation(table, numbered=False)} "
                f"WHERE {not_null} GROUP BY {cols} HAVING count(*) > 1)")
        n_rows = ctx.scalar(f"SELECT count(*) FROM {ctx.relation(table, numbered=False)} "
                            f"SEMI JOIN {dups} AS d USING ({cols})")
        if not n_rows:
            continue
        examples = ctx.examples(
            f"SELECT {_select(ctx.ids(table, *key))}, count(*) OVER (PARTITION BY {cols}) "
            f"AS rows_with_this_key FROM {ctx.relation(table)} AS t "
            f"SEMI JOIN {dups} AS d USING ({cols}) "
            f"ORDER BY {cols}, {quote(ROW)} LIMIT {int(ctx.max_examples)}")
        label = ", ".join(key)
        out.append(Violation(table, label, "duplicate_key",
                             f"{label} must be unique: each appears in one row only",
                             int(n_rows), examples, ERROR))
    return out


def check_end_after_start(ctx: _Context) -> list[Violation]:
    """``end_not_after_start``: a subscription's end_date is after its start_date."""
    if not ctx.usable("end_not_after_start", S.SUBSCRIPTIONS, S.START_DATE, S.END_DATE):
        return []
    return _row_violations(
        ctx, S.SUBSCRIPTIONS, S.END_DATE, "end_not_after_start",
        "a subscription's end_date must be after its start_date (null end = open-ended)",
        f"{S.END_DATE} IS NOT NULL AND {S.END_DATE} <= {S.START_DATE}",
        ctx.ids(S.SUBSCRIPTIONS, S.START_DATE, S.END_DATE))


def check_positive_terms(ctx: _Context) -> list[Violation]:
    """``non_positive_term``: term_months is at least 1."""
    if not ctx.usable("non_positive_term", S.SUBSCRIPTIONS, S.TERM_MONTHS):
        return []
    return _row_violations(
        ctx, S.SUBSCRIPTIONS, S.TERM_MONTHS, "non_positive_term",
        "term_months (the billing/contract period) must be a positive number of months",
        f"{S.TERM_MONTHS} <= 0", ctx.ids(S.SUBSCRIPTIONS, S.TERM_MONTHS))


def check_overlapping_subscriptions(ctx: _Context) -> list[Violation]:
    """``overlapping_subscriptions``: the ``[start_date, end_date)`` intervals of one
    account's subscriptions do not intersect. Counts each subscription that starts
    before an earlier-starting one of the same account has ended; the example names
    that earlier one. Rows with end <= start are left to ``end_not_after_start``."""
    if not ctx.usable("overlapping_subscriptions", S.SUBSCRIPTIONS,
                      S.ACCOUNT_ID, S.START_DATE, S.END_DATE):
        return []
    far = f"DATE '{_FAR_FUTURE}'"
    end = f"COALESCE({S.END_DATE}, {far})"
    with_id = ctx.has(S.SUBSCRIPTIONS, S.SUBSCRIPTION_ID)
    earlier_id = (f", arg_max({S.SUBSCRIPTION_ID}, {end}) OVER w AS overlaps_subscription"
                  if with_id else "")
    source = f"""(
        SELECT *, max({end}) OVER w AS _prev_end, arg_max({quote(ROW)}, {end}) OVER w
               AS overlaps_row {earlier_id}
        FROM {ctx.relation(S.SUBSCRIPTIONS)}
        WHERE {S.ACCOUNT_ID} IS NOT NULL AND {S.START_DATE} IS NOT NULL
          AND ({S.END_DATE} IS NULL OR {S.END_DATE} > {S.START_DATE})
        WINDOW w AS (PARTITION BY {S.ACCOUNT_ID} ORDER BY {S.START_DATE}, {end}, {quote(ROW)}
                     ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING))"""
    show = ctx.ids(S.SUBSCRIPTIONS, S.START_DATE, S.END_DATE, "overlaps_row")
    if with_id:
        show.append("overlaps_subscription")
    show.append(f"NULLIF(_prev_end, {far}) AS overlapped_until")
    return _row_violations(
        ctx, S.SUBSCRIPTIONS, S.START_DATE, "overlapping_subscriptions",
        "subscriptions of one account must not overlap: each starts on or after the end "
        "of the ones before it ([start_date, end_date) intervals; null end = open-ended)",
        f"{S.START_DATE} < _prev_end", show, source=lambda numbered: source)


def check_known_accounts(ctx: _Context) -> list[Violation]:
    """``unknown_account``: every account_id of subscriptions, events and interventions
    is in accounts."""
    if not ctx.usable("unknown_account", S.ACCOUNTS, S.ACCOUNT_ID):
        return []
    accounts = (f"(SELECT DISTINCT TRY_CAST({S.ACCOUNT_ID} AS VARCHAR) AS {S.ACCOUNT_ID} "
                f"FROM raw_{S.ACCOUNTS})")
    out = []
    for table in (S.SUBSCRIPTIONS, S.EVENTS, S.INTERVENTIONS):
        if not ctx.usable("unknown_account", table, S.ACCOUNT_ID):
            continue
        out += _row_violations(
            ctx, table, S.ACCOUNT_ID, "unknown_account",
            f"every {table} row must belong to an account_id listed in accounts",
            f"{S.ACCOUNT_ID} IS NOT NULL", ctx.ids(table),
            source=lambda numbered, table=table: (
                f"(SELECT t.* FROM {ctx.relation(table, numbered=numbered)} AS t "
                f"ANTI JOIN {accounts} AS k USING ({S.ACCOUNT_ID}))"))
    return out


def check_accounts_have_subscriptions(ctx: _Context) -> list[Violation]:
    """``account_without_subscription`` (warning): an account with no subscription is
    never active, so it is left out of every analysis."""
    if not (ctx.usable("account_without_subscription", S.ACCOUNTS, S.ACCOUNT_ID)
            and ctx.usable("account_without_subscription", S.SUBSCRIPTIONS, S.ACCOUNT_ID)):
        return []
    subs = (f"(SELECT DISTINCT TRY_CAST({S.ACCOUNT_ID} AS VARCHAR) AS {S.ACCOUNT_ID} "
            f"FROM raw_{S.SUBSCRIPTIONS})")
    show = ctx.ids(S.ACCOUNTS, *[c for c in (S.NAME, S.CREATED_AT) if ctx.has(S.ACCOUNTS, c)])
    return _row_violations(
        ctx, S.ACCOUNTS, S.ACCOUNT_ID, "account_without_subscription",
        "an account with no subscription is never active and is left out of the analysis",
        f"{S.ACCOUNT_ID} IS NOT NULL", show, severity=WARNING,
        source=lambda numbered: (
            f"(SELECT t.* FROM {ctx.relation(S.ACCOUNTS, numbered=numbered)} AS t "
            f"ANTI JOIN {subs} AS k USING ({S.ACCOUNT_ID}))"))


def check_events_within_subscriptions(ctx: _Context) -> list[Violation]:
    """``event_outside_subscriptions``: an event lies no more than ``far_outside_days``
    before the account's first subscription starts, nor after the end of its last
    service span (:func:`churnlab.lifecycle.spans_sql`, with the grace period).
    Events of accounts without any subscription are left to the account rules."""
    rule = "event_outside_subscriptions"
    if not (ctx.usable(rule, S.EVENTS, S.ACCOUNT_ID, S.EVENT_TIME)
            and ctx.usable(rule, S.SUBSCRIPTIONS, S.ACCOUNT_ID, S.START_DATE, S.END_DATE)):
        return []
    days = int(ctx.far_outside_days)
    life = f"""(SELECT {S.ACCOUNT_ID} AS _account, min(span_start) AS first_subscription_start,
                      CASE WHEN bool_or(span_end IS NULL) THEN NULL ELSE max(span_end) END
                          AS last_service_end
               FROM ({lifecycle.spans_sql()}) GROUP BY {S.ACCOUNT_ID})"""

    def source(numbered: bool) -> str:
        return (f"(SELECT t.*, CAST(t.{S.EVENT_TIME} AS DATE) AS _day, l.* "
                f"FROM {ctx.relation(S.EVENTS, numbered=numbered)} AS t "
                f"JOIN {life} AS l ON l._account = t.{S.ACCOUNT_ID})")

    where = (f"(_day < first_subscription_start - INTERVAL {days} DAY OR "
             f"(last_service_end IS NOT NULL AND _day > last_service_end + INTERVAL {days} DAY))")
    return _row_violations(
        ctx, S.EVENTS, S.EVENT_TIME, rule,
        f"an event must fall within the account's subscriptions: not more than {days} days "
        f"before its first subscription starts or after its last service span ends",
        where, ctx.ids(S.EVENTS, "first_subscription_start", "last_service_end"),
        source=source)


def check_event_types_known(ctx: _Context) -> list[Violation]:
    """``unknown_event_type``: every event_type is in the signal map. One violation per
    unknown type, with its row count: nothing is dropped silently."""
    if not ctx.usable("unknown_event_type", S.EVENTS, S.EVENT_TYPE):
        return []
    where = (f"{S.EVENT_TYPE} IS NOT NULL AND {S.EVENT_TYPE} NOT IN "
             f"(SELECT event_type FROM {_signal_map_relation(ctx)})")
    map_name = ctx.wh.signal_map_path.name
    show = ctx.ids(S.EVENTS, *[c for c in (S.VALUE,) if ctx.has(S.EVENTS, c)])
    return _grouped_violations(
        ctx, S.EVENTS, S.EVENT_TYPE, "unknown_event_type", ctx.source(S.EVENTS),
        S.EVENT_TYPE, where, show,
        lambda name: (f"event type {name!r} is not in the signal map ({map_name}): add it "
                      f"with a family, kind and label, or remove its rows"))


def _allowed_range(spec: S.SignalSpec) -> str:
    lo, hi = spec.min_value, spec.max_value
    if lo is not None and hi is not None:
        return f"between {lo:g} and {hi:g}"
    return f"at least {lo:g}" if lo is not None else f"at most {hi:g}"


def check_values_in_range(ctx: _Context) -> list[Violation]:
    """``value_out_of_range``: an event's value (null = 1) lies within its type's
    ``min``/``max`` in the signal map. One violation per event type."""
    if not ctx.usable("value_out_of_range", S.EVENTS, S.EVENT_TYPE):
        return []
    has_value = ctx.has(S.EVENTS, S.VALUE)
    if has_value and not ctx.usable("value_out_of_range", S.EVENTS, S.VALUE):
        return []
    value = f"COALESCE(t.{S.VALUE}, 1.0)" if has_value else "1.0"
    others = f"t.* EXCLUDE ({S.VALUE})" if has_value else "t.*"

    def source(numbered: bool) -> str:
        return (f"(SELECT {others}, {value} AS {S.VALUE}, m.min_value AS allowed_min, "
                f"m.max_value AS allowed_max FROM {ctx.relation(S.EVENTS, numbered=numbered)}"
                f" AS t JOIN {_signal_map_relation(ctx)} AS m "
                f"ON m.event_type = t.{S.EVENT_TYPE})")

    smap = ctx.wh.signal_map
    return _grouped_violations(
        ctx, S.EVENTS, S.VALUE, "value_out_of_range", source, S.EVENT_TYPE,
        f"({S.VALUE} < allowed_min OR {S.VALUE} > allowed_max)",
        ctx.ids(S.EVENTS, S.VALUE, "allowed_min", "allowed_max"),
        lambda name: (f"the value of a {name!r} event must be {_allowed_range(smap[name])} "
                      f"(signal map; a missing value counts as 1)"))


def check_money_not_negative(ctx: _Context) -> list[Violation]:
    """``negative_money``: mrr and arr are zero or more."""
    out = []
    for column in MONEY_COLUMNS:
        if ctx.has(S.SUBSCRIPTIONS, column) and ctx.usable("negative_money", S.SUBSCRIPTIONS,
                                                            column):
            out += _row_violations(
                ctx, S.SUBSCRIPTIONS, column, "negative_money",
                f"{column} must not be negative", f"{quote(column)} < 0",
                ctx.ids(S.SUBSCRIPTIONS, column))
    return out


def check_discounts_in_range(ctx: _Context) -> list[Violation]:
    """``discount_out_of_range``: discount_pct is in percent points, within [0, 100]."""
    out = []
    for table in (S.SUBSCRIPTIONS, S.INTERVENTIONS):
        if ctx.has(table, S.DISCOUNT_PCT) and ctx.usable("discount_out_of_range", table,
                                                          S.DISCOUNT_PCT):
            out += _row_violations(
                ctx, table, S.DISCOUNT_PCT, "discount_out_of_range",
                "discount_pct is in percent points and must be between 0 and 100",
                f"{S.DISCOUNT_PCT} < 0 OR {S.DISCOUNT_PCT} > 100",
                ctx.ids(table, S.DISCOUNT_PCT))
    return out


def check_no_future_dates(ctx: _Context) -> list[Violation]:
    """``future_date``: nothing is dated after the as-of (extract) date: events'
    event_time, subscriptions' start_date, accounts' created_at, interventions'
    started_at."""
    out = []
    for table, column in DATED_COLUMNS.items():
        if not ctx.usable("future_date", table, column):
            continue
        out += _row_violations(
            ctx, table, column, "future_date",
            f"{column} must not be after the as-of date {ctx.as_of.date()}",
            f"CAST({quote(column)} AS DATE) > {ctx.as_of_sql}", ctx.ids(table, column))
    return out


def check_intervention_outcomes(ctx: _Context) -> list[Violation]:
    """``invalid_outcome``: an intervention's outcome, when given, is one of
    :data:`churnlab.schema.INTERVENTION_OUTCOMES`."""
    if not (ctx.has(S.INTERVENTIONS, S.OUTCOME)
            and ctx.usable("invalid_outcome", S.INTERVENTIONS, S.OUTCOME)):
        return []
    allowed = ", ".join(_sql_string(o) for o in S.INTERVENTION_OUTCOMES)
    return _row_violations(
        ctx, S.INTERVENTIONS, S.OUTCOME, "invalid_outcome",
        f"outcome must be one of {', '.join(S.INTERVENTION_OUTCOMES)} (or empty)",
        f"{S.OUTCOME} IS NOT NULL AND {S.OUTCOME} NOT IN ({allowed})",
        ctx.ids(S.INTERVENTIONS, S.OUTCOME))


# Rules that read values, in the order they run (after the structural ones).
CONTENT_RULES: tuple[Callable[[_Context], list[Violation]], ...] = (
    check_missing_values,
    check_duplicate_keys,
    check_end_after_start,
    check_positive_terms,
    check_overlapping_subscriptions,
    check_known_accounts,
    check_accounts_have_subscriptions,
    check_events_within_subscriptions,
    check_event_types_known,
    check_values_in_range,
    check_money_not_negative,
    check_discounts_in_range,
    check_no_future_dates,
    check_intervention_outcomes,
)


# ------------------------------------------------------------------------ running
def _as_of(as_of) -> pd.Timestamp:
    return (pd.Timestamp.today() if as_of is None else pd.Timestamp(as_of)).normalize()


def validate(wh: Warehouse, as_of=None, max_examples: int = 10,
             far_outside_days: int = 90) -> ValidationReport:
    """Check the inputs in ``wh`` against the data contract.

    Parameters
    ----------
    wh : an open :class:`churnlab.warehouse.Warehouse`.
    as_of : the extract date; rows dated after it are errors. Default: today.
    max_examples : example rows kept per violation.
    far_outside_days : how far (days) an event may lie before an account's first
        subscription or after its last service span.

    Returns
    -------
    ValidationReport : every violation found (``report.ok`` is False on errors).
    """
    if max_examples < 0:
        raise ValueError(f"max_examples must be >= 0, got {max_examples}")
    ctx = _Context(wh, _as_of(as_of), int(max_examples), int(far_outside_days))
    counts = wh.con.execute("SELECT " + ", ".join(
        f"(SELECT count(*) FROM raw_{t})" for t in wh.tables)).fetchone()
    row_counts = {t: int(n) for t, n in zip(wh.tables, counts)}
    violations = (check_tables_not_empty(ctx, row_counts)
                  + check_required_columns(ctx, row_counts)
                  + check_extra_columns(ctx, row_counts)
                  + check_types(ctx))
    for rule in CONTENT_RULES:
        violations += rule(ctx)
    order = {t: i for i, t in enumerate(S.TABLE_SPECS)}
    violations.sort(key=lambda v: order[v.table])  # stable: rule order kept per table
    return ValidationReport(violations, row_counts, ctx.as_of, ctx.skipped, str(wh.source))


def require_valid(wh: Warehouse, as_of=None, **options) -> ValidationReport:
    """:func:`validate`, raising :class:`InvalidDataError` when any error is found.

    Returns the report (it may hold warnings) when the data can be used.
    """
    report = validate(wh, as_of=as_of, **options)
    if not report.ok:
        raise InvalidDataError(report)
    return report


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
