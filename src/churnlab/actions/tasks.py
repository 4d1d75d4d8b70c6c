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
    1 day, "days, not weeks"), ``red_tier`` (the triage tier is red: high, due in 2
    days) and ``nps_detractor``
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
            p = getattr(r, "p_churn_decision", np.nan)
            chance = f" ({p:.0%} chance of churning by its renewal)" if np.isfinite(p) else ""
            rows.append({**base, "priority": "high", "due_date": as_of + pd.Timedelta(days=2),
                         "reason": f"Red tier{chance}: start the save protocol.{why}",
                         "source": "red_tier"})
        if r.nps_detractor:
            rows.append({**base, "priority": "high", "due_date": as_of + pd.Timedelta(days=2),
                         "reason": "NPS detractor: follow up on the score within 48 hours.",
                         "source": "nps_detractor"})
    out = pd.DataFrame(rows, columns=TASK_COLUMNS)
    if len(out):
        out = out.sort_values(["due_date", "account_priority", "source"]).reset_index(drop=True)
    return out


# ------------------------------------------------------------------ next steps, CRM import
YELLOW_DUE_DAYS = 7       # a yellow account's check-in: this week
CRM_COLUMNS = ["subject", "due_date", "priority", "owner", "account", "account_id",
               "description"]


def next_steps(tri: pd.DataFrame, tasks: pd.DataFrame, as_of) -> pd.DataFrame:
    """One next step per account to work (red or yellow, or with an alert task), in
    queue order: the step (the triage ``action``), its owner, its due date (the earliest
    of the account's tasks; a yellow account without one: within
    :data:`YELLOW_DUE_DAYS`), its priority (the most urgent task's, else ``normal``)
    and the evidence in one line (tier reason, chance, top drivers)."""
    as_of = pd.Timestamp(as_of)
    cols = [S.ACCOUNT_ID, "step", "owner", "due_date", "task_priority", "evidence"]
    if tri.empty:
        return pd.DataFrame(columns=cols)
    due = tasks.groupby(S.ACCOUNT_ID)["due_date"].min() if len(tasks) else pd.Series(
        dtype="datetime64[ns]")
    rank = {"urgent": 0, "high": 1}
    prio = (tasks.assign(r=tasks["priority"].map(rank)).sort_values("r")
            .drop_duplicates(S.ACCOUNT_ID).set_index(S.ACCOUNT_ID)["priority"]
            if len(tasks) else pd.Series(dtype=object))
    work = tri[(tri["tier"] != "green") | tri[S.ACCOUNT_ID].isin(due.index)]
    work = work.sort_values("priority")
    rows = []
    for r in work.itertuples(index=False):
        d = list(r.drivers) if isinstance(r.drivers, (list, tuple, np.ndarray)) else []
        p = getattr(r, "p_churn_decision", np.nan)
        reason = getattr(r, "tier_reason", "") or ""
        evidence = " ".join(x for x in (
            reason or (f"{r.tier.capitalize()}: {p:.0%} chance of churning by its renewal."
                       if np.isfinite(p) else ""),
            ("Why: " + "; ".join(d[:2]) + ".") if d else "") if x)
        when = due.get(r.account_id, as_of + pd.Timedelta(days=YELLOW_DUE_DAYS))
        rows.append({S.ACCOUNT_ID: r.account_id, "step": r.action, "owner": r.csm_owner,
                     "due_date": pd.Timestamp(when), "task_priority": prio.get(r.account_id,
                                                                              "normal"),
                     "evidence": evidence})
    return pd.DataFrame(rows, columns=cols)


def crm_tasks(steps: pd.DataFrame, tri: pd.DataFrame) -> pd.DataFrame:
    """The next steps as CRM task rows (:data:`CRM_COLUMNS`, documented in
    docs/risk_language.md): subject, due_date (YYYY-MM-DD), priority (Urgent / High /
    Normal), owner, account (name), account_id, description (the evidence and the
    playbook)."""
    if steps.empty:
        return pd.DataFrame(columns=CRM_COLUMNS)
    t = tri.drop_duplicates(S.ACCOUNT_ID).set_index(S.ACCOUNT_ID)
    names = t[S.NAME] if S.NAME in t else pd.Series(t.index, index=t.index)
    play = t["playbook_text"] if "playbook_text" in t else pd.Series("", index=t.index)
    out = pd.DataFrame({
        "subject": [f"{str(s).split(':')[0].rstrip('.')}: {names.get(a, a)}"
                    for s, a in zip(steps["step"], steps[S.ACCOUNT_ID])],
        "due_date": pd.to_datetime(steps["due_date"]).dt.strftime("%Y-%m-%d"),
        "priority": steps["task_priority"].str.capitalize(),
        "owner": steps["owner"],
        "account": [names.get(a, a) for a in steps[S.ACCOUNT_ID]],
        S.ACCOUNT_ID: steps[S.ACCOUNT_ID],
        "description": [f"{e} Next step: {s} Playbook: {play.get(a, '')}".strip()
                        for e, s, a in zip(steps["evidence"], steps["step"],
                                           steps[S.ACCOUNT_ID])]})
    return out[CRM_COLUMNS].reset_index(drop=True)
