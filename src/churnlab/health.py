"""Health score 0-100: the articles' default weights vs weights learned from churners.

Sub-scores
----------
Every signal family of the signal map gets a sub-score from the account's point-in-time
features (:func:`churnlab.features.make_snapshot`) of that family's event types:

========  ===============================================================
kind      features used
========  ===============================================================
count     ``log1p(sum_30d)``, ``log1p(sum_90d)``, ``trend`` (last 30 days vs
          the 3 months before), ``days_since``
gauge     ``mean_30d``, ``mean_90d``, ``last``, ``trend``, a "no reading in 90
          days" indicator and, with an alert threshold, "90-day mean beyond it"
flag      ``any_30d``, ``any_90d``, ``any_180d``, ``days_since``
family    ``log1p(fam_<family>__events_90d)``
========  ===============================================================

A per-family logistic regression (standardised, L2) learns from last year's
churners in which direction and how much each feature moves churn risk within the
horizon (``directions_``). The family's sub-score is ``100 * (1 - p)`` where ``p`` is
that family's estimated probability of churn within the horizon: a sub-score of 70
reads "judged by this family alone, 30% chance of churning in the next
``horizon_days``". Sub-scores are therefore on one interpretable scale across
families and data sets.

Families and weights
--------------------
The articles weigh five families: usage 30-40%, CSM engagement 20-25%, support 15-20%,
business outcomes 15-20%, sentiment 10-15% (:data:`churnlab.schema.DEFAULT_WEIGHT_RANGES`);
the default weighting is the mid-points of those ranges, scaled to sum to 1.
Relationship, financial, competitive and lifecycle events are listed by the articles
as signals but not as score components: we give them sub-scores of their own (a
champion leaving is not a small modifier of usage: it is its own reason to churn),
with a default weight of 0, and let the data decide their learned weight. To tell
"better weights" from "more information", :func:`evaluate_out_of_time` also reports
weights learned over the five core families only.

Learned weights are non-negative and sum to 1: the coefficients of a logistic
regression of churn on the sub-scores constrained to be non-negative (a higher
sub-score may only lower risk), normalised. The sub-scores it is fitted on are
out-of-fold (cross-fitted) predictions, so a family is not rewarded for overfitting.
``weights_ci_`` are percentile intervals from an account-level (cluster) bootstrap of
that combination step, given the sub-score models.

Tiers
-----
The articles' tiers (:data:`churnlab.schema.HEALTH_TIERS`: green >= 80, yellow 60-79,
red < 60) and data-suggested thresholds: the score below which an account's
estimated churn risk (isotonic regression of churn on the score in the training
data) exceeds twice the base rate (red) and the base rate (yellow).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import optimize
from scipy.stats import rankdata
from sklearn.base import BaseEstimator
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from churnlab import features as F
from churnlab import lifecycle
from churnlab import schema as S

CORE_FAMILIES = tuple(S.DEFAULT_WEIGHT_RANGES)
TIER_ORDER = tuple(name for name, _ in S.HEALTH_TIERS)
LEARNED, DEFAULT, LEARNED_CORE = "learned", "default", "learned (core five)"
RED_RISK_MULTIPLE, YELLOW_RISK_MULTIPLE = 2.0, 1.0
TREND_CLIP = 3.0


class HealthInputError(ValueError):
    """The snapshot or labels given to the health score are not usable."""


def default_weights(families: Sequence[str] | None = None) -> pd.Series:
    """The articles' weights: mid-points of their ranges, scaled to sum to 1; 0 for
    families the articles do not weigh."""
    families = list(families or S.FAMILIES)
    mids = {f: (lo + hi) / 2 for f, (lo, hi) in S.DEFAULT_WEIGHT_RANGES.items()}
    total = sum(mids[f] for f in families if f in mids)
    if total == 0:
        raise ValueError("none of the families has a default weight")
    return pd.Series({f: mids.get(f, 0.0) / total for f in families}, name=DEFAULT)


def article_tier(score) -> np.ndarray:
    """Tier names from :data:`churnlab.schema.HEALTH_TIERS` (green >= 80 ...)."""
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
def family_feature_frame(snapshot: pd.DataFrame, signal_map: S.SignalMap, family: str
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


def _fit_nonneg_logistic(scores: np.ndarray, y: np.ndarray, sample_weight=None,
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


def _normalise(beta: np.ndarray) -> np.ndarray:
    total = beta.sum()
    return beta / total if total > 0 else np.full(beta.shape, 1.0 / beta.size)


# ------------------------------------------------------------------------------ model
class HealthScore(BaseEstimator):
    """Health score 0-100 with sub-scores per signal family (see module doc).

    Parameters
    ----------
    signal_map : the signal map whose families and event types are scored
        (default: churnlab's own map).
    families : families to score (default: every family with features).
    weighting : ``"learned"`` or ``"default"``: the weights :meth:`score` uses
        unless told otherwise.
    C : inverse L2 strength of the per-family logistic regressions.
    n_folds : folds of the cross-fitting that produces the sub-scores the weights
        are learned from.
    n_bootstrap : account-level bootstrap replicates for ``weights_ci_``.
    alpha : interval level (0.05: 95% intervals).
    random_state : seed of folds and bootstrap.

    Attributes (after :meth:`fit`)
    ------------------------------
    families_ : families scored.
    features_ : family -> model input column names.
    directions_ : DataFrame family, feature, coef (standardised), direction.
    coef_ : the non-negative logistic coefficients of the sub-scores (0-1 scale).
    weights_ : learned weights (Series over ``families_``, >= 0, sum 1).
    weights_ci_ : DataFrame (family x lo / hi) bootstrap percentile intervals.
    default_weights_ : the articles' weights over ``families_``.
    base_rate_ : share of training rows that churned within the horizon.
    thresholds_ : weighting -> {"green": cut, "yellow": cut, "red": 0} data-suggested.
    oof_scores_ : out-of-fold sub-scores of the training rows (DataFrame).
    """

    def __init__(self, signal_map: S.SignalMap | None = None, families=None,
                 weighting: str = LEARNED, C: float = 1.0, n_folds: int = 5,
                 n_bootstrap: int = 200, alpha: float = 0.05, random_state: int = 0):
        self.signal_map = signal_map
        self.families = families
        self.weighting = weighting
        self.C = C
        self.n_folds = n_folds
        self.n_bootstrap = n_bootstrap
        self.alpha = alpha
        self.random_state = random_state

    # -- fitting
    def fit(self, snapshot: pd.DataFrame, labels) -> "HealthScore":
        """Learn sub-score models and family weights from labelled snapshots.

        Parameters
        ----------
        snapshot : point-in-time features (one or several stacked landmark dates);
            rows of one account are kept together in folds and bootstrap.
        labels : 1 if the account churned within the horizon after the row's date.
        """
        check_snapshot(snapshot)
        y = check_labels(snapshot, labels)
        self._fit(snapshot.reset_index(drop=True), y)
        return self

    def _signal_map(self) -> S.SignalMap:
        return self.signal_map if self.signal_map is not None else \
            S.load_signal_map(S.default_signal_map_path())

    def _fit(self, snapshot: pd.DataFrame, y: np.ndarray) -> None:
        smap = self._signal_map()
        wanted = list(self.families) if self.families is not None else list(S.FAMILIES)
        frames = {f: family_feature_frame(snapshot, smap, f) for f in wanted}
        self.families_ = [f for f in wanted if frames[f].shape[1] > 0]
        if not self.families_:
            raise HealthInputError("the snapshot holds no features of the requested families")
        self.features_ = {f: [c for c in frames[f].columns
                              if frames[f][c].nunique(dropna=True) > 1] for f in self.families_}
        self.families_ = [f for f in self.families_ if self.features_[f]]
        if not self.families_:
            raise HealthInputError("no family has a feature that varies in the snapshot")
        self.impute_ = {f: frames[f].median().fillna(0.0) for f in self.families_}
        groups = snapshot[S.ACCOUNT_ID].astype(str).to_numpy()
        self.base_rate_ = float(y.mean())
        # out-of-fold sub-scores for learning the weights
        n_folds = max(2, min(self.n_folds, len(np.unique(groups))))
        oof = pd.DataFrame(index=snapshot.index, columns=self.families_, dtype=float)
        for train, test in GroupKFold(n_splits=n_folds).split(snapshot, y, groups):
            if y[train].min() == y[train].max():
                continue
            for f in self.families_:
                model = self._family_model().fit(self._x(frames[f], f).iloc[train], y[train])
                oof.iloc[test, oof.columns.get_loc(f)] = 100 * (
                    1 - model.predict_proba(self._x(frames[f], f).iloc[test])[:, 1])
        oof = oof.fillna(100 * (1 - self.base_rate_))
        self.oof_scores_ = oof
        # final sub-score models on all rows
        self.models_ = {f: self._family_model().fit(self._x(frames[f], f), y)
                        for f in self.families_}
        self.directions_ = self._directions()
        # weights
        has_default = any(f in S.DEFAULT_WEIGHT_RANGES for f in self.families_)
        self.default_weights_ = (default_weights(self.families_) if has_default else
                                 pd.Series(np.nan, index=self.families_, name=DEFAULT))
        s = oof.to_numpy() / 100
        self.coef_ = _fit_nonneg_logistic(s, y)
        self.weights_ = pd.Series(_normalise(self.coef_), index=self.families_, name=LEARNED)
        self.weights_ci_, self.weights_boot_ = self._bootstrap(s, y, groups)
        # data-suggested thresholds, from out-of-fold overall scores
        self.thresholds_ = {
            name: self._data_thresholds(oof.to_numpy() @ w.to_numpy(), y)
            for name, w in ((LEARNED, self.weights_), (DEFAULT, self.default_weights_))
            if w.notna().all()}

    def _family_model(self):
        return make_pipeline(StandardScaler(), LogisticRegression(C=self.C, max_iter=1000))

    def _x(self, frame: pd.DataFrame, family: str) -> pd.DataFrame:
        return frame[self.features_[family]].fillna(self.impute_[family])

    def _directions(self) -> pd.DataFrame:
        rows = []
        for f in self.families_:
            coefs = self.models_[f][-1].coef_[0]
            for feat, coef in zip(self.features_[f], coefs):
                rows.append(dict(family=f, feature=feat, coef=float(coef),
                                 direction="higher is riskier" if coef > 1e-9 else
                                 "higher is healthier" if coef < -1e-9 else "no effect"))
        return pd.DataFrame(rows)

    def _bootstrap(self, s: np.ndarray, y: np.ndarray, groups: np.ndarray):
        rng = np.random.default_rng(self.random_state)
        uniq, inverse = np.unique(groups, return_inverse=True)
        draws = []
        for _ in range(self.n_bootstrap):
            counts = np.bincount(rng.integers(0, uniq.size, uniq.size), minlength=uniq.size)
            weight = counts[inverse].astype(float)
            keep = weight > 0
            if y[keep].min() == y[keep].max():
                continue
            draws.append(_normalise(_fit_nonneg_logistic(s[keep], y[keep], weight[keep],
                                                         start=self.coef_)))
        boot = pd.DataFrame(draws, columns=self.families_)
        if boot.empty:
            ci = pd.DataFrame({"lo": np.nan, "hi": np.nan}, index=self.families_)
        else:
            ci = pd.DataFrame({"lo": boot.quantile(self.alpha / 2),
                               "hi": boot.quantile(1 - self.alpha / 2)})
        return ci, boot

    def _data_thresholds(self, overall: np.ndarray, y: np.ndarray) -> dict[str, float]:
        iso = IsotonicRegression(increasing=False, out_of_bounds="clip").fit(overall, y)
        grid = np.arange(0.0, 100.5, 0.5)
        risk = iso.predict(grid)

        def cut(multiple: float) -> float:
            above = grid[risk >= multiple * self.base_rate_]
            return float(above.max() + 0.5) if above.size else 0.0

        red_cut = cut(RED_RISK_MULTIPLE)
        yellow_cut = max(cut(YELLOW_RISK_MULTIPLE), red_cut)
        return {"green": yellow_cut, "yellow": red_cut, "red": 0.0}

    # -- scoring
    def _weights(self, weights) -> pd.Series:
        weights = self.weighting if weights is None else weights
        if isinstance(weights, str):
            if weights == LEARNED:
                return self.weights_
            if weights == DEFAULT:
                return self.default_weights_
            raise ValueError(f"weights must be 'learned', 'default' or a mapping, not {weights!r}")
        w = pd.Series(weights, dtype=float).reindex(self.families_).fillna(0.0)
        if (w < 0).any() or w.sum() <= 0:
            raise ValueError("weights must be non-negative with a positive sum")
        return w / w.sum()

    def sub_scores(self, snapshot: pd.DataFrame) -> pd.DataFrame:
        """Sub-scores 0-100 per family (columns named after the families)."""
        check_snapshot(snapshot)
        smap = self._signal_map()
        out = pd.DataFrame(index=snapshot.index)
        for f in self.families_:
            frame = family_feature_frame(snapshot, smap, f).reindex(
                columns=self.features_[f])
            out[f] = 100 * (1 - self.models_[f].predict_proba(self._x(frame, f))[:, 1])
        return out

    def score(self, snapshot: pd.DataFrame, weights=None) -> pd.DataFrame:
        """Overall health 0-100, tiers, and sub-scores per family.

        Parameters
        ----------
        snapshot : point-in-time features (:func:`churnlab.features.make_snapshot`).
        weights : ``"learned"``, ``"default"``, a family -> weight mapping, or None
            for the object's ``weighting``.

        Returns
        -------
        DataFrame: account_id (and landmark if present), health, tier (the articles'
        cuts), tier_data (data-suggested cuts; for custom weights, the learned ones),
        and ``score_<family>`` per family.
        """
        subs = self.sub_scores(snapshot)
        w = self._weights(weights)
        health = subs[self.families_].to_numpy() @ w.reindex(self.families_).to_numpy()
        key = weights if isinstance(weights, str) else (
            self.weighting if weights is None else LEARNED)
        keep = [c for c in (F.LANDMARK, S.ACCOUNT_ID) if c in snapshot.columns]
        out = snapshot[keep].copy()
        out["health"] = health
        out["tier"] = article_tier(health)
        out["tier_data"] = tier_from_cuts(health, self.thresholds_[key])
        for f in self.families_:
            out[f"score_{f}"] = subs[f].to_numpy()
        return out.reset_index(drop=True)

    def weights_table(self) -> pd.DataFrame:
        """Default vs learned weights with the learned ones' bootstrap intervals."""
        return pd.DataFrame({"family": self.families_,
                             DEFAULT: self.default_weights_.reindex(self.families_).to_numpy(),
                             LEARNED: self.weights_.to_numpy(),
                             "learned_lo": self.weights_ci_["lo"].to_numpy(),
                             "learned_hi": self.weights_ci_["hi"].to_numpy()})


# --------------------------------------------------------------------- data set makers
def training_dates(as_of, horizon_days: int = 180, lookback_months: int = 12,
                   step_months: int = 1, grace_days: int = S.GRACE_DAYS) -> list[pd.Timestamp]:
    """Landmark dates every ``step_months`` over ``lookback_months`` whose whole horizon
    (plus the grace period that confirms a churn) is observed by ``as_of``: last
    year's churners, seen in advance. The latest date comes first in the stepping so
    that it is always included."""
    as_of = pd.Timestamp(as_of)
    last = as_of - pd.Timedelta(days=horizon_days + grace_days)
    dates = F.monthly_dates(last - pd.DateOffset(months=lookback_months), last)
    return dates[::-1][::max(int(step_months), 1)][::-1]


def make_training_set(wh, as_of=None, horizon_days: int = 180, lookback_months: int = 12,
                      step_months: int = 1, grace_days: int = S.GRACE_DAYS,
                      progress: bool = False):
    """Labelled monthly snapshots for :meth:`HealthScore.fit`, as known at ``as_of``.

    Returns
    -------
    (snapshots, labels): stacked point-in-time features at :func:`training_dates`, and
    1 where the account churned (confirmed by as_of) within ``horizon_days``.
    """
    as_of = lifecycle.observation_end(wh) if as_of is None else pd.Timestamp(as_of)
    dates = training_dates(as_of, horizon_days, lookback_months, step_months, grace_days)
    if not dates:
        raise ValueError(f"no landmark date has {horizon_days} days of follow-up "
                         f"before {as_of.date()}")
    land = F.make_landmarks(wh, dates, grace_days=grace_days, obs_end=as_of, progress=progress)
    labels = (land[F.EVENT].astype(bool) & (land[F.DURATION] <= horizon_days)).astype(int)
    return land, labels.rename("churned_within_horizon")


def fit_health_score(wh, as_of=None, horizon_days: int = 180, lookback_months: int = 12,
                     step_months: int = 1, families=None, n_bootstrap: int = 200,
                     random_state: int = 0, grace_days: int = S.GRACE_DAYS) -> HealthScore:
    """Fit a :class:`HealthScore` on last year's churners as known at ``as_of``
    (default: the data's end); see :func:`make_training_set`."""
    snapshots, labels = make_training_set(wh, as_of, horizon_days, lookback_months,
                                          step_months, grace_days)
    return HealthScore(signal_map=wh.signal_map, families=families, n_bootstrap=n_bootstrap,
                       random_state=random_state).fit(snapshots, labels)


# ------------------------------------------------------------------------- evaluation
@dataclass
class HealthEvaluation:
    """Out-of-time evaluation of the health score (see :func:`evaluate_out_of_time`).

    Attributes
    ----------
    score_date : T, the date scores were computed (features before T only).
    outcome_end : the data end; outcomes are churns after T seen from here.
    horizon_days : churn horizon of the labels and metrics.
    metrics : one row per weighting: concordance, AUC for churn within 90 days, the
        horizon, and before the next renewal, with n and churners per metric.
    differences : learned minus default, per metric, with paired bootstrap intervals.
    tiers : churn rate and ARR per weighting x tier scheme x tier.
    flagged : per weighting x tier scheme: share of the next period's churned ARR (and
        of its churners, and of all accounts) that was red or yellow at T.
    weights : default, learned (all families), learned over the core five, with intervals.
    scores : per account at T: scores of each weighting and the outcome.
    model, model_core : the fitted :class:`HealthScore` objects.
    training_dates : the landmark dates the models were trained on (all with their
        whole horizon observed by the score date).
    """

    score_date: pd.Timestamp
    outcome_end: pd.Timestamp
    horizon_days: int
    metrics: pd.DataFrame
    differences: pd.DataFrame
    tiers: pd.DataFrame
    flagged: pd.DataFrame
    weights: pd.DataFrame
    scores: pd.DataFrame
    model: HealthScore
    model_core: HealthScore
    training_dates: list = field(default_factory=list)


def _auc(y: np.ndarray, health: np.ndarray) -> float:
    """AUC of "low health = churn" (Mann-Whitney, ties counted half)."""
    y = np.asarray(y, dtype=float)
    if y.size == 0 or y.min() == y.max():
        return np.nan
    ranks = rankdata(-np.asarray(health, dtype=float))
    n1 = y.sum()
    n0 = y.size - n1
    return float((ranks[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def _concordance(duration, health, event) -> float:
    from lifelines.utils import concordance_index

    if event.sum() == 0:
        return np.nan
    return float(concordance_index(duration, health, event))


def outcome_labels(scored: pd.DataFrame, snapshot: pd.DataFrame, wh, score_date, obs_end,
                   horizon_days: int, grace_days: int = S.GRACE_DAYS) -> pd.DataFrame:
    """Attach what happened after the score date to scored accounts: duration_days,
    churned, churn_date, and for each outcome whether it is known (follow-up long
    enough or churned before)."""
    outcomes = lifecycle.churn_outcomes(wh, grace_days, obs_end)
    lab = F.attach_labels(snapshot[[F.LANDMARK, S.ACCOUNT_ID, S.ARR, "next_renewal"]],
                          outcomes, obs_end)
    out = scored.merge(lab, on=[F.LANDMARK, S.ACCOUNT_ID], how="inner")
    follow = (pd.Timestamp(obs_end) - pd.Timestamp(score_date)).days - grace_days
    churn_days = np.where(out[F.EVENT] == 1, out[F.DURATION], np.inf)
    for h in sorted({90, horizon_days}):
        out[f"churn_{h}d"] = (churn_days <= h).astype(float)
        out.loc[~((churn_days <= h) | (follow >= h)), f"churn_{h}d"] = np.nan
    renewal = (pd.to_datetime(out["next_renewal"]) - pd.Timestamp(score_date)).dt.days
    before = churn_days <= renewal.to_numpy()
    out["churn_before_renewal"] = before.astype(float)
    out.loc[~(before | (renewal.to_numpy() <= follow)), "churn_before_renewal"] = np.nan
    out["duration_h"] = np.minimum(out[F.DURATION], horizon_days)
    out["event_h"] = ((out[F.EVENT] == 1) & (out[F.DURATION] <= horizon_days)).astype(int)
    return out


def _metric_row(df: pd.DataFrame, col: str, horizon_days: int) -> dict:
    h = df[col].to_numpy()
    row = {"concordance": _concordance(df["duration_h"].to_numpy(), h, df["event_h"].to_numpy())}
    for target in ("churn_90d", f"churn_{horizon_days}d", "churn_before_renewal"):
        known = df[target].notna().to_numpy()
        row[f"auc_{target.removeprefix('churn_')}"] = _auc(df[target].to_numpy()[known], h[known])
    return row


def tier_table(df: pd.DataFrame, tier_col: str, outcome: str) -> pd.DataFrame:
    """Per tier: accounts, ARR, churners and churned ARR (within the outcome), churn rate."""
    known = df[df[outcome].notna()]
    rows = []
    churned_arr_total = known.loc[known[outcome] == 1, S.ARR].sum()
    for tier in TIER_ORDER:
        part = known[known[tier_col] == tier]
        churned = part[part[outcome] == 1]
        rows.append(dict(tier=tier, n=len(part), arr=part[S.ARR].sum(),
                         churned=len(churned), churn_rate=len(churned) / len(part)
                         if len(part) else np.nan,
                         churned_arr=churned[S.ARR].sum(),
                         share_of_churned_arr=churned[S.ARR].sum() / churned_arr_total
                         if churned_arr_total > 0 else np.nan))
    return pd.DataFrame(rows)


def evaluate_out_of_time(wh, as_of=None, score_date=None, horizon_days: int = 180,
                         lookback_months: int = 12, step_months: int = 1,
                         n_bootstrap: int = 200, random_state: int = 0,
                         grace_days: int = S.GRACE_DAYS) -> HealthEvaluation:
    """Train on last year's churners as known at T, score at T, judge after T.

    Parameters
    ----------
    as_of : the date the evaluation is made (default: the data's end); outcomes after
        T are those known (confirmed) by then.
    score_date : T (default: as_of minus the horizon and the grace period, the latest
        date whose whole horizon is observed).
    horizon_days : churn horizon of training labels, AUC and the tier tables.
    lookback_months, step_months : training landmarks (see :func:`training_dates`).
    n_bootstrap : replicates for the weight intervals and the paired intervals of the
        learned-minus-default metric differences.
    """
    obs_end = lifecycle.observation_end(wh) if as_of is None else pd.Timestamp(as_of)
    t = (obs_end - pd.Timedelta(days=horizon_days + grace_days) if score_date is None
         else pd.Timestamp(score_date))
    if t >= obs_end:
        raise ValueError(f"score date {t.date()} leaves no follow-up before {obs_end.date()}")
    snapshots, labels = make_training_set(wh, t, horizon_days, lookback_months, step_months,
                                          grace_days)
    model = HealthScore(signal_map=wh.signal_map, n_bootstrap=n_bootstrap,
                        random_state=random_state).fit(snapshots, labels)
    core = HealthScore(signal_map=wh.signal_map, families=CORE_FAMILIES,
                       n_bootstrap=n_bootstrap, random_state=random_state).fit(snapshots, labels)
    snap = F.make_snapshot(wh, t, grace_days=grace_days)
    variants = {LEARNED: model.score(snap, LEARNED), DEFAULT: model.score(snap, DEFAULT),
                LEARNED_CORE: core.score(snap, LEARNED)}
    scored = variants[LEARNED][[F.LANDMARK, S.ACCOUNT_ID]].copy()
    for name, s in variants.items():
        scored[f"health[{name}]"] = s["health"].to_numpy()
        scored[f"tier[{name}]"] = s["tier"].to_numpy()
        scored[f"tier_data[{name}]"] = s["tier_data"].to_numpy()
    for f in model.families_:
        scored[f"score_{f}"] = variants[LEARNED][f"score_{f}"].to_numpy()
    df = outcome_labels(scored, snap, wh, t, obs_end, horizon_days, grace_days)

    metrics = pd.DataFrame([{"weighting": name, **_metric_row(df, f"health[{name}]", horizon_days)}
                            for name in variants])
    metrics["n"] = len(df)
    metrics["churners_within_horizon"] = int(np.nansum(df[f"churn_{horizon_days}d"]))
    differences = _paired_differences(df, horizon_days, n_bootstrap, random_state)
    outcome = f"churn_{horizon_days}d"
    tiers, flagged = [], []
    for name in variants:
        for scheme, col in (("articles", f"tier[{name}]"), ("data", f"tier_data[{name}]")):
            tt = tier_table(df, col, outcome).assign(weighting=name, scheme=scheme)
            tiers.append(tt)
            flagged.append(dict(weighting=name, scheme=scheme,
                                share_churned_arr_red_or_yellow=tt.loc[
                                    tt["tier"].isin(["red", "yellow"]),
                                    "share_of_churned_arr"].sum(),
                                share_churned_arr_red=tt.loc[tt["tier"] == "red",
                                                             "share_of_churned_arr"].sum(),
                                share_churners_red_or_yellow=tt.loc[
                                    tt["tier"].isin(["red", "yellow"]), "churned"].sum()
                                / max(tt["churned"].sum(), 1),
                                share_accounts_red_or_yellow=tt.loc[
                                    tt["tier"].isin(["red", "yellow"]), "n"].sum()
                                / max(tt["n"].sum(), 1)))
    tiers = pd.concat(tiers, ignore_index=True)[
        ["weighting", "scheme", "tier", "n", "arr", "churned", "churn_rate", "churned_arr",
         "share_of_churned_arr"]]
    weights = model.weights_table().merge(
        core.weights_table()[["family", LEARNED, "learned_lo", "learned_hi"]].rename(
            columns={LEARNED: LEARNED_CORE, "learned_lo": "core_lo", "learned_hi": "core_hi"}),
        on="family", how="left")
    dates = sorted(pd.to_datetime(snapshots[F.LANDMARK]).unique())
    return HealthEvaluation(t, obs_end, horizon_days, metrics, differences, tiers,
                            pd.DataFrame(flagged), weights, df, model, core,
                            [pd.Timestamp(d) for d in dates])


def _paired_differences(df: pd.DataFrame, horizon_days: int, n_bootstrap: int,
                        random_state: int, alpha: float = 0.05) -> pd.DataFrame:
    """Learned minus default, per metric, with a paired (same accounts) bootstrap."""
    names = ("concordance", "auc_90d", f"auc_{horizon_days}d", "auc_before_renewal")
    point_l = _metric_row(df, f"health[{LEARNED}]", horizon_days)
    point_d = _metric_row(df, f"health[{DEFAULT}]", horizon_days)
    rng = np.random.default_rng(random_state)
    draws = []
    for _ in range(n_bootstrap):
        b = df.iloc[rng.integers(0, len(df), len(df))]
        ml = _metric_row(b, f"health[{LEARNED}]", horizon_days)
        md = _metric_row(b, f"health[{DEFAULT}]", horizon_days)
        draws.append({k: ml[k] - md[k] for k in names})
    boot = pd.DataFrame(draws)
    return pd.DataFrame({"metric": names,
                         "learned_minus_default": [point_l[k] - point_d[k] for k in names],
                         "lo": [boot[k].quantile(alpha / 2) for k in names],
                         "hi": [boot[k].quantile(1 - alpha / 2) for k in names]})


# --------------------------------------------------------------------------- findings
def _pct(x: float) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.0%}"


def findings_markdown(signal_summary: pd.DataFrame, cohort: pd.DataFrame | None = None,
                      evaluation: HealthEvaluation | None = None,
                      adjustment_text: str | None = None, top: int = 5,
                      alpha: float = 0.05) -> str:
    """Written findings of notebook 01, generated from the numbers.

    Parameters
    ----------
    signal_summary : :func:`churnlab.signals.summarise_signals`.
    cohort : :func:`churnlab.signals.make_cohort` (``evidence.cohort``), for the
        cohort sentence.
    evaluation : :func:`evaluate_out_of_time`, for the health-score paragraphs.
    adjustment_text : :func:`churnlab.signals.describe_adjustment` of the confounded
        signal.
    top : how many leading signals to list.
    """
    lines = ["## Findings", ""]
    if cohort is not None:
        churn = cohort[cohort["is_churner"]]
        stay = cohort[~cohort["is_churner"]]
        lines += [f"**Cohort.** {len(churn):,} accounts churned in the year before the as-of "
                  f"date (ARR ${churn[S.ARR].sum():,.0f}); they are compared with "
                  f"{len(stay):,} accounts that renewed over the same months, each seen at "
                  f"one of its renewal dates.", ""]
    risk = signal_summary[signal_summary["direction"] == "risk"].sort_values("rank")
    prot = signal_summary[signal_summary["direction"] == "protective"]
    none = signal_summary[(signal_summary["direction"] == "none")
                          & signal_summary["lift"].notna()]
    lines.append(f"**Leading signals.** {len(risk)} of {len(signal_summary)} signals "
                 f"warn of churn after Benjamini-Hochberg control (q < {alpha:g}); the "
                 f"strongest and earliest:")
    lines.append("")
    for _, row in risk.head(top).iterrows():
        lines.append(f"{int(row['rank'])}. {row['sentence']}")
    if len(risk):
        listed = risk.head(top)
        early = (listed.loc[listed["lead_median"].idxmax()]
                 if listed["lead_median"].notna().any() else None)
        fam = risk.groupby("family").size().sort_values(ascending=False)
        lines += ["", f"Risk signals by family: "
                  + ", ".join(f"{f} {n}" for f, n in fam.items()) + "."]
        if early is not None:
            lines.append(f"Of these, the earliest warning is *{early['label']}*, a median "
                         f"{early['lead_median']:.0f} days before churn: time enough for a "
                         f"save play if it triggers one.")
    lines.append("")
    if len(prot):
        lines.append("**Signs of health.** " + " ".join(prot["sentence"].head(3)))
        lines.append("")
    lines.append(f"**Not findings.** {len(none)} signals show no reliable difference between "
                 f"churners and renewals once multiple testing is accounted for"
                 + (": " + ", ".join(none["label"].head(6)) + ("..." if len(none) > 6 else "")
                    if len(none) else "") + ".")
    lines.append("")
    if adjustment_text:
        lines += ["**A confounded signal.** " + adjustment_text, ""]
    if evaluation is not None:
        w = evaluation.weights.set_index("family")
        learned = w.sort_values(LEARNED, ascending=False)
        lines.append("**Health-score weights.** Learned from last year's churners (95% "
                     "bootstrap intervals) vs the articles' defaults: "
                     + "; ".join(f"{f} {_pct(r[LEARNED])} ({_pct(r['learned_lo'])}-"
                                 f"{_pct(r['learned_hi'])}) vs {_pct(r[DEFAULT])}"
                                 for f, r in learned.iterrows()) + ".")
        lines.append("")
        m = evaluation.metrics.set_index("weighting")
        d = evaluation.differences.set_index("metric")
        h = evaluation.horizon_days
        verdict = ("beat" if d.loc["concordance", "lo"] > 0 else
                   "did worse than" if d.loc["concordance", "hi"] < 0 else
                   "did not reliably differ from")
        lines.append(
            f"**Out of time.** Scored on {evaluation.score_date.date()} and judged on what "
            f"happened next (to {evaluation.outcome_end.date()}), learned weights {verdict} "
            f"the default weights: concordance {m.loc[LEARNED, 'concordance']:.3f} vs "
            f"{m.loc[DEFAULT, 'concordance']:.3f} (difference "
            f"{d.loc['concordance', 'learned_minus_default']:+.3f}, 95% CI "
            f"{d.loc['concordance', 'lo']:+.3f} to {d.loc['concordance', 'hi']:+.3f}); AUC for "
            f"churn within {h} days {m.loc[LEARNED, f'auc_{h}d']:.3f} vs "
            f"{m.loc[DEFAULT, f'auc_{h}d']:.3f}. Weights learned over the five core families "
            f"only reach a concordance of {m.loc[LEARNED_CORE, 'concordance']:.3f}.")
        lines.append("")
        fl = evaluation.flagged.set_index(["weighting", "scheme"])
        th = evaluation.model.thresholds_.get(LEARNED, {})
        t = evaluation.tiers
        red_art = t[(t["weighting"] == LEARNED) & (t["scheme"] == "articles")
                    & (t["tier"] == "red")].iloc[0]
        lines.append(
            f"**Tiers.** With the articles' cuts (green >= 80, yellow 60-79, red < 60) the "
            f"learned score put "
            f"{_pct(fl.loc[(LEARNED, 'articles'), 'share_churned_arr_red_or_yellow'])} "
            f"of the next {h} days' churned ARR in red or yellow beforehand (red alone: "
            f"{red_art['n']:,} accounts, churn rate {_pct(red_art['churn_rate'])}). The data "
            f"suggests red below {th.get('yellow', float('nan')):.1f} and yellow below "
            f"{th.get('green', float('nan')):.1f} (churn risk above twice / once the base "
            f"rate of {_pct(evaluation.model.base_rate_)}); with those cuts "
            f"{_pct(fl.loc[(LEARNED, 'data'), 'share_churned_arr_red_or_yellow'])} of churned "
            f"ARR and {_pct(fl.loc[(LEARNED, 'data'), 'share_churners_red_or_yellow'])} of "
            f"churned accounts had been red or yellow, while "
            f"{_pct(fl.loc[(LEARNED, 'data'), 'share_accounts_red_or_yellow'])} of all accounts "
            f"were.")
    return "\n".join(lines).rstrip() + "\n"
