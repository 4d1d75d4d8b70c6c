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
``negative_money``, ``discount_out_of_range``, ``future_date``, ``invalid_outcome``,
``invalid_cause``.
"""

from __future__ import annotations

from typing import Callable

import pandas as pd

from churnlab.data import contract as S
from churnlab.data.checks import (
    Context,
    InvalidDataError,
    ValidationReport,
    Violation,
)
from churnlab.data.rules_content import (
    check_accounts_have_subscriptions,
    check_diagnosed_causes,
    check_discounts_in_range,
    check_end_after_start,
    check_event_types_known,
    check_events_within_subscriptions,
    check_intervention_outcomes,
    check_known_accounts,
    check_money_not_negative,
    check_no_future_dates,
    check_overlapping_subscriptions,
    check_positive_terms,
    check_values_in_range,
    check_values_not_huge,
)
from churnlab.data.rules_structure import (
    check_duplicate_keys,
    check_extra_columns,
    check_missing_values,
    check_required_columns,
    check_tables_not_empty,
    check_types,
)
from churnlab.data.warehouse import Warehouse
from churnlab.errors import InputError

# Rules that read values, in the order they run (after the structural ones).
CONTENT_RULES: tuple[Callable[[Context], list[Violation]], ...] = (
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
    check_values_not_huge,
    check_money_not_negative,
    check_discounts_in_range,
    check_no_future_dates,
    check_intervention_outcomes,
    check_diagnosed_causes,
)


# ------------------------------------------------------------------------ running
def _as_of(as_of) -> pd.Timestamp:
    return (pd.Timestamp.today() if as_of is None else pd.Timestamp(as_of)).normalize()


def validate(wh: Warehouse, as_of=None, max_examples: int = 10,
             far_outside_days: int = 90) -> ValidationReport:
    """Check the inputs in ``wh`` against the data contract.

    Parameters
    ----------
    wh : an open :class:`churnlab.data.warehouse.Warehouse`.
    as_of : the extract date; rows dated after it are errors. Default: today.
    max_examples : example rows kept per violation.
    far_outside_days : how far (days) an event may lie before an account's first
        subscription or after its last service span.

    Returns
    -------
    ValidationReport : every violation found (``report.ok`` is False on errors).
    """
    if max_examples < 0:
        raise InputError(f"max_examples must be >= 0, got {max_examples}")
    ctx = Context(wh, _as_of(as_of), int(max_examples), int(far_outside_days))
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
