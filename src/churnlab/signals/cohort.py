"""Last year's churners and the stayers they are compared with (the cohort and its reference dates)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from churnlab.data import contract as S
from churnlab.data import lifecycle
from churnlab.fmt import iso_date

log = logging.getLogger(__name__)


DEFAULT_WINDOWS: tuple[tuple[int, int], ...] = ((0, 30), (30, 90), (90, 180))


TRAILING_DAYS = 30


LOOK_STEP_DAYS = 7


BASELINE_DAYS = 180


MIN_BASELINE_DAYS = 28


ONBOARDING_DAYS = 90


MATERIAL_CHANGE = 0.3


DENSE_MIN_PER_30D = 10.0




N_USAGE_STRATA = 5


OCCURRED, FELL, ROSE, ALERT = "occurred", "fell", "rose", "alert"


CHURNER, STAYER = "churn", "renewal"


REF_ID, REF_DATE, GROUP, IS_CHURNER = "ref_id", "ref_date", "group", "is_churner"


FIRST_DAY = "first_observable"


BASELINE_FROM = "baseline_from"


# ================================================================================ cohort


def resolve_as_of(wh, as_of) -> pd.Timestamp:
    return lifecycle.observation_end(wh) if as_of is None else pd.Timestamp(as_of)


def data_start(wh) -> pd.Timestamp:
    """The first day with an event: nothing before it is observable."""
    row = wh.con.execute(f"SELECT min(CAST({S.EVENT_TIME} AS DATE)) FROM {S.EVENTS}").fetchall()
    return pd.Timestamp(row[0][0]) if row[0][0] is not None else pd.Timestamp.max


def _arr_before(wh, refs: pd.DataFrame) -> np.ndarray:
    """ARR of the subscriptions covering the day before each reference date."""
    wh.con.register("_cl_refs", refs[[REF_ID, S.ACCOUNT_ID, REF_DATE]])
    try:
        arr = wh.query(f"""
            SELECT r.{REF_ID}, sum(s.{S.MRR}) * 12 AS arr
            FROM _cl_refs r JOIN {S.SUBSCRIPTIONS} s ON s.{S.ACCOUNT_ID} = r.{S.ACCOUNT_ID}
             AND s.{S.START_DATE} <= CAST(r.{REF_DATE} AS DATE) - 1
             AND (s.{S.END_DATE} IS NULL OR s.{S.END_DATE} > CAST(r.{REF_DATE} AS DATE) - 1)
            GROUP BY r.{REF_ID}""")
    finally:
        wh.con.unregister("_cl_refs")
    return (refs[[REF_ID]].merge(arr, on=REF_ID, how="left")["arr"]
            .fillna(0.0).to_numpy())


def make_cohort(wh, as_of=None, lookback_months: int = 12, seed: int = 0,
                grace_days: int = S.GRACE_DAYS) -> pd.DataFrame:
    """Last year's churners and the stayers they are compared with.

    Parameters
    ----------
    wh : an open, validated :class:`churnlab.data.warehouse.Warehouse`.
    as_of : the analysis date T (default: the data's end). Churn is seen as from T.
    lookback_months : churns with ``T - lookback_months <= churn_date < T`` (confirmed
        by T) form the churner cohort; stayers passed a renewal in the same months.
    seed : picks each stayer's reference renewal among the ones it passed.

    Returns
    -------
    DataFrame, one row per reference: ref_id, account_id, ref_date, group
    (``churn`` / ``renewal``), is_churner, arr (ARR of the contract ending at the
    reference date), first_observable (first day whose events the data holds for
    this account: service start or data start), n_boundaries (renewals the stayer
    passed in the period; 1 for churners).
    """
    as_of = resolve_as_of(wh, as_of)
    start = as_of - pd.DateOffset(months=lookback_months)
    churned = lifecycle.churned_between(wh, start, as_of, grace_days, obs_end=as_of)
    churned = (churned.sort_values([S.ACCOUNT_ID, "churn_date"])
               .drop_duplicates(S.ACCOUNT_ID, keep="last"))
    churners = pd.DataFrame({S.ACCOUNT_ID: churned[S.ACCOUNT_ID].astype(str),
                             REF_DATE: pd.to_datetime(churned["churn_date"]),
                             "span_start": pd.to_datetime(churned["span_start"]),
                             "n_boundaries": 1})
    t, s0 = f"DATE '{iso_date(as_of)}'", f"DATE '{iso_date(start)}'"
    boundaries = wh.query(f"""
        WITH subs AS (
            SELECT {S.ACCOUNT_ID}, {S.START_DATE} AS s_start, {S.END_DATE} AS s_end,
                   greatest({S.TERM_MONTHS}, 1) AS term,
                   unnest(generate_series(1, CAST(ceil(
                       date_diff('month', {S.START_DATE}, {t}) / greatest({S.TERM_MONTHS}, 1)
                   ) AS BIGINT) + 1)) AS k
            FROM {S.SUBSCRIPTIONS} WHERE {S.START_DATE} < {t}
        ), b AS (
            SELECT {S.ACCOUNT_ID}, CAST(s_start + to_months(CAST(k * term AS INTEGER)) AS DATE)
                   AS boundary, s_end
            FROM subs
        ), spans AS ({lifecycle.spans_sql(grace_days, as_of)})
        SELECT DISTINCT b.{S.ACCOUNT_ID}, b.boundary, sp.span_start
        FROM b JOIN spans sp ON sp.{S.ACCOUNT_ID} = b.{S.ACCOUNT_ID}
         AND sp.span_start < b.boundary
         AND (sp.span_end IS NULL OR sp.span_end > b.boundary)
         AND (sp.span_end IS NULL OR sp.span_end > {t})
        WHERE b.boundary >= {s0} AND b.boundary < {t}
          AND (b.s_end IS NULL OR b.boundary <= b.s_end)
        ORDER BY b.{S.ACCOUNT_ID}, b.boundary
    """)
    boundaries[S.ACCOUNT_ID] = boundaries[S.ACCOUNT_ID].astype(str)
    boundaries = boundaries[~boundaries[S.ACCOUNT_ID].isin(set(churners[S.ACCOUNT_ID]))]
    rng = np.random.default_rng(seed)
    counts = boundaries.groupby(S.ACCOUNT_ID, sort=True).size()
    if len(counts):
        pick = np.floor(rng.random(len(counts)) * counts.to_numpy()).astype(int)
        offsets = np.concatenate([[0], np.cumsum(counts.to_numpy())[:-1]]) + pick
        chosen = boundaries.iloc[offsets]
    else:
        chosen = boundaries
    stayers = pd.DataFrame({S.ACCOUNT_ID: chosen[S.ACCOUNT_ID].to_numpy(),
                            REF_DATE: pd.to_datetime(chosen["boundary"]).to_numpy(),
                            "span_start": pd.to_datetime(chosen["span_start"]).to_numpy(),
                            "n_boundaries": counts.to_numpy() if len(counts) else []})
    cohort = pd.concat([churners.assign(**{GROUP: CHURNER}),
                        stayers.assign(**{GROUP: STAYER})], ignore_index=True)
    cohort[IS_CHURNER] = cohort[GROUP].eq(CHURNER)
    cohort.insert(0, REF_ID, np.arange(len(cohort)))
    add_observable(cohort, data_start(wh))
    cohort[S.ARR] = _arr_before(wh, cohort)
    return cohort[[REF_ID, S.ACCOUNT_ID, REF_DATE, GROUP, IS_CHURNER, S.ARR, FIRST_DAY,
                   BASELINE_FROM, "n_boundaries", "span_start"]]


def add_observable(refs: pd.DataFrame, first_data_day: pd.Timestamp) -> None:
    """First observable day (service start or data start) and the first day that may
    serve as the account's own baseline (after its onboarding ramp)."""
    start = pd.to_datetime(refs["span_start"])
    refs[FIRST_DAY] = start.clip(lower=first_data_day)
    refs[BASELINE_FROM] = (start + pd.Timedelta(days=ONBOARDING_DAYS)).clip(lower=first_data_day)
