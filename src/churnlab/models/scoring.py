"""Scoring the active book with a fitted model: probabilities, lifetime, ARR at risk."""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnlab.data import contract as S
from churnlab.features import snapshot as F
from churnlab.models.survival_base import (
    SCORE_COLUMNS,
    SurvivalInputError,
    SurvivalModel,
    check_columns,
)


def score_accounts(model: SurvivalModel, snapshot: pd.DataFrame, as_of=None) -> pd.DataFrame:
    """One row per active account of ``snapshot`` (features.make_snapshot) with the
    horizon probabilities, remaining lifetime, expected ARR lost and the risk rank
    (1 = highest P(churn within 90 days)); columns SCORE_COLUMNS."""
    check_columns(snapshot, model.feature_names_ + [S.ACCOUNT_ID, S.ARR, "next_renewal",
                                                    "days_to_renewal", S.TERM_MONTHS])
    if not model.has_survival:
        raise SurvivalInputError(f"model kind {model.kind} has no survival curve to score")
    snap = snapshot.reset_index(drop=True)
    if as_of is None:
        as_of = (pd.Timestamp(snap[F.LANDMARK].iloc[0]) if F.LANDMARK in snap and len(snap)
                 else pd.Timestamp(snap["next_renewal"].iloc[0])
                 - pd.Timedelta(days=int(snap["days_to_renewal"].iloc[0])) if len(snap)
                 else pd.NaT)
    hz = model.predict_horizons(snap)
    out = pd.DataFrame({S.ACCOUNT_ID: snap[S.ACCOUNT_ID], "as_of": pd.Timestamp(as_of),
                        S.ARR: snap[S.ARR].astype(float), "next_renewal": snap["next_renewal"],
                        "days_to_renewal": snap["days_to_renewal"]})
    out = pd.concat([out, hz], axis=1)
    out["p_churn_before_renewal"] = np.clip(out["p_churn_before_renewal"], 0, 1)
    out["expected_arr_lost_90d"] = out["p_churn_90d"] * out[S.ARR]
    out["expected_arr_lost_before_renewal"] = out["p_churn_before_renewal"] * out[S.ARR]
    out["risk_score"] = model.risk_score(snap)
    out["risk_rank"] = out["p_churn_90d"].rank(ascending=False, method="first").astype(int)
    out["model_id"] = model.card.get("model_id", getattr(model, "model_id_", model.kind))
    return out[SCORE_COLUMNS]
