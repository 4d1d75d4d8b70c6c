"""Triage: which at-risk accounts to work first, why they are at risk, what to do, and
what (if any) discount to offer. Follows ../shared/DOMAIN.md.

Per account (:func:`triage_accounts`):

* **Root cause** (product fit, service experience, value perception, circumstantial),
  in two steps (:func:`root_causes`). (1) *Stated*: a relationship or financial flag
  the customer told us about in the last :data:`STATED_CAUSE_DAYS` days (budget cuts
  mentioned, a merger, new leadership, the champion leaving, ...) names the cause
  (the signal map's ``root_cause``, else the family's), the most recent flag
  first: SHAP measures what predicts churn, not why, and such flags rarely predict
  (they often carry no risk of their own) while saying plainly what changed.
  (2) *Model*: otherwise every signal feature that raises the risk votes for its cause
  with its SHAP value (risk scale), and the cause whose votes are furthest **above the
  book's usual** (its mean vote over the accounts triaged together, or a given
  baseline) wins; ``unclear`` when no cause is above the usual. Without the centring,
  value perception (fed by five families) won almost every account. (Given only the
  explanation's top drivers, not every feature's SHAP value, the drivers vote
  uncentred.) Both give way to a CSM's diagnosis: an account whose running play records
  a ``diagnosed_cause`` takes that cause (and its playbook).
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
* **Tier and health**: one risk language (:mod:`churnlab.actions.risk_language`): the
  tier is a band of ``p_churn_decision`` (the chance of churning by the next renewal,
  looking at least 90 days ahead) at fixed cuts, the health its value on the articles'
  0-100 scale (green 80+, yellow 60-79, red below 60), and ``tier_reason`` says in
  words why wherever another figure on the row could seem to disagree.

Tasks (:func:`make_tasks`) turn red-tier accounts, NPS detractors and competitive
signals into CRM rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnlab.actions.playbooks import PLAYBOOK_TEXT, PLAYBOOKS, discount_guidance
from churnlab.actions.risk_language import DEFAULT_CUTS, RiskCuts, apply_risk_language
from churnlab.actions.root_cause import (
    ROOT_CAUSES,
    UNCLEAR,
    TriageInputError,
    cause_leads,
    cause_votes,
    column_of,
    driver_votes,
    require,
    root_causes,
    stated_causes,
)
from churnlab.actions.save_class import CALIBRATION_MIN_N, CHURN_BASIS, SAVE_PRIOR, save_evidence
from churnlab.actions.tasks import actions, is_detractor
from churnlab.data import contract as S
from churnlab.data.signal_map import SignalMap, default_signal_map_path, load_signal_map

TRIAGE_COLUMNS = [
    S.ACCOUNT_ID, S.NAME, S.CSM_OWNER, S.SEGMENT, S.ARR, "tier", "health", "tier_reason",
    "p_churn_decision", "p_churn_90d", "p_churn_before_renewal", "next_renewal", "days_to_renewal",
    "expected_arr_lost_before_renewal", "save_class", "save_probability", "save_evidence",
    "root_cause", "root_cause_basis", "root_cause_votes", "playbook", "playbook_text",
    "discount_guidance",
    "discount_max_pct", "needs_exec_approval", "expected_arr_saved", "priority", "action",
    "drivers", "protective", "contract_drivers", "dominant_family", "is_strategic",
    S.IS_STRATEGIC_LOGO, S.IS_REFERENCE, S.EXPANSION_POTENTIAL, "nps_detractor",
    "competitive_events_30d", "active_playbook", "active_since"]


# ------------------------------------------------------------------ triage
def _strategic(snap: pd.DataFrame) -> np.ndarray:
    flags = np.zeros(len(snap), bool)
    for c in (S.IS_STRATEGIC_LOGO, S.IS_REFERENCE):
        if c in snap.columns:
            flags |= snap[c].fillna(False).astype(bool).to_numpy()
    return flags


def triage_accounts(scores: pd.DataFrame, expl: pd.DataFrame, snapshot: pd.DataFrame,
                    cuts: RiskCuts = DEFAULT_CUTS,
                    interventions: pd.DataFrame | None = None,
                    accounts: pd.DataFrame | None = None,
                    calibration: pd.DataFrame | None = None,
                    signal_map: SignalMap | None = None,
                    phi: pd.DataFrame | None = None,
                    cause_baseline: pd.Series | None = None) -> pd.DataFrame:
    """One triage row per scored account, ordered by priority (1 = work first).

    Parameters
    ----------
    scores : :func:`churnlab.models.scoring.score_accounts` output.
    expl : :func:`churnlab.explain.accounts.explain_accounts` output.
    snapshot : the point-in-time features the scores were computed from.
    cuts : the tier cut-offs of ``p_churn_decision`` (:class:`RiskCuts`; a documented,
        fixed setting).
    interventions : optional interventions table; plays started in the 120 days before
        the as-of date and not yet resolved are reported as ``active_playbook``.
    accounts : optional accounts table, for ``name`` (else the account id is shown).
    calibration : optional :func:`calibrate_save_classes` ``table``; replaces the
        class mid-points by the observed save rate of treated accounts per class.
    signal_map : the signal map (default churnlab's own).
    phi : optional SHAP values of every feature (:func:`churnlab.explain.attribution.shap_values`),
        one row per ``snapshot`` row in the snapshot's order; the root cause's model
        votes then use every feature, else only the explanation's top drivers.
    cause_baseline : with ``phi``, the book's usual vote per root cause (default: the
        mean over the accounts triaged here, i.e. the book; pass one when triaging a few
        accounts on their own). Without ``phi`` the drivers' votes are not centred.

    Returns
    -------
    DataFrame with :data:`TRIAGE_COLUMNS`. Scales: ``arr`` and ``expected_*`` in
    currency a year; ``p_churn_*`` probabilities 0-1 from the model;
    ``save_probability`` 0-1; ``health`` 0-100 (the risk language's scale);
    ``expected_arr_saved = p_churn_90d * save_probability * arr``; ``priority`` 1 = the
    largest expected ARR saved (ties: higher ARR first).
    """
    require(scores, [S.ACCOUNT_ID, S.ARR, "p_churn_90d", "p_churn_before_renewal",
                      "next_renewal", "days_to_renewal", "expected_arr_lost_before_renewal"],
             "scores")
    require(expl, [S.ACCOUNT_ID, "drivers", "driver_families", "protective",
                    "dominant_family"], "explanations")
    require(snapshot, [S.ACCOUNT_ID], "snapshot")
    if signal_map is None:
        signal_map = load_signal_map(default_signal_map_path())
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
        require(accounts, [S.ACCOUNT_ID, S.NAME], "accounts")
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
        votes = driver_votes(ex, signal_map)
        baseline = pd.Series(0.0, index=list(ROOT_CAUSES))
        leads = None
    rc = root_causes(votes, stated_causes(snap, signal_map), baseline, leads)
    for c in ("root_cause", "root_cause_basis", "root_cause_votes"):
        out[c] = rc[c].to_numpy()
    # plays already running; the CSM's diagnosis of one overrides the inferred cause
    running = _running_plays(interventions, out)
    if S.DIAGNOSED_CAUSE in running:
        dx = running[S.DIAGNOSED_CAUSE].reindex(out[S.ACCOUNT_ID]).to_numpy()
        since = running[S.STARTED_AT].reindex(out[S.ACCOUNT_ID])
        has = pd.Series(dx).isin(ROOT_CAUSES).to_numpy()
        out.loc[has, "root_cause"] = dx[has]
        out.loc[has, "root_cause_basis"] = [
            f"diagnosed by the CSM when the play started on {d.date()}" for d in since[has]]
    # one risk language: probability, health and tier (risk_language)
    lang = out[[S.ARR, "p_churn_90d", "p_churn_before_renewal", "days_to_renewal"]].copy()
    if S.TERM_MONTHS in snap.columns:
        lang[S.TERM_MONTHS] = snap[S.TERM_MONTHS].to_numpy(float)
    lang = apply_risk_language(lang, cuts)
    for c in ("p_churn_decision", "health", "tier", "tier_reason"):
        out[c] = lang[c].to_numpy()
    # save class and probability
    ev = save_evidence(snap, out["root_cause"], signal_map)
    out["save_class"] = ev["save_class"].to_numpy()
    out["save_evidence"] = ev["save_evidence"].to_numpy()
    rates = dict(SAVE_PRIOR)
    if calibration is not None:
        require(calibration, ["save_class", "arm", "n", "rate"], "calibration")
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
            price += column_of(snap, f"{spec.event_type}__sum_90d").fillna(0).to_numpy()
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
    out["nps_detractor"] = is_detractor(snap, signal_map)
    out["competitive_events_30d"] = column_of(snap, "fam_competitive__events_30d").fillna(0) \
        .astype(int).to_numpy()
    # interventions already running
    out["active_playbook"], out["active_since"] = None, pd.NaT
    if len(running):
        out["active_playbook"] = running[S.PLAYBOOK].reindex(out[S.ACCOUNT_ID]).to_numpy()
        out["active_since"] = running[S.STARTED_AT].reindex(out[S.ACCOUNT_ID]).to_numpy()
    # priority
    out["expected_arr_saved"] = out[CHURN_BASIS] * out["save_probability"] * out[S.ARR]
    order = np.lexsort((out[S.ACCOUNT_ID].to_numpy(), -out[S.ARR].to_numpy(),
                        -out["expected_arr_saved"].to_numpy()))
    out = out.iloc[order].reset_index(drop=True)
    out["priority"] = np.arange(1, len(out) + 1)
    median_arr = float(out[S.ARR].median()) if len(out) else 0.0
    out["action"] = actions(out, median_arr)
    return out[TRIAGE_COLUMNS + [c for c in ("as_of", "model_id") if c in out.columns]]


def _running_plays(interventions: pd.DataFrame | None, out: pd.DataFrame) -> pd.DataFrame:
    """Per account (index), its latest play started in the 120 days before the as-of date
    and not yet resolved: playbook, started_at and, when recorded, diagnosed_cause."""
    if interventions is None or not len(interventions):
        return pd.DataFrame()
    require(interventions, [S.ACCOUNT_ID, S.STARTED_AT, S.PLAYBOOK], "interventions")
    as_of = pd.Timestamp(out["as_of"].iloc[0]) if "as_of" in out and len(out) else None
    iv = interventions.copy()
    iv[S.STARTED_AT] = pd.to_datetime(iv[S.STARTED_AT])
    open_ = iv[S.OUTCOME].isna() | iv[S.OUTCOME].isin(["pending", ""]) \
        if S.OUTCOME in iv else pd.Series(True, index=iv.index)
    recent = iv[open_ & ((iv[S.STARTED_AT] > as_of - pd.Timedelta(days=120))
                         if as_of is not None else True)]
    return recent.sort_values(S.STARTED_AT).drop_duplicates(S.ACCOUNT_ID, keep="last") \
        .set_index(S.ACCOUNT_ID)
