"""Customer lifecycle derived from subscriptions: service spans, churn, renewals.

Definitions (the contract in data/README.md):

* A **service span** is a maximal run of subscriptions of one account in which each
  subscription starts no later than ``grace_days`` after the latest end so far.
  A span with an open-ended subscription has a null end.
* An account **churned** at the end of a span when that end is known and no new
  subscription started within the grace period. Churn is *confirmed* only once the
  grace period has passed by the observation end; before that the account is censored.
* An account is **active at T** when a subscription covers T
  (``start_date <= T < end_date``, or ``end_date`` null).
* The **next renewal** at T is the first contract boundary after T of the covering
  subscription: ``start_date + k * term_months`` (k >= 1) that is after T, capped at
  the subscription's ``end_date``.

All functions build SQL over the warehouse's typed views and return DataFrames; they
see only subscriptions that had started by the as-of date when one is given.
"""

from __future__ import annotations

import pandas as pd

from churnlab.data import contract as S
from churnlab.errors import InputError
from churnlab.fmt import iso_date

FAR_FUTURE = "9999-12-31"




def spans_sql(grace_days: int = S.GRACE_DAYS, as_of=None) -> str:
    """SQL for service spans: account_id, span_no, span_start, span_end (null = open)."""
    known = f"WHERE {S.START_DATE} <= DATE '{iso_date(as_of)}'" if as_of is not None else ""
    return f"""
    WITH s AS (
        SELECT {S.ACCOUNT_ID}, {S.START_DATE} AS s_start,
               COALESCE({S.END_DATE}, DATE '{FAR_FUTURE}') AS s_end
        FROM {S.SUBSCRIPTIONS} {known}
    ), p AS (
        SELECT *, max(s_end) OVER (
            PARTITION BY {S.ACCOUNT_ID} ORDER BY s_start, s_end
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_end
        FROM s
    ), g AS (
        SELECT *, sum(CASE WHEN prev_end IS NULL
                            OR s_start > prev_end + INTERVAL {int(grace_days)} DAY
                           THEN 1 ELSE 0 END) OVER (
            PARTITION BY {S.ACCOUNT_ID} ORDER BY s_start, s_end
            ROWS UNBOUNDED PRECEDING) AS span_no
        FROM p
    )
    SELECT {S.ACCOUNT_ID}, CAST(span_no AS INTEGER) AS span_no, min(s_start) AS span_start,
           NULLIF(max(s_end), DATE '{FAR_FUTURE}') AS span_end
    FROM g GROUP BY {S.ACCOUNT_ID}, span_no
    """


def observation_start(wh) -> pd.Timestamp:
    """The first day with an event (the first subscription start when there are no
    events): where the history that features can see begins."""
    row = wh.con.execute(f"""
        SELECT coalesce((SELECT min(CAST({S.EVENT_TIME} AS DATE)) FROM {S.EVENTS}),
                        (SELECT min({S.START_DATE}) FROM {S.SUBSCRIPTIONS}))""").fetchone()
    if row[0] is None:
        raise InputError("the data holds no dated rows: cannot tell where it begins")
    return pd.Timestamp(row[0])


def observation_end(wh) -> pd.Timestamp:
    """The day after the data end: the last day events are observed (the latest
    subscription start when there are no events). A subscription that starts after the
    events stop does not extend it: months after the last event are not observed."""
    row = wh.con.execute(f"""
        SELECT coalesce(
            (SELECT max(CAST({S.EVENT_TIME} AS DATE)) FROM {S.EVENTS}),
            (SELECT max({S.START_DATE}) FROM {S.SUBSCRIPTIONS}))""").fetchone()
    if row[0] is None:
        raise InputError("the data holds no dated rows: cannot tell where it ends")
    return pd.Timestamp(row[0]) + pd.Timedelta(days=1)


def next_renewal_expr(start: str, term: str, end: str, as_of: str) -> str:
    """SQL expression: the first boundary start + k*term months after ``as_of``."""
    months = f"((year({as_of}) - year({start})) * 12 + month({as_of}) - month({start}))"
    k0 = f"greatest(floor({months} / greatest({term}, 1)) - 1, 0)"
    b = [f"(({start}) + to_months(CAST(({k0} + {i}) * greatest({term}, 1) AS INTEGER)))"
         for i in range(1, 4)]
    boundary = (f"CASE WHEN {b[0]} > {as_of} THEN {b[0]} "
                f"WHEN {b[1]} > {as_of} THEN {b[1]} ELSE {b[2]} END")
    return f"CAST(least({boundary}, COALESCE({end}, DATE '{FAR_FUTURE}')) AS DATE)"


def dates_sql(dates, name: str = "landmark") -> str:
    """A one-column table ``name`` (DATE) of the given dates."""
    rows = ", ".join(f"(DATE '{iso_date(d)}')" for d in dates)
    return f"SELECT col0 AS {name} FROM (VALUES {rows}) AS t(col0)"


def active_at_dates_sql(dates, grace_days: int = S.GRACE_DAYS, name: str = "landmark",
                        only: str = "") -> str:
    """SQL: one row per (date, account active at that date) with its contract then, for
    many dates in one query (subscriptions joined to a small table of dates).

    Columns: ``name`` (the date), account_id, subscription_id, plan, term_months, mrr,
    arr, discount_pct, seats, span_start, tenure_days, next_renewal, days_to_renewal,
    arr_12m_ago.

    Spans are built once from all subscriptions: a subscription that starts after the
    date can only extend or add spans after it, never move the start of the span that
    covers the date, so nothing after the date is used.

    ``only``: an SQL condition on ``s`` (the subscription) and ``d`` (the date) that keeps
    the (account, date) pairs wanted, e.g. the accounts with a play started that day;
    without it every active account at every date (rows = accounts x dates).
    """
    t = f"d.{name}"
    renewal = next_renewal_expr(f"c.{S.START_DATE}", f"c.{S.TERM_MONTHS}", f"c.{S.END_DATE}",
                                f"c.{name}")
    year_ago = f"{t} - INTERVAL 365 DAY"
    return f"""
    WITH d AS ({dates_sql(dates, name)}),
    covering AS (
        SELECT {t}, s.* FROM {S.SUBSCRIPTIONS} s JOIN d
          ON s.{S.START_DATE} <= {t} AND (s.{S.END_DATE} IS NULL OR s.{S.END_DATE} > {t})
        {f"WHERE {only}" if only else ""}
        QUALIFY row_number() OVER (PARTITION BY {t}, s.{S.ACCOUNT_ID}
                                   ORDER BY s.{S.START_DATE} DESC, s.{S.SUBSCRIPTION_ID}) = 1
    ), spans AS ({spans_sql(grace_days)}),
    year_ago AS (
        SELECT {t}, s.{S.ACCOUNT_ID}, sum(s.{S.MRR}) * 12 AS arr_12m_ago
        FROM {S.SUBSCRIPTIONS} s JOIN d
          ON s.{S.START_DATE} <= {year_ago}
         AND (s.{S.END_DATE} IS NULL OR s.{S.END_DATE} > {year_ago})
        {f"WHERE {only}" if only else ""}
        GROUP BY {t}, s.{S.ACCOUNT_ID}
    )
    SELECT c.{name}, c.{S.ACCOUNT_ID}, c.{S.SUBSCRIPTION_ID}, c.{S.PLAN}, c.{S.TERM_MONTHS},
           c.{S.MRR}, c.{S.ARR}, c.{S.DISCOUNT_PCT}, c.{S.SEATS},
           sp.span_start,
           date_diff('day', sp.span_start, c.{name}) AS tenure_days,
           {renewal} AS next_renewal,
           date_diff('day', c.{name}, {renewal}) AS days_to_renewal,
           y.arr_12m_ago
    FROM covering c
    JOIN spans sp ON sp.{S.ACCOUNT_ID} = c.{S.ACCOUNT_ID}
        AND sp.span_start <= c.{S.START_DATE}
        AND (sp.span_end IS NULL OR sp.span_end > c.{name})
    LEFT JOIN year_ago y ON y.{S.ACCOUNT_ID} = c.{S.ACCOUNT_ID} AND y.{name} = c.{name}
    """


def active_accounts_sql(as_of, grace_days: int = S.GRACE_DAYS) -> str:
    """SQL: one row per account active at ``as_of`` with its contract at that date
    (:func:`active_at_dates_sql` at one date, without the date column)."""
    cols = ", ".join(["account_id", S.SUBSCRIPTION_ID, S.PLAN, S.TERM_MONTHS, S.MRR, S.ARR,
                      S.DISCOUNT_PCT, S.SEATS, "span_start", "tenure_days", "next_renewal",
                      "days_to_renewal", "arr_12m_ago"])
    return f"SELECT {cols} FROM ({active_at_dates_sql([as_of], grace_days)}) AS a"


def active_accounts(wh, as_of, grace_days: int = S.GRACE_DAYS) -> pd.DataFrame:
    """Accounts active at ``as_of`` with their contract (see :func:`active_accounts_sql`)."""
    return wh.query(active_accounts_sql(as_of, grace_days))


def churn_outcomes(wh, grace_days: int = S.GRACE_DAYS, obs_end=None) -> pd.DataFrame:
    """Per service span: whether and when it ended in churn, seen from ``obs_end``.

    Columns: account_id, span_no, span_start, span_end, churned (bool: end known and
    the grace period passed before ``obs_end``), churn_date (span_end if churned),
    censor_date (``obs_end`` if not churned).
    """
    obs_end = observation_end(wh) if obs_end is None else pd.Timestamp(obs_end)
    e = f"DATE '{iso_date(obs_end)}'"
    return wh.query(f"""
        SELECT {S.ACCOUNT_ID}, span_no, span_start, span_end,
               (span_end IS NOT NULL AND span_end + INTERVAL {int(grace_days)} DAY <= {e})
                   AS churned
        FROM ({spans_sql(grace_days)})
        ORDER BY {S.ACCOUNT_ID}, span_no
    """).assign(
        churn_date=lambda d: d["span_end"].where(d["churned"]),
        censor_date=lambda d: pd.Series(obs_end, index=d.index).where(~d["churned"]),
    )


def churned_between(wh, start, end, grace_days: int = S.GRACE_DAYS,
                    obs_end=None) -> pd.DataFrame:
    """Confirmed churns with ``start <= churn_date < end`` (one row per churned span)."""
    out = churn_outcomes(wh, grace_days, obs_end)
    out = out[out["churned"]]
    m = (out["churn_date"] >= pd.Timestamp(start)) & (out["churn_date"] < pd.Timestamp(end))
    return out[m].reset_index(drop=True)
