"""Evidence per signal and window: prevalence among churners and stayers, lead times."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from churnlab.data import contract as S
from churnlab.data import lifecycle
from churnlab.data.signal_map import SignalMap
from churnlab.errors import InputError
from churnlab.features import snapshot as F
from churnlab.features.landmarks import attach_labels, monthly_dates
from churnlab.signals.cohort import (
    BASELINE_DAYS,
    BASELINE_FROM,
    DEFAULT_WINDOWS,
    DENSE_MIN_PER_30D,
    FIRST_DAY,
    IS_CHURNER,
    MATERIAL_CHANGE,
    REF_DATE,
    REF_ID,
    add_observable,
    data_start,
    make_cohort,
    resolve_as_of,
)
from churnlab.signals.derive import (
    DerivedSignal,
    baseline_days_available,
    check_windows,
    dense_event_types,
    derive_signals,
    indicators,
    observable_days_of,
    reference_aggregates,
)
from churnlab.signals.peers import LIFECYCLE_ROLES, evaluate_peer_signals, peer_signals


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
    landmarks : the sampled (account, monthly landmark) rows of the active base, up to
        ``ADJUSTED_PER_ACCOUNT`` per account (``first_of_account`` marks the one the
        hazard ratios use),
        with ``duration_days`` / ``churned`` survival labels (as seen from as_of,
        truncated at ``hr_horizon_days``); None when hazard ratios were skipped.
    landmark_appeared : signal -> array (n_landmarks, n_windows).
    landmark_aggregates : event type -> per-landmark event aggregates.
    first_reached : lifecycle event type (role ``first_value`` / ``onboarding``) -> days
        from the account's start to its first such event, per landmark (NaN: not before
        the landmark).
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
    landmark_aggregates: dict[str, pd.DataFrame] = field(default_factory=dict)
    first_reached: dict[str, np.ndarray] = field(default_factory=dict)
    signal_map: SignalMap | None = None

    @property
    def horizon(self) -> int:
        return max(hi for _, hi in self.windows)

    def signal(self, name: str) -> DerivedSignal:
        for s in self.signals:
            if s.signal == name:
                return s
        known = ", ".join(s.signal for s in self.signals)
        raise KeyError(f"unknown signal {name!r}; known: {known}")


def first_reached(wh, refs: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per lifecycle event type of the map (roles :data:`LIFECYCLE_ROLES`), the days from
    each reference's service start to the account's first such event before the
    reference date (NaN when none came before it)."""
    out = {}
    for role in LIFECYCLE_ROLES:
        et = wh.signal_map.role(role)
        if not et or et in out:
            continue
        first = wh.query(f"SELECT {S.ACCOUNT_ID}, {S.EVENT_TIME} FROM {S.EVENTS} "
                         f"WHERE {S.EVENT_TYPE} = ?", [et])
        first[S.ACCOUNT_ID] = first[S.ACCOUNT_ID].astype(str)
        t = pd.to_datetime(refs[REF_DATE]).to_numpy()
        m = refs[[S.ACCOUNT_ID]].astype(str).assign(_i=np.arange(len(refs)), _t=t).merge(
            first, on=S.ACCOUNT_ID, how="left")
        m = m[pd.to_datetime(m[S.EVENT_TIME]) < m["_t"]]
        firsts = m.groupby("_i")[S.EVENT_TIME].min()
        days = np.full(len(refs), np.nan)
        start = pd.to_datetime(refs["span_start"]).to_numpy()
        idx = firsts.index.to_numpy()
        days[idx] = (pd.to_datetime(firsts.to_numpy()) - pd.to_datetime(start[idx])).days
        out[et] = days
    return out


def _usage_signal(signal_map: SignalMap, usage_signal: str | None) -> str | None:
    """The usage level other signals are adjusted for: ``usage_signal`` when given, else
    the event type with role ``active_users``, else the first usage gauge (or count)."""
    if usage_signal is not None and usage_signal in signal_map:
        return usage_signal
    if signal_map.role("active_users"):
        return signal_map.role("active_users")
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


FIRST_OF_ACCOUNT = "first_of_account"   # the account's one landmark for hazard ratios
ADJUSTED_PER_ACCOUNT = 12               # landmarks per account for the adjusted model


def _landmark_refs(wh, as_of: pd.Timestamp, lookback_months: int, max_rows: int,
                   seed: int, grace_days: int, per_account: int = 1) -> pd.DataFrame:
    """Monthly landmarks of the active base in the lookback: at most ``per_account`` per
    account (drawn with ``seed``; ``first_of_account`` marks one of them, so that the
    hazard ratios count every account once), for at most ``max_rows`` accounts."""
    dates = monthly_dates(as_of - pd.DateOffset(months=lookback_months),
                            as_of - pd.Timedelta(days=1))
    frames = []
    for d in dates:
        act = lifecycle.active_accounts(wh, d, grace_days)[[S.ACCOUNT_ID, "span_start",
                                                            S.TERM_MONTHS]]
        frames.append(act.assign(**{F.LANDMARK: d}))
    if not frames:
        return pd.DataFrame(columns=[REF_ID, S.ACCOUNT_ID, REF_DATE, FIRST_DAY, BASELINE_FROM,
                                     F.LANDMARK])
    refs = pd.concat(frames, ignore_index=True)
    # a fixed order first (the SQL's row order is not guaranteed, the draw must be),
    # then up to per_account landmarks of at most max_rows accounts; first_of_account
    # keeps one per account for the hazard ratios, whose rows must be independent
    refs = refs.assign(_key=refs[S.ACCOUNT_ID].astype(str)).sort_values(
        [F.LANDMARK, "_key"], kind="stable").drop(columns="_key").reset_index(drop=True)
    refs = refs.sample(frac=1.0, random_state=seed)
    refs[FIRST_OF_ACCOUNT] = ~refs[S.ACCOUNT_ID].duplicated()
    refs = refs.groupby(S.ACCOUNT_ID, sort=False).head(per_account)
    chosen = refs.loc[refs[FIRST_OF_ACCOUNT], S.ACCOUNT_ID].iloc[:max_rows]
    refs = refs[refs[S.ACCOUNT_ID].isin(set(chosen))]
    refs = refs.sort_values([F.LANDMARK, S.ACCOUNT_ID])
    refs[S.ACCOUNT_ID] = refs[S.ACCOUNT_ID].astype(str)
    refs[REF_DATE] = pd.to_datetime(refs[F.LANDMARK])
    add_observable(refs, data_start(wh))
    refs = refs.reset_index(drop=True)
    refs.insert(0, REF_ID, np.arange(len(refs)))
    return refs


def collect_evidence(wh, as_of=None, windows=DEFAULT_WINDOWS, lookback_months: int = 12,
                     seed: int = 0, material_change: float = MATERIAL_CHANGE,
                     baseline_days: int = BASELINE_DAYS,
                     dense_min_per_30d: float = DENSE_MIN_PER_30D,
                     usage_signal: str | None = None, hazard: bool = True,
                     max_landmark_rows: int = 8000, hr_horizon_days: int = 180,
                     grace_days: int = S.GRACE_DAYS) -> SignalEvidence:
    """Build the cohort and evaluate every signal for every reference (and, for
    hazard ratios, for a sample of monthly landmarks of the active base).

    Parameters are those of :func:`analyse_signals`.
    """
    as_of = resolve_as_of(wh, as_of)
    windows = check_windows(windows)
    cohort = make_cohort(wh, as_of, lookback_months, seed, grace_days)
    if not cohort[IS_CHURNER].any() or cohort[IS_CHURNER].all():
        raise InputError(f"as of {as_of.date()}: the cohort needs both churners and stayers "
                         f"({int(cohort[IS_CHURNER].sum())} churners, "
                         f"{int((~cohort[IS_CHURNER]).sum())} stayers)")
    agg = reference_aggregates(wh, cohort, windows, baseline_days)
    days = observable_days_of(cohort)
    horizon = max(hi for _, hi in windows)
    bdays = baseline_days_available(cohort, horizon, baseline_days)
    dense = dense_event_types(wh.signal_map, agg, bdays, dense_min_per_30d)
    sigs = derive_signals(wh.signal_map, dense, material_change)
    appeared, first = {}, {}
    for sig in sigs:
        appeared[sig.signal], first[sig.signal] = indicators(
            sig, agg[sig.event_type], days, windows, material_change, baseline_days, bdays)
    usage = _usage_signal(wh.signal_map, usage_signal)
    usage_level = (_window_level(agg[usage], len(windows), wh.signal_map[usage].kind)
                   if usage else np.full((len(cohort), len(windows)), np.nan))
    ev = SignalEvidence(as_of, windows, material_change, cohort, sigs, appeared, first, agg,
                        usage_level, usage, hr_horizon_days=hr_horizon_days,
                        signal_map=wh.signal_map)
    if hazard:
        refs = _landmark_refs(wh, as_of, lookback_months, max_landmark_rows, seed, grace_days,
                              ADJUSTED_PER_ACCOUNT)
        if len(refs):
            outcomes = lifecycle.churn_outcomes(wh, grace_days, obs_end=as_of)
            labelled = attach_labels(refs[[REF_ID, F.LANDMARK, S.ACCOUNT_ID]], outcomes, as_of)
            refs = refs.merge(labelled[[REF_ID, F.DURATION, F.EVENT]], on=REF_ID, how="inner")
            refs = refs.reset_index(drop=True)
            event = refs[F.EVENT].astype(bool) & (refs[F.DURATION] <= hr_horizon_days)
            refs[F.EVENT] = event.astype(int)
            refs[F.DURATION] = np.clip(refs[F.DURATION], 1, hr_horizon_days)
            lagg = reference_aggregates(wh, refs, windows, baseline_days)
            ldays = observable_days_of(refs)
            lbase = baseline_days_available(refs, horizon, baseline_days)
            ev.landmarks = refs
            ev.landmark_aggregates = lagg
            ev.first_reached = first_reached(wh, refs)
            ev.landmark_appeared = {
                sig.signal: indicators(sig, lagg[sig.event_type], ldays, windows,
                                       material_change, baseline_days, lbase)[0]
                for sig in sigs}
    psigs = peer_signals(wh.signal_map)
    if psigs:
        cohort_first = first_reached(wh, cohort)
        evaluated = evaluate_peer_signals(
            wh, psigs, windows, cohort, agg, ev.landmarks,
            ev.landmark_aggregates or None, cohort_first, ev.first_reached)
        for sig in psigs:
            app, lapp = evaluated[sig.signal]
            ev.signals.append(sig)
            ev.appeared[sig.signal] = app
            ev.first_age[sig.signal] = np.full(len(cohort), np.nan)
            if lapp is not None:
                ev.landmark_appeared[sig.signal] = lapp
    return ev
