"""CSM tasks from the triaged book."""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnlab.actions.root_cause import column_of, require
from churnlab.data import contract as S
from churnlab.data.signal_map import SignalMap

NPS_ALERT_BELOW = 7.0     # an NPS answer of 0-6 is a detractor's


def is_detractor(snap: pd.DataFrame, signal_map: SignalMap) -> np.ndarray:
    """The latest answer of the event types with role ``nps`` in the signal map, given in
    the last 90 days, is below its ``alert_below`` (default 7: a detractor's 0-6). All
    False when no event type has the role."""
    out = np.zeros(len(snap), bool)
    for spec in signal_map.by_role("nps"):
        below = spec.alert_below if spec.alert_below is not None else NPS_ALERT_BELOW
        last = column_of(snap, f"{spec.event_type}__last", np.nan).to_numpy()
        age = column_of(snap, f"{spec.event_type}__days_since", np.inf).to_numpy()
        out |= (last < below) & (age < 90)
    return out


def actions(out: pd.DataFrame, median_arr: float) -> list[str]:
    acts = []
    for r in out.itertuples():
        if r.save_class == "low" and r.arr < median_arr:
            acts.append("One conversation: an honest check-in; do not spend a save plan here.")
        elif r.tier == "red":
            acts.append("Start the save protocol now (review immediately, do not wait for "
                        "the QBR): " + r.playbook.split("; ")[0].replace("_", " ") + ".")
        elif r.tier == "yellow":
            acts.append("Proactive engagement: check in this week on the drivers below.")
        else:
            acts.append("Monitor: no action beyond the usual cadence.")
    return acts


# ------------------------------------------------------------------ tasks
TASK_COLUMNS = [S.ACCOUNT_ID, "owner", "priority", "due_date", "reason", "source",
                "account_priority", S.NAME, S.ARR]


def make_tasks(tri: pd.DataFrame, as_of) -> pd.DataFrame:
    """CRM task rows from the triage table: one per alert.

    Sources: ``competitive`` (competitive signals in the last 30 days: urgent, due in
    1 day, "days, not weeks"), ``red_tier`` (the triage tier is red; from the health
    score or the model, see ``tier_source``: high, due in 2 days) and ``nps_detractor``
    (latest NPS in 90 days below its alert: high, due in 2 days). Columns
    :data:`TASK_COLUMNS`; ``priority`` is ``urgent`` / ``high``; ``account_priority`` is
    the account's place in the triage queue. Sorted by due date, then queue place.
    """
    require(tri, [S.ACCOUNT_ID, S.CSM_OWNER, "tier", "nps_detractor",
                   "competitive_events_30d", "priority", "drivers"], "triage")
    as_of = pd.Timestamp(as_of)
    rows = []
    for r in tri.itertuples(index=False):
        d = getattr(r, "drivers")
        why = f" Top driver: {d[0]}" if isinstance(d, (list, np.ndarray)) and len(d) else ""
        base = {S.ACCOUNT_ID: r.account_id, "owner": r.csm_owner,
                "account_priority": int(r.priority), S.NAME: getattr(r, "name", r.account_id),
                S.ARR: float(getattr(r, "arr", np.nan))}
        if r.competitive_events_30d > 0:
            rows.append({**base, "priority": "urgent", "due_date": as_of + pd.Timedelta(days=1),
                         "reason": f"{r.competitive_events_30d} competitive signal(s) in the "
                                   "last 30 days: act in days, not weeks.", "source": "competitive"})
        if r.tier == "red":
            src = getattr(r, "tier_source", "model")
            rows.append({**base, "priority": "high", "due_date": as_of + pd.Timedelta(days=2),
                         "reason": f"Red tier ({src}): start the save protocol.{why}",
                         "source": "red_tier"})
        if r.nps_detractor:
            rows.append({**base, "priority": "high", "due_date": as_of + pd.Timedelta(days=2),
                         "reason": "NPS detractor: follow up on the score within 48 hours.",
                         "source": "nps_detractor"})
    out = pd.DataFrame(rows, columns=TASK_COLUMNS)
    if len(out):
        out = out.sort_values(["due_date", "account_priority", "source"]).reset_index(drop=True)
    return out
