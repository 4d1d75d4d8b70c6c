"""Baselines (90-day logistic, the health score) and the model factory."""

from __future__ import annotations

from churnlab.errors import InputError
from churnlab.features import snapshot as F
from churnlab.models.hazard import HazardLogit, HazardXGB
from churnlab.models.health import HealthScore
from churnlab.models.lifelines_models import AFTModel, CoxModel
from churnlab.models.survival_base import (
    CALENDAR_INPUTS,
    SurvivalModel,
    apply_scaling,
    fit_scaling,
)


class Logistic90(SurvivalModel):
    """Baseline: a logistic classifier of churn within 90 days (no survival curve)."""

    kind = "logistic_90d"
    has_survival = False

    def __init__(self, C: float = 0.1):
        self.C = C

    def _fit(self, rows):
        from sklearn.linear_model import LogisticRegression

        obs = rows[F.EVENT].astype(bool) | (rows[F.DURATION] >= 90)
        r = rows[obs]
        y = (r[F.EVENT].astype(bool) & (r[F.DURATION] <= 90)).astype(int).to_numpy()
        x = r[self.feature_names_].astype(float)
        self.median_, self.mean_, self.scale_ = fit_scaling(x)
        self.lr_ = LogisticRegression(C=self.C, max_iter=2000).fit(
            apply_scaling(x, self.median_, self.mean_, self.scale_).to_numpy(), y)

    def risk_score(self, snapshot):
        x = snapshot[self.feature_names_].astype(float)
        return apply_scaling(x, self.median_, self.mean_, self.scale_).to_numpy() \
            @ self.lr_.coef_[0] \
            + self.lr_.intercept_[0]


class HealthBaseline(SurvivalModel):
    """Baseline: the notebook-01 health score fitted on the same rows (risk = 100 - health)."""

    kind = "health"
    has_survival = False

    def __init__(self, signal_map=None, horizon_days: int = 180, n_bootstrap: int = 10,
                 random_state: int = 0):
        self.signal_map, self.horizon_days = signal_map, horizon_days
        self.n_bootstrap, self.random_state = n_bootstrap, random_state

    def _fit(self, rows):

        obs = rows[F.EVENT].astype(bool) | (rows[F.DURATION] >= self.horizon_days)
        r = rows[obs].reset_index(drop=True)
        y = (r[F.EVENT].astype(bool) & (r[F.DURATION] <= self.horizon_days)).astype(int)
        self.model_ = HealthScore(signal_map=self.signal_map, n_bootstrap=self.n_bootstrap,
                                  random_state=self.random_state).fit(r, y.to_numpy())

    def risk_score(self, snapshot):
        return 100 - self.model_.score(snapshot)["health"].to_numpy(float)


class CalendarHazard(HazardLogit):
    """Baseline: the logistic monthly hazard on the contract calendar alone (term, tenure,
    days to renewal and whether a renewal falls in the month), no behaviour. On data where
    behaviour carries no signal, a champion should not beat it by more than noise."""

    kind = "calendar"
    only_inputs = CALENDAR_INPUTS


class TenureHazard(HazardLogit):
    """Baseline: the logistic monthly hazard on tenure alone."""

    kind = "tenure"
    only_inputs = ("tenure_days",)
    derived_inputs = ()


MODEL_CLASSES = {c.kind: c for c in (HazardXGB, HazardLogit, CoxModel, AFTModel,
                                     Logistic90, HealthBaseline, CalendarHazard,
                                     TenureHazard)}


def make_model(kind: str, random_state: int = 0, signal_map=None, **options):
    """A model of ``kind`` (one of MODEL_CLASSES) with its relevant options."""
    if kind not in MODEL_CLASSES:
        raise InputError(f"unknown model kind {kind!r}: use one of {sorted(MODEL_CLASSES)}")
    if kind == "hazard_xgb":
        keys = ("n_estimators", "max_depth", "learning_rate", "n_jobs", "monotone",
                "early_stopping", "max_bin")
        return HazardXGB(random_state=random_state, signal_map=signal_map,
                         **{k: options[k] for k in keys if k in options})
    if kind == "health":
        return HealthBaseline(signal_map=signal_map, random_state=random_state)
    if kind == "cox":       # backtests and scoring need no robust standard errors
        return CoxModel(robust=False, **{k: options[k] for k in ("n_features",) if k in options})
    if kind == "aft" and "n_features" in options:
        return MODEL_CLASSES[kind](n_features=options["n_features"])
    return MODEL_CLASSES[kind]()
