"""SHAP explanations of the champion: learned weights by signal family, and every
account's risk drivers and protective factors in sentences a CSM can act on.

Scales
------
* **SHAP values** come from the model itself (:meth:`SurvivalModel.contributions`):
  TreeSHAP for the gradient-boosted hazard (xgboost ``pred_contribs``), exact linear
  contributions for the logistic hazard and Cox. They are on the model's **risk scale**:
  the log-odds of churning in the month after the as-of date for the hazard models
  (``hazard_xgb``, ``hazard_logit``), the log partial hazard for Cox. They add up
  exactly: ``phi.sum(axis=1) + base == model.risk_score(snapshot)`` on every row.
  Positive = pushes risk up.
* **Probability allocation** (hazard models only): the change in next month's churn
  probability, ``sigmoid(risk) - sigmoid(base)``, *allocated* to the features in
  proportion to their log-odds contributions. Because the sigmoid is increasing, every
  feature keeps the sign of its SHAP value and the allocation adds up exactly to that
  change. It is an allocation, not a Shapley value of the probability. No allocation is
  made of ``p_churn_90d``: on the contract calendar it also depends on the months after
  the first, which the SHAP values do not cover, so a proportional split could give a
  feature the opposite sign of its effect.

Families
--------
A feature ``<event_type>__<stat>`` belongs to its event type's family in the signal map;
``fam_<family>__events_<w>d`` to ``<family>``; the contract columns (days to renewal,
term, ARR, discount, tenure, ARR change; the calendar inputs the model derives from them
are folded onto ``days_to_renewal`` / ``term_months`` by the model) to ``contract``.
Per account, ``family__<family>`` is the sum of the family's SHAP values (risk scale).
Globally, a family's importance is the mean over accounts of ``|family__<family>|``;
its *learned share* is that importance over the sum across families (the "learned
weights"), shown beside the articles' default weights (:func:`health.default_weights`,
defined for the five core families only).

Sentences
---------
Every feature renders a sentence with the account's value and a reference: its own
earlier value for trends ("Weekly active users fell 46% in the last 30 days vs the 3
months before (from 120 to 65)"), otherwise the book's median at the as-of date. The
label comes from the signal map, so a customer's own event types read naturally.
Drivers are the features with the largest positive SHAP values, one per event type
(the strongest of its statistics); protective factors the most negative ones.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from churnlab.data import contract as S
from churnlab.data.signal_map import SignalMap
from churnlab.explain.attribution import (
    CONTRACT,
    ExplainInputError,
    family_contributions,
    feature_family,
    feature_table,
    probability_allocation,
    shap_values,
)
from churnlab.explain.sentences import render_sentence
from churnlab.features import snapshot as F
from churnlab.models.health_families import default_weights


# ------------------------------------------------------------------ per account
def _top(phi: np.ndarray, groups: np.ndarray, top_n: int, positive: bool):
    """Per row, the column indices of the top ``top_n`` SHAP values of one sign, one per
    group (event type), strongest first."""
    order = np.argsort(-phi if positive else phi, axis=1, kind="stable")
    out = []
    for i in range(phi.shape[0]):
        seen, picks = set(), []
        for j in order[i]:
            v = phi[i, j]
            if (v <= 0) if positive else (v >= 0):
                break
            if groups[j] in seen:
                continue
            seen.add(groups[j])
            picks.append(j)
            if len(picks) == top_n:
                break
        out.append(picks)
    return out


def explain_accounts(model, snapshot: pd.DataFrame, signal_map: SignalMap,
                     top_n: int = 3, reference: pd.Series | None = None,
                     include_contract: bool = False, progress: bool = False,
                     shap: tuple[pd.DataFrame, float] | None = None) -> pd.DataFrame:
    """Per-account explanation of the model's risk.

    Parameters
    ----------
    model : a fitted churnlab survival model (``contributions`` method).
    snapshot : point-in-time features (:func:`churnlab.features.make_snapshot`).
    signal_map : labels and families (``wh.signal_map``).
    top_n : number of drivers and of protective factors per account.
    reference : book medians per feature used in sentences (default: this snapshot's).
    include_contract : if False (default) the drivers and protective factors are signal
        features only (what a CSM can act on) and the contract's own contribution (a
        renewal coming up, a monthly term) is given separately in ``contract_drivers``;
        if True contract features compete with the signals for the top places.
    shap : the ``(phi, base)`` of :func:`shap_values` on this snapshot when already
        computed (the book computes them once); computed here otherwise.

    Returns
    -------
    DataFrame, one row per snapshot row, in snapshot order:

    * ``account_id``;
    * ``drivers`` (list[str]): sentences of the top risk-increasing features, strongest
      first (one per event type), with ``driver_families`` / ``driver_features`` /
      ``driver_shap`` aligned (SHAP on the risk scale);
    * ``protective``, ``protective_families``, ``protective_features``,
      ``protective_shap``: the same for the most risk-lowering features;
    * ``contract_drivers`` (list[str]): the contract features that raise the risk
      (e.g. "Annual renewal in 20 days"), strongest first;
    * ``dominant_family``: signal family (not ``contract``) with the largest summed
      positive SHAP value ("none" if no signal family raises the risk);
    * ``family__<family>`` (float): summed SHAP per family, risk scale;
    * ``risk_score`` (= base + sum of SHAP), ``base_value`` (risk scale);
    * hazard models: ``p_next_month`` (churn probability in the next month),
      ``p_base_month`` (at the base value), and ``pshare__<family>``: the change
      ``p_next_month - p_base_month`` allocated to families (see module doc).
    """
    if not isinstance(snapshot, pd.DataFrame) or S.ACCOUNT_ID not in snapshot.columns:
        raise ExplainInputError(f"snapshot must be a DataFrame with an {S.ACCOUNT_ID!r} column")
    if top_n < 1:
        raise ExplainInputError(f"top_n must be at least 1, got {top_n}")
    snap = snapshot.reset_index(drop=True)
    phi, base = shap if shap is not None else shap_values(model, snap)
    names = list(phi.columns)
    meta = feature_table(names, signal_map)
    fams = meta["family"].to_numpy()
    groups = meta["event_type"].to_numpy()
    if reference is None:
        reference = book_reference(snap, names)
    if isinstance(reference, pd.Series):
        reference = reference.to_dict()     # the same lookups, without pandas' per-call cost
    values = phi.to_numpy()
    is_contract = fams == CONTRACT
    ranked = values if include_contract else np.where(is_contract, 0.0, values)
    ups = _top(ranked, groups, top_n, positive=True)
    downs = _top(np.where(declared_risk_present(snap, groups, signal_map), 0.0, ranked),
                 groups, top_n, positive=False)
    contract_ups = _top(np.where(is_contract, values, 0.0), groups, top_n, positive=True)
    iterator = range(len(snap))
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(iterator, desc="sentences", unit="account")
    rows = []
    records = snap[_sentence_columns(names, [ups, downs, contract_ups], snap)].to_dict("records")
    for i in iterator:
        row = records[i]
        rows.append({
            "drivers": [render_sentence(names[j], row, signal_map, reference) for j in ups[i]],
            "driver_families": [fams[j] for j in ups[i]],
            "driver_features": [names[j] for j in ups[i]],
            "driver_shap": [float(values[i, j]) for j in ups[i]],
            "protective": [render_sentence(names[j], row, signal_map, reference)
                           for j in downs[i]],
            "protective_families": [fams[j] for j in downs[i]],
            "protective_features": [names[j] for j in downs[i]],
            "protective_shap": [float(values[i, j]) for j in downs[i]],
            "contract_drivers": [render_sentence(names[j], row, signal_map, reference)
                                 for j in contract_ups[i]],
        })
    out = pd.DataFrame(rows)
    out.insert(0, S.ACCOUNT_ID, snap[S.ACCOUNT_ID].to_numpy())
    fam = family_contributions(phi, signal_map)
    pos = fam.drop(columns=[c for c in (CONTRACT, "other") if c in fam.columns]).clip(lower=0)
    out["dominant_family"] = np.where(pos.to_numpy().max(axis=1) > 0,
                                      pos.idxmax(axis=1).to_numpy(), "none")
    out["risk_score"] = base + values.sum(axis=1)
    out["base_value"] = base
    for f in fam.columns:
        out[f"family__{f}"] = fam[f].to_numpy()
    alloc = probability_allocation(model, phi, base)
    if alloc is not None:
        out["p_base_month"] = 1 / (1 + np.exp(-base))
        out["p_next_month"] = 1 / (1 + np.exp(-out["risk_score"].to_numpy()))
        pf = family_contributions(alloc, signal_map)
        for f in pf.columns:
            out[f"pshare__{f}"] = pf[f].to_numpy()
    return out


def declared_risk_present(snap: pd.DataFrame, groups: Sequence[str],
                          signal_map: SignalMap) -> np.ndarray:
    """(n, features) True where the feature's event type is declared a risk in the map
    and the account had that event in the lookback: such an event never reads as
    "working in their favour", whatever the model's arithmetic (its absence may)."""
    out = np.zeros((len(snap), len(groups)), bool)
    for j, et in enumerate(groups):
        if et in signal_map and signal_map[et].direction == "risk":
            col = F.feature_name(et, "days_since")
            if col in snap.columns:
                out[:, j] = snap[col].to_numpy(float) < F.LOOKBACK_DAYS
    return out


def _sentence_columns(names: Sequence[str], picks: Sequence, snap: pd.DataFrame) -> list[str]:
    """The snapshot columns the chosen features' sentences read (the feature, the
    30-day level a trend is quoted with, the contract calendar)."""
    used = {names[j] for p in picks for row in p for j in row}
    cols = set(used) | {S.TERM_MONTHS, "days_to_renewal", "next_renewal", S.ARR}
    for f in used:
        if f.endswith("__trend"):
            et = f.rsplit("__", 1)[0]
            cols |= {F.feature_name(et, f"mean_{F.TREND_RECENT_DAYS}d"),
                     F.feature_name(et, f"sum_{F.TREND_RECENT_DAYS}d")}
    return [c for c in snap.columns if c in cols]


def book_reference(snapshot: pd.DataFrame, names: Sequence[str]) -> pd.Series:
    """The book's median of each feature at the as-of date (the sentences' reference)."""
    cols = [c for c in names if c in snapshot.columns]
    return snapshot[cols].apply(pd.to_numeric, errors="coerce").median()


# ------------------------------------------------------------------ global
def global_importance(model, snapshot: pd.DataFrame, signal_map: SignalMap,
                      phi: pd.DataFrame | None = None) -> pd.DataFrame:
    """Learned weights by family beside the articles' defaults.

    Returns one row per family (every family of the model's features plus
    ``contract``): ``family``, ``mean_abs_shap`` (mean over accounts of the absolute
    summed SHAP of the family, risk scale), ``learned_share`` (0-1, sums to 1 over the
    rows), ``learned_share_core`` (share among the five families the articles weigh,
    NaN elsewhere: the like-for-like comparison), ``default_share`` (the articles'
    weights, 0-1, NaN where none), ``n_features``; sorted by ``learned_share``.
    """

    if phi is None:
        phi, _ = shap_values(model, snapshot.reset_index(drop=True))
    fam = family_contributions(phi, signal_map)
    imp = fam.abs().mean()
    counts = pd.Series([feature_family(c, signal_map) for c in phi.columns]).value_counts()
    defaults = default_weights(list(S.DEFAULT_WEIGHT_RANGES))
    out = pd.DataFrame({"family": imp.index, "mean_abs_shap": imp.to_numpy()})
    total = out["mean_abs_shap"].sum()
    out["learned_share"] = out["mean_abs_shap"] / total if total > 0 else np.nan
    core = out["family"].isin(list(defaults.index))
    core_total = out.loc[core, "mean_abs_shap"].sum()
    out["learned_share_core"] = np.where(core, out["mean_abs_shap"] / core_total
                                         if core_total > 0 else np.nan, np.nan)
    out["default_share"] = out["family"].map(defaults).astype(float)
    out["n_features"] = out["family"].map(counts).fillna(0).astype(int)
    return out.sort_values("learned_share", ascending=False).reset_index(drop=True)


def feature_importance(phi: pd.DataFrame, signal_map: SignalMap) -> pd.DataFrame:
    """Mean |SHAP| per feature (risk scale) with its family and label, largest first."""
    meta = feature_table(list(phi.columns), signal_map)
    meta["mean_abs_shap"] = phi.abs().mean().to_numpy()
    meta["mean_shap"] = phi.mean().to_numpy()
    total = meta["mean_abs_shap"].sum()
    meta["share"] = meta["mean_abs_shap"] / total if total > 0 else np.nan
    return meta.sort_values("mean_abs_shap", ascending=False).reset_index(drop=True)
