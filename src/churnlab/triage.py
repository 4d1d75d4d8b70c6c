"""Triage: which at-risk accounts to work first, why they are at risk, what to do, and
what (if any) discount to offer. Follows ../shared/DOMAIN.md.

Per account (:func:`triage_accounts`):

* **Root cause** (product fit, service experience, value perception, circumstantial),
  in two steps (:func:`root_causes`). (1) *Stated*: a relationship or financial flag
  the customer told us about in the last :data:`STATED_CAUSE_DAYS` days (budget cuts
  mentioned, a merger, new leadership, the champion leaving, ...) names the cause
  (:data:`EVENT_ROOT_CAUSE`, else :data:`FAMILY_ROOT_CAUSE`), the most recent flag
  first: SHAP measures what predicts churn, not why, and such flags rarely predict
  (they often carry no risk of their own) while saying plainly what changed.
  (2) *Model*: otherwise every signal feature that raises the risk votes for its cause
  with its SHAP value (risk scale), and the cause whose votes are furthest **above the
  book's usual** (its mean vote over the accounts triaged together, or a given
  baseline) wins; ``unclear`` when no cause is above the usual. Without the centring,
  value perception (fed by five families) won almost every account. (Given only the
  explanation's top drivers, not every feature's SHAP value, the drivers vote
  uncentred.)
* **Save class** (high 60-80% / medium 30-50% / low 10-25%) from five pieces of
  evidence in the snapshot, each scored 0 (fine), 1 (strained) or 2 (bad): competitor
  commitment, relationship health, budget signals, stakeholder engagement and the
  kind of problem (fixable issue vs product-fit gap). The articles' "high" needs every
  condition at once (fixable problem, existing relationship, no better alternative,
  confirmed budget, engaged stakeholders), so high = no strained evidence at all
  (total 0); low = total :data:`LOW_EVIDENCE` (5) or more, or a committed competitor
  together with a product-fit cause; medium otherwise. ``save_evidence`` lists the reasons. ``save_probability`` is the class's
  mid-point (0.70 / 0.40 / 0.175) unless ``calibration`` (from
  :func:`calibrate_save_classes`, observed save rates of past interventions per class)
  is given, in which case the observed treated save rate of a class with at least
  :data:`CALIBRATION_MIN_N` treated outcomes replaces its mid-point.
* **Value**: ARR, strategic flags (logo, reference), expansion potential.
* **Playbook** per root cause (:data:`PLAYBOOKS`), plus executive engagement for
  strategic accounts; **discount guidance** only when the cause is value perception or
  circumstantial *and* there is price evidence (pricing questions, budget signals or
  competitive pressure): 10-15% standard, 20-25% significant (low save class or
  competitor commitment), 30%+ emergency only for strategic accounts and only with
  executive approval; always tied to a commitment. Product-fit and service causes get
  no discount (fix the cause).
* **Priority**: ``expected_arr_saved = p_churn_90d x save_probability x ARR`` (the
  90-day probability: the effort of this quarter; accounts renewing later come up in a
  later month); priority 1 = the largest. Accounts with a low save class and an ARR
  below the book median get "one conversation" instead of a save plan.
* **Tier**: the health score's tier (articles' cuts) when ``health`` is given
  (``tier_source = "health"``), else a risk tier from the model: red when
  ``p_churn_90d`` is at least twice the book mean, yellow at least the mean
  (``tier_source = "model"``).

Tasks (:func:`make_tasks`) turn red-tier accounts, NPS detractors and competitive
signals into CRM rows.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from churnlab import schema as S

ROOT_CAUSES = S.ROOT_CAUSES
UNCLEAR = "unclear"
SAVE_CLASSES = ("high", "medium", "low")
SAVE_RANGES = {"high": (0.60, 0.80), "medium": (0.30, 0.50), "low": (0.10, 0.25)}
SAVE_PRIOR = {k: (lo + hi) / 2 for k, (lo, hi) in SAVE_RANGES.items()}
CHURN_BASIS = "p_churn_90d"
LOW_EVIDENCE = 5            # evidence total (0-10) from which the save class is low
CALIBRATION_MIN_N = 20      # treated interventions a class needs before its observed rate is used
STATED_CAUSE_DAYS = 90      # a stated-cause flag this recent names the root cause
STATED_FAMILIES = ("relationship", "financial")   # flags the customer tells us about
BASELINE_SAMPLE = 3000      # landmark rows that give the book's usual cause votes (calibration)

FAMILY_ROOT_CAUSE = {
    "usage": "value_perception", "engagement": "value_perception",
    "outcomes": "value_perception", "lifecycle": "value_perception",
    "relationship": "value_perception", "support": "service_experience",
    "sentiment": "service_experience", "financial": "circumstantial",
    "competitive": "product_fit",
}
EVENT_ROOT_CAUSE = {
    "new_leadership": "circumstantial", "merger_acquisition": "circumstantial",
    "budget_cut_mentioned": "circumstantial", "pause_request": "circumstantial",
    "invoice_days_late": "circumstantial", "pricing_question": "value_perception",
    "repeat_issue": "product_fit", "competitor_feature_request": "product_fit",
    "existing_feature_request": "service_experience",
    "onboarding_milestone": "service_experience", "first_value_reached": "service_experience",
    "ticket_escalated": "service_experience",
}
PLAYBOOKS = {
    "product_fit": ["product_team_involvement", "contract_flexibility"],
    "service_experience": ["immediate_problem_resolution"],
    "value_perception": ["executive_engagement", "pricing_concession"],
    "circumstantial": ["contract_flexibility", "pricing_concession"],
    UNCLEAR: ["save_conversation"],
}
PLAYBOOK_TEXT = {
    "product_team_involvement": "Product team involvement: PM review of the gap, an engineer "
                                "on the next call, roadmap preview, workarounds now",
    "contract_flexibility": "Contract flexibility: shorter term, performance guarantee, "
                            "paid pilot or easier exit clause",
    "immediate_problem_resolution": "Immediate problem resolution: top 3 problems, an owner "
                                    "each, fixed in 48-72 hours, verified with the customer",
    "executive_engagement": "Executive engagement: exec-to-exec call after diagnosis, "
                            "before they decide",
    "pricing_concession": "Pricing concession (see discount guidance), tied to a commitment",
    "save_conversation": "Save conversation: diagnose the cause first",
}
TALKING_POINTS = (
    "Open with honesty: name what went wrong and that you want to fix it.",
    "Listen first: ask what changed and what success looks like now; acknowledge concerns.",
    "Propose a specific plan: what happens in 48 hours, in 30 days, on pricing, and what "
    "you ask in return, each with an owner and a date.",
    "Secure mutual commitment, and accept an honest \"it's over\" if that is the answer.",
)
TRIAGE_COLUMNS = [
    S.ACCOUNT_ID, S.NAME, S.CSM_OWNER, S.SEGMENT, S.ARR, "tier", "tier_source", "health",
    "risk_tier", "p_churn_90d", "p_churn_before_renewal", "next_renewal", "days_to_renewal",
    "expected_arr_lost_before_renewal", "save_class", "save_probability", "save_evidence",
    "root_cause", "root_cause_basis", "root_cause_votes", "playbook", "playbook_text",
    "discount_guidance",
    "discount_max_pct", "needs_exec_approval", "expected_arr_saved", "priority", "action",
    "drivers", "protective", "contract_drivers", "dominant_family", "is_strategic",
    S.IS_STRATEGIC_LOGO, S.IS_REFERENCE, S.EXPANSION_POTENTIAL, "nps_detractor",
    "competitive_events_30d", "active_playbook", "active_since"]


class TriageInputError(ValueError):
    """Inputs triage cannot use (names the table, column and rule)."""


def _require(df: pd.DataFrame, columns, what: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise TriageInputError(f"{what} must be a DataFrame")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise TriageInputError(f"{what}: missing column(s) {missing}")


def _col(df: pd.DataFrame, name: str, default=0.0) -> pd.Series:
    if name in df.columns:
        return pd.to_numeric(df[name], errors="coerce")
    return pd.Series(default, index=df.index, dtype=float)


def _types(signal_map: S.SignalMap | None, family: str, kind: str | None = None) -> list:
    if signal_map is None:
        return []
    return [s for s in signal_map.by_family(family) if kind is None or s.kind == kind]


# ------------------------------------------------------------------ root cause
def feature_root_cause(feature: str, family: str) -> str | None:
    """The root cause a risk-raising feature points at (None for contract features)."""
    if family in ("contract", "other"):
        return None
    m = re.match(r"^fam_([a-z_]+)__", feature)
    event_type = None if m else feature.rsplit("__", 1)[0]
    return EVENT_ROOT_CAUSE.get(event_type) or FAMILY_ROOT_CAUSE.get(family)


def _feature_causes(names, signal_map: S.SignalMap) -> tuple[np.ndarray, np.ndarray]:
    """Per feature, the root cause it points at ("" for none) and its plain label."""
    from churnlab.explain import feature_table

    meta = feature_table(list(names), signal_map)
    causes = np.array([feature_root_cause(f, fam) or "" for f, fam in
                       zip(meta["feature"], meta["family"])], dtype=object)
    labels = np.array([f"{fam} events" if f.startswith("fam_") else lab
                       for f, fam, lab in zip(meta["feature"], meta["family"], meta["label"])],
                      dtype=object)
    return causes, labels


def cause_votes(phi: pd.DataFrame, signal_map: S.SignalMap) -> pd.DataFrame:
    """Per row, the summed positive SHAP values (risk scale) of the signal features
    pointing at each root cause (:func:`feature_root_cause`); columns
    :data:`ROOT_CAUSES`, index as ``phi``."""
    causes, _ = _feature_causes(phi.columns, signal_map)
    pos = np.clip(phi.to_numpy(dtype=float), 0, None)
    return pd.DataFrame({c: pos[:, causes == c].sum(axis=1) for c in ROOT_CAUSES},
                        index=phi.index)


def cause_leads(phi: pd.DataFrame, signal_map: S.SignalMap) -> pd.DataFrame:
    """Per row and root cause (columns :data:`ROOT_CAUSES`), the plain label of the
    feature with the largest positive SHAP value among those pointing at the cause;
    None where no such feature raises the risk."""
    causes, labels = _feature_causes(phi.columns, signal_map)
    pos = np.clip(phi.to_numpy(dtype=float), 0, None)
    out = {}
    for c in ROOT_CAUSES:
        cols = np.flatnonzero(causes == c)
        if not len(cols):
            out[c] = [None] * len(phi)
            continue
        sub = pos[:, cols]
        j = sub.argmax(axis=1)
        out[c] = np.where(sub[np.arange(len(sub)), j] > 0, labels[cols[j]], None)
    return pd.DataFrame(out, index=phi.index)


def _driver_votes(expl: pd.DataFrame) -> pd.DataFrame:
    """Cause votes from the explanation's top drivers only (when SHAP values of every
    feature are not at hand)."""
    rows = []
    for feats, fams, vals in zip(expl["driver_features"], expl["driver_families"],
                                 expl["driver_shap"]):
        v = dict.fromkeys(ROOT_CAUSES, 0.0)
        for f, fam, x in zip(feats, fams, vals):
            c = feature_root_cause(f, fam)
            if c:
                v[c] += max(float(x), 0.0)
        rows.append(v)
    return pd.DataFrame(rows, index=expl.index, columns=list(ROOT_CAUSES))


def stated_causes(snapshot: pd.DataFrame, signal_map: S.SignalMap | None,
                  days: int = STATED_CAUSE_DAYS) -> pd.DataFrame:
    """Per snapshot row, the most recent stated-cause flag of the last ``days`` days:
    columns ``cause`` (None without one), ``event_type``, ``label`` and ``days_ago``.
    Stated-cause flags are the flag event types of :data:`STATED_FAMILIES` with a root
    cause (:data:`EVENT_ROOT_CAUSE`, else :data:`FAMILY_ROOT_CAUSE`), read from the
    snapshot's ``<event_type>__days_since`` column."""
    snap = snapshot.reset_index(drop=True)
    n = len(snap)
    best = np.full(n, np.inf)
    cause = np.full(n, None, dtype=object)
    event, label = np.full(n, None, dtype=object), np.full(n, None, dtype=object)
    if signal_map is None:
        signal_map = S.load_signal_map(S.default_signal_map_path())
    for spec in signal_map:
        col = f"{spec.event_type}__days_since"
        c = feature_root_cause(col, spec.family)
        if spec.kind != "flag" or spec.family not in STATED_FAMILIES or not c \
                or col not in snap.columns:
            continue
        d = pd.to_numeric(snap[col], errors="coerce").to_numpy(dtype=float)
        hit = (d >= 0) & (d < days) & (d < best)
        best[hit], cause[hit], event[hit], label[hit] = d[hit], c, spec.event_type, spec.label
    return pd.DataFrame({"cause": cause, "event_type": event, "label": label,
                         "days_ago": np.where(np.isfinite(best), best, np.nan)})


def root_causes(votes: pd.DataFrame, stated: pd.DataFrame | None = None,
                baseline: pd.Series | None = None,
                leads: pd.DataFrame | None = None) -> pd.DataFrame:
    """The root cause per row (see module doc): a stated cause first, else the cause
    whose votes are furthest above ``baseline`` (default: the mean vote of these rows),
    else ``unclear``. ``leads`` (optional, :func:`cause_leads`, aligned with ``votes``)
    names the signal that leads the winning cause's votes. Returns columns
    ``root_cause``, ``root_cause_basis`` (a sentence saying where the cause came from)
    and ``root_cause_votes`` (dict: vote minus the baseline per cause, risk scale)."""
    v = votes[list(ROOT_CAUSES)].astype(float)
    base = v.mean() if baseline is None else baseline.reindex(v.columns).astype(float)
    excess = v - base.to_numpy()
    x = excess.to_numpy()
    top = x.argmax(axis=1) if len(x) else np.array([], int)
    causes = np.where(x.max(axis=1) > 0, np.array(ROOT_CAUSES, dtype=object)[top], UNCLEAR) \
        if len(x) else np.array([], dtype=object)
    named = [None] * len(causes) if leads is None else \
        [leads[c].iloc[i] if c in leads else None for i, c in enumerate(causes)]
    basis = np.where(causes == UNCLEAR,
                     "no cause stands out: the risk signals are at the book's usual level",
                     [f"model: {c.replace('_', ' ')} signals weigh more than usual in the "
                      f"book{f', led by {lab}' if lab else ''}"
                      for c, lab in zip(causes, named)]).astype(object)
    if stated is not None and len(stated):
        has = stated["cause"].notna().to_numpy()
        causes = np.where(has, stated["cause"].to_numpy(dtype=object), causes)
        for i in np.flatnonzero(has):
            days = int(stated["days_ago"].iloc[i])
            when = {0: "today", 1: "1 day ago"}.get(days, f"{days} days ago")
            basis[i] = f"stated: {stated['label'].iloc[i]} {when}"
    return pd.DataFrame({"root_cause": causes, "root_cause_basis": basis,
                         "root_cause_votes": [{k: round(float(e), 4) for k, e in zip(
                             ROOT_CAUSES, row)} for row in x]}, index=votes.index)


# ------------------------------------------------------------------ save class
def save_evidence(snapshot: pd.DataFrame, root_cause: pd.Series,
                  signal_map: S.SignalMap | None = None) -> pd.DataFrame:
    """The five pieces of evidence of the save class, each 0 / 1 / 2 (see module doc),
    the total, the class and the reasons (list of short phrases)."""
    snap = snapshot.reset_index(drop=True)
    n = len(snap)
    reasons = [[] for _ in range(n)]

    def note(mask, text):
        for i in np.flatnonzero(np.asarray(mask)):
            reasons[i].append(text)

    # competitor commitment: competitive events in the last 30 / 90 days
    c30 = _col(snap, "fam_competitive__events_30d").fillna(0).to_numpy()
    c90 = _col(snap, "fam_competitive__events_90d").fillna(0).to_numpy()
    export = np.zeros(n, bool)
    for spec in _types(signal_map, "competitive"):
        if "export" in spec.event_type or "migrat" in spec.event_type:
            export |= _col(snap, f"{spec.event_type}__sum_30d").fillna(0).to_numpy() > 0
    competitor = np.where(export | (c30 >= 2), 2, np.where(c90 >= 1, 1, 0))
    note(competitor == 2, "competitor commitment (competitive signals in the last 30 days)")
    note(competitor == 1, "alternatives being evaluated")
    # relationship health: relationship events, champion responsiveness beyond its alert
    rel = (_col(snap, "fam_relationship__events_90d").fillna(0).to_numpy() > 0).astype(int)
    strained = np.zeros(n, int)
    for spec in _types(signal_map, "engagement", "gauge"):
        x = _col(snap, f"{spec.event_type}__mean_30d", np.nan).to_numpy()
        if spec.alert_above is not None:
            strained |= (x > spec.alert_above).astype(int)
        if spec.alert_below is not None:
            strained |= (x < spec.alert_below).astype(int)
    relationship = np.minimum(rel + strained, 2)
    note(rel > 0, "relationship change (champion or leadership) in the last 90 days")
    note(strained > 0, "champion slow to respond")
    # budget: financial flags in 90 days, financial gauges beyond their alert
    budget = np.zeros(n, int)
    for spec in _types(signal_map, "financial"):
        if spec.kind == "flag":
            hit = _col(snap, f"{spec.event_type}__any_90d").fillna(0).to_numpy() > 0
            note(hit, f"{spec.label} (90 days)")
            budget += hit
        elif spec.kind == "gauge" and spec.alert_above is not None:
            hit = _col(snap, f"{spec.event_type}__mean_90d", np.nan).to_numpy() > spec.alert_above
            note(hit, f"{spec.label} above {spec.alert_above:g}")
            budget += hit
    budget = np.minimum(budget, 2)
    # stakeholder engagement: sentiment gauges below alert, usage falling steeply
    engagement = np.zeros(n, int)
    for spec in _types(signal_map, "sentiment", "gauge"):
        if spec.alert_below is not None:
            hit = _col(snap, f"{spec.event_type}__mean_90d", np.nan).to_numpy() < spec.alert_below
            note(hit, f"low {spec.label}")
            engagement += hit
    falling = np.zeros(n, bool)
    for spec in _types(signal_map, "usage", "gauge"):
        falling |= _col(snap, f"{spec.event_type}__trend", np.nan).to_numpy() < -0.3
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


# ------------------------------------------------------------------ discounts
def discount_guidance(root_cause, save_class, competitor, budget, price_questions,
                      is_strategic) -> pd.DataFrame:
    """Discount guidance per DOMAIN.md (vectorised over accounts).

    No discount unless the cause is value perception or circumstantial *and* there is
    price evidence (pricing questions, budget signals, competitive pressure).
    Standard 10-15%; significant 20-25% when the save class is low or a competitor is
    committed; 30%+ emergency only for strategic accounts with a committed competitor,
    and only with executive approval. Always tied to a commitment.

    Returns discount_max_pct (0 / 15 / 25 / 30), needs_exec_approval, discount_guidance.
    """
    cause = np.asarray(root_cause, dtype=object)
    save_class = np.asarray(save_class, dtype=object)
    competitor, budget = np.asarray(competitor), np.asarray(budget)
    price = np.asarray(price_questions) > 0
    strategic = np.asarray(is_strategic, dtype=bool)
    eligible_cause = np.isin(cause, ["value_perception", "circumstantial"])
    evidence = price | (budget > 0) | (competitor > 0)
    eligible = eligible_cause & evidence
    emergency = eligible & strategic & (competitor == 2)
    significant = eligible & ~emergency & ((save_class == "low") | (competitor == 2))
    pct = np.select([emergency, significant, eligible], [30, 25, 15], 0)
    text = []
    for i in range(len(cause)):
        if not eligible_cause[i]:
            why = cause[i].replace("_", " ")
            text.append(f"No discount: the cause is {why}, not price; fix the cause.")
        elif not evidence[i]:
            text.append("No discount: no price, budget or competitive pressure seen; "
                        "show the value first.")
        elif emergency[i]:
            text.append("Emergency concession 30% or more: EXECUTIVE APPROVAL REQUIRED; only "
                        "against a 2-year commitment or a case study.")
        elif significant[i]:
            text.append("Significant concession 20-25%, tied to a commitment (2-year term "
                        "or case study).")
        else:
            text.append("Standard at-risk discount 10-15%, tied to a commitment (2-year "
                        "term or case study).")
    return pd.DataFrame({"discount_max_pct": pct, "needs_exec_approval": pct >= 30,
                         "discount_guidance": text})


# ------------------------------------------------------------------ triage
def _strategic(snap: pd.DataFrame) -> np.ndarray:
    flags = np.zeros(len(snap), bool)
    for c in (S.IS_STRATEGIC_LOGO, S.IS_REFERENCE):
        if c in snap.columns:
            flags |= snap[c].fillna(False).astype(bool).to_numpy()
    return flags


def triage_accounts(scores: pd.DataFrame, expl: pd.DataFrame, snapshot: pd.DataFrame,
                    health: pd.DataFrame | None = None,
                    interventions: pd.DataFrame | None = None,
                    accounts: pd.DataFrame | None = None,
                    calibration: pd.DataFrame | None = None,
                    signal_map: S.SignalMap | None = None,
                    phi: pd.DataFrame | None = None,
                    cause_baseline: pd.Series | None = None) -> pd.DataFrame:
    """One triage row per scored account, ordered by priority (1 = work first).

    Parameters
    ----------
    scores : :func:`churnlab.survival.score_accounts` output.
    expl : :func:`churnlab.explain.explain_accounts` output.
    snapshot : the point-in-time features the scores were computed from.
    health : optional ``HealthScore.score(snapshot)`` output (account_id, health, tier).
    interventions : optional interventions table; plays started in the 120 days before
        the as-of date and not yet resolved are reported as ``active_playbook``.
    accounts : optional accounts table, for ``name`` (else the account id is shown).
    calibration : optional :func:`calibrate_save_classes` ``table``; replaces the
        class mid-points by the observed save rate of treated accounts per class.
    signal_map : the signal map (default churnlab's own).
    phi : optional SHAP values of every feature (:func:`churnlab.explain.shap_values`),
        one row per ``snapshot`` row in the snapshot's order; the root cause's model
        votes then use every feature, else only the explanation's top drivers.
    cause_baseline : with ``phi``, the book's usual vote per root cause (default: the
        mean over the accounts triaged here, i.e. the book; pass one when triaging a few
        accounts on their own). Without ``phi`` the drivers' votes are not centred.

    Returns
    -------
    DataFrame with :data:`TRIAGE_COLUMNS`. Scales: ``arr`` and ``expected_*`` in
    currency a year; ``p_churn_*`` probabilities 0-1 from the model;
    ``save_probability`` 0-1; ``health`` 0-100 (NaN without ``health``);
    ``expected_arr_saved = p_churn_90d * save_probability * arr``; ``priority`` 1 = the
    largest expected ARR saved (ties: higher ARR first).
    """
    _require(scores, [S.ACCOUNT_ID, S.ARR, "p_churn_90d", "p_churn_before_renewal",
                      "next_renewal", "days_to_renewal", "expected_arr_lost_before_renewal"],
             "scores")
    _require(expl, [S.ACCOUNT_ID, "drivers", "driver_families", "protective",
                    "dominant_family"], "explanations")
    _require(snapshot, [S.ACCOUNT_ID], "snapshot")
    if signal_map is None:
        signal_map = S.load_signal_map(S.default_signal_map_path())
    dup = scores[S.ACCOUNT_ID].duplicated()
    if dup.any():
        raise TriageInputError(f"scores: account_id must be unique ({int(dup.sum())} "
                               f"duplicated rows, e.g. {scores.loc[dup, S.ACCOUNT_ID].iloc[0]})")
    out = scores.reset_index(drop=True).copy()
    snap = snapshot.drop_duplicates(S.ACCOUNT_ID).set_index(S.ACCOUNT_ID) \
        .reindex(out[S.ACCOUNT_ID]).reset_index()
    missing = snap[S.ACCOUNT_ID][snap.get(S.SEGMENT, pd.Series(index=snap.index)).isna()] \
        if S.SEGMENT in snapshot.columns else pd.Series(dtype=object)
    if len(missing):
        raise TriageInputError(f"snapshot: {len(missing)} scored account(s) are not in the "
                               f"snapshot, e.g. {missing.iloc[0]}")
    ex = expl.drop_duplicates(S.ACCOUNT_ID).set_index(S.ACCOUNT_ID).reindex(out[S.ACCOUNT_ID])
    if ex["drivers"].isna().any():
        first = ex.index[ex["drivers"].isna()][0]
        raise TriageInputError(f"explanations: no row for scored account {first}")
    ex = ex.reset_index()
    for c in (S.CSM_OWNER, S.SEGMENT, S.IS_STRATEGIC_LOGO, S.IS_REFERENCE,
              S.EXPANSION_POTENTIAL):
        out[c] = snap[c].to_numpy() if c in snap.columns else None
    names = None
    if accounts is not None:
        _require(accounts, [S.ACCOUNT_ID, S.NAME], "accounts")
        names = accounts.drop_duplicates(S.ACCOUNT_ID).set_index(S.ACCOUNT_ID)[S.NAME]
        if S.CSM_OWNER in accounts.columns and out[S.CSM_OWNER].isna().all():
            out[S.CSM_OWNER] = accounts.set_index(S.ACCOUNT_ID)[S.CSM_OWNER] \
                .reindex(out[S.ACCOUNT_ID]).to_numpy()
    out[S.NAME] = (names.reindex(out[S.ACCOUNT_ID]).fillna(out[S.ACCOUNT_ID]).to_numpy()
                   if names is not None else out[S.ACCOUNT_ID].to_numpy())
    out[S.CSM_OWNER] = out[S.CSM_OWNER].fillna("unassigned")
    for c in ("drivers", "protective", "dominant_family"):
        out[c] = ex[c].to_numpy()
    out["contract_drivers"] = (ex["contract_drivers"].to_numpy() if "contract_drivers" in ex
                               else [[] for _ in range(len(out))])
    # root cause: a stated cause, else the model's votes above the book's usual
    if phi is not None:
        if len(phi) != len(snapshot):
            raise TriageInputError(f"phi: {len(phi)} rows for {len(snapshot)} snapshot rows "
                                   "(one row of SHAP values per snapshot row, same order)")
        aligned = phi.set_axis(snapshot[S.ACCOUNT_ID].to_numpy())
        aligned = aligned[~aligned.index.duplicated()].reindex(out[S.ACCOUNT_ID]).fillna(0.0)
        aligned = aligned.reset_index(drop=True)
        votes = cause_votes(aligned, signal_map)
        baseline = votes.mean() if cause_baseline is None else cause_baseline
        leads = cause_leads(aligned, signal_map)
    else:
        votes = _driver_votes(ex)
        baseline = pd.Series(0.0, index=list(ROOT_CAUSES))
        leads = None
    rc = root_causes(votes, stated_causes(snap, signal_map), baseline, leads)
    for c in ("root_cause", "root_cause_basis", "root_cause_votes"):
        out[c] = rc[c].to_numpy()
    # tiers
    mean_p = float(out["p_churn_90d"].mean()) if len(out) else 0.0
    out["risk_tier"] = np.where(out["p_churn_90d"] >= 2 * mean_p, "red",
                                np.where(out["p_churn_90d"] >= mean_p, "yellow", "green"))
    if health is not None:
        _require(health, [S.ACCOUNT_ID, "health", "tier"], "health")
        h = health.drop_duplicates(S.ACCOUNT_ID).set_index(S.ACCOUNT_ID)
        out["health"] = h["health"].reindex(out[S.ACCOUNT_ID]).to_numpy(float)
        out["tier"] = h["tier"].reindex(out[S.ACCOUNT_ID]).fillna(
            pd.Series(out["risk_tier"].to_numpy(), index=out[S.ACCOUNT_ID])).to_numpy()
        out["tier_source"] = "health"
    else:
        out["health"] = np.nan
        out["tier"] = out["risk_tier"]
        out["tier_source"] = "model"
    # save class and probability
    ev = save_evidence(snap, out["root_cause"], signal_map)
    out["save_class"] = ev["save_class"].to_numpy()
    out["save_evidence"] = ev["save_evidence"].to_numpy()
    rates = dict(SAVE_PRIOR)
    if calibration is not None:
        _require(calibration, ["save_class", "arm", "n", "rate"], "calibration")
        treated = calibration[(calibration["arm"] == "treatment") &
                              (calibration["n"] >= CALIBRATION_MIN_N)]
        rates.update({r.save_class: float(r.rate) for r in treated.itertuples()})
    out["save_probability"] = out["save_class"].map(rates).astype(float)
    # value, playbook, discounts
    strategic = _strategic(snap)
    out["is_strategic"] = strategic
    playbooks = []
    for c, s in zip(out["root_cause"], strategic):
        p = list(PLAYBOOKS.get(c, PLAYBOOKS[UNCLEAR]))
        if s and "executive_engagement" not in p:
            p.insert(0, "executive_engagement")
        playbooks.append(p)
    price = np.zeros(len(out))
    for spec in signal_map.by_family("financial"):
        if spec.kind == "count":
            price += _col(snap, f"{spec.event_type}__sum_90d").fillna(0).to_numpy()
    disc = discount_guidance(out["root_cause"], out["save_class"], ev["competitor"],
                             ev["budget"], price, strategic)
    for c in disc.columns:
        out[c] = disc[c].to_numpy()
    playbooks = [[p for p in pb if p != "pricing_concession" or d > 0]
                 for pb, d in zip(playbooks, out["discount_max_pct"])]
    playbooks = [pb or ["save_conversation"] for pb in playbooks]
    out["playbook"] = ["; ".join(pb) for pb in playbooks]
    out["playbook_text"] = [" | ".join(PLAYBOOK_TEXT[p] for p in pb) for pb in playbooks]
    # alerts
    out["nps_detractor"] = _detractor(snap, signal_map)
    out["competitive_events_30d"] = _col(snap, "fam_competitive__events_30d").fillna(0) \
        .astype(int).to_numpy()
    # interventions already running
    out["active_playbook"], out["active_since"] = None, pd.NaT
    if interventions is not None and len(interventions):
        _require(interventions, [S.ACCOUNT_ID, S.STARTED_AT, S.PLAYBOOK], "interventions")
        as_of = pd.Timestamp(out["as_of"].iloc[0]) if "as_of" in out and len(out) else None
        iv = interventions.copy()
        iv[S.STARTED_AT] = pd.to_datetime(iv[S.STARTED_AT])
        open_ = iv[S.OUTCOME].isna() | iv[S.OUTCOME].isin(["pending", ""]) \
            if S.OUTCOME in iv else pd.Series(True, index=iv.index)
        recent = iv[open_ & ((iv[S.STARTED_AT] > as_of - pd.Timedelta(days=120))
                             if as_of is not None else True)]
        last = recent.sort_values(S.STARTED_AT).drop_duplicates(S.ACCOUNT_ID, keep="last") \
            .set_index(S.ACCOUNT_ID)
        out["active_playbook"] = last[S.PLAYBOOK].reindex(out[S.ACCOUNT_ID]).to_numpy()
        out["active_since"] = last[S.STARTED_AT].reindex(out[S.ACCOUNT_ID]).to_numpy()
    # priority
    out["expected_arr_saved"] = out[CHURN_BASIS] * out["save_probability"] * out[S.ARR]
    order = np.lexsort((out[S.ACCOUNT_ID].to_numpy(), -out[S.ARR].to_numpy(),
                        -out["expected_arr_saved"].to_numpy()))
    out = out.iloc[order].reset_index(drop=True)
    out["priority"] = np.arange(1, len(out) + 1)
    median_arr = float(out[S.ARR].median()) if len(out) else 0.0
    out["action"] = _actions(out, median_arr)
    return out[TRIAGE_COLUMNS + [c for c in ("as_of", "model_id") if c in out.columns]]


def _detractor(snap: pd.DataFrame, signal_map: S.SignalMap) -> np.ndarray:
    """Latest NPS-like reading (sentiment gauge with alert_below, name containing 'nps'
    or the first such gauge) in the last 90 days below its alert."""
    specs = [s for s in _types(signal_map, "sentiment", "gauge") if s.alert_below is not None]
    specs = [s for s in specs if "nps" in s.event_type.lower()] or specs[:1]
    out = np.zeros(len(snap), bool)
    for spec in specs:
        last = _col(snap, f"{spec.event_type}__last", np.nan).to_numpy()
        age = _col(snap, f"{spec.event_type}__days_since", np.inf).to_numpy()
        out |= (last < spec.alert_below) & (age < 90)
    return out


def _actions(out: pd.DataFrame, median_arr: float) -> list[str]:
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
    _require(tri, [S.ACCOUNT_ID, S.CSM_OWNER, "tier", "nps_detractor",
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


# ------------------------------------------------------------------ calibration
def calibrate_save_classes(model, landmarks: pd.DataFrame, interventions: pd.DataFrame,
                           signal_map: S.SignalMap, alpha: float = 0.05):
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
    from churnlab import explain
    from churnlab import features as F
    from churnlab.signals import wilson_interval

    _require(interventions, [S.ACCOUNT_ID, S.STARTED_AT, S.PLAYBOOK, S.OUTCOME],
             "interventions")
    _require(landmarks, [F.LANDMARK, S.ACCOUNT_ID], "landmarks")
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
    phi, _ = explain.shap_values(model, matched)
    book = lm.sample(n=min(BASELINE_SAMPLE, len(lm)), random_state=0).reset_index(drop=True)
    baseline = cause_votes(explain.shap_values(model, book)[0], signal_map).mean()
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


def root_cause_agreement(tri: pd.DataFrame, shocks: pd.DataFrame) -> dict:
    """Evaluation only: share of accounts with a planted shock (``explain.planted_shocks``)
    whose triage root cause equals the shock's true class, with a Wilson interval, the
    chance level (agreement of the true classes with the predicted class mix) and the
    confusion table."""
    from churnlab.signals import wilson_interval

    m = shocks[[S.ACCOUNT_ID, "root_cause"]].rename(columns={"root_cause": "true_cause"}) \
        .merge(tri[[S.ACCOUNT_ID, "root_cause"]], on=S.ACCOUNT_ID)
    hits = int((m["true_cause"] == m["root_cause"]).sum())
    lo, hi = wilson_interval(hits, len(m))
    pred = m["root_cause"].value_counts(normalize=True)
    true = m["true_cause"].value_counts(normalize=True)
    chance = float(sum(pred.get(c, 0) * true.get(c, 0) for c in ROOT_CAUSES))
    return {"accounts": len(m), "agree": hits, "rate": hits / len(m) if len(m) else np.nan,
            "lo": float(lo), "hi": float(hi), "chance": chance,
            "confusion": pd.crosstab(m["true_cause"], m["root_cause"])}


# ------------------------------------------------------------------ the whole book
class BookTriage:
    """Everything :func:`triage_book` computes for one as-of date (attributes:
    snapshot, scores, explanations, importance, triage, tasks, as_of, model_id)."""

    def __init__(self, **parts):
        self.__dict__.update(parts)


def triage_book(wh, model, as_of, top_n: int = 3, health=None,
                calibration: pd.DataFrame | None = None,
                progress: bool = False) -> BookTriage:
    """Snapshot, score, explain and triage every account active at ``as_of`` (no file
    I/O). ``wh`` is an open, validated warehouse; ``model`` a fitted survival model;
    ``health`` an optional fitted :class:`churnlab.health.HealthScore` (its tier is then
    the triage tier); ``calibration`` as in :func:`triage_accounts`."""
    from churnlab import explain
    from churnlab.features import make_snapshot
    from churnlab.survival import score_accounts

    as_of = pd.Timestamp(as_of)
    snapshot = make_snapshot(wh, as_of)
    if snapshot.empty:
        raise TriageInputError(f"no account is active at {as_of.date()}")
    scores = score_accounts(model, snapshot, as_of)
    expl = explain.explain_accounts(model, snapshot, wh.signal_map, top_n=top_n,
                                    progress=progress)
    phi, _ = explain.shap_values(model, snapshot.reset_index(drop=True))
    importance = explain.global_importance(model, snapshot, wh.signal_map, phi=phi)
    accounts = wh.query(f"SELECT {S.ACCOUNT_ID}, {S.NAME} FROM {S.ACCOUNTS}")
    interventions = (wh.query(f"SELECT * FROM {S.INTERVENTIONS}")
                     if S.INTERVENTIONS in wh.tables else None)
    scored_health = health.score(snapshot) if health is not None else None
    tri = triage_accounts(scores, expl, snapshot, health=scored_health,
                          interventions=interventions, accounts=accounts,
                          calibration=calibration, signal_map=wh.signal_map, phi=phi)
    return BookTriage(snapshot=snapshot, scores=scores, explanations=expl,
                      importance=importance, triage=tri, tasks=make_tasks(tri, as_of),
                      as_of=as_of, model_id=model.card.get("model_id", model.kind))
