"""Point-in-time feature snapshots: every account's features at an as-of date.

A snapshot at as-of date T has one row per account active at T (see
:mod:`churnlab.data.lifecycle`) and uses only information available before T:

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
from typing import Sequence

import numpy as np
import pandas as pd

from churnlab.data import contract as S
from churnlab.data import lifecycle
from churnlab.data.signal_map import SignalMap
from churnlab.errors import InputError
from churnlab.features.reuse import (  # noqa: F401 - the label columns live here too
    CHURN_DATE,
    DURATION,
    EVENT,
    LANDMARK,
    reuse_rows,
)
from churnlab.fmt import iso_date

log = logging.getLogger(__name__)


WINDOWS = (30, 90, 180)
LOOKBACK_DAYS = 365
TREND_RECENT_DAYS = 30
TREND_PRIOR_DAYS = 90
GRAIN_DAYS = {"event": 0, "daily": 1, "weekly": 7}

# the (landmark, account, event type) aggregate rows one pass may hold (about 100 bytes
# each in pandas): bounds the memory of a landmark dataset over a large book
MAX_ROWS_PER_PASS = 1_500_000

TYPE_CODE = "type_code"     # the event aggregates' event type: its position in the map

ACCOUNT_COLUMNS = (S.SEGMENT, S.INDUSTRY, S.REGION, S.CSM_OWNER,
                   S.IS_STRATEGIC_LOGO, S.IS_REFERENCE, S.EXPANSION_POTENTIAL)
CONTRACT_COLUMNS = (S.PLAN, S.TERM_MONTHS, S.MRR, S.ARR, S.DISCOUNT_PCT, S.SEATS,
                    "tenure_days", "next_renewal", "days_to_renewal", "arr_change_12m")


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def feature_name(event_type: str, stat: str) -> str:
    return f"{event_type}__{stat}"


def contract_sql(dates: Sequence, grace_days: int = S.GRACE_DAYS) -> str:
    """Accounts active at each as-of date joined with their account attributes, in one
    query for all dates (:func:`churnlab.data.lifecycle.active_at_dates_sql`)."""
    account_cols = ", ".join(f"a.{c}" for c in ACCOUNT_COLUMNS)
    return f"""
    SELECT pop.{LANDMARK}, pop.{S.ACCOUNT_ID}, {account_cols},
           pop.{S.PLAN}, pop.{S.TERM_MONTHS}, pop.{S.MRR}, pop.{S.ARR},
           pop.{S.DISCOUNT_PCT}, pop.{S.SEATS}, pop.tenure_days, pop.next_renewal,
           pop.days_to_renewal,
           (pop.{S.ARR} - pop.arr_12m_ago) / NULLIF(pop.arr_12m_ago, 0) AS arr_change_12m
    FROM ({lifecycle.active_at_dates_sql(dates, grace_days, LANDMARK)}) AS pop
    JOIN {S.ACCOUNTS} a ON a.{S.ACCOUNT_ID} = pop.{S.ACCOUNT_ID}"""


def _id_list(ids) -> str:
    """SQL literals of account ids (integers as numbers, anything else as strings;
    ``NULL``, which matches nothing, for none)."""
    return ", ".join(str(int(i)) if isinstance(i, (int, np.integer)) else _lit(str(i))
                     for i in ids) or "NULL"


def events_sql(dates: Sequence, signal_map: SignalMap, windows: Sequence[int] = WINDOWS,
               accounts: Sequence | None = None) -> str:
    """SQL of the event aggregates at every as-of date in **one pass over the events**:
    one row per (landmark, account, event type) with window sums and counts, the
    latest value and the recency; the event type is given as ``type_code``, its
    position in the signal map.

    Each event is joined to the as-of dates whose look-back holds it (a range join on
    a small table of dates), so the events are read once for all dates. Ages are whole
    days between calendar dates (``date_diff`` on DATEs means the same on every
    engine; on timestamps Spark counts 24-hour periods). The latest value (gauges
    only; NULL for other kinds, which do not use it) is the reading with the latest
    time, the larger value on a tie: deterministic on every engine. The per-kind
    features are derived from this long table in :func:`make_snapshots`.
    ``accounts``: only these accounts' events (all when None).
    """
    r, p = TREND_RECENT_DAYS, TREND_PRIOR_DAYS
    lookback = max(LOOKBACK_DAYS, max(windows), r + p)
    # a small table of the map's types: one hash join keeps the mapped events and gives
    # each its type code (an integer: cheaper to group by and return than strings), grain
    # and gauge flag, instead of CASE chains on strings (benchmarks/RESULTS_scale.md)
    types = ", ".join(
        f"({_lit(s.event_type)}, {i}, {GRAIN_DAYS.get(s.grain, 0)}, "
        f"{'TRUE' if s.kind == 'gauge' else 'FALSE'})" for i, s in enumerate(signal_map))
    grained = any(GRAIN_DAYS.get(s.grain, 0) for s in signal_map)
    available = (f"e.{S.EVENT_TIME} + to_days(ty.grain_days)" if grained
                 else f"e.{S.EVENT_TIME}")
    aggs = []
    for w in sorted(set(windows) | {r}):
        aggs.append(f"sum(value) FILTER (WHERE age < {w}) AS sum_{w}")
        aggs.append(f"count(*) FILTER (WHERE age < {w}) AS n_{w}")
    aggs.append(f"sum(value) FILTER (WHERE age >= {r} AND age < {r + p}) AS sum_prior")
    aggs.append(f"count(*) FILTER (WHERE age >= {r} AND age < {r + p}) AS n_prior")
    # the latest reading only for gauges (the struct max over every event: ~1 s a date
    # at 50k accounts)
    aggs.append("(max({'t': available, 'v': value}) FILTER (WHERE is_gauge)).v AS last_value"
                if any(s.kind == "gauge" for s in signal_map)
                else "CAST(NULL AS DOUBLE) AS last_value")
    aggs.append("min(age) AS days_since")
    margin = lookback + max(GRAIN_DAYS.values()) + 1   # events that can be in a look-back
    first = min(pd.Timestamp(d) for d in dates) - pd.Timedelta(days=margin)
    last = max(pd.Timestamp(d) for d in dates)
    return f"""
    WITH d AS ({lifecycle.dates_sql(dates, LANDMARK)}),
    ty AS (
        SELECT * FROM (VALUES {types}) AS t(event_type, {TYPE_CODE}, grain_days, is_gauge)
    ), e0 AS (
        SELECT e.{S.ACCOUNT_ID}, ty.{TYPE_CODE}, ty.is_gauge, e.{S.VALUE} AS value,
               e.{S.EVENT_TIME} AS event_time, {available} AS available
        FROM {S.EVENTS} e JOIN ty ON e.{S.EVENT_TYPE} = ty.event_type
        WHERE e.{S.EVENT_TIME} >= TIMESTAMP '{iso_date(first)} 00:00:00'
          AND e.{S.EVENT_TIME} < TIMESTAMP '{iso_date(last)} 00:00:00'{
              f"{chr(10)}          AND e.{S.ACCOUNT_ID} IN ({_id_list(accounts)})"
              if accounts is not None else ""}
    ), ev AS (
        SELECT d.{LANDMARK}, e0.{S.ACCOUNT_ID}, e0.{TYPE_CODE}, e0.is_gauge, e0.value,
               e0.available, date_diff('day', CAST(e0.available AS DATE), d.{LANDMARK}) AS age
        FROM e0 JOIN d
          ON e0.event_time < CAST(d.{LANDMARK} AS TIMESTAMP)
         AND e0.available <= CAST(d.{LANDMARK} AS TIMESTAMP)
         AND e0.available > CAST(d.{LANDMARK} AS TIMESTAMP) - INTERVAL {int(lookback)} DAY
    )
    SELECT {LANDMARK}, {S.ACCOUNT_ID}, {TYPE_CODE}, {", ".join(aggs)}
    FROM ev GROUP BY {LANDMARK}, {S.ACCOUNT_ID}, {TYPE_CODE}
    """


def snapshot_sql(as_of, signal_map: SignalMap, windows: Sequence[int] = WINDOWS) -> str:
    """The event aggregates of one snapshot (:func:`events_sql` at one date)."""
    return events_sql([as_of], signal_map, windows)


def _positions(long: pd.DataFrame, accounts: pd.MultiIndex) -> np.ndarray:
    """Each aggregate row's position among the (landmark, account) rows of
    ``accounts`` (-1 where it has none), through integer keys on the index's own
    levels rather than a second MultiIndex of the aggregate rows."""
    lm_level, acc_level = accounts.levels
    lm = lm_level.get_indexer(long[accounts.names[0]])
    acc = acc_level.get_indexer(long[accounts.names[1]])
    width = len(acc_level) + 1
    pos = pd.Index(accounts.codes[0].astype(np.int64) * width + accounts.codes[1]
                   ).get_indexer(lm.astype(np.int64) * width + acc)
    pos[(lm < 0) | (acc < 0)] = -1
    return pos


def _wide_features(long: pd.DataFrame, accounts: pd.MultiIndex, signal_map: SignalMap,
                   windows: Sequence[int]) -> pd.DataFrame:
    """Turn the (landmark, account, event type) aggregates into the documented feature
    columns, one row per entry of ``accounts`` (a (landmark, account) index).
    Accounts without events get zero counts/flags and capped recency; gauges with no
    reading stay missing (no reading is not a reading of zero).

    The aggregates are scattered into two (statistic, type, row) arrays, the counts
    (``n_*``, never NULL in SQL) zero-filled: each feature is a contiguous slice."""
    r, p = TREND_RECENT_DAYS, TREND_PRIOR_DAYS
    pos = _positions(long, accounts)
    keep = pos >= 0
    stat_cols = [c for c in long.columns if c not in (*accounts.names, TYPE_CODE)]
    n_cols = [c for c in stat_cols if c.startswith("n_")]
    v_cols = [c for c in stat_cols if not c.startswith("n_")]
    codes = long[TYPE_CODE].to_numpy(dtype=np.int64)[keep]
    pos = pos[keep]
    n_types = len(signal_map)
    counts, stats = (np.full((len(c), n_types, len(accounts)), fill)
                     for c, fill in ((n_cols, 0.0), (v_cols, np.nan)))
    for arr, names in ((counts, n_cols), (stats, v_cols)):
        for j, c in enumerate(names):
            arr[j][codes, pos] = long[c].to_numpy(dtype=float)[keep]
    at_n = {c: j for j, c in enumerate(n_cols)}
    at_v = {c: j for j, c in enumerate(v_cols)}

    def nan_div(a, b):
        out = np.full(len(a), np.nan)
        np.divide(a, b, out=out, where=(b != 0) & ~np.isnan(b))
        return out

    cols: dict[str, np.ndarray] = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for k, spec in enumerate(signal_map):
            col = lambda stat: stats[at_v[stat], k]  # noqa: E731
            name = lambda stat: feature_name(spec.event_type, stat)  # noqa: E731
            n = {w: counts[at_n[f"n_{w}"], k] for w in windows}
            if spec.kind == "count":
                for w in windows:
                    cols[name(f"sum_{w}d")] = np.nan_to_num(col(f"sum_{w}"), nan=0.0)
                recent = np.nan_to_num(col(f"sum_{r}"), nan=0.0)
                prior = np.nan_to_num(col("sum_prior"), nan=0.0)
                cols[name("trend")] = np.log((recent + 1.0) / (prior * (r / p) + 1.0))
            elif spec.kind == "gauge":
                for w in windows:
                    cols[name(f"mean_{w}d")] = nan_div(col(f"sum_{w}"), n[w])
                cols[name("last")] = col("last_value").copy()
                recent = nan_div(col(f"sum_{r}"), counts[at_n[f"n_{r}"], k])
                prior = nan_div(col("sum_prior"), counts[at_n["n_prior"], k])
                cols[name("trend")] = nan_div(recent - prior, np.abs(prior))
            else:
                for w in windows:
                    cols[name(f"any_{w}d")] = (n[w] > 0).astype(np.int64)
            cols[name("days_since")] = np.nan_to_num(col("days_since"),
                                                     nan=LOOKBACK_DAYS).astype(np.int64)
        index = {s.event_type: k for k, s in enumerate(signal_map)}
        for family in S.FAMILIES:
            types = [index[s.event_type] for s in signal_map.by_family(family)
                     if s.kind != "gauge"]
            if not types:
                continue
            for w in windows:
                cols[f"fam_{family}__events_{w}d"] = \
                    counts[at_n[f"n_{w}"], types].sum(axis=0).astype(np.int64)
    return pd.DataFrame(cols, index=accounts)


def make_snapshots(wh, dates: Sequence, windows: Sequence[int] = WINDOWS,
                   grace_days: int = S.GRACE_DAYS, max_rows_per_pass: int | None = None,
                   accounts: Sequence | None = None, known=None) -> pd.DataFrame:
    """Point-in-time features for every account active at each of ``dates``, with one
    pass over the events for many dates at a time (:func:`events_sql`).

    The dates go in as few passes as keep the aggregate table under
    ``max_rows_per_pass`` (active accounts x event types per date): one pass for the
    demo's 34 dates, a few for a 50,000-account book, so memory stays bounded as the
    book grows. The event-scale SQL runs on the warehouse's heavy engine
    (``wh.heavy_query``: DuckDB, or Spark with ``--engine spark``). ``accounts``: only
    these accounts (e.g. those enrolled in an experiment), each row the same as without
    the restriction; the events of the others are not read. ``known``: rows this
    function already returned on the same data with the same windows (e.g. the
    landmark dataset, labels and all), or the Parquet file they were saved to (only
    ``dates`` are read): a date whose rows there hold exactly the accounts active at
    it, with the same contract columns, is taken from it instead of read from the
    events again (:func:`~churnlab.features.reuse.reuse_rows`).

    Returns
    -------
    DataFrame, one row per (landmark, active account), sorted by both.
    """
    dates = sorted({pd.Timestamp(d).normalize() for d in dates})
    if not dates:
        raise InputError("no as-of dates given")
    contract = _contract(wh, dates, grace_days)
    if accounts is not None:
        accounts = np.sort(pd.unique(np.asarray(accounts)))
        contract = contract[contract[S.ACCOUNT_ID].isin(accounts)].reset_index(drop=True)
    reused = []
    if known is not None and (not isinstance(known, pd.DataFrame) or len(known)):
        reused, dates = reuse_rows(known, contract, dates, accounts)
        if not dates:
            return pd.concat(reused, ignore_index=True)
        contract = contract[contract[LANDMARK].isin(dates)].reset_index(drop=True)
    frames = list(_passes(wh, contract, dates, windows, accounts, max_rows_per_pass))
    if reused:
        if set(reused[0].columns) != set(frames[0].columns):     # not this function's rows
            return make_snapshots(wh, sorted(dates + [r[LANDMARK].iloc[0] for r in reused]),
                                  windows, grace_days, max_rows_per_pass, accounts)
        out = pd.concat(reused + frames, ignore_index=True)[frames[0].columns]
        return out.sort_values([LANDMARK, S.ACCOUNT_ID], kind="stable").reset_index(drop=True)
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def snapshot_passes(wh, dates: Sequence, windows: Sequence[int] = WINDOWS,
                    grace_days: int = S.GRACE_DAYS, max_rows_per_pass: int | None = None):
    """:func:`make_snapshots` one pass over the events at a time: yields each pass's rows
    (in date order, sorted by landmark and account), so that a caller can write a large
    book's landmarks out as they come instead of holding them all."""
    dates = sorted({pd.Timestamp(d).normalize() for d in dates})
    if not dates:
        raise InputError("no as-of dates given")
    yield from _passes(wh, _contract(wh, dates, grace_days), dates, windows, None,
                       max_rows_per_pass)


def _contract(wh, dates: list, grace_days: int) -> pd.DataFrame:
    return (wh.heavy_query(contract_sql(dates, grace_days))
            .assign(**{LANDMARK: lambda d: pd.to_datetime(d[LANDMARK])})
            .sort_values([LANDMARK, S.ACCOUNT_ID]).reset_index(drop=True))


def _passes(wh, contract: pd.DataFrame, dates: list, windows, accounts, max_rows_per_pass):
    """The dates in as few passes as keep each pass's aggregate table under
    ``max_rows_per_pass``; yields each pass's rows (contract columns, then features)."""
    max_rows_per_pass = max_rows_per_pass or MAX_ROWS_PER_PASS
    per_date = contract.groupby(LANDMARK).size().reindex(dates, fill_value=0)
    n_types = max(len(wh.signal_map), 1)
    parts, batch, rows = [], [], 0
    for d, n in per_date.items():
        if batch and rows + n * n_types > max_rows_per_pass:
            parts.append(batch)
            batch, rows = [], 0
        batch.append(d)
        rows += n * n_types
    parts.append(batch)
    if len(parts) > 1:
        log.info("features at %d dates in %d passes over the events", len(dates), len(parts))
    for batch in parts:
        rows = contract[contract[LANDMARK].isin(batch)].reset_index(drop=True)
        long = wh.heavy_query(events_sql(batch, wh.signal_map, windows, accounts))
        long[LANDMARK] = pd.to_datetime(long[LANDMARK])
        index = pd.MultiIndex.from_frame(rows[[LANDMARK, S.ACCOUNT_ID]])
        wide = _wide_features(long, index, wh.signal_map, windows)
        del long
        out = pd.concat([rows, wide.reset_index(drop=True)], axis=1)
        del wide
        yield out


def make_snapshot(wh, as_of, windows: Sequence[int] = WINDOWS,
                  grace_days: int = S.GRACE_DAYS) -> pd.DataFrame:
    """Point-in-time features for every account active at ``as_of``.

    Parameters
    ----------
    wh : an open :class:`churnlab.data.warehouse.Warehouse` (validated).
    as_of : date; only information available strictly before it is used.
    windows : look-back windows in days.

    Returns
    -------
    DataFrame, one row per active account, sorted by account_id.
    """
    return make_snapshots(wh, [as_of], windows, grace_days)


def feature_columns(df: pd.DataFrame) -> list[str]:
    """The numeric model inputs of a snapshot (events, families, contract numbers)."""
    numeric = {S.TERM_MONTHS, S.ARR, S.DISCOUNT_PCT, "tenure_days", "days_to_renewal",
               "arr_change_12m"}
    return [c for c in df.columns if "__" in c or c in numeric]
