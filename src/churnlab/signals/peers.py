"""Signals any product has, beside change against the account's own baseline: a level far
from peers at the same tenure, and a first step not reached early in the lifecycle.

Change signals (``fell`` / ``rose``) need a baseline, so they leave out an account's first
months, which is exactly where churn concentrates when customers never adopt ("the bad
first week"). Two more kinds of signal see that churn:

* ``below_peers`` / ``above_peers`` (every count and gauge of the map): in a window, the
  account's level (events per 30 days for counts, the mean reading for gauges) is in the
  bottom (top) fifth of active accounts at the same tenure: tenure bands 0-90, 90-180,
  180-365, 365-730 and 730+ days, split by segment where every band of the segment holds
  at least ``MIN_PEERS`` accounts. Peers are the monthly landmarks of the active base
  (:mod:`churnlab.signals.evidence`), or the cohort itself when there are none. A window
  the account was not active for the whole of is not observable (NaN). When the fifth's
  cut-off equals the band's median (most peers at zero, say) the signal is not defined
  there: "bottom fifth" would not mean anything.
* ``not_reached`` (event types with role ``first_value`` or ``onboarding``): the step did
  not happen within ``FIRST_STEP_DAYS`` of the account's start. Observable only for
  accounts that started inside the data's window and have been active that long; it is
  evaluated once (in the first window's row), not per window.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnlab.data import contract as S
from churnlab.signals.cohort import FIRST_DAY, REF_DATE
from churnlab.signals.derive import DerivedSignal, observable_days_of

BELOW, ABOVE, NOT_REACHED = "below_peers", "above_peers", "not_reached"
PEER_KINDS = (BELOW, ABOVE, NOT_REACHED)
PEER_SHARE = 0.2
TENURE_BANDS = (0, 90, 180, 365, 730)
MIN_PEERS = 30
FIRST_STEP_DAYS = 30
LIFECYCLE_ROLES = ("first_value", "onboarding")


def peer_signals(signal_map) -> list[DerivedSignal]:
    """The peer-level signals of every count and gauge, and the not-reached signal of
    every lifecycle step of the map."""
    out = []
    for spec in signal_map:
        base = dict(event_type=spec.event_type, family=spec.family)
        if spec.role in LIFECYCLE_ROLES:
            out.append(DerivedSignal(
                f"{spec.event_type}:{NOT_REACHED}", kind=NOT_REACHED,
                label=f"{spec.label} not reached within {FIRST_STEP_DAYS} days of the start",
                **base))
        elif spec.kind in ("count", "gauge"):
            for kind, side in ((BELOW, "bottom"), (ABOVE, "top")):
                out.append(DerivedSignal(
                    f"{spec.event_type}:{kind}", kind=kind, measure=spec.kind,
                    label=f"{spec.label} in the {side} fifth of accounts at the same tenure",
                    **base))
    return out


def window_levels(agg: pd.DataFrame, days: np.ndarray, windows, measure: str) -> np.ndarray:
    """(n, n_windows) level per window: events per 30 days (counts) or the mean reading
    (gauges; NaN without a reading); NaN where the window is not wholly observable."""
    out = np.full((len(agg), len(windows)), np.nan)
    for i, (lo, hi) in enumerate(windows):
        s = agg[f"w{i}_s"].fillna(0).to_numpy(float)
        n = agg[f"w{i}_n"].fillna(0).to_numpy(float)
        if measure == "gauge":
            with np.errstate(invalid="ignore", divide="ignore"):
                level = np.where(n > 0, s / np.where(n > 0, n, 1), np.nan)
        else:
            level = s * 30.0 / (hi - lo)
        out[:, i] = np.where(days >= hi, level, np.nan)
    return out


def tenure_days(refs: pd.DataFrame) -> np.ndarray:
    return (pd.to_datetime(refs[REF_DATE]) - pd.to_datetime(refs["span_start"])).dt.days \
        .to_numpy(float)


def peer_groups(tenure: np.ndarray, segment: np.ndarray | None, use_segment: bool) -> np.ndarray:
    band = np.searchsorted(np.asarray(TENURE_BANDS[1:]), tenure, side="right")
    if use_segment and segment is not None:
        return np.char.add(band.astype(str), np.char.add("|", segment.astype(str)))
    return band.astype(str)


def _segments_usable(tenure, segment) -> bool:
    if segment is None:
        return False
    g = pd.Series(peer_groups(tenure, segment, True)).value_counts()
    return len(g) > 0 and int(g.min()) >= MIN_PEERS and pd.Series(segment).nunique() > 1


def peer_indicators(kind: str, levels: np.ndarray, groups: np.ndarray,
                    peer_levels: np.ndarray, peer_group: np.ndarray) -> np.ndarray:
    """1 / 0 / NaN per reference and window: beyond the peers' fifth in its group."""
    out = np.full(levels.shape, np.nan)
    for g in np.unique(groups):
        rows, peers = groups == g, peer_group == g
        if peers.sum() < MIN_PEERS:
            continue
        for i in range(levels.shape[1]):
            ref = peer_levels[peers, i]
            ref = ref[~np.isnan(ref)]
            if ref.size < MIN_PEERS:
                continue
            med = np.median(ref)
            cut = np.quantile(ref, PEER_SHARE if kind == BELOW else 1 - PEER_SHARE)
            if cut == med:
                continue
            x = levels[rows, i]
            hit = (x <= cut) if kind == BELOW else (x >= cut)
            out[rows, i] = np.where(np.isnan(x), np.nan, hit.astype(float))
    return out


def not_reached(first_days: np.ndarray, refs: pd.DataFrame, n_windows: int) -> np.ndarray:
    """1 / 0 / NaN in the first window (NaN elsewhere): the lifecycle step did not come
    within FIRST_STEP_DAYS of the start (accounts that started inside the data's window
    and have been active that long)."""
    out = np.full((len(refs), n_windows), np.nan)
    started_inside = (pd.to_datetime(refs["span_start"])
                      >= pd.to_datetime(refs[FIRST_DAY])).to_numpy()
    ok = started_inside & (tenure_days(refs) >= FIRST_STEP_DAYS)
    late = np.isnan(first_days) | (first_days > FIRST_STEP_DAYS)
    out[:, 0] = np.where(ok, late.astype(float), np.nan)
    return out


def account_segments(wh, refs: pd.DataFrame) -> np.ndarray:
    seg = wh.query(f"SELECT {S.ACCOUNT_ID}, {S.SEGMENT} FROM {S.ACCOUNTS}")
    seg[S.ACCOUNT_ID] = seg[S.ACCOUNT_ID].astype(str)
    m = refs[[S.ACCOUNT_ID]].astype(str).merge(seg, on=S.ACCOUNT_ID, how="left")
    return m[S.SEGMENT].fillna("").astype(str).to_numpy()


def evaluate_peer_signals(wh, sigs, windows, cohort, agg, landmarks=None, lagg=None,
                          first_cohort=None, first_landmarks=None):
    """Per peer signal: (appeared on the cohort, appeared on the landmarks or None)."""
    peers, pagg = (landmarks, lagg) if landmarks is not None and lagg else (cohort, agg)
    c_days, p_days = observable_days_of(cohort), observable_days_of(peers)
    c_ten, p_ten = tenure_days(cohort), tenure_days(peers)
    c_seg, p_seg = account_segments(wh, cohort), account_segments(wh, peers)
    use_seg = _segments_usable(p_ten, p_seg)
    c_grp, p_grp = peer_groups(c_ten, c_seg, use_seg), peer_groups(p_ten, p_seg, use_seg)
    out = {}
    for sig in sigs:
        if sig.kind == NOT_REACHED:
            fc = (first_cohort or {}).get(sig.event_type, np.full(len(cohort), np.nan))
            app = not_reached(fc, cohort, len(windows))
            lapp = None
            if landmarks is not None:
                fl = (first_landmarks or {}).get(sig.event_type,
                                                 np.full(len(landmarks), np.nan))
                lapp = not_reached(fl, landmarks, len(windows))
            out[sig.signal] = (app, lapp)
            continue
        p_lev = window_levels(pagg[sig.event_type], p_days, windows, sig.measure)
        c_lev = window_levels(agg[sig.event_type], c_days, windows, sig.measure)
        app = peer_indicators(sig.kind, c_lev, c_grp, p_lev, p_grp)
        lapp = (peer_indicators(sig.kind, p_lev, p_grp, p_lev, p_grp)
                if landmarks is not None and lagg else None)
        out[sig.signal] = (app, lapp)
    return out
