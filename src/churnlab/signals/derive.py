"""Signals derived from the signal map (occurred, fell, rose, alert) and their per-reference indicators."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from churnlab.data import contract as S
from churnlab.data.signal_map import SignalMap
from churnlab.errors import InputError
from churnlab.features import snapshot as F
from churnlab.signals.cohort import (
    ALERT,
    BASELINE_DAYS,
    BASELINE_FROM,
    FELL,
    FIRST_DAY,
    LOOK_STEP_DAYS,
    MATERIAL_CHANGE,
    MIN_BASELINE_DAYS,
    OCCURRED,
    REF_DATE,
    REF_ID,
    ROSE,
    TRAILING_DAYS,
)


# ==================================================================== signal definitions
@dataclass(frozen=True)
class DerivedSignal:
    """One binary indicator derived from an event type.

    Attributes
    ----------
    signal : identifier ``<event_type>:<kind>`` (e.g. ``<event_type>:fell``).
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


def capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def derive_signals(signal_map: SignalMap, dense_types: Sequence[str] = (),
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


def look_windows(windows: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
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


def check_windows(windows) -> tuple[tuple[int, int], ...]:
    out = tuple((int(lo), int(hi)) for lo, hi in windows)
    if not out or any(lo < 0 or hi <= lo for lo, hi in out):
        raise InputError(f"windows must be (start, end) day pairs with 0 <= start < end: {windows}")
    return out


def window_name(window: tuple[int, int]) -> str:
    return f"{window[0]}-{window[1]}"


# ====================================================================== event evidence
def _alert_case(signal_map: SignalMap) -> str:
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
    ``look{j}_s`` / ``look{j}_n`` (trailing periods of :func:`look_windows`), ``base_s`` /
    ``base_n`` (the baseline period), ``first_occ`` / ``first_alert`` (largest age
    below the horizon of an event / an alert reading; NaN if none).
    """
    windows = check_windows(windows)
    horizon = max(hi for _, hi in windows)
    looks = look_windows(windows)
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


def observable_days_of(refs: pd.DataFrame) -> np.ndarray:
    return (pd.to_datetime(refs[REF_DATE]) - pd.to_datetime(refs[FIRST_DAY])).dt.days.to_numpy()


def _baseline_end_age(refs: pd.DataFrame) -> np.ndarray:
    """Largest age (days before the reference) that may enter the baseline."""
    if BASELINE_FROM not in refs.columns:
        return observable_days_of(refs)
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
    windows = check_windows(windows)
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
    looks = look_windows(windows)
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
    return from_looks(on, looks, windows)


def from_looks(on: np.ndarray, looks, windows):
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


def dense_event_types(signal_map: SignalMap, agg: dict[str, pd.DataFrame],
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
