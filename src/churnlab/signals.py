"""Leading signals of last year's churners.

The articles' advice: "don't guess the weights: analyse the customers who churned in
the last 12 months and see which signals appeared first". This module does that
analysis so an analyst can rerun it on their own data.

Method
------
**Cohort** (:func:`make_cohort`). Churners are the accounts whose churn (confirmed,
:mod:`churnlab.lifecycle`) fell in the ``lookback_months`` before the as-of date T; their
reference date is the churn date (the end of their last contract). Stayers are the
accounts still active at T that passed a contract boundary (a renewal) in the same
months while staying; each gets one such boundary as its reference date, drawn at
random with ``seed``. Both groups are thus seen at the same moment of the contract
calendar, at which B2B churn concentrates, and over the same calendar months. Only
information available before T is used (churn is "confirmed" as seen from T).

**Signals** (:func:`derive_signals`). Each event type of the signal map becomes one or
two binary "it appeared" indicators, evaluated in windows of days before the reference
date (default 0-30, 30-90, 90-180):

* ``occurred``: flags and sparse counts: at least one event in the window;
* ``fell`` / ``rose``: dense counts (pre-aggregated usage, or event types with at least
  ``dense_min_per_30d`` events a month for the median account) and gauges without an
  alert threshold: the rate (counts) or mean (gauges) over a trailing 30-day period
  inside the window moved by a material amount against the account's own baseline
  (the ``baseline_days`` before the earliest window, leaving out the account's first
  ``ONBOARDING_DAYS`` of service: a ramp-up is not a normal level): a drop of at least
  ``material_change`` or the symmetric rise (x 1 / (1 - material_change)). Trailing
  periods start every 7 days from the window's start (plus one ending at the window's
  end), so the first appearance has a weekly resolution and lags the onset of a change
  by up to one trailing period;
* ``alert``: gauges with ``alert_below`` / ``alert_above``: the mean reading in the
  window is beyond the threshold (accounts without a reading in the window are left
  out of that test, so that answering more surveys or filing more tickets does not by
  itself make an alert more likely); its first appearance is the first single reading
  beyond the threshold.

A window that lies (partly) before the account's first observable day (its service
start, or the first day of the data) is not observable: the reference is left out of
that test rather than counted as "no signal".

**Statistics** (:func:`analyse_signals`). Per signal and window: prevalence among
churners and stayers; lift = ratio of the two prevalences with a 95% Katz interval on
the log scale (0.5 added to every cell when a count is zero); Fisher's exact p-value;
Benjamini-Hochberg q-values across every test of the run; a Mantel-Haenszel lift
stratified by usage quintile in the same window (what is left once the account's usage
level is held fixed); coverage (share of churned ARR in which the signal appeared in the
window); lead time (days between the signal's first appearance in the ``max(window)``
days before churn and the churn); and a univariate Cox hazard ratio of churn within
``hr_horizon_days`` for accounts that showed the signal in any window before a landmark
(accounts observable over the whole horizon), on monthly landmarks of the active base in
the lookback year (one landmark per account, drawn with ``seed``, so rows are
independent; lifelines; one ratio per signal, with Benjamini-Hochberg q-values of its
own).

:func:`summarise_signals` ranks signals by strength and earliness and writes one
sentence per signal; :func:`compare_adjusted` puts a confounded signal's naive view next
to its per-active-user and usage-stratified views.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from churnlab import features as F
from churnlab import lifecycle
from churnlab import schema as S

log = logging.getLogger(__name__)

DEFAULT_WINDOWS: tuple[tuple[int, int], ...] = ((0, 30), (30, 90), (90, 180))
TRAILING_DAYS = 30
LOOK_STEP_DAYS = 7
BASELINE_DAYS = 180
MIN_BASELINE_DAYS = 28
ONBOARDING_DAYS = 90
MATERIAL_CHANGE = 0.3
DENSE_MIN_PER_30D = 10.0
USAGE_SIGNAL = "weekly_active_users"
N_USAGE_STRATA = 5

OCCURRED, FELL, ROSE, ALERT = "occurred", "fell", "rose", "alert"
CHURNER, STAYER = "churn", "renewal"
REF_ID, REF_DATE, GROUP, IS_CHURNER = "ref_id", "ref_date", "group", "is_churner"
FIRST_DAY = "first_observable"
BASELINE_FROM = "baseline_from"


# ============================================================================ statistics
def risk_ratio(a, n1, c, n0, alpha: float = 0.05):
    """Ratio of two proportions ``(a/n1) / (c/n0)`` with a Katz log interval.

    When ``a`` or ``c`` is zero, 0.5 is added to every cell (Haldane) before both the
    ratio and its standard error are computed. Vectorised over numpy arrays.

    Returns
    -------
    (ratio, lower, upper, se_log) arrays.
    """
    a, n1, c, n0 = (np.asarray(x, dtype=float) for x in (a, n1, c, n0))
    fix = ((a == 0) | (c == 0)).astype(float) * 0.5
    a2, c2, n12, n02 = a + fix, c + fix, n1 + 2 * fix, n0 + 2 * fix
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (a2 / n12) / (c2 / n02)
        se = np.sqrt(1 / a2 - 1 / n12 + 1 / c2 - 1 / n02)
    empty = (n1 == 0) | (n0 == 0) | (a + c == 0)
    ratio, se = np.where(empty, np.nan, ratio), np.where(empty, np.nan, se)
    z = stats.norm.ppf(1 - alpha / 2)
    return ratio, ratio * np.exp(-z * se), ratio * np.exp(z * se), se


def fisher_p(a, n1, c, n0) -> np.ndarray:
    """Two-sided Fisher exact p-values of 2x2 tables (with / without x churner / stayer)."""
    out = []
    for ai, n1i, ci, n0i in zip(*(np.asarray(x, dtype=int).ravel() for x in (a, n1, c, n0))):
        if n1i == 0 or n0i == 0:
            out.append(np.nan)
            continue
        out.append(stats.fisher_exact([[ai, n1i - ai], [ci, n0i - ci]]).pvalue)
    return np.asarray(out, dtype=float)


def bh_qvalues(p) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values); NaNs are kept and not counted."""
    p = np.asarray(p, dtype=float)
    q = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    m = int(ok.sum())
    if m == 0:
        return q
    order = np.argsort(p[ok])
    ranked = p[ok][order] * m / np.arange(1, m + 1)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    vals = np.empty(m)
    vals[order] = np.minimum(ranked, 1.0)
    q[ok] = vals
    return q


def mantel_haenszel_rr(a, n1, c, n0, alpha: float = 0.05):
    """Mantel-Haenszel ratio of proportions over strata, Greenland-Robins interval,
    and the Cochran-Mantel-Haenszel test p-value.

    ``a, n1, c, n0`` are per-stratum arrays (signal among n1 churners, among n0
    stayers). Strata with a single group carry no information and drop out.

    Returns
    -------
    (ratio, lower, upper, p_value) floats (NaN when undefined).
    """
    a, n1, c, n0 = (np.asarray(x, dtype=float) for x in (a, n1, c, n0))
    keep = (n1 > 0) & (n0 > 0)
    a, n1, c, n0 = a[keep], n1[keep], c[keep], n0[keep]
    if a.size == 0:
        return (np.nan,) * 4
    n = n1 + n0
    r = np.sum(a * n0 / n)
    s = np.sum(c * n1 / n)
    if r == 0 or s == 0:
        return (np.nan,) * 4
    ratio = r / s
    m1 = a + c
    var_log = np.sum((n1 * n0 * m1 - a * c * n) / n ** 2) / (r * s)
    z = stats.norm.ppf(1 - alpha / 2)
    se = np.sqrt(max(var_log, 0.0))
    expected = n1 * m1 / n
    variance = n1 * n0 * m1 * (n - m1) / (n ** 2 * np.maximum(n - 1, 1))
    if variance.sum() <= 0:
        p = np.nan
    else:
        chi2 = (abs(a.sum() - expected.sum()) - 0.5) ** 2 / variance.sum()
        p = float(stats.chi2.sf(max(chi2, 0.0), 1))
    return ratio, ratio * np.exp(-z * se), ratio * np.exp(z * se), p


def wilson_interval(k, n, alpha: float = 0.05):
    """Wilson score interval of a proportion (vectorised)."""
    k, n = np.asarray(k, dtype=float), np.asarray(n, dtype=float)
    z = stats.norm.ppf(1 - alpha / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


# ================================================================================ cohort
def _date(value) -> str:
    return pd.Timestamp(value).date().isoformat()


def _resolve_as_of(wh, as_of) -> pd.Timestamp:
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
    wh : an open, validated :class:`churnlab.warehouse.Warehouse`.
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
    as_of = _resolve_as_of(wh, as_of)
    start = as_of - pd.DateOffset(months=lookback_months)
    churned = lifecycle.churned_between(wh, start, as_of, grace_days, obs_end=as_of)
    churned = (churned.sort_values([S.ACCOUNT_ID, "churn_date"])
               .drop_duplicates(S.ACCOUNT_ID, keep="last"))
    churners = pd.DataFrame({S.ACCOUNT_ID: churned[S.ACCOUNT_ID].astype(str),
                             REF_DATE: pd.to_datetime(churned["churn_date"]),
                             "span_start": pd.to_datetime(churned["span_start"]),
                             "n_boundaries": 1})
    t, s0 = f"DATE '{_date(as_of)}'", f"DATE '{_date(start)}'"
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
    _add_observable(cohort, data_start(wh))
    cohort[S.ARR] = _arr_before(wh, cohort)
    return cohort[[REF_ID, S.ACCOUNT_ID, REF_DATE, GROUP, IS_CHURNER, S.ARR, FIRST_DAY,
                   BASELINE_FROM, "n_boundaries"]]


def _add_observable(refs: pd.DataFrame, first_data_day: pd.Timestamp) -> None:
    """First observable day (service start or data start) and the first day that may
    serve as the account's own baseline (after its onboarding ramp)."""
    start = pd.to_datetime(refs["span_start"])
    refs[FIRST_DAY] = start.clip(lower=first_data_day)
    refs[BASELINE_FROM] = (start + pd.Timedelta(days=ONBOARDING_DAYS)).clip(lower=first_data_day)


# ==================================================================== signal definitions
@dataclass(frozen=True)
class DerivedSignal:
    """One binary indicator derived from an event type.

    Attributes
    ----------
    signal : identifier ``<event_type>:<kind>`` (e.g. ``logins:fell``).
    event_type, family : from the signal map.
    kind : ``occurred``, ``fell``, ``rose`` or ``alert``.
    label : plain-language name used in sentences.
    measure : ``count`` or ``gauge`` (how fell/rose compare against the baseline).
    threshold, side : for alerts: the threshold and ``below`` / ``above``.
    """

    signal: str
    event_type: str
    family: str
    kind: str
    label: str
    measure: str = "count"
    threshold: float | None = None
    side: str | None = None


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def derive_signals(signal_map: S.SignalMap, dense_types: Sequence[str] = (),
                   material_change: float = MATERIAL_CHANGE) -> list[DerivedSignal]:
    """The binary signals analysed for each event type (see module doc).

    ``dense_types``: count event types to treat as dense (fell / rose) rather than
    sparse (occurred); pre-aggregated (weekly / daily grain) counts are always dense.
    """
    out: list[DerivedSignal] = []
    drop = f"{material_change:.0%}"
    rise = f"{1 / (1 - material_change) - 1:.0%}"
    for spec in signal_map:
        base = dict(event_type=spec.event_type, family=spec.family)
        unit = f" {spec.unit}" if spec.unit and not spec.unit.startswith("(") else ""
        if spec.kind == "flag" or (spec.kind == "count" and spec.grain == "event"
                                   and spec.event_type not in dense_types):
            out.append(DerivedSignal(f"{spec.event_type}:{OCCURRED}", kind=OCCURRED,
                                     label=spec.label, **base))
        elif spec.kind == "gauge" and (spec.alert_below is not None
                                       or spec.alert_above is not None):
            if spec.alert_below is not None:
                out.append(DerivedSignal(
                    f"{spec.event_type}:{ALERT}", kind=ALERT, measure="gauge",
                    label=f"{spec.label} below {spec.alert_below:g}{unit}",
                    threshold=spec.alert_below, side="below", **base))
            else:
                out.append(DerivedSignal(
                    f"{spec.event_type}:{ALERT}", kind=ALERT, measure="gauge",
                    label=f"{spec.label} above {spec.alert_above:g}{unit}",
                    threshold=spec.alert_above, side="above", **base))
        else:
            measure = "gauge" if spec.kind == "gauge" else "count"
            out.append(DerivedSignal(f"{spec.event_type}:{FELL}", kind=FELL, measure=measure,
                                     label=f"{spec.label} fell by {drop} or more", **base))
            out.append(DerivedSignal(f"{spec.event_type}:{ROSE}", kind=ROSE, measure=measure,
                                     label=f"{spec.label} rose by {rise} or more", **base))
    return out


def _looks(windows: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Trailing periods ``(offset, length)`` evaluated inside each window."""
    looks: set[tuple[int, int]] = set()
    for lo, hi in windows:
        length = min(TRAILING_DAYS, hi - lo)
        o = lo
        while o + length <= hi:
            looks.add((o, length))
            o += LOOK_STEP_DAYS
        looks.add((hi - length, length))  # the last period ends at the window's end
    return sorted(looks)


def _check_windows(windows) -> tuple[tuple[int, int], ...]:
    out = tuple((int(lo), int(hi)) for lo, hi in windows)
    if not out or any(lo < 0 or hi <= lo for lo, hi in out):
        raise ValueError(f"windows must be (start, end) day pairs with 0 <= start < end: {windows}")
    return out


def window_name(window: tuple[int, int]) -> str:
    return f"{window[0]}-{window[1]}"


# ====================================================================== event evidence
def _alert_case(signal_map: S.SignalMap) -> str:
    cases = []
    for spec in signal_map:
        if spec.kind != "gauge":
            continue
        if spec.alert_below is not None:
            cases.append(f"WHEN {F._lit(spec.event_type)} THEN e.{S.VALUE} < {spec.alert_below!r}")
        elif spec.alert_above is not None:
            cases.append(f"WHEN {F._lit(spec.event_type)} THEN e.{S.VALUE} > {spec.alert_above!r}")
    if not cases:
        return "FALSE"
    return f"COALESCE(CASE e.{S.EVENT_TYPE} {' '.join(cases)} ELSE FALSE END, FALSE)"


def reference_aggregates(wh, refs: pd.DataFrame, windows, baseline_days: int = BASELINE_DAYS
                         ) -> dict[str, pd.DataFrame]:
    """Per event type, one row per reference (in ``refs`` order) of the event
    aggregates the signals are derived from.

    Ages are days between an event becoming available (point events at their time,
    weekly / daily rows once their period has ended) and the reference date. Columns:
    ``w{i}_occ`` / ``w{i}_alert`` / ``w{i}_s`` / ``w{i}_n`` (events with a positive
    value, readings beyond the alert threshold, sum and number of rows in window i),
    ``look{j}_s`` / ``look{j}_n`` (trailing periods of :func:`_looks`), ``base_s`` /
    ``base_n`` (the baseline period), ``first_occ`` / ``first_alert`` (largest age
    below the horizon of an event / an alert reading; NaN if none).
    """
    windows = _check_windows(windows)
    horizon = max(hi for _, hi in windows)
    looks = _looks(windows)
    smap = wh.signal_map
    grain_cases = " ".join(f"WHEN {F._lit(s.event_type)} THEN {F.GRAIN_DAYS.get(s.grain, 0)}"
                           for s in smap if F.GRAIN_DAYS.get(s.grain, 0))
    grain = f"CASE e.{S.EVENT_TYPE} {grain_cases} ELSE 0 END" if grain_cases else "0"
    available = f"(e.{S.EVENT_TIME} + to_days(CAST({grain} AS INTEGER)))"
    ref_ts = f"CAST(r.{REF_DATE} AS TIMESTAMP)"
    aggs = []
    for i, (lo, hi) in enumerate(windows):
        inw = f"age >= {lo} AND age < {hi}"
        aggs += [f"count(*) FILTER (WHERE {inw} AND value > 0) AS w{i}_occ",
                 f"count(*) FILTER (WHERE {inw} AND alert) AS w{i}_alert",
                 f"sum(value) FILTER (WHERE {inw}) AS w{i}_s",
                 f"count(*) FILTER (WHERE {inw}) AS w{i}_n"]
    for j, (o, length) in enumerate(looks):
        inl = f"age >= {o} AND age < {o + length}"
        aggs += [f"sum(value) FILTER (WHERE {inl}) AS look{j}_s",
                 f"count(*) FILTER (WHERE {inl}) AS look{j}_n"]
    inb = f"age >= {horizon} AND age < least({horizon + baseline_days}, base_end)"
    aggs += [f"sum(value) FILTER (WHERE {inb}) AS base_s",
             f"count(*) FILTER (WHERE {inb}) AS base_n",
             f"max(age) FILTER (WHERE age < {horizon} AND value > 0) AS first_occ",
             f"max(age) FILTER (WHERE age < {horizon} AND alert) AS first_alert"]
    sql = f"""
        WITH ev AS (
            SELECT r.{REF_ID}, e.{S.EVENT_TYPE} AS event_type, e.{S.VALUE} AS value,
                   {_alert_case(smap)} AS alert, r.base_end,
                   date_diff('day', {available}, {ref_ts}) AS age
            FROM _cl_refs r JOIN {S.EVENTS} e ON e.{S.ACCOUNT_ID} = r.{S.ACCOUNT_ID}
            WHERE e.{S.EVENT_TIME} < {ref_ts}
              AND e.{S.EVENT_TIME} >= {ref_ts} - INTERVAL {horizon + baseline_days + 8} DAY
              AND {available} <= {ref_ts}
        )
        SELECT {REF_ID}, event_type, {', '.join(aggs)}
        FROM ev WHERE age < {horizon + baseline_days}
        GROUP BY {REF_ID}, event_type
    """
    reg = refs[[REF_ID, S.ACCOUNT_ID, REF_DATE]].copy()
    reg["base_end"] = _baseline_end_age(refs)
    wh.con.register("_cl_refs", reg)
    try:
        long = wh.query(sql)
    finally:
        wh.con.unregister("_cl_refs")
    index = pd.Index(refs[REF_ID].to_numpy(), name=REF_ID)
    out: dict[str, pd.DataFrame] = {}
    value_cols = [c for c in long.columns if c not in (REF_ID, "event_type")]
    fill = {c: 0.0 for c in value_cols if not c.startswith("first_")}
    for spec in smap:
        part = long[long["event_type"] == spec.event_type].set_index(REF_ID)[value_cols]
        out[spec.event_type] = (part.reindex(index).astype(float).fillna(fill))
    return out


def _observable_days(refs: pd.DataFrame) -> np.ndarray:
    return (pd.to_datetime(refs[REF_DATE]) - pd.to_datetime(refs[FIRST_DAY])).dt.days.to_numpy()


def _baseline_end_age(refs: pd.DataFrame) -> np.ndarray:
    """Largest age (days before the reference) that may enter the baseline."""
    if BASELINE_FROM not in refs.columns:
        return _observable_days(refs)
    return (pd.to_datetime(refs[REF_DATE])
            - pd.to_datetime(refs[BASELINE_FROM])).dt.days.to_numpy()


def baseline_days_available(refs: pd.DataFrame, horizon: int,
                            baseline_days: int = BASELINE_DAYS) -> np.ndarray:
    """Days of each reference's baseline period (before the horizon, after onboarding)."""
    return np.clip(_baseline_end_age(refs) - horizon, 0, baseline_days).astype(float)


def indicators(sig: DerivedSignal, agg: pd.DataFrame, observable_days: np.ndarray,
               windows, material_change: float = MATERIAL_CHANGE,
               baseline_days: int = BASELINE_DAYS, base_days: np.ndarray | None = None):
    """Evaluate one signal for every reference.

    ``base_days``: days of baseline available per reference (default: all observable
    days before the horizon, up to ``baseline_days``).

    Returns
    -------
    appeared : array (n_refs, n_windows): 1 / 0, NaN where not observable.
    first_age : array (n_refs,): days before the reference of the signal's first
        appearance within the horizon (NaN if it did not appear).
    """
    windows = _check_windows(windows)
    horizon = max(hi for _, hi in windows)
    n = len(agg)
    appeared = np.full((n, len(windows)), np.nan)
    if sig.kind == OCCURRED:
        for i, (lo, hi) in enumerate(windows):
            ok = observable_days >= hi
            appeared[ok, i] = (agg[f"w{i}_occ"].to_numpy()[ok] > 0).astype(float)
        return appeared, agg["first_occ"].to_numpy(dtype=float)
    if sig.kind == ALERT:
        # the window's mean reading beyond the threshold, among accounts with a reading:
        # answering more surveys must not make an alert more likely by itself
        for i, (lo, hi) in enumerate(windows):
            s, cnt = agg[f"w{i}_s"].to_numpy(), agg[f"w{i}_n"].to_numpy()
            ok = (observable_days >= hi) & (cnt > 0)
            with np.errstate(divide="ignore", invalid="ignore"):
                mean = s / cnt
            beyond = mean < sig.threshold if sig.side == "below" else mean > sig.threshold
            appeared[ok, i] = beyond[ok].astype(float)
        return appeared, agg["first_alert"].to_numpy(dtype=float)
    # fell / rose against the account's own baseline, on trailing periods
    looks = _looks(windows)
    if base_days is None:
        base_days = np.clip(observable_days - horizon, 0, baseline_days).astype(float)
    base_s, base_n = agg["base_s"].to_numpy(), agg["base_n"].to_numpy()
    threshold = -np.log1p(-material_change)
    on = np.full((n, len(looks)), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        if sig.measure == "count":
            eps = 0.5 / TRAILING_DAYS
            base_rate = np.where(base_days >= MIN_BASELINE_DAYS, base_s / base_days, np.nan)
        else:
            base_rate = np.where((base_days >= MIN_BASELINE_DAYS) & (base_n > 0),
                                 base_s / base_n, np.nan)
        for j, (o, length) in enumerate(looks):
            s, cnt = agg[f"look{j}_s"].to_numpy(), agg[f"look{j}_n"].to_numpy()
            if sig.measure == "count":
                change = np.log((s / length + eps) / (base_rate + eps))
            else:
                level = np.where(cnt > 0, s / cnt, np.nan)
                change = np.where(base_rate > 0, np.log(level / base_rate), np.nan)
            hit = change <= -threshold if sig.kind == FELL else change >= threshold
            ok = (observable_days >= o + length) & ~np.isnan(change)
            on[ok, j] = hit[ok].astype(float)
    return _from_looks(on, looks, windows)


def _from_looks(on: np.ndarray, looks, windows):
    """Window indicators (any trailing period on) and first appearance (largest
    offset on) from per-look states (n_refs, n_looks) of 1 / 0 / NaN."""
    n = on.shape[0]
    appeared = np.full((n, len(windows)), np.nan)
    for i, (lo, hi) in enumerate(windows):
        cols = [j for j, (o, length) in enumerate(looks) if o >= lo and o + length <= hi]
        block = on[:, cols]
        seen = ~np.isnan(block).all(axis=1)
        appeared[seen, i] = np.nanmax(block[seen], axis=1)
    offsets = np.array([o for o, _ in looks], dtype=float)
    hits = np.where(on == 1, offsets[None, :], np.nan)
    any_hit = ~np.isnan(hits).all(axis=1)
    first = np.full(n, np.nan)
    first[any_hit] = np.nanmax(hits[any_hit], axis=1)
    return appeared, first


def _dense_types(signal_map: S.SignalMap, agg: dict[str, pd.DataFrame],
                 base_days: np.ndarray, dense_min_per_30d: float) -> list[str]:
    """Event-grain counts frequent enough that a material change is measurable."""
    ok = base_days >= MIN_BASELINE_DAYS
    dense = []
    for spec in signal_map:
        if spec.kind != "count" or spec.grain != "event" or not ok.any():
            continue
        rate = agg[spec.event_type]["base_s"].to_numpy()[ok] / base_days[ok] * 30
        if np.median(rate) >= dense_min_per_30d:
            dense.append(spec.event_type)
    return dense


# ============================================================================== evidence
@dataclass
class SignalEvidence:
    """Everything the analysis tables are computed from (see :func:`collect_evidence`).

    Attributes
    ----------
    as_of, windows, material_change : settings of the run.
    cohort : :func:`make_cohort` output (one row per reference).
    signals : the derived signals analysed.
    appeared : signal -> array (n_refs, n_windows) of 1 / 0 / NaN.
    first_age : signal -> array (n_refs,) days before the reference of first appearance.
    aggregates : event type -> per-reference event aggregates (:func:`reference_aggregates`).
    usage_level : array (n_refs, n_windows): mean of the usage gauge in each window.
    landmarks : one row per sampled (account, monthly landmark) of the active base,
        with ``duration_days`` / ``churned`` survival labels (as seen from as_of,
        truncated at ``hr_horizon_days``); None when hazard ratios were skipped.
    landmark_appeared : signal -> array (n_landmarks, n_windows).
    """

    as_of: pd.Timestamp
    windows: tuple[tuple[int, int], ...]
    material_change: float
    cohort: pd.DataFrame
    signals: list[DerivedSignal]
    appeared: dict[str, np.ndarray]
    first_age: dict[str, np.ndarray]
    aggregates: dict[str, pd.DataFrame]
    usage_level: np.ndarray
    usage_signal: str | None
    landmarks: pd.DataFrame | None = None
    landmark_appeared: dict[str, np.ndarray] = field(default_factory=dict)
    hr_horizon_days: int = 180

    @property
    def horizon(self) -> int:
        return max(hi for _, hi in self.windows)

    def signal(self, name: str) -> DerivedSignal:
        for s in self.signals:
            if s.signal == name:
                return s
        known = ", ".join(s.signal for s in self.signals)
        raise KeyError(f"unknown signal {name!r}; known: {known}")


def _usage_signal(signal_map: S.SignalMap, usage_signal: str | None) -> str | None:
    if usage_signal is not None and usage_signal in signal_map:
        return usage_signal
    gauges = [s.event_type for s in signal_map.by_family("usage") if s.kind == "gauge"]
    counts = [s.event_type for s in signal_map.by_family("usage") if s.kind == "count"]
    return (gauges or counts or [None])[0]


def _window_level(agg: pd.DataFrame, n_windows: int, measure: str) -> np.ndarray:
    out = np.full((len(agg), n_windows), np.nan)
    for i in range(n_windows):
        s, n = agg[f"w{i}_s"].to_numpy(), agg[f"w{i}_n"].to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            out[:, i] = np.where(n > 0, s / n, np.nan) if measure == "gauge" else s
    return out


def _landmark_refs(wh, as_of: pd.Timestamp, lookback_months: int, max_rows: int,
                   seed: int, grace_days: int) -> pd.DataFrame:
    dates = F.monthly_dates(as_of - pd.DateOffset(months=lookback_months),
                            as_of - pd.Timedelta(days=1))
    frames = []
    for d in dates:
        act = lifecycle.active_accounts(wh, d, grace_days)[[S.ACCOUNT_ID, "span_start"]]
        frames.append(act.assign(**{F.LANDMARK: d}))
    if not frames:
        return pd.DataFrame(columns=[REF_ID, S.ACCOUNT_ID, REF_DATE, FIRST_DAY, BASELINE_FROM,
                                     F.LANDMARK])
    refs = pd.concat(frames, ignore_index=True)
    # one landmark per account, so that rows are independent (no account is counted
    # twelve times), then at most max_rows accounts
    refs = refs.sample(frac=1.0, random_state=seed).drop_duplicates(S.ACCOUNT_ID)
    if len(refs) > max_rows:
        refs = refs.iloc[:max_rows]
    refs = refs.sort_values([F.LANDMARK, S.ACCOUNT_ID])
    refs[S.ACCOUNT_ID] = refs[S.ACCOUNT_ID].astype(str)
    refs[REF_DATE] = pd.to_datetime(refs[F.LANDMARK])
    _add_observable(refs, data_start(wh))
    refs = refs.reset_index(drop=True)
    refs.insert(0, REF_ID, np.arange(len(refs)))
    return refs


def collect_evidence(wh, as_of=None, windows=DEFAULT_WINDOWS, lookback_months: int = 12,
                     seed: int = 0, material_change: float = MATERIAL_CHANGE,
                     baseline_days: int = BASELINE_DAYS,
                     dense_min_per_30d: float = DENSE_MIN_PER_30D,
                     usage_signal: str | None = USAGE_SIGNAL, hazard: bool = True,
                     max_landmark_rows: int = 8000, hr_horizon_days: int = 180,
                     grace_days: int = S.GRACE_DAYS) -> SignalEvidence:
    """Build the cohort and evaluate every signal for every reference (and, for
    hazard ratios, for a sample of monthly landmarks of the active base).

    Parameters are those of :func:`analyse_signals`.
    """
    as_of = _resolve_as_of(wh, as_of)
    windows = _check_windows(windows)
    cohort = make_cohort(wh, as_of, lookback_months, seed, grace_days)
    if not cohort[IS_CHURNER].any() or cohort[IS_CHURNER].all():
        raise ValueError(f"as of {as_of.date()}: the cohort needs both churners and stayers "
                         f"({int(cohort[IS_CHURNER].sum())} churners, "
                         f"{int((~cohort[IS_CHURNER]).sum())} stayers)")
    agg = reference_aggregates(wh, cohort, windows, baseline_days)
    days = _observable_days(cohort)
    horizon = max(hi for _, hi in windows)
    bdays = baseline_days_available(cohort, horizon, baseline_days)
    dense = _dense_types(wh.signal_map, agg, bdays, dense_min_per_30d)
    sigs = derive_signals(wh.signal_map, dense, material_change)
    appeared, first = {}, {}
    for sig in sigs:
        appeared[sig.signal], first[sig.signal] = indicators(
            sig, agg[sig.event_type], days, windows, material_change, baseline_days, bdays)
    usage = _usage_signal(wh.signal_map, usage_signal)
    usage_level = (_window_level(agg[usage], len(windows), wh.signal_map[usage].kind)
                   if usage else np.full((len(cohort), len(windows)), np.nan))
    ev = SignalEvidence(as_of, windows, material_change, cohort, sigs, appeared, first, agg,
                        usage_level, usage, hr_horizon_days=hr_horizon_days)
    if hazard:
        refs = _landmark_refs(wh, as_of, lookback_months, max_landmark_rows, seed, grace_days)
        if len(refs):
            outcomes = lifecycle.churn_outcomes(wh, grace_days, obs_end=as_of)
            labelled = F.attach_labels(refs[[REF_ID, F.LANDMARK, S.ACCOUNT_ID]], outcomes, as_of)
            refs = refs.merge(labelled[[REF_ID, F.DURATION, F.EVENT]], on=REF_ID, how="inner")
            refs = refs.reset_index(drop=True)
            event = refs[F.EVENT].astype(bool) & (refs[F.DURATION] <= hr_horizon_days)
            refs[F.EVENT] = event.astype(int)
            refs[F.DURATION] = np.clip(refs[F.DURATION], 1, hr_horizon_days)
            lagg = reference_aggregates(wh, refs, windows, baseline_days)
            ldays = _observable_days(refs)
            lbase = baseline_days_available(refs, horizon, baseline_days)
            ev.landmarks = refs
            ev.landmark_appeared = {
                sig.signal: indicators(sig, lagg[sig.event_type], ldays, windows,
                                       material_change, baseline_days, lbase)[0]
                for sig in sigs}
    return ev


# ============================================================================= analysis
def _hazard_ratio(x: np.ndarray, duration: np.ndarray, event: np.ndarray):
    """Univariate Cox hazard ratio of a binary covariate (lifelines), with 95% CI."""
    from lifelines import CoxPHFitter

    ok = ~np.isnan(x)
    x, duration, event = x[ok], duration[ok], event[ok]
    if x.size == 0 or x.min() == x.max() or event.sum() == 0 or event[x == 1].sum() == 0:
        return (np.nan,) * 4
    df = (pd.DataFrame({"x": x, "T": duration, "E": event})
          .groupby(["x", "T", "E"]).size().rename("w").reset_index())
    row = None
    # lifelines' default Newton step overshoots on strong binary effects: damp it
    for step in (0.5, 0.2):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cph = CoxPHFitter().fit(df, "T", "E", weights_col="w",
                                        fit_options={"step_size": step})
        except Exception as exc:  # lifelines raises several convergence errors
            log.debug("Cox fit failed (step %s): %s", step, exc)
            continue
        row = cph.summary.loc["x"]
        if np.isfinite(row["exp(coef) lower 95%"]) and np.isfinite(row["exp(coef) upper 95%"]):
            break
        row = None
    if row is None:
        return (np.nan,) * 4
    return (float(row["exp(coef)"]), float(row["exp(coef) lower 95%"]),
            float(row["exp(coef) upper 95%"]), float(row["p"]))


def _any_window(appeared: np.ndarray) -> np.ndarray:
    """1 if the signal appeared in any observable window, 0 if in none, NaN if no
    window was observable."""
    out = np.full(appeared.shape[0], np.nan)
    seen = ~np.isnan(appeared).all(axis=1)
    out[seen] = np.nanmax(appeared[seen], axis=1)
    return out


def _usage_strata(level: np.ndarray, n_strata: int) -> np.ndarray:
    """Quintile (by default) of usage per reference; -1 for no reading."""
    out = np.full(level.shape, -1, dtype=int)
    ok = ~np.isnan(level)
    if ok.sum() >= n_strata:
        edges = np.unique(np.quantile(level[ok], np.linspace(0, 1, n_strata + 1)[1:-1]))
        out[ok] = np.searchsorted(edges, level[ok], side="right")
    return out


def _stratified_counts(x: np.ndarray, churner: np.ndarray, strata: np.ndarray):
    ok = ~np.isnan(x)
    rows = []
    for k in np.unique(strata[ok]):
        m = ok & (strata == k)
        rows.append((np.sum(x[m & churner] == 1), np.sum(m & churner),
                     np.sum(x[m & ~churner] == 1), np.sum(m & ~churner)))
    return np.array(rows, dtype=float).reshape(-1, 4).T


def analyse_signals(wh=None, as_of=None, windows=DEFAULT_WINDOWS, lookback_months: int = 12,
                    seed: int = 0, material_change: float = MATERIAL_CHANGE,
                    alpha: float = 0.05, hazard: bool = True,
                    max_landmark_rows: int = 8000, hr_horizon_days: int = 180,
                    usage_signal: str | None = USAGE_SIGNAL,
                    evidence: SignalEvidence | None = None, **kwargs) -> pd.DataFrame:
    """Leading-signal analysis of the churners of the ``lookback_months`` before as-of.

    Parameters
    ----------
    wh : an open, validated warehouse (not needed when ``evidence`` is given).
    as_of : analysis date (default: the data's end).
    windows : ``(start, end)`` day ranges before the reference date.
    lookback_months : how far back churners are taken (12: "last year's churners").
    seed : stayers' reference renewal draw and the landmark sample.
    material_change : the relative drop that counts as "fell" (and its symmetric rise).
    alpha : level of the confidence intervals and the q-value cut for ``significant``.
    hazard : fit univariate Cox hazard ratios on monthly landmarks (slowest part).
    max_landmark_rows : at most this many accounts (one random monthly landmark each)
        for the hazard ratios.
    hr_horizon_days : hazard ratios are of churn within this many days of a landmark.
    usage_signal : usage event type whose per-window quintile stratifies the
        Mantel-Haenszel lift (default weekly active users).
    evidence : a :func:`collect_evidence` result to reuse (then the settings above
        that shape the evidence are taken from it).
    **kwargs : passed to :func:`collect_evidence` (``baseline_days``,
        ``dense_min_per_30d``, ``grace_days``).

    Returns
    -------
    DataFrame, one row per signal and window: signal, event_type, family, kind, label,
    window, window_start, window_end, n_churners, n_stayers, churners_with,
    stayers_with, prev_churners, prev_stayers, lift, lift_lo, lift_hi, p_value,
    q_value, significant, direction (``risk`` / ``protective`` / ``none``), lift_mh,
    lift_mh_lo, lift_mh_hi, p_mh, q_mh, coverage_arr (share of churned ARR showing the
    signal in the window), and per signal (repeated on its rows): coverage_arr_any
    (in any window), lead_n, lead_median, lead_q25, lead_q75 (days, churners
    observable over the whole horizon), hr, hr_lo, hr_hi, hr_p, hr_q (the signal in
    any window before a monthly landmark vs churn within ``hr_horizon_days``).
    """
    if evidence is None:
        if wh is None:
            raise ValueError("analyse_signals needs a warehouse or evidence")
        evidence = collect_evidence(wh, as_of, windows, lookback_months, seed, material_change,
                                    usage_signal=usage_signal, hazard=hazard,
                                    max_landmark_rows=max_landmark_rows,
                                    hr_horizon_days=hr_horizon_days, **kwargs)
    ev = evidence
    cohort = ev.cohort
    churner = cohort[IS_CHURNER].to_numpy()
    arr = cohort[S.ARR].to_numpy(dtype=float)
    churned_arr = arr[churner].sum()
    full = _observable_days(cohort) >= ev.horizon
    # hazard ratios on landmarks whose whole horizon is observable (a young account
    # cannot show an old signal, and its churn risk differs for reasons of its own)
    landmark_full = (_observable_days(ev.landmarks) >= ev.horizon
                     if ev.landmarks is not None else None)
    strata = np.column_stack([_usage_strata(ev.usage_level[:, i], N_USAGE_STRATA)
                              for i in range(len(ev.windows))])
    rows = []
    for sig in ev.signals:
        app, first = ev.appeared[sig.signal], ev.first_age[sig.signal]
        lead = first[churner & full & ~np.isnan(first)]
        any_first = churner & ~np.isnan(first)
        per_signal = dict(
            coverage_arr_any=arr[any_first].sum() / churned_arr if churned_arr > 0 else np.nan,
            lead_n=lead.size,
            lead_median=float(np.median(lead)) if lead.size else np.nan,
            lead_q25=float(np.quantile(lead, 0.25)) if lead.size else np.nan,
            lead_q75=float(np.quantile(lead, 0.75)) if lead.size else np.nan)
        hr = (_hazard_ratio(np.where(landmark_full, _any_window(ev.landmark_appeared[sig.signal]),
                                     np.nan),
                            ev.landmarks[F.DURATION].to_numpy(float),
                            ev.landmarks[F.EVENT].to_numpy(float))
              if ev.landmarks is not None else (np.nan,) * 4)
        for i, window in enumerate(ev.windows):
            x = app[:, i]
            ok = ~np.isnan(x)
            a, n1 = np.sum(x[ok & churner] == 1), np.sum(ok & churner)
            c, n0 = np.sum(x[ok & ~churner] == 1), np.sum(ok & ~churner)
            mh = mantel_haenszel_rr(*_stratified_counts(x, churner, strata[:, i]), alpha=alpha)
            rows.append(dict(
                signal=sig.signal, event_type=sig.event_type, family=sig.family,
                kind=sig.kind, label=sig.label, window=window_name(window),
                window_start=window[0], window_end=window[1],
                n_churners=int(n1), n_stayers=int(n0), churners_with=int(a),
                stayers_with=int(c),
                prev_churners=a / n1 if n1 else np.nan, prev_stayers=c / n0 if n0 else np.nan,
                lift_mh=mh[0], lift_mh_lo=mh[1], lift_mh_hi=mh[2], p_mh=mh[3],
                coverage_arr=(arr[churner & ok & (x == 1)].sum() / churned_arr
                              if churned_arr > 0 else np.nan),
                hr=hr[0], hr_lo=hr[1], hr_hi=hr[2], hr_p=hr[3], **per_signal))
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    lift, lo, hi, _ = risk_ratio(table["churners_with"], table["n_churners"],
                                 table["stayers_with"], table["n_stayers"], alpha)
    table["lift"], table["lift_lo"], table["lift_hi"] = lift, lo, hi
    table["p_value"] = fisher_p(table["churners_with"], table["n_churners"],
                                table["stayers_with"], table["n_stayers"])
    table["q_value"] = bh_qvalues(table["p_value"])
    table["q_mh"] = bh_qvalues(table["p_mh"])
    per_signal_hr = table.drop_duplicates("signal")[["signal", "hr_p"]]
    table["hr_q"] = table["signal"].map(dict(zip(per_signal_hr["signal"],
                                                 bh_qvalues(per_signal_hr["hr_p"]))))
    table["significant"] = table["q_value"] < alpha
    table["direction"] = np.where(~table["significant"], "none",
                                  np.where(table["lift"] > 1, "risk", "protective"))
    order = ["signal", "event_type", "family", "kind", "label", "window", "window_start",
             "window_end", "n_churners", "n_stayers", "churners_with", "stayers_with",
             "prev_churners", "prev_stayers", "lift", "lift_lo", "lift_hi", "p_value",
             "q_value", "significant", "direction", "lift_mh", "lift_mh_lo", "lift_mh_hi",
             "p_mh", "q_mh", "coverage_arr", "coverage_arr_any", "lead_n", "lead_median",
             "lead_q25", "lead_q75", "hr", "hr_lo", "hr_hi", "hr_p", "hr_q"]
    return table[order]


# ============================================================================== summary
def _fmt_days(x: float) -> str:
    return f"{x:.0f}"


def _sentence(row: pd.Series) -> str:
    label = _capitalise(row["label"])
    window = f"{row['window']} days before"
    if row["direction"] == "risk":
        parts = [f"{label} preceded {row['coverage_arr_any']:.0%} of churned ARR"]
        if not np.isnan(row["lead_median"]):
            parts.append(f"median {_fmt_days(row['lead_median'])} days before churn "
                         f"(IQR {_fmt_days(row['lead_q25'])}-{_fmt_days(row['lead_q75'])})")
        parts.append(f"{row['lift']:.1f}x more common than among renewals {window} "
                     f"(95% CI {row['lift_lo']:.1f}-{row['lift_hi']:.1f})")
        return ", ".join(parts) + "."
    if row["direction"] == "protective":
        return (f"{label} was {1 / row['lift']:.1f}x less common among churners than "
                f"among renewals {window} (95% CI {1 / row['lift_hi']:.1f}-"
                f"{1 / row['lift_lo']:.1f}): a sign of health, not of risk.")
    if np.isnan(row["lift"]):
        return f"{label}: never observed in this cohort."
    return (f"{label}: no reliable difference between churners and renewals "
            f"(lift {row['lift']:.2f}x {window}, q = {row['q_value']:.2f}).")


def summarise_signals(table: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """One row per signal, ranked by how strongly and how early it warns.

    For each signal the headline window is, among the windows significant after
    Benjamini-Hochberg (``q < alpha``), the one with the strongest evidence (largest
    lower bound of the lift for a risk signal, smallest upper bound for a protective
    one); without a significant window, the one with the smallest p-value.

    Risk signals come first, ordered by ``warning_score = log(lift_lo) * (1 +
    lead_median / horizon)``: the conservative strength of the lift, raised by how
    early (median lead time, relative to the longest window) the signal appears.
    Protective signals follow (by ``-log(lift_hi)``), then signals without a
    reliable difference (by p-value).

    Returns
    -------
    DataFrame with rank, signal, event_type, family, label, kind, direction, window (headline),
    earliest_window (furthest significant window in the headline direction), lift,
    lift_lo, lift_hi, q_value, prev_churners, prev_stayers, coverage_arr_any,
    lead_median, lead_q25, lead_q75, lead_n, hr, hr_lo, hr_hi, hr_q, lift_mh,
    lift_mh_lo, lift_mh_hi, q_mh, warning_score and sentence.
    """
    horizon = table["window_end"].max()
    rows = []
    for signal, part in table.groupby("signal", sort=False):
        sig = part[part["q_value"] < alpha]
        risk, prot = sig[sig["lift"] > 1], sig[sig["lift"] < 1]
        if len(risk):
            head, direction = risk.loc[risk["lift_lo"].idxmax()], "risk"
            earliest = risk.loc[risk["window_end"].idxmax(), "window"]
        elif len(prot):
            head, direction = prot.loc[prot["lift_hi"].idxmin()], "protective"
            earliest = prot.loc[prot["window_end"].idxmax(), "window"]
        else:
            best = part["p_value"].idxmin() if part["p_value"].notna().any() else part.index[0]
            head, direction, earliest = part.loc[best], "none", None
        row = head.copy()
        row["direction"], row["earliest_window"] = direction, earliest
        lead = row["lead_median"] if not np.isnan(row["lead_median"]) else 0.0
        if direction == "risk":
            row["warning_score"] = np.log(row["lift_lo"]) * (1 + lead / horizon)
        elif direction == "protective":
            row["warning_score"] = np.log(row["lift_hi"])
        else:
            row["warning_score"] = np.nan
        rows.append(row)
    out = pd.DataFrame(rows)
    group = out["direction"].map({"risk": 0, "protective": 1, "none": 2})
    key = np.where(out["direction"] == "risk", -out["warning_score"],
                   np.where(out["direction"] == "protective", out["warning_score"],
                            out["p_value"]))
    out = (out.assign(_g=group.to_numpy(), _k=key).sort_values(["_g", "_k", "signal"])
           .drop(columns=["_g", "_k"]).reset_index(drop=True))
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    out["sentence"] = out.apply(_sentence, axis=1)
    cols = ["rank", "signal", "event_type", "family", "label", "kind", "direction", "window",
            "earliest_window", "lift", "lift_lo", "lift_hi", "p_value", "q_value",
            "prev_churners", "prev_stayers", "coverage_arr_any", "lead_median", "lead_q25",
            "lead_q75", "lead_n", "hr", "hr_lo", "hr_hi", "hr_q", "lift_mh", "lift_mh_lo",
            "lift_mh_hi", "q_mh", "warning_score", "sentence"]
    return out[cols]


def summarise_families(summary: pd.DataFrame) -> pd.DataFrame:
    """Per signal family: how many signals warn (risk), protect, or show nothing, and
    the family's leading signal (its best-ranked one)."""
    rows = []
    for family, part in summary.groupby("family", sort=False):
        best = part.sort_values("rank").iloc[0]
        rows.append(dict(family=family, n_signals=len(part),
                         n_risk=int((part["direction"] == "risk").sum()),
                         n_protective=int((part["direction"] == "protective").sum()),
                         best_rank=int(best["rank"]), leading_signal=best["signal"],
                         sentence=best["sentence"]))
    return pd.DataFrame(rows).sort_values("best_rank").reset_index(drop=True)


def lead_time_table(evidence: SignalEvidence, signals: Sequence[str] | None = None
                    ) -> pd.DataFrame:
    """Per churner and signal: days between the signal's first appearance within the
    horizon and the churn (churners observable over the whole horizon only).

    Returns columns signal, label, family, account_id, lead_days, arr.
    """
    ev = evidence
    cohort = ev.cohort
    churner = cohort[IS_CHURNER].to_numpy() & (_observable_days(cohort) >= ev.horizon)
    wanted = set(signals) if signals is not None else None
    frames = []
    for sig in ev.signals:
        if wanted is not None and sig.signal not in wanted:
            continue
        first = ev.first_age[sig.signal]
        m = churner & ~np.isnan(first)
        frames.append(pd.DataFrame({"signal": sig.signal, "label": sig.label,
                                    "family": sig.family,
                                    S.ACCOUNT_ID: cohort[S.ACCOUNT_ID].to_numpy()[m],
                                    "lead_days": first[m],
                                    S.ARR: cohort[S.ARR].to_numpy()[m]}))
    if not frames:
        return pd.DataFrame(columns=["signal", "label", "family", S.ACCOUNT_ID, "lead_days", S.ARR])
    return pd.concat(frames, ignore_index=True)


# ========================================================================== confounding
def _per_user_change(ev: SignalEvidence, event_type: str, kind: str = ROSE,
                     baseline_days: int = BASELINE_DAYS):
    """``rose`` / ``fell`` on the event rate per active user: the events counted in a
    trailing period against the events expected there from the account's baseline
    rate per user times its users in that period (0.5 event added to both sides)."""
    if ev.usage_signal is None:
        raise ValueError("no usage signal to normalise by")
    c, u = ev.aggregates[event_type], ev.aggregates[ev.usage_signal]
    looks = _looks(ev.windows)
    days = _observable_days(ev.cohort)
    base_days = baseline_days_available(ev.cohort, ev.horizon, baseline_days)
    threshold = -np.log1p(-ev.material_change)
    on = np.full((len(c), len(looks)), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        ok_base = (base_days >= MIN_BASELINE_DAYS) & (u["base_n"].to_numpy() > 0)
        rate_base = np.where(ok_base, c["base_s"].to_numpy() / base_days, np.nan)
        users_base = np.where(ok_base, u["base_s"].to_numpy() / u["base_n"].to_numpy(), np.nan)
        for j, (o, length) in enumerate(looks):
            un = u[f"look{j}_n"].to_numpy()
            users = np.where(un > 0, u[f"look{j}_s"].to_numpy() / un, np.nan)
            expected = rate_base * length * users / users_base
            change = np.log((c[f"look{j}_s"].to_numpy() + 0.5) / (expected + 0.5))
            ok = (days >= o + length) & np.isfinite(change)
            hit = change >= threshold if kind == ROSE else change <= -threshold
            on[ok, j] = hit[ok].astype(float)
    return _from_looks(on, looks, ev.windows)[0]


def compare_adjusted(evidence: SignalEvidence, event_type: str, signal: str | None = None,
                     alpha: float = 0.05) -> pd.DataFrame:
    """A possibly confounded signal seen three ways, per window.

    * ``naive``: the signal as analysed (churners vs stayers);
    * ``per active user``: for counts, the same change (rose / fell; a rise for an
      ``occurred`` signal) measured on the event rate per active user: events against
      those expected from the account's own baseline rate per user and its current
      users;
    * ``usage-stratified``: the naive indicator's Mantel-Haenszel lift within quintiles
      of usage in the same window (accounts compared at equal usage).

    ``signal`` defaults to the event type's signal that naively looks most like a
    warning (the smallest p-value among lifts above 1; else its first signal).

    Returns
    -------
    DataFrame: view, signal, window, lift, lift_lo, lift_hi, p_value, prev_churners,
    prev_stayers, n_churners, n_stayers.
    """
    ev = evidence
    churner = ev.cohort[IS_CHURNER].to_numpy()
    candidates = [s for s in ev.signals if s.event_type == event_type]
    if not candidates:
        raise KeyError(f"event type {event_type!r} is not among the analysed signals")

    def tables(app):
        out = []
        for i in range(len(ev.windows)):
            x = app[:, i]
            ok = ~np.isnan(x)
            out.append((np.sum(x[ok & churner] == 1), np.sum(ok & churner),
                        np.sum(x[ok & ~churner] == 1), np.sum(ok & ~churner)))
        return out

    if signal is None:
        def naive_risk(sig):
            best = np.inf
            for a, n1, c, n0 in tables(ev.appeared[sig.signal]):
                lift = risk_ratio(a, n1, c, n0, alpha)[0]
                if np.isfinite(lift) and lift > 1:
                    best = min(best, fisher_p([a], [n1], [c], [n0])[0])
            return best
        signal = min(candidates, key=naive_risk).signal
    sig = ev.signal(signal)
    views = [("naive", signal, ev.appeared[signal])]
    if ev.usage_signal is not None and sig.measure == "count" and sig.kind != ALERT:
        kind = FELL if sig.kind == FELL else ROSE
        views.append(("per active user", f"{event_type}:{kind}_per_user",
                      _per_user_change(ev, event_type, kind)))
    rows = []
    for view, name, app in views:
        for window, (a, n1, c, n0) in zip(ev.windows, tables(app)):
            lift, lo, hi, _ = risk_ratio(a, n1, c, n0, alpha)
            rows.append(dict(view=view, signal=name, window=window_name(window),
                             lift=float(lift), lift_lo=float(lo), lift_hi=float(hi),
                             p_value=float(fisher_p([a], [n1], [c], [n0])[0]),
                             prev_churners=a / n1 if n1 else np.nan,
                             prev_stayers=c / n0 if n0 else np.nan,
                             n_churners=int(n1), n_stayers=int(n0)))
    app = ev.appeared[signal]
    for i, window in enumerate(ev.windows):
        strata = _usage_strata(ev.usage_level[:, i], N_USAGE_STRATA)
        counts = _stratified_counts(app[:, i], churner, strata)
        lift, lo, hi, p = mantel_haenszel_rr(*counts, alpha=alpha)
        rows.append(dict(view="usage-stratified", signal=signal, window=window_name(window),
                         lift=lift, lift_lo=lo, lift_hi=hi, p_value=p,
                         prev_churners=np.nan, prev_stayers=np.nan,
                         n_churners=int(counts[1].sum()), n_stayers=int(counts[3].sum())))
    return pd.DataFrame(rows)


def describe_adjustment(adjusted: pd.DataFrame, label: str, alpha: float = 0.05) -> str:
    """One paragraph: what the naive view of a confounded signal claims, and what is
    left of it once usage is accounted for (from :func:`compare_adjusted`)."""
    naive = adjusted[adjusted["view"] == "naive"]
    head = naive.loc[naive["p_value"].idxmin()]
    adj = adjusted[(adjusted["view"] != "naive") & (adjusted["window"] == head["window"])]

    def claim(r) -> str:
        if r["p_value"] < alpha and r["lift"] > 1:
            return (f"is {r['lift']:.1f}x more common among churners "
                    f"(95% CI {r['lift_lo']:.1f}-{r['lift_hi']:.1f})")
        if r["p_value"] < alpha and r["lift"] < 1:
            return (f"is {1 / r['lift']:.1f}x less common among churners "
                    f"(95% CI {1 / r['lift_hi']:.1f}-{1 / r['lift_lo']:.1f})")
        return (f"shows no reliable difference (lift {r['lift']:.2f}, "
                f"95% CI {r['lift_lo']:.2f}-{r['lift_hi']:.2f})")

    text = (f"Naively, \"{label}\" {head['window']} days before the reference date "
            f"{claim(head)}.")
    for _, r in adj.iterrows():
        text += f" Seen {r['view']}, it {claim(r)}."
    naive_risk = head["p_value"] < alpha and head["lift"] > 1
    adj_risk = any((r["p_value"] < alpha) and (r["lift_lo"] > 1) for _, r in adj.iterrows())
    naive_prot = head["p_value"] < alpha and head["lift"] < 1
    if naive_risk and not adj_risk:
        text += (" The naive view would have called it a warning sign; once usage is held "
                 "fixed it is not one: the difference came from how much the accounts use "
                 "the product, not from the signal itself.")
    elif naive_prot and not adj_risk and all(r["lift_hi"] >= 1 for _, r in adj.iterrows()):
        text += (" The naive view would have read it as a sign of health; once usage is held "
                 "fixed the difference disappears: busy accounts simply generate more of it.")
    elif naive_risk and adj_risk:
        text += " The warning survives the adjustment for usage."
    else:
        text += " Neither view makes it a warning sign."
    return text


# ============================================================================== cohorts
def metric_cohorts(wh, as_of=None, metric: str = "weekly_active_users__mean_90d",
                   n_cohorts: int = 10, lookback_months: int = 12,
                   grace_days: int = S.GRACE_DAYS, alpha: float = 0.05) -> pd.DataFrame:
    """Churn rate by cohort (quantile group) of a point-in-time metric.

    Accounts active ``lookback_months`` before as-of are grouped by ``n_cohorts``
    quantiles of ``metric`` (a :func:`churnlab.features.make_snapshot` column) at that
    date; each cohort's churn rate is the share that churned (confirmed by as-of)
    before as-of, with a Wilson interval. Accounts without a value form their own
    cohort (``no data``).

    Returns
    -------
    DataFrame: cohort, metric_lo, metric_hi, metric_median, n, churned, churn_rate,
    churn_rate_lo, churn_rate_hi, arr, churned_arr.
    """
    as_of = _resolve_as_of(wh, as_of)
    start = as_of - pd.DateOffset(months=lookback_months)
    snap = F.make_snapshot(wh, start, grace_days=grace_days)
    if metric not in snap.columns:
        raise KeyError(f"{metric!r} is not a snapshot column")
    outcomes = lifecycle.churn_outcomes(wh, grace_days, obs_end=as_of)
    labelled = F.attach_labels(snap, outcomes, as_of)
    churned = labelled[F.EVENT].astype(bool) & (pd.to_datetime(labelled[F.CHURN_DATE]) < as_of)
    df = pd.DataFrame({"value": labelled[metric].astype(float), "churned": churned,
                       "arr": labelled[S.ARR].astype(float)})
    have = df["value"].notna()
    df["cohort"] = "no data"
    if have.sum() >= n_cohorts:
        codes = pd.qcut(df.loc[have, "value"].rank(method="first"), n_cohorts, labels=False)
        df.loc[have, "cohort"] = (codes + 1).astype(int).astype(str)
    g = df.groupby("cohort", sort=False)
    out = pd.DataFrame({"metric_lo": g["value"].min(), "metric_hi": g["value"].max(),
                        "metric_median": g["value"].median(), "n": g.size(),
                        "churned": g["churned"].sum(),
                        "arr": g["arr"].sum(),
                        "churned_arr": df[df["churned"]].groupby("cohort")["arr"].sum()})
    out["churned_arr"] = out["churned_arr"].fillna(0.0)
    out["churn_rate"] = out["churned"] / out["n"]
    out["churn_rate_lo"], out["churn_rate_hi"] = wilson_interval(out["churned"], out["n"], alpha)
    out = out.reset_index()
    out["_order"] = pd.to_numeric(out["cohort"], errors="coerce").fillna(n_cohorts + 1)
    out = out.sort_values("_order").drop(columns="_order").reset_index(drop=True)
    out.insert(1, "metric", metric)
    return out
