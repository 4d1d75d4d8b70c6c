"""The book at T: features, score, explain and triage every active account.

:func:`book` is the one place where "score, explain and triage the book at date T" is
written. ``churnlab explain``, ``churnlab report`` (through :func:`churnlab.pipeline.month.
compute_month`), the notebooks and the public API call it with an opened, validated
warehouse and a loaded model; it does no file I/O.

Point-in-time rules it enforces:

* a model trained after ``as_of`` is refused (it has seen the outcomes being judged);
* only interventions started before ``as_of`` are visible to triage (a play started
  later cannot show as active at T).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnlab.actions.risk_language import DEFAULT_CUTS, RiskCuts
from churnlab.actions.tasks import make_tasks
from churnlab.actions.triage import triage_accounts
from churnlab.actions.value_recap import value_recaps
from churnlab.data import contract as S
from churnlab.errors import DataError, ModelError
from churnlab.explain.accounts import explain_accounts, global_importance
from churnlab.explain.attribution import feature_label, shap_values
from churnlab.features.snapshot import make_snapshot
from churnlab.models.scoring import score_accounts


@dataclass
class Book:
    """Everything :func:`book` computes for one as-of date."""

    as_of: pd.Timestamp
    model_id: str
    snapshot: pd.DataFrame          # point-in-time features, one row per active account
    scores: pd.DataFrame            # probabilities, lifetime, ARR at risk
    explanations: pd.DataFrame      # drivers and protective factors in sentences
    phi: pd.DataFrame               # SHAP values (risk scale), rows as the snapshot
    base_value: float
    importance: pd.DataFrame        # learned family weights beside the defaults
    triage: pd.DataFrame            # root cause, save class, playbook, priority
    tasks: pd.DataFrame
    interventions: pd.DataFrame | None   # those started before as_of
    recaps: pd.DataFrame | None = None   # value recap content per account (customer-facing)

    def explanation(self, signal_map=None):
        """The SHAP values as a :class:`shap.Explanation` (for ``shap.plots.*``):
        values on the model's risk scale (they add up to the risk score), one base value
        per row, the features as data; with ``signal_map`` the features are named in
        words."""
        import shap

        names = list(self.phi.columns)
        labels = [feature_label(n, signal_map) for n in names] if signal_map else names
        data = self.snapshot.reset_index(drop=True).reindex(columns=names)
        return shap.Explanation(values=self.phi.to_numpy(float),
                                base_values=np.full(len(self.phi), float(self.base_value)),
                                data=data.apply(pd.to_numeric, errors="coerce").to_numpy(float),
                                feature_names=labels)


def model_trained_at(model) -> pd.Timestamp | None:
    """The as-of date the model was trained at (from its card), or None."""
    at = getattr(model, "card", {}).get("as_of")
    return pd.Timestamp(at) if at else None


def check_model_date(model, as_of) -> None:
    """Refuse a model trained after ``as_of``: it has seen the outcomes being judged."""
    trained = model_trained_at(model)
    as_of = pd.Timestamp(as_of)
    if trained is not None and trained > as_of:
        raise ModelError(
            f"model {model.card.get('model_id')} was trained at {trained.date()}, after the "
            f"as-of date {as_of.date()}: it has seen the outcomes being judged; use a model "
            f"trained at or before {as_of.date()}")


def interventions_before(wh, as_of) -> pd.DataFrame | None:
    """The interventions table restricted to plays started before ``as_of`` (None when
    the data have no interventions table)."""
    if S.INTERVENTIONS not in wh.tables:
        return None
    return wh.query(f"SELECT * FROM {S.INTERVENTIONS} WHERE {S.STARTED_AT} < DATE "
                    f"'{pd.Timestamp(as_of).date().isoformat()}'")


def book(wh, model, as_of, *, drivers: int = 3, cuts: RiskCuts = DEFAULT_CUTS,
         calibration: pd.DataFrame | None = None, snapshot: pd.DataFrame | None = None,
         progress: bool = False) -> Book:
    """Snapshot, score, explain and triage every account active at ``as_of``.

    ``wh`` is an open, validated warehouse; ``model`` a fitted survival model trained at
    or before ``as_of``; ``drivers`` the number of risk drivers and protective factors
    per account; ``cuts`` the tier cut-offs of the one risk language
    (:mod:`churnlab.actions.risk_language`); ``calibration`` as in :func:`churnlab.actions.triage.triage_accounts`;
    ``snapshot`` the features at ``as_of`` when already built (e.g. restricted to a
    segment)."""
    as_of = pd.Timestamp(as_of)
    check_model_date(model, as_of)
    snap = make_snapshot(wh, as_of) if snapshot is None else snapshot
    snap = snap.reset_index(drop=True)
    if snap.empty:
        raise DataError(f"no account is active at {as_of.date()}")
    scores = score_accounts(model, snap, as_of)
    phi, base = shap_values(model, snap)
    expl = explain_accounts(model, snap, wh.signal_map, top_n=drivers, progress=progress,
                            shap=(phi, base))
    importance = global_importance(model, snap, wh.signal_map, phi=phi)
    names = wh.query(f"SELECT {S.ACCOUNT_ID}, {S.NAME} FROM {S.ACCOUNTS}")
    interventions = interventions_before(wh, as_of)
    tri = triage_accounts(scores, expl, snap, cuts=cuts,
                          interventions=interventions, accounts=names,
                          calibration=calibration, signal_map=wh.signal_map, phi=phi)
    return Book(as_of=as_of, model_id=model.card.get("model_id", model.kind), snapshot=snap,
                scores=scores, explanations=expl, phi=phi, base_value=float(base),
                importance=importance, triage=tri, tasks=make_tasks(tri, as_of),
                interventions=interventions,
                recaps=value_recaps(snap, wh.signal_map, as_of))
