"""What each customer got from the product: the content of the value recap a CSM sends.

The retention article asks for automated reports of the value each customer received. A
recap is built from the point-in-time snapshot and the signal map only (never the
model): the customer's use against their own past, the milestones they reached, and
what to try next. It holds nothing internal: no risk score, churn probability, tier,
health score, root cause, playbook or discount (the rendered page is tested for that).

* **Your use**: event types of the ``usage`` and ``outcomes`` families whose declared
  direction is not ``risk`` (their volume in the last 90 days, or a gauge's 30-day
  mean, and the change against the months before: the snapshot's ``__trend``), and the
  share of the plan's limit in use (role ``plan_limit``).
* **Milestones**: event types with a value-milestone role (``first_value``,
  ``onboarding``, ``qbr``, ``value_report``, ``expert_service``) and protective
  ``outcomes`` counts: how many in the last 180 days and the latest date.
* **What to try next** (at most :data:`MAX_SUGGESTIONS`): a usage event type the
  customer uses at under a quarter of the book's median (where the median is above
  zero), and a milestone role with nothing in 180 days (a QBR to schedule, an expert
  session to book; for customers in their first 180 days, a first-value or onboarding
  step to complete).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnlab.data import contract as S
from churnlab.data.signal_map import SignalMap, SignalSpec
from churnlab.features.snapshot import LOOKBACK_DAYS

USE_FAMILIES = ("usage", "outcomes")
MILESTONE_ROLES = ("first_value", "onboarding", "qbr", "value_report", "expert_service")
LOW_SHARE = 0.25          # "under a quarter of the book's median"
MAX_SUGGESTIONS = 3
NEXT_FOR_ROLE = {
    "qbr": "Schedule your next business review with your Customer Success Manager: "
           "we review goals and results together.",
    "expert_service": "Book an expert session or training for your team.",
    "first_value": "Complete the first key step ({label}): it is where most customers "
                   "start getting value.",
    "onboarding": "Finish your onboarding milestones ({label}).",
    "value_report": "Open your weekly value report ({label}) to follow your results.",
}


def _num(x: float, unit: str = "") -> str:
    if not np.isfinite(x):
        return "n/a"
    text = f"{x:,.0f}" if abs(x) >= 10 or float(x).is_integer() else f"{x:,.1f}"
    if unit == "%":
        return f"{text}%"
    return f"{text} {unit}".strip() if unit and not unit.startswith("(") else text


def _change(trend: float, kind: str) -> str:
    if not np.isfinite(trend):
        return ""
    rel = np.expm1(trend) if kind == "count" else trend
    if abs(rel) < 0.05:
        return "about the same as the months before"
    return f"{'up' if rel > 0 else 'down'} {abs(rel):.0%} on the months before"


def _get(row, col: str) -> float:
    v = row.get(col, np.nan)
    try:
        return float(v)
    except (TypeError, ValueError):
        return np.nan


def _use_line(spec: SignalSpec, row) -> str | None:
    et = spec.event_type
    if spec.kind == "count":
        v = _get(row, f"{et}__sum_90d")
        if not np.isfinite(v) or v <= 0:
            return None
        change = _change(_get(row, f"{et}__trend"), "count")
        return f"{spec.label.capitalize()}: {_num(v, spec.unit)} in the last 90 days" + \
            (f", {change}" if change else "") + "."
    if spec.kind == "gauge":
        v = _get(row, f"{et}__mean_30d")
        if not np.isfinite(v):
            return None
        change = _change(_get(row, f"{et}__trend"), "gauge")
        return f"{spec.label.capitalize()}: {_num(v, spec.unit)} on average over the last " \
               f"30 days" + (f", {change}" if change else "") + "."
    return None


def _milestone_line(spec: SignalSpec, row, as_of: pd.Timestamp) -> str | None:
    et = spec.event_type
    since = _get(row, f"{et}__days_since")
    if not np.isfinite(since) or since >= LOOKBACK_DAYS:
        return None
    when = (as_of - pd.Timedelta(days=int(since))).date()
    n = _get(row, f"{et}__sum_180d") if spec.kind == "count" else np.nan
    count = f"{_num(n)} in the last 180 days, " if np.isfinite(n) and n > 0 else ""
    return f"{spec.label.capitalize()}: {count}most recently on {when}."


def _milestone_specs(signal_map: SignalMap) -> list[SignalSpec]:
    out = [s for s in signal_map if s.role in MILESTONE_ROLES]
    out += [s for s in signal_map.by_family("outcomes")
            if s.kind == "count" and s.direction == "protective" and s not in out]
    return out


def value_recaps(snapshot: pd.DataFrame, signal_map: SignalMap, as_of) -> pd.DataFrame:
    """One recap per snapshot row: account_id, ``use``, ``milestones`` and ``next``
    (lists of sentences for the customer). Empty lists where the data have nothing to
    say (the page then says so in one line)."""
    as_of = pd.Timestamp(as_of)
    use_specs = [s for s in signal_map if s.family in USE_FAMILIES and s.direction != "risk"
                 and s.role not in ("nps", "csat", "plan_limit") + MILESTONE_ROLES]
    limit = signal_map.role("plan_limit")
    miles = _milestone_specs(signal_map)
    medians = {}
    for s in use_specs:
        col = f"{s.event_type}__sum_90d" if s.kind == "count" else f"{s.event_type}__mean_30d"
        if col in snapshot:
            medians[s.event_type] = (col, float(pd.to_numeric(snapshot[col],
                                                              errors="coerce").median()))
    rows = []
    # plain records of the columns read below (pandas' per-row Series are slow at 50k)
    types = {s.event_type for s in signal_map}
    cols = [c for c in snapshot.columns
            if c in (S.ACCOUNT_ID, "tenure_days") or str(c).split("__")[0] in types]
    for row in snapshot[cols].to_dict("records"):
        use = [x for x in (_use_line(s, row) for s in use_specs) if x]
        if limit:
            v = _get(row, f"{limit}__last")
            if np.isfinite(v):
                use.append(f"You are using {v:.0f}% of your plan's limit.")
        done = [x for x in (_milestone_line(s, row, as_of) for s in miles) if x]
        nxt = []
        for s in use_specs:
            col, med = medians.get(s.event_type, (None, np.nan))
            v = _get(row, col) if col else np.nan
            if np.isfinite(med) and med > 0 and np.isfinite(v) and v < LOW_SHARE * med:
                nxt.append(f"Try {s.label}: customers like you typically reach about "
                           f"{_num(med, s.unit)} {'a quarter' if s.kind == 'count' else 'on average'}"
                           f", and you are at {_num(v, s.unit)}.")
        young = _get(row, "tenure_days") <= 180
        for role in ("first_value", "qbr", "expert_service", "onboarding", "value_report"):
            if role in ("first_value", "onboarding") and not young:
                continue            # a step of the first months, not for older customers
            for s in signal_map.by_role(role):
                since = _get(row, f"{s.event_type}__days_since")
                if not np.isfinite(since) or since > 180:
                    nxt.append(NEXT_FOR_ROLE[role].format(label=s.label))
        rows.append({S.ACCOUNT_ID: row[S.ACCOUNT_ID], "use": use, "milestones": done,
                     "next": nxt[:MAX_SUGGESTIONS]})
    return pd.DataFrame(rows, columns=[S.ACCOUNT_ID, "use", "milestones", "next"])
