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
business outcomes 15-20%, sentiment 10-15% (:data:`churnlab.data.contract.DEFAULT_WEIGHT_RANGES`);
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
The articles' tiers (:data:`churnlab.data.contract.HEALTH_TIERS`: green >= 80, yellow 60-79,
red < 60) and data-suggested thresholds: the score below which an account's
estimated churn risk (isotonic regression of churn on the score in the training
data) exceeds twice the base rate (red) and the base rate (yellow).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from churnlab.data import contract as S
from churnlab.data import lifecycle
from churnlab.data.signal_map import SignalMap, default_signal_map_path, load_signal_map
from churnlab.errors import ChurnlabError, InputError
from churnlab.features import snapshot as F
from churnlab.features.landmarks import make_landmarks, monthly_dates
from churnlab.models.health_families import (
    DEFAULT,
    LEARNED,
    RED_RISK_MULTIPLE,
    YELLOW_RISK_MULTIPLE,
    HealthInputError,
    article_tier,
    check_labels,
    check_snapshot,
    default_weights,
    family_feature_frame,
    fit_nonneg_logistic,
    normalise,
    tier_from_cuts,
)


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

    def __init__(self, signal_map: SignalMap | None = None, families=None,
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

    def _signal_map(self) -> SignalMap:
        return self.signal_map if self.signal_map is not None else \
            load_signal_map(default_signal_map_path())

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
        self.coef_ = fit_nonneg_logistic(s, y)
        self.weights_ = pd.Series(normalise(self.coef_), index=self.families_, name=LEARNED)
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
            draws.append(normalise(fit_nonneg_logistic(s[keep], y[keep], weight[keep],
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
            raise InputError(f"weights must be 'learned', 'default' or a mapping, not {weights!r}")
        w = pd.Series(weights, dtype=float).reindex(self.families_).fillna(0.0)
        if (w < 0).any() or w.sum() <= 0:
            raise InputError("weights must be non-negative with a positive sum")
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
    dates = monthly_dates(last - pd.DateOffset(months=lookback_months), last)
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
        raise InputError(f"no landmark date has {horizon_days} days of follow-up "
                         f"before {as_of.date()}")
    land = make_landmarks(wh, dates, grace_days=grace_days, obs_end=as_of, progress=progress)
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


def try_health_score(wh, as_of=None, **options) -> HealthScore | None:
    """:func:`fit_health_score`, or None (with a warning saying why) when the data cannot
    support one: too little history, no churner, no feature that varies."""
    try:
        return fit_health_score(wh, as_of, **options)
    except ChurnlabError as exc:
        logging.getLogger(__name__).warning("no health score at %s: %s", as_of, exc)
        return None
