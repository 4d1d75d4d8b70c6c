"""Save probability class and its evidence; calibration of the classes on interventions."""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnlab.actions.root_cause import (
    TriageInputError,
    cause_votes,
    column_of,
    event_types_of,
    require,
    root_causes,
    stated_causes,
)
from churnlab.data import contract as S
from churnlab.data.signal_map import SignalMap
from churnlab.explain.attribution import shap_values
from churnlab.features import snapshot as F
from churnlab.stats import wilson_interval

SAVE_CLASSES = ("high", "medium", "low")


SAVE_RANGES = {"high": (0.60, 0.80), "medium": (0.30, 0.50), "low": (0.10, 0.25)}


SAVE_PRIOR = {k: (lo + hi) / 2 for k, (lo, hi) in SAVE_RANGES.items()}


CHURN_BASIS = "p_churn_90d"


LOW_EVIDENCE = 5            # evidence total (0-10) from which the save class is low


CALIBRATION_MIN_N = 20      # treated interventions a class needs before its observed rate is used


BASELINE_SAMPLE = 3000      # landmark rows that give the book's usual cause votes (calibration)


# ------------------------------------------------------------------ save class
def save_evidence(snapshot: pd.DataFrame, root_cause: pd.Series,
                  signal_map: SignalMap | None = None) -> pd.DataFrame:
    """The five pieces of evidence of the save class, each 0 / 1 / 2 (see module doc),
    the total, the class and the reasons (list of short phrases)."""
    snap = snapshot.reset_index(drop=True)
    n = len(snap)
    reasons = [[] for _ in range(n)]

    def note(mask, text):
        for i in np.flatnonzero(np.asarray(mask)):
            reasons[i].append(text)

    # competitor commitment: competitive events in the last 30 / 90 days
    c30 = column_of(snap, "fam_competitive__events_30d").fillna(0).to_numpy()
    c90 = column_of(snap, "fam_competitive__events_90d").fillna(0).to_numpy()
    export = np.zeros(n, bool)
    for spec in event_types_of(signal_map, "competitive"):
        if "export" in spec.event_type or "migrat" in spec.event_type:
            export |= column_of(snap, f"{spec.event_type}__sum_30d").fillna(0).to_numpy() > 0
    competitor = np.where(export | (c30 >= 2), 2, np.where(c90 >= 1, 1, 0))
    note(competitor == 2, "competitor commitment (competitive signals in the last 30 days)")
    note(competitor == 1, "alternatives being evaluated")
    # relationship health: relationship events, champion responsiveness beyond its alert
    rel = (column_of(snap, "fam_relationship__events_90d").fillna(0).to_numpy() > 0).astype(int)
    strained = np.zeros(n, int)
    for spec in event_types_of(signal_map, "engagement", "gauge"):
        x = column_of(snap, f"{spec.event_type}__mean_30d", np.nan).to_numpy()
        if spec.alert_above is not None:
            strained |= (x > spec.alert_above).astype(int)
        if spec.alert_below is not None:
            strained |= (x < spec.alert_below).astype(int)
    relationship = np.minimum(rel + strained, 2)
    note(rel > 0, "relationship change (champion or leadership) in the last 90 days")
    note(strained > 0, "champion slow to respond")
    # budget: financial flags in 90 days, financial gauges beyond their alert
    budget = np.zeros(n, int)
    for spec in event_types_of(signal_map, "financial"):
        if spec.kind == "flag":
            hit = column_of(snap, f"{spec.event_type}__any_90d").fillna(0).to_numpy() > 0
            note(hit, f"{spec.label} (90 days)")
            budget += hit
        elif spec.kind == "gauge" and spec.alert_above is not None:
            hit = column_of(snap, f"{spec.event_type}__mean_90d", np.nan).to_numpy() > spec.alert_above
            note(hit, f"{spec.label} above {spec.alert_above:g}")
            budget += hit
    budget = np.minimum(budget, 2)
    # stakeholder engagement: sentiment gauges below alert, usage falling steeply
    engagement = np.zeros(n, int)
    for spec in event_types_of(signal_map, "sentiment", "gauge"):
        if spec.alert_below is not None:
            hit = column_of(snap, f"{spec.event_type}__mean_90d", np.nan).to_numpy() < spec.alert_below
            note(hit, f"low {spec.label}")
            engagement += hit
    falling = np.zeros(n, bool)
    for spec in event_types_of(signal_map, "usage", "gauge"):
        falling |= column_of(snap, f"{spec.event_type}__trend", np.nan).to_numpy() < -0.3
    note(falling, "usage down more than 30% in a month")
    engagement = np.minimum(engagement + falling, 2)
    # kind of problem
    cause = root_cause.reset_index(drop=True).to_numpy()
    problem = np.select([cause == "product_fit", cause == "circumstantial"], [2, 1], 0)
    note(problem == 2, "product-fit gap (hardest to fix)")
    total = competitor + relationship + budget + engagement + problem
    low = (total >= LOW_EVIDENCE) | ((competitor == 2) & (problem == 2))
    cls = np.where(low, "low", np.where(total == 0, "high", "medium"))
    return pd.DataFrame({"competitor": competitor, "relationship": relationship,
                         "budget": budget, "engagement": engagement, "problem": problem,
                         "evidence_total": total, "save_class": cls, "save_evidence": reasons})


# ------------------------------------------------------------------ calibration
def calibrate_save_classes(model, landmarks: pd.DataFrame, interventions: pd.DataFrame,
                           signal_map: SignalMap, alpha: float = 0.05):
    """Observed save rate per save class on past interventions with an outcome.

    Each intervention with outcome ``saved`` / ``churned`` is matched to its account's
    landmark row on the latest landmark date on or before ``started_at`` (point in
    time: what the CSM could see when the play started); the save class is computed
    from that row exactly as :func:`triage_accounts` does (root cause from the flags and
    the model's SHAP values on that row, the book's usual votes taken from up to
    :data:`BASELINE_SAMPLE` landmark rows drawn with a fixed seed). Rates get Wilson
    intervals, per class and arm (``treatment`` / ``control``; ``all`` when the table
    has no arm).

    Returns (table, rows): table has save_class, arm, n, saved, rate, lo, hi,
    prior_lo, prior_hi (the class's DOMAIN range); rows are the matched interventions.
    """

    require(interventions, [S.ACCOUNT_ID, S.STARTED_AT, S.PLAYBOOK, S.OUTCOME],
             "interventions")
    require(landmarks, [F.LANDMARK, S.ACCOUNT_ID], "landmarks")
    iv = interventions[interventions[S.OUTCOME].isin(["saved", "churned"])].copy()
    iv[S.STARTED_AT] = pd.to_datetime(iv[S.STARTED_AT])
    lm = landmarks.copy()
    lm[F.LANDMARK] = pd.to_datetime(lm[F.LANDMARK])
    iv = iv.sort_values(S.STARTED_AT)
    lm_sorted = lm.sort_values(F.LANDMARK)
    matched = pd.merge_asof(iv, lm_sorted, left_on=S.STARTED_AT, right_on=F.LANDMARK,
                            by=S.ACCOUNT_ID, direction="backward", suffixes=("_iv", ""))
    matched = matched[matched[F.LANDMARK].notna()].reset_index(drop=True)
    if matched.empty:
        raise TriageInputError("interventions: none matches a landmark row on or before its "
                               "started_at (landmarks cover other dates or accounts)")
    phi, _ = shap_values(model, matched)
    book = lm.sample(n=min(BASELINE_SAMPLE, len(lm)), random_state=0).reset_index(drop=True)
    baseline = cause_votes(shap_values(model, book)[0], signal_map).mean()
    cause = root_causes(cause_votes(phi, signal_map), stated_causes(matched, signal_map),
                        baseline)["root_cause"]
    ev = save_evidence(matched, cause, signal_map)
    arm = matched[S.ARM].fillna("all") if S.ARM in matched else pd.Series("all",
                                                                          index=matched.index)
    rows = pd.DataFrame({S.ACCOUNT_ID: matched[S.ACCOUNT_ID], S.STARTED_AT: matched[S.STARTED_AT],
                         F.LANDMARK: matched[F.LANDMARK], S.PLAYBOOK: matched[S.PLAYBOOK],
                         S.ARM: arm.to_numpy(), S.OUTCOME: matched[S.OUTCOME],
                         "root_cause": cause.to_numpy(), "save_class": ev["save_class"]})
    rows["saved"] = (rows[S.OUTCOME] == "saved").astype(int)
    table = (rows.groupby(["save_class", S.ARM]).agg(n=("saved", "size"), saved=("saved", "sum"))
             .reset_index().rename(columns={S.ARM: "arm"}))
    table["rate"] = table["saved"] / table["n"]
    table["lo"], table["hi"] = wilson_interval(table["saved"], table["n"], alpha)
    table["prior_lo"] = table["save_class"].map(lambda c: SAVE_RANGES[c][0])
    table["prior_hi"] = table["save_class"].map(lambda c: SAVE_RANGES[c][1])
    order = {c: i for i, c in enumerate(SAVE_CLASSES)}
    table = table.sort_values(["save_class", "arm"], key=lambda s: s.map(order)
                              if s.name == "save_class" else s).reset_index(drop=True)
    return table, rows
