"""Plain-language sentences for one feature's contribution to one account's risk."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from churnlab.data import contract as S
from churnlab.data.signal_map import SignalMap, SignalSpec
from churnlab.explain.attribution import FAM_RE, WINDOW_RE
from churnlab.features import snapshot as F
from churnlab.fmt import money


# ------------------------------------------------------------------ sentences
def num(x: float, unit: str = "") -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    ax = abs(x)
    text = (f"{x:,.0f}" if ax >= 100 else f"{x:,.1f}".rstrip("0").rstrip(".") if ax >= 1
            else f"{x:.2f}".rstrip("0").rstrip(".") if ax > 0 else "0")
    if unit == "%":
        return text + "%"
    return f"{text} {unit}".strip() if unit and not unit.startswith("(") else text


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text




def _term_name(months: float) -> str:
    if not np.isfinite(months):
        return "contract"
    m = int(round(months))
    return {1: "monthly", 12: "annual", 24: "two-year", 36: "three-year"}.get(m, f"{m}-month")


def render_sentence(feature: str, row: pd.Series, signal_map: SignalMap,
                    reference: Mapping | None = None) -> str:
    """One plain-language sentence for ``feature`` of one account.

    Parameters
    ----------
    feature : a model feature name (see :mod:`churnlab.features` for the naming).
    row : the account's snapshot row (all its columns, so related statistics of the same
        event type can be quoted).
    signal_map : labels, units and kinds.
    reference : the book's median per feature (its "usual" value; a dict or a Series);
        optional.
    """
    value = row.get(feature, np.nan)
    value = float(value) if value is not None and pd.notna(value) else np.nan
    ref = float(reference.get(feature, np.nan)) if reference is not None else np.nan
    median = f" (book median {num(ref)})" if np.isfinite(ref) else ""
    m = FAM_RE.match(feature)
    if m:
        family, w = m.group("family"), m.group("w")
        n = 0 if not np.isfinite(value) else int(value)
        return f"{n} {family} event{'s' if n != 1 else ''} in the last {w} days{median}"
    if "__" not in feature:
        return _contract_sentence(feature, row, ref)
    et, stat = feature.rsplit("__", 1)
    spec = signal_map[et] if et in signal_map else SignalSpec(et, "other", "count",
                                                                  et.replace("_", " "))
    label, unit = spec.label, spec.unit
    wm = WINDOW_RE.match(stat)
    if stat == "days_since":
        if not np.isfinite(value) or value >= F.LOOKBACK_DAYS:
            return _cap(f"no {label} in the last year")
        usual = ("" if not np.isfinite(ref) else " (most accounts: none in the last year)"
                 if ref >= F.LOOKBACK_DAYS else f" (book median {int(ref)} days)")
        return _cap(f"last {label} {int(value)} day{'s' if int(value) != 1 else ''} ago{usual}")
    if stat == "trend":
        return _trend_sentence(et, spec, row, value)
    if stat == "last":
        if not np.isfinite(value):
            return _cap(f"no {label} reading in the last year")
        return _cap(f"latest {label}: {num(value, unit)}" + median)
    if wm:
        kind, w = wm.group("stat"), wm.group("w")
        if kind == "any":
            return _cap(f"{label} in the last {w} days") if value >= 1 else \
                _cap(f"{label}: not in the last {w} days")
        if kind == "sum":
            n = 0.0 if not np.isfinite(value) else value
            if n == 0:
                return _cap(f"no {label} in the last {w} days{median}")
            return f"{num(n)} {label} in the last {w} days{median}"
        if not np.isfinite(value):
            return _cap(f"no {label} reading in the last {w} days")
        return _cap(f"{label} averaged {num(value, unit)} over the last {w} days{median}")
    return _cap(f"{label} ({stat}): {num(value)}{median}")


def _trend_sentence(et: str, spec: SignalSpec, row: pd.Series, value: float) -> str:
    r, p = F.TREND_RECENT_DAYS, F.TREND_PRIOR_DAYS
    label, unit = spec.label, spec.unit
    span = f"in the last {r} days vs the {p // 30} months before"
    if spec.kind == "gauge":
        recent = row.get(F.feature_name(et, f"mean_{r}d"), np.nan)
        recent = float(recent) if pd.notna(recent) else np.nan
        if not np.isfinite(value) or not np.isfinite(recent):
            return _cap(f"{label}: no change measurable {span} (too few readings)")
        before = recent / (1 + value) if value != -1 else np.nan
        word = "rose" if value > 0 else "fell" if value < 0 else "held steady"
        pct = f" {abs(value) * 100:.0f}%" if value != 0 else ""
        return _cap(f"{label} {word}{pct} {span} (from {num(before, unit)} to "
                    f"{num(recent, unit)})")
    recent = row.get(F.feature_name(et, f"sum_{r}d"), np.nan)
    recent = float(recent) if pd.notna(recent) else 0.0
    value = 0.0 if not np.isfinite(value) else value
    before = max((recent + 1) / np.exp(value) - 1, 0.0)    # monthly rate before
    if before == 0 and recent == 0:
        return _cap(f"no {label} {span}")
    change = (recent - before) / before if before > 0 else np.inf
    word = "rose" if recent > before else "fell" if recent < before else "held steady"
    pct = "" if word == "held steady" or not np.isfinite(change) else f" {abs(change) * 100:.0f}%"
    return _cap(f"{label} {word}{pct} {span} ({num(before)} a month before, "
                f"{num(recent)} in the last {r} days)")


def _contract_sentence(feature: str, row: pd.Series, ref: float) -> str:
    v = row.get(feature, np.nan)
    v = float(v) if v is not None and pd.notna(v) else np.nan
    term = float(row.get(S.TERM_MONTHS, np.nan)) if pd.notna(row.get(S.TERM_MONTHS, np.nan)) \
        else np.nan
    if feature in ("days_to_renewal", "renewal_in_month"):
        d = float(row.get("days_to_renewal", np.nan))
        when = row.get("next_renewal")
        date = f" ({pd.Timestamp(when).date()})" if when is not None and pd.notna(when) else ""
        days = f"{int(d)} day{'s' if int(d) != 1 else ''}" if np.isfinite(d) else "an unknown number of days"
        return _cap(f"{_term_name(term)} renewal in {days}{date}")
    if feature in (S.TERM_MONTHS, "is_monthly"):
        return _cap(f"{_term_name(term)} contract ({num(term)}-month term)")
    if feature in (S.ARR, S.MRR):
        arr = float(row.get(S.ARR, np.nan))
        return f"ARR {money(arr)}" + (f" (book median {money(ref)})"
                                        if feature == S.ARR and np.isfinite(ref) else "")
    if feature == S.DISCOUNT_PCT:
        return "No discount on the current contract" if not v else \
            f"Current contract discounted {num(v)}%"
    if feature == "tenure_days":
        return f"Customer for {num(v / 30.4375)} months" if np.isfinite(v) else \
            "Customer tenure unknown"
    if feature == "arr_change_12m":
        if not np.isfinite(v):
            return "No ARR a year ago to compare with (customer for less than a year)"
        word = "grew" if v > 0 else "shrank" if v < 0 else "unchanged"
        return f"ARR {word} {abs(v) * 100:.0f}% over 12 months" if v else \
            "ARR unchanged over 12 months"
    if feature == S.SEATS:
        return f"{num(v)} seats"
    return f"{feature.replace('_', ' ')}: {num(v)}"
