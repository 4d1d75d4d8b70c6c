"""Point-in-time feature snapshots and landmark datasets.

A snapshot at as-of date T has one row per account active at T (see
:mod:`churnlab.lifecycle`) and uses only information available before T:

* an event counts once it is *complete*: a point event at ``event_time``, a weekly
  (daily) pre-aggregated row only after its week (day) has ended, so a week that
  straddles T never leaks the days after T;
* subscriptions are read only if they had started by T (their contract end date,
  the renewal date, is known at signing and may lie after T).

Feature names (``<event_type>__<stat>``; windows are the days before T):

=========  =======================================  ================================
kind       columns                                   meaning
=========  =======================================  ================================
count      ``__sum_{w}d``                            sum of values in the window
           ``__trend``                               log((last 30 d + 1) / (mean of
                                                     the 3 months before + 1))
gauge      ``__mean_{w}d``, ``__last``               mean in window, latest value
           ``__trend``                               relative change of the 30-day
                                                     mean vs days 30-120 before T
flag       ``__any_{w}d``                            1 if it happened in the window
all        ``__days_since``                          days since last (capped at
                                                     ``LOOKBACK_DAYS``, also if never)
family     ``fam_<family>__events_{w}d``            flag/count events of the family
=========  =======================================  ================================

plus the account's contract: segment, plan, term_months, arr, discount_pct, seats,
tenure_days, days_to_renewal, arr_change_12m, strategic flags.

The SQL is generated from the signal map with portable constructs (aggregate
``FILTER``, ``date_diff``), so :func:`snapshot_sql` can be transpiled by sqlglot to
Spark SQL for teams that outgrow one machine (see ``tests/test_features.py``).
"""

from __future__ import annotations

import logging
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from churnlab import lifecycle
from churnlab import schema as S

log = logging.getLogger(__name__)

WINDOWS = (30, 90, 180)
LOOKBACK_DAYS = 365
TREND_RECENT_DAYS = 30
TREND_PRIOR_DAYS = 90
GRAIN_DAYS = {"event": 0, "daily": 1, "weekly": 7}

# label columns of a landmark dataset
LANDMARK = "landmark"
DURATION = "duration_days"
EVENT = "churned"
CHURN_DATE = "churn_date"
ACCOUNT_COLUMNS = (S.SEGMENT, S.INDUSTRY, S.REGION, S.CSM_OWNER,
                   S.IS_STRATEGIC_LOGO, S.IS_REFERENCE, S.EXPANSION_POTENTIAL)
CONTRACT_COLUMNS = (S.PLAN, S.TERM_MONTHS, S.MRR, S.ARR, S.DISCOUNT_PCT, S.SEATS,
                    "tenure_days", "next_renewal", "days_to_renewal", "arr_change_12m")


def _date(value) -> str:
    return pd.Timestamp(value).date().isoformat()


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def feature_name(event_type: str, stat: str) -> str:
    return f"{event_type}__{stat}"


def _event_aggregates(signal_map: S.SignalMap, windows: Sequence[int]) -> list[str]:
    """One aggregate expression per feature, over rows ``ev(event_type, value, age)``
    where ``age`` is days between the event becoming available and T (>= 0)."""
    exprs: list[str] = []
    r, p = TREND_RECENT_DAYS, TREND_PRIOR_DAYS
    for spec in signal_map:
        is_type = f"event_type = {_lit(spec.event_type)}"
        col = lambda stat: _ident(feature_name(spec.event_type, stat))  # noqa: E731
        if spec.kind == "count":
            for w in windows:
                exprs.append(f"COALESCE(sum(value) FILTER (WHERE {is_type} AND age < {w}), 0) "
                             f"AS {col(f'sum_{w}d')}")
            recent = f"COALESCE(sum(value) FILTER (WHERE {is_type} AND age < {r}), 0)"
            prior = (f"COALESCE(sum(value) FILTER (WHERE {is_type} AND age >= {r} "
                     f"AND age < {r + p}), 0)")
            exprs.append(f"ln(({recent} + 1.0) / ({prior} * {r / p} + 1.0)) AS {col('trend')}")
        elif spec.kind == "gauge":
            for w in windows:
                exprs.append(f"avg(value) FILTER (WHERE {is_type} AND age < {w}) "
                             f"AS {col(f'mean_{w}d')}")
            exprs.append(f"arg_min(value, age) FILTER (WHERE {is_type}) AS {col('last')}")
            recent = f"avg(value) FILTER (WHERE {is_type} AND age < {r})"
            prior = f"avg(value) FILTER (WHERE {is_type} AND age >= {r} AND age < {r + p})"
            exprs.append(f"({recent} - {prior}) / NULLIF(abs({prior}), 0) AS {col('trend')}")
        else:  # flag
            for w in windows:
                exprs.append(f"CAST(COALESCE(bool_or({is_type} AND age < {w}), FALSE) AS INTEGER) "
                             f"AS {col(f'any_{w}d')}")
        exprs.append(f"COALESCE(min(age) FILTER (WHERE {is_type}), {LOOKBACK_DAYS}) "
                     f"AS {col('days_since')}")
    for family in S.FAMILIES:
        types = [s.event_type for s in signal_map.by_family(family) if s.kind != "gauge"]
        if not types:
            continue
        in_family = f"event_type IN ({', '.join(_lit(t) for t in types)})"
        for w in windows:
            exprs.append(f"count(*) FILTER (WHERE {in_family} AND age < {w}) "
                         f"AS {_ident(f'fam_{family}__events_{w}d')}")
    return exprs


def snapshot_sql(as_of, signal_map: S.SignalMap, windows: Sequence[int] = WINDOWS,
                 grace_days: int = S.GRACE_DAYS) -> str:
    """The DuckDB SQL of a point-in-time snapshot at ``as_of`` (see module doc)."""
    t = f"TIMESTAMP '{_date(as_of)} 00:00:00'"
    lookback = max(LOOKBACK_DAYS, max(windows), TREND_RECENT_DAYS + TREND_PRIOR_DAYS)
    grain_cases = " ".join(
        f"WHEN {_lit(s.event_type)} THEN {GRAIN_DAYS.get(s.grain, 0)}"
        for s in signal_map if GRAIN_DAYS.get(s.grain, 0))
    grain = f"CASE e.event_type {grain_cases} ELSE 0 END" if grain_cases else "0"
    available = f"(e.{S.EVENT_TIME} + to_days(CAST({grain} AS INTEGER)))"
    aggregates = ",\n        ".join(_event_aggregates(signal_map, windows))
    account_cols = ", ".join(f"a.{c}" for c in ACCOUNT_COLUMNS)
    return f"""
    WITH pop AS ({lifecycle.active_accounts_sql(as_of, grace_days)}),
    ev AS (
        SELECT e.{S.ACCOUNT_ID}, e.{S.EVENT_TYPE} AS event_type, e.{S.VALUE} AS value,
               date_diff('day', {available}, {t}) AS age
        FROM {S.EVENTS} e
        WHERE e.{S.EVENT_TIME} < {t}
          AND {available} <= {t}
          AND {available} > {t} - INTERVAL {int(lookback)} DAY
          AND e.{S.ACCOUNT_ID} IN (SELECT {S.ACCOUNT_ID} FROM pop)
    ),
    agg AS (
        SELECT {S.ACCOUNT_ID},
        {aggregates}
        FROM ev GROUP BY {S.ACCOUNT_ID}
    )
    SELECT DATE '{_date(as_of)}' AS {LANDMARK}, pop.{S.ACCOUNT_ID}, {account_cols},
           pop.{S.PLAN}, pop.{S.TERM_MONTHS}, pop.{S.MRR}, pop.{S.ARR},
           pop.{S.DISCOUNT_PCT}, pop.{S.SEATS}, pop.tenure_days, pop.next_renewal,
           pop.days_to_renewal,
           (pop.{S.ARR} - pop.arr_12m_ago) / NULLIF(pop.arr_12m_ago, 0) AS arr_change_12m,
           agg.* EXCLUDE ({S.ACCOUNT_ID})
    FROM pop
    JOIN {S.ACCOUNTS} a ON a.{S.ACCOUNT_ID} = pop.{S.ACCOUNT_ID}
    LEFT JOIN agg ON agg.{S.ACCOUNT_ID} = pop.{S.ACCOUNT_ID}
    ORDER BY pop.{S.ACCOUNT_ID}
    """


def _fill_absent(df: pd.DataFrame, signal_map: S.SignalMap, windows: Sequence[int]) -> pd.DataFrame:
    """Accounts with no events in the lookback get zero counts/flags and capped
    recency (gauges stay missing: no reading is not a reading of zero)."""
    fills: dict[str, float] = {}
    for spec in signal_map:
        if spec.kind == "count":
            fills.update({feature_name(spec.event_type, f"sum_{w}d"): 0.0 for w in windows})
            fills[feature_name(spec.event_type, "trend")] = 0.0
        elif spec.kind == "flag":
            fills.update({feature_name(spec.event_type, f"any_{w}d"): 0 for w in windows})
        fills[feature_name(spec.event_type, "days_since")] = LOOKBACK_DAYS
    for col in df.columns:
        if col.startswith("fam_"):
            fills[col] = 0
    return df.fillna({c: v for c, v in fills.items() if c in df.columns})


def make_snapshot(wh, as_of, windows: Sequence[int] = WINDOWS,
                  grace_days: int = S.GRACE_DAYS) -> pd.DataFrame:
    """Point-in-time features for every account active at ``as_of``.

    Parameters
    ----------
    wh : an open :class:`churnlab.warehouse.Warehouse` (validated).
    as_of : date; only information available strictly before it is used.
    windows : look-back windows in days.

    Returns
    -------
    DataFrame, one row per active account, sorted by account_id.
    """
    df = wh.query(snapshot_sql(as_of, wh.signal_map, windows, grace_days))
    df = _fill_absent(df, wh.signal_map, windows)
    return df


def feature_columns(df: pd.DataFrame) -> list[str]:
    """The numeric model inputs of a snapshot (events, families, contract numbers)."""
    numeric = {S.TERM_MONTHS, S.ARR, S.DISCOUNT_PCT, "tenure_days", "days_to_renewal",
               "arr_change_12m"}
    return [c for c in df.columns if "__" in c or c in numeric]


def monthly_dates(start, end) -> list[pd.Timestamp]:
    """First days of the months in ``[start, end]``."""
    first = pd.Timestamp(start).to_period("M").to_timestamp()
    if first < pd.Timestamp(start):
        first = first + pd.offsets.MonthBegin(1)
    return list(pd.date_range(first, pd.Timestamp(end), freq="MS"))


def attach_labels(snapshot: pd.DataFrame, outcomes: pd.DataFrame,
                  obs_end) -> pd.DataFrame:
    """Add survival labels to a snapshot: days from the landmark to churn (event=1)
    or to ``obs_end`` (censored, event=0), from :func:`lifecycle.churn_outcomes`."""
    obs_end = pd.Timestamp(obs_end)
    spans = outcomes[[S.ACCOUNT_ID, "span_start", "span_end", "churned", "churn_date"]] \
        .rename(columns={"span_start": "_span_start", "span_end": "_span_end",
                         "churned": "_churned", "churn_date": "_churn_date"})
    merged = snapshot.merge(spans, on=S.ACCOUNT_ID, how="left")
    t = pd.to_datetime(merged[LANDMARK])
    in_span = (merged["_span_start"] <= t) & (merged["_span_end"].isna() | (merged["_span_end"] > t))
    merged, t = merged[in_span].copy(), t[in_span]
    churned = merged["_churned"].fillna(False).astype(bool)
    end = pd.to_datetime(merged["_churn_date"].where(churned, obs_end))
    merged[EVENT] = churned.astype(int)
    merged[CHURN_DATE] = pd.to_datetime(merged["_churn_date"].where(churned))
    merged[DURATION] = (end - t).dt.days.astype(int)
    return (merged.drop(columns=["_span_start", "_span_end", "_churned", "_churn_date"])
            .sort_values([LANDMARK, S.ACCOUNT_ID]).reset_index(drop=True))


def make_landmarks(wh, as_of_dates: Iterable, windows: Sequence[int] = WINDOWS,
                   grace_days: int = S.GRACE_DAYS, obs_end=None,
                   progress: bool = False) -> pd.DataFrame:
    """Stack snapshots at several as-of dates and label them for survival models.

    Each row: landmark date, account, features at the landmark, ``duration_days`` to
    churn or censoring, ``churned`` (1/0). Labels are seen from ``obs_end`` (default:
    the data's end); use :func:`censor_at` to see them as they were at an earlier date.
    """
    obs_end = lifecycle.observation_end(wh) if obs_end is None else pd.Timestamp(obs_end)
    outcomes = lifecycle.churn_outcomes(wh, grace_days, obs_end)
    dates = [pd.Timestamp(d) for d in as_of_dates]
    frames = []
    iterator = dates
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(dates, desc="landmarks", unit="date")
    for d in iterator:
        if d >= obs_end:
            raise ValueError(f"landmark {d.date()} is not before the data's end {obs_end.date()}")
        frames.append(attach_labels(make_snapshot(wh, d, windows, grace_days), outcomes, obs_end))
    if not frames:
        raise ValueError("no landmark dates given")
    return pd.concat(frames, ignore_index=True)


def censor_at(landmarks: pd.DataFrame, cutoff, grace_days: int = S.GRACE_DAYS) -> pd.DataFrame:
    """Labels as they were observable at ``cutoff``: landmarks on or after it are
    dropped; a churn is kept only if confirmed (churn date + grace) by the cutoff,
    otherwise the row is censored at the cutoff."""
    cutoff = pd.Timestamp(cutoff)
    out = landmarks[pd.to_datetime(landmarks[LANDMARK]) < cutoff].copy()
    t = pd.to_datetime(out[LANDMARK])
    churn = pd.to_datetime(out[CHURN_DATE])
    seen = out[EVENT].astype(bool) & (churn + pd.Timedelta(days=grace_days) <= cutoff)
    horizon = (cutoff - t).dt.days
    out[EVENT] = seen.astype(int)
    out[DURATION] = np.where(seen, out[DURATION], np.minimum(out[DURATION], horizon)).astype(int)
    out[CHURN_DATE] = churn.where(seen)
    return out.reset_index(drop=True)
