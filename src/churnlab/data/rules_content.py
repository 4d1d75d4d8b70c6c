"""Validation rules on the tables' content: dates, terms, overlaps, references, ranges, money."""

from __future__ import annotations

from churnlab.data import contract as S
from churnlab.data import lifecycle
from churnlab.data.checks import (
    DATED_COLUMNS,
    FAR_FUTURE,
    MONEY_COLUMNS,
    ROW,
    WARNING,
    Context,
    Violation,
    grouped_violations,
    row_violations,
    signal_map_relation,
    sql_string,
)
from churnlab.data.signal_map import SignalSpec
from churnlab.data.warehouse import quote


def check_end_after_start(ctx: Context) -> list[Violation]:
    """``end_not_after_start``: a subscription's end_date is after its start_date."""
    if not ctx.usable("end_not_after_start", S.SUBSCRIPTIONS, S.START_DATE, S.END_DATE):
        return []
    return row_violations(
        ctx, S.SUBSCRIPTIONS, S.END_DATE, "end_not_after_start",
        "a subscription's end_date must be after its start_date (null end = open-ended)",
        f"{S.END_DATE} IS NOT NULL AND {S.END_DATE} <= {S.START_DATE}",
        ctx.ids(S.SUBSCRIPTIONS, S.START_DATE, S.END_DATE))


def check_positive_terms(ctx: Context) -> list[Violation]:
    """``non_positive_term``: term_months is at least 1."""
    if not ctx.usable("non_positive_term", S.SUBSCRIPTIONS, S.TERM_MONTHS):
        return []
    return row_violations(
        ctx, S.SUBSCRIPTIONS, S.TERM_MONTHS, "non_positive_term",
        "term_months (the billing/contract period) must be a positive number of months",
        f"{S.TERM_MONTHS} <= 0", ctx.ids(S.SUBSCRIPTIONS, S.TERM_MONTHS))


def check_overlapping_subscriptions(ctx: Context) -> list[Violation]:
    """``overlapping_subscriptions``: the ``[start_date, end_date)`` intervals of one
    account's subscriptions do not intersect. Counts each subscription that starts
    before an earlier-starting one of the same account has ended; the example names
    that earlier one. Rows with end <= start are left to ``end_not_after_start``."""
    if not ctx.usable("overlapping_subscriptions", S.SUBSCRIPTIONS,
                      S.ACCOUNT_ID, S.START_DATE, S.END_DATE):
        return []
    far = f"DATE '{FAR_FUTURE}'"
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
    return row_violations(
        ctx, S.SUBSCRIPTIONS, S.START_DATE, "overlapping_subscriptions",
        "subscriptions of one account must not overlap: each starts on or after the end "
        "of the ones before it ([start_date, end_date) intervals; null end = open-ended)",
        f"{S.START_DATE} < _prev_end", show, source=lambda numbered: source)


def check_known_accounts(ctx: Context) -> list[Violation]:
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
        out += row_violations(
            ctx, table, S.ACCOUNT_ID, "unknown_account",
            f"every {table} row must belong to an account_id listed in accounts",
            f"{S.ACCOUNT_ID} IS NOT NULL", ctx.ids(table),
            source=lambda numbered, table=table: (
                f"(SELECT t.* FROM {ctx.relation(table, numbered=numbered)} AS t "
                f"ANTI JOIN {accounts} AS k USING ({S.ACCOUNT_ID}))"))
    return out


def check_accounts_have_subscriptions(ctx: Context) -> list[Violation]:
    """``account_without_subscription`` (warning): an account with no subscription is
    never active, so it is left out of every analysis."""
    if not (ctx.usable("account_without_subscription", S.ACCOUNTS, S.ACCOUNT_ID)
            and ctx.usable("account_without_subscription", S.SUBSCRIPTIONS, S.ACCOUNT_ID)):
        return []
    subs = (f"(SELECT DISTINCT TRY_CAST({S.ACCOUNT_ID} AS VARCHAR) AS {S.ACCOUNT_ID} "
            f"FROM raw_{S.SUBSCRIPTIONS})")
    show = ctx.ids(S.ACCOUNTS, *[c for c in (S.NAME, S.CREATED_AT) if ctx.has(S.ACCOUNTS, c)])
    return row_violations(
        ctx, S.ACCOUNTS, S.ACCOUNT_ID, "account_without_subscription",
        "an account with no subscription is never active and is left out of the analysis",
        f"{S.ACCOUNT_ID} IS NOT NULL", show, severity=WARNING,
        source=lambda numbered: (
            f"(SELECT t.* FROM {ctx.relation(S.ACCOUNTS, numbered=numbered)} AS t "
            f"ANTI JOIN {subs} AS k USING ({S.ACCOUNT_ID}))"))


def check_events_within_subscriptions(ctx: Context) -> list[Violation]:
    """``event_outside_subscriptions``: an event lies no more than ``far_outside_days``
    before the account's first subscription starts, nor after the end of its last
    service span (:func:`churnlab.data.lifecycle.spans_sql`, with the grace period).
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
    return row_violations(
        ctx, S.EVENTS, S.EVENT_TIME, rule,
        f"an event must fall within the account's subscriptions: not more than {days} days "
        f"before its first subscription starts or after its last service span ends",
        where, ctx.ids(S.EVENTS, "first_subscription_start", "last_service_end"),
        source=source)


def check_event_types_known(ctx: Context) -> list[Violation]:
    """``unknown_event_type``: every event_type is in the signal map. One violation per
    unknown type, with its row count: nothing is dropped silently."""
    if not ctx.usable("unknown_event_type", S.EVENTS, S.EVENT_TYPE):
        return []
    where = (f"{S.EVENT_TYPE} IS NOT NULL AND {S.EVENT_TYPE} NOT IN "
             f"(SELECT event_type FROM {signal_map_relation(ctx)})")
    map_name = ctx.wh.signal_map_path.name
    show = ctx.ids(S.EVENTS, *[c for c in (S.VALUE,) if ctx.has(S.EVENTS, c)])
    return grouped_violations(
        ctx, S.EVENTS, S.EVENT_TYPE, "unknown_event_type", ctx.source(S.EVENTS),
        S.EVENT_TYPE, where, show,
        lambda name: (f"event type {name!r} is not in the signal map ({map_name}): add it "
                      f"with a family, kind and label, or remove its rows"))


def _allowed_range(spec: SignalSpec) -> str:
    lo, hi = spec.min_value, spec.max_value
    if lo is not None and hi is not None:
        return f"between {lo:g} and {hi:g}"
    return f"at least {lo:g}" if lo is not None else f"at most {hi:g}"


def check_values_in_range(ctx: Context) -> list[Violation]:
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
                f" AS t JOIN {signal_map_relation(ctx)} AS m "
                f"ON m.event_type = t.{S.EVENT_TYPE})")

    smap = ctx.wh.signal_map
    return grouped_violations(
        ctx, S.EVENTS, S.VALUE, "value_out_of_range", source, S.EVENT_TYPE,
        f"({S.VALUE} < allowed_min OR {S.VALUE} > allowed_max)",
        ctx.ids(S.EVENTS, S.VALUE, "allowed_min", "allowed_max"),
        lambda name: (f"the value of a {name!r} event must be {_allowed_range(smap[name])} "
                      f"(signal map; a missing value counts as 1)"))


VALUE_CEILING = 1e12   # no count, amount or score of an event is larger (in size)


def check_values_not_huge(ctx: Context) -> list[Violation]:
    """``value_too_large``: an event's value is beyond :data:`VALUE_CEILING` in size
    (for types without a ``max`` in the signal map): no signal holds such a value, and
    its sums overflow to infinity in the features. One violation per event type."""
    if not ctx.has(S.EVENTS, S.VALUE) or not ctx.usable("value_too_large", S.EVENTS,
                                                         S.EVENT_TYPE) \
            or not ctx.usable("value_too_large", S.EVENTS, S.VALUE):
        return []

    def source(numbered: bool) -> str:
        return (f"(SELECT t.*, m.max_value AS allowed_max FROM "
                f"{ctx.relation(S.EVENTS, numbered=numbered)} AS t JOIN "
                f"{signal_map_relation(ctx)} AS m ON m.event_type = t.{S.EVENT_TYPE})")

    return grouped_violations(
        ctx, S.EVENTS, S.VALUE, "value_too_large", source, S.EVENT_TYPE,
        f"(allowed_max IS NULL AND abs({S.VALUE}) > {VALUE_CEILING:.0f})",
        ctx.ids(S.EVENTS, S.VALUE),
        lambda name: (f"the value of a {name!r} event must be at most {VALUE_CEILING:g} in "
                      f"size (no signal holds more; set 'max' in the signal map to be "
                      f"explicit)"))


def check_money_not_negative(ctx: Context) -> list[Violation]:
    """``negative_money``: mrr and arr are zero or more."""
    out = []
    for column in MONEY_COLUMNS:
        if ctx.has(S.SUBSCRIPTIONS, column) and ctx.usable("negative_money", S.SUBSCRIPTIONS,
                                                            column):
            out += row_violations(
                ctx, S.SUBSCRIPTIONS, column, "negative_money",
                f"{column} must not be negative", f"{quote(column)} < 0",
                ctx.ids(S.SUBSCRIPTIONS, column))
    return out


def check_discounts_in_range(ctx: Context) -> list[Violation]:
    """``discount_out_of_range``: discount_pct is in percent points, within [0, 100]."""
    out = []
    for table in (S.SUBSCRIPTIONS, S.INTERVENTIONS):
        if ctx.has(table, S.DISCOUNT_PCT) and ctx.usable("discount_out_of_range", table,
                                                          S.DISCOUNT_PCT):
            out += row_violations(
                ctx, table, S.DISCOUNT_PCT, "discount_out_of_range",
                "discount_pct is in percent points and must be between 0 and 100",
                f"{S.DISCOUNT_PCT} < 0 OR {S.DISCOUNT_PCT} > 100",
                ctx.ids(table, S.DISCOUNT_PCT))
    return out


def check_no_future_dates(ctx: Context) -> list[Violation]:
    """``future_date``: nothing is dated after the as-of (extract) date: events'
    event_time, subscriptions' start_date, accounts' created_at, interventions'
    started_at."""
    out = []
    for table, column in DATED_COLUMNS.items():
        if not ctx.usable("future_date", table, column):
            continue
        out += row_violations(
            ctx, table, column, "future_date",
            f"{column} must not be after the as-of date {ctx.as_of.date()}",
            f"CAST({quote(column)} AS DATE) > {ctx.as_of_sql}", ctx.ids(table, column))
    return out


def _intervention_value_in(ctx: Context, column: str, rule: str, allowed) -> list[Violation]:
    """``rule``: the interventions' ``column``, when given, is one of ``allowed``."""
    if not (ctx.has(S.INTERVENTIONS, column) and ctx.usable(rule, S.INTERVENTIONS, column)):
        return []
    listed = ", ".join(sql_string(o) for o in allowed)
    return row_violations(
        ctx, S.INTERVENTIONS, column, rule,
        f"{column} must be one of {', '.join(allowed)} (or empty)",
        f"{column} IS NOT NULL AND {column} NOT IN ({listed})",
        ctx.ids(S.INTERVENTIONS, column))


def check_diagnosed_causes(ctx: Context) -> list[Violation]:
    """``invalid_cause``: an intervention's diagnosed cause, when given, is one of
    :data:`churnlab.data.contract.ROOT_CAUSES`."""
    return _intervention_value_in(ctx, S.DIAGNOSED_CAUSE, "invalid_cause", S.ROOT_CAUSES)


def check_intervention_outcomes(ctx: Context) -> list[Violation]:
    """``invalid_outcome``: an intervention's outcome, when given, is one of
    :data:`churnlab.data.contract.INTERVENTION_OUTCOMES`."""
    return _intervention_value_in(ctx, S.OUTCOME, "invalid_outcome", S.INTERVENTION_OUTCOMES)
