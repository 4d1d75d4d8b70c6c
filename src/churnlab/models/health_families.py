"""The health score's parts: default weights, tiers, family sub-scores, the non-negative fit."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import optimize

from churnlab.data import contract as S
from churnlab.data.signal_map import SignalMap
from churnlab.errors import DataError, InputError
from churnlab.features import snapshot as F

CORE_FAMILIES = tuple(S.DEFAULT_WEIGHT_RANGES)


TIER_ORDER = tuple(name for name, _ in S.HEALTH_TIERS)


LEARNED, DEFAULT, LEARNED_CORE = "learned", "default", "learned (core five)"


RED_RISK_MULTIPLE, YELLOW_RISK_MULTIPLE = 2.0, 1.0


TREND_CLIP = 3.0


class HealthInputError(DataError):
    """The snapshot or labels given to the health score are not usable."""


def default_weights(families: Sequence[str] | None = None) -> pd.Series:
    """The articles' weights: mid-points of their ranges, scaled to sum to 1; 0 for
    families the articles do not weigh."""
    families = list(families or S.FAMILIES)
    mids = {f: (lo + hi) / 2 for f, (lo, hi) in S.DEFAULT_WEIGHT_RANGES.items()}
    total = sum(mids[f] for f in families if f in mids)
    if total == 0:
        raise InputError("none of the families has a default weight")
    return pd.Series({f: mids.get(f, 0.0) / total for f in families}, name=DEFAULT)


def article_tier(score) -> np.ndarray:
    """Tier names from :data:`churnlab.data.contract.HEALTH_TIERS` (green >= 80 ...)."""
    return tier_from_cuts(score, {name: cut for name, cut in S.HEALTH_TIERS})


def tier_from_cuts(score, cuts: Mapping[str, float]) -> np.ndarray:
    """Assign the first tier (in :data:`TIER_ORDER`) whose lower cut the score reaches."""
    score = np.asarray(score, dtype=float)
    out = np.full(score.shape, TIER_ORDER[-1], dtype=object)
    for name in reversed(TIER_ORDER):
        out[score >= cuts[name]] = name
    return out


# ------------------------------------------------------------------------ input checks
def check_snapshot(snapshot: pd.DataFrame) -> None:
    if not isinstance(snapshot, pd.DataFrame) or snapshot.empty:
        raise HealthInputError("snapshot must be a non-empty DataFrame of point-in-time features")
    if S.ACCOUNT_ID not in snapshot.columns:
        raise HealthInputError(f"snapshot has no {S.ACCOUNT_ID!r} column")


def check_labels(snapshot: pd.DataFrame, labels) -> np.ndarray:
    y = np.asarray(labels)
    if y.shape != (len(snapshot),):
        raise HealthInputError(f"labels must have one value per snapshot row "
                               f"({len(snapshot)}), got shape {y.shape}")
    if pd.isna(y).any():
        raise HealthInputError("labels contain missing values")
    y = y.astype(int)
    if set(np.unique(y)) - {0, 1}:
        raise HealthInputError("labels must be 0 / 1 (churned within the horizon)")
    if y.min() == y.max():
        raise HealthInputError("labels hold a single class: need churners and stayers")
    return y


# ------------------------------------------------------------------------ feature maps
def family_feature_frame(snapshot: pd.DataFrame, signal_map: SignalMap, family: str
                         ) -> pd.DataFrame:
    """The model inputs of one family (see module doc); missing columns are skipped."""
    cols: dict[str, pd.Series] = {}
    for spec in signal_map.by_family(family):
        et = spec.event_type
        get = lambda stat: snapshot.get(F.feature_name(et, stat))  # noqa: E731
        if spec.kind == "count":
            for w in (30, 90):
                if get(f"sum_{w}d") is not None:
                    cols[f"{et}__log_sum_{w}d"] = np.log1p(
                        get(f"sum_{w}d").astype(float).clip(lower=0))
            if get("trend") is not None:
                cols[f"{et}__trend"] = get("trend").astype(float).clip(-TREND_CLIP, TREND_CLIP)
        elif spec.kind == "gauge":
            mean = get("mean_90d")
            if mean is not None:
                cols[f"{et}__mean_90d"] = mean.astype(float)
                cols[f"{et}__no_reading_90d"] = mean.isna().astype(float)
                if spec.alert_below is not None:
                    cols[f"{et}__alert_90d"] = (mean < spec.alert_below).astype(float)
                elif spec.alert_above is not None:
                    cols[f"{et}__alert_90d"] = (mean > spec.alert_above).astype(float)
            for stat in ("mean_30d", "last"):
                if get(stat) is not None:
                    cols[f"{et}__{stat}"] = get(stat).astype(float)
            if get("trend") is not None:
                cols[f"{et}__trend"] = get("trend").astype(float).clip(-TREND_CLIP, TREND_CLIP)
        else:
            for w in (30, 90, 180):
                if get(f"any_{w}d") is not None:
                    cols[f"{et}__any_{w}d"] = get(f"any_{w}d").astype(float)
        if spec.kind != "gauge" and get("days_since") is not None:
            cols[f"{et}__days_since"] = get("days_since").astype(float)
    fam = snapshot.get(f"fam_{family}__events_90d")
    if fam is not None:
        cols[f"fam_{family}__log_events_90d"] = np.log1p(fam.astype(float).clip(lower=0))
    return pd.DataFrame(cols, index=snapshot.index)


def fit_nonneg_logistic(scores: np.ndarray, y: np.ndarray, sample_weight=None,
                         start: np.ndarray | None = None, max_iter: int = 50,
                         tol: float = 1e-8) -> np.ndarray:
    """Coefficients beta >= 0 of logit P(churn) = b0 - scores @ beta (scores in 0-1).

    Iteratively reweighted least squares with a non-negative least-squares step
    (:func:`scipy.optimize.nnls`; the free intercept enters as two non-negative
    columns +1 / -1). Scores are centred first (the intercept absorbs the shift), which
    keeps the problem well conditioned. ``start`` warm-starts beta (e.g. in a
    bootstrap)."""
    n, k = scores.shape
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, float)
    y = np.asarray(y, float)
    centred = scores - np.average(scores, axis=0, weights=w)
    design = np.column_stack([np.ones(n), -np.ones(n), -centred])
    base = np.clip(np.average(y, weights=w), 1e-6, 1 - 1e-6)
    b0 = np.log(base / (1 - base))
    beta = np.zeros(k) if start is None else np.maximum(np.asarray(start, float), 0.0)
    theta = np.concatenate([[max(b0, 0.0), max(-b0, 0.0)], beta])

    def deviance(t):
        eta = design @ t
        return np.sum(w * (np.logaddexp(0.0, eta) - y * eta))

    current = deviance(theta)
    for _ in range(max_iter):
        eta = design @ theta
        mu = np.clip(1.0 / (1.0 + np.exp(-eta)), 1e-9, 1 - 1e-9)
        var = mu * (1 - mu)
        root = np.sqrt(w * var)
        proposal, _ = optimize.nnls(design * root[:, None], root * (eta + (y - mu) / var),
                                    maxiter=50 * (k + 2))
        # step halving keeps every iteration a descent step
        step, new = 1.0, deviance(proposal)
        while new > current + 1e-12 and step > 1e-4:
            step /= 2
            candidate = theta + step * (proposal - theta)
            new = deviance(candidate)
            proposal = candidate if new <= current + 1e-12 else proposal
        if new > current + 1e-12:
            break
        converged = abs(current - new) <= tol * (abs(current) + 1.0)
        theta, current = proposal, new
        if converged:
            break
    return np.maximum(theta[2:], 0.0)


def normalise(beta: np.ndarray) -> np.ndarray:
    total = beta.sum()
    return beta / total if total > 0 else np.full(beta.shape, 1.0 / beta.size)
