"""Validation rules on the tables' structure: non-empty, columns, types, missing values, keys."""

from __future__ import annotations

import difflib

import pandas as pd

from churnlab.data import contract as S
from churnlab.data.checks import (
    EMPTY_TABLE_SEVERITY,
    ERROR,
    NULLABLE,
    ROW,
    TYPE_WORDS,
    WARNING,
    Context,
    Violation,
    blank_sql,
    count_each,
    is_text,
    money_column,
    row_violations,
    select_sql,
)
from churnlab.data.warehouse import cast_sql, quote


# ------------------------------------------------------------------ rules: structure
def check_tables_not_empty(ctx: Context, row_counts: dict[str, int]) -> list[Violation]:
    """``empty_table``: accounts and subscriptions must hold rows (events: a warning)."""
    out = []
    for table, severity in EMPTY_TABLE_SEVERITY.items():
        if ctx.has(table) and row_counts.get(table, 0) == 0:
            out.append(Violation(table, "", "empty_table",
                                 f"the {table} table must hold at least one row", 0,
                                 pd.DataFrame(), severity))
    return out


def check_required_columns(ctx: Context, row_counts: dict[str, int]) -> list[Violation]:
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


def check_extra_columns(ctx: Context, row_counts: dict[str, int]) -> list[Violation]:
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


def check_types(ctx: Context) -> list[Violation]:
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
            c = quote(column)
            bad = f"{cast_sql(c, logical, ctx.wh.raw_columns[table][column])} IS NULL"
            if logical == S.FLOAT:
                bad = f"({bad} OR NOT isfinite(TRY_CAST({c} AS DOUBLE)))"
            elif logical == S.INTEGER:
                bad = (f"({bad} OR TRY_CAST({c} AS DOUBLE) IS NULL "
                       f"OR TRY_CAST({c} AS DOUBLE) <> TRY_CAST({c} AS BIGINT))")
            present = f"{c} IS NOT NULL"
            if is_text(ctx, table, column):
                present += f" AND trim({c}) <> ''"
            conditions[column] = f"({present} AND {bad})"
        for column, n_rows in count_each(ctx, table, conditions).items():
            if not n_rows:
                continue
            logical = spec_columns[column]
            ctx.unusable[(table, column)] = (
                f"{table}.{column} has {n_rows} value(s) that are not {TYPE_WORDS[logical]}")
            out += row_violations(
                ctx, table, column, "wrong_type", f"{column} must be {TYPE_WORDS[logical]}",
                conditions[column], ctx.ids(table, column),
                source=ctx.source(table, raw=True), n_rows=n_rows)
    return out


def check_missing_values(ctx: Context) -> list[Violation]:
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
                column = money_column(ctx)
            if column is not None and ctx.has(table, column):  # else: missing_column
                conditions[column] = blank_sql(ctx, table, column)
        for column, n_rows in count_each(ctx, table, conditions).items():
            out += row_violations(
                ctx, table, column, "missing_value",
                f"{column} is required: every row must have a value", conditions[column],
                ctx.ids(table, column), source=ctx.source(table, raw=True), n_rows=n_rows)
    return out


# -------------------------------------------------------------- rules: keys, ranges
def check_duplicate_keys(ctx: Context) -> list[Violation]:
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
            f"SELECT {select_sql(ctx.ids(table, *key))}, count(*) OVER (PARTITION BY {cols}) "
            f"AS rows_with_this_key FROM {ctx.relation(table)} AS t "
            f"SEMI JOIN {dups} AS d USING ({cols}) "
            f"ORDER BY {cols}, {quote(ROW)} LIMIT {int(ctx.max_examples)}")
        label = ", ".join(key)
        out.append(Violation(table, label, "duplicate_key",
                             f"{label} must be unique: each appears in one row only",
                             int(n_rows), examples, ERROR))
    return out
