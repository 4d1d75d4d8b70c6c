"""lifelines models: Cox proportional hazards (with its PH check) and Weibull/log-normal AFT."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from churnlab.data import contract as S
from churnlab.features import snapshot as F
from churnlab.models.survival_base import (
    SurvivalModel,
    apply_scaling,
    check_columns,
    check_labels,
    fit_scaling,
    positional,
)
from churnlab.stats import account_sample


def screen_features(rows: pd.DataFrame, names, k: int) -> list[str]:
    """The ``k`` inputs most correlated (|Spearman|) with churn within 90 days; the
    contract calendar is always kept."""
    y = (rows[F.EVENT].astype(bool) & (rows[F.DURATION] <= 90)).astype(float)
    ranks = rows[names].rank()
    corr = ranks.corrwith(y.rank()).abs().fillna(0).sort_values(ascending=False)
    keep = ["days_to_renewal", "tenure_days", S.ARR]
    rest = [c for c in corr.index if c not in keep and rows[c].nunique() > 1]
    return [c for c in keep if c in names] + rest[:max(k - len(keep), 0)]


class _LifelinesModel(SurvivalModel):
    """lifelines models on the landmark time axis with a compact screened feature set
    (median-imputed, standardised)."""

    def __init__(self, n_features: int = 12, penalizer: float = 0.01, features=None,
                 standardise: bool = True, stratify: str | bool = "auto"):
        self.n_features, self.penalizer = n_features, penalizer
        self.features, self.standardise, self.stratify = features, standardise, stratify

    def fit(self, rows: pd.DataFrame) -> "SurvivalModel":
        """Fit on landmark rows; ``features`` (if given) are used as they are, without
        screening (e.g. a published data set)."""
        if self.features is None:
            return super().fit(rows)
        check_labels(rows)
        check_columns(rows, list(self.features), "landmark rows")
        self.feature_names_ = list(self.features)
        self._fit(positional(rows))
        return self

    def _prep(self, snapshot) -> pd.DataFrame:
        return apply_scaling(snapshot[self.inputs_].astype(float), self.median_, self.mean_,
                             self.scale_)

    def _prepare(self, rows):
        self.inputs_ = (list(self.features) if self.features is not None else
                        screen_features(rows, self.feature_names_, self.n_features))
        self.median_, self.mean_, self.scale_ = fit_scaling(rows[self.inputs_].astype(float))
        if not self.standardise:
            self.mean_, self.scale_ = self.mean_ * 0.0, self.scale_ * 0.0 + 1.0
        df = self._prep(rows)
        df[F.DURATION] = np.maximum(rows[F.DURATION].to_numpy(float), 0.5)
        df[F.EVENT] = rows[F.EVENT].astype(int).to_numpy()
        return df

    def _fold_linear(self, beta: pd.Series, snapshot, sign=1.0):
        z = self._prep(snapshot)
        contrib = sign * (z - self.zmean_) * beta.reindex(self.inputs_).to_numpy()
        phi = pd.DataFrame(0.0, index=snapshot.index, columns=self.feature_names_)
        phi[self.inputs_] = contrib.to_numpy()
        return phi


# past this many landmark rows the PH test runs on a sample of whole accounts (its
# residuals are computed in one vectorised pass, :func:`scaled_schoenfeld`; the cap keeps
# the probe's fit, which the test needs, bounded on a large book)
PH_TEST_MAX_ROWS = 100_000


def scaled_schoenfeld(fitter, df: pd.DataFrame) -> pd.DataFrame | None:
    """The scaled Schoenfeld residuals lifelines' ``compute_residuals(df,
    "scaled_schoenfeld")`` returns for a ``CoxPHFitter`` fitted on ``df`` without strata
    or weights (Efron ties), in its row order, computed with cumulative sums instead of
    lifelines' row-by-row ``np.append``, which is quadratic in the rows (a Cox fit on the
    demo's 35k landmark rows: 7.5 s with lifelines' residuals, 2.3 s with these;
    ``scripts/fit_speedups.py``). None for a fit it does not cover (the caller then asks
    lifelines).

    At an event time t with m deaths, R = sum of exp(x beta) over the rows with T >= t
    (the risk set, tied rows included), D = the same sum over the m deaths, and
    Rx, Dx the x-weighted sums: the Efron mean is
    sum_{l<m} (Rx - l/m Dx) / (m (R - l/m D)); each death's residual is x minus it,
    scaled by (deaths x the variance matrix) as lifelines does."""
    if getattr(fitter, "strata", None) is not None or getattr(fitter, "weights_col", None):
        return None
    cols = list(fitter.params_.index)
    order = fitter.durations.index
    if not order.is_unique or not df.index.is_unique or not set(cols) <= set(df.columns):
        return None
    x = df.loc[order, cols].to_numpy(float)
    t = fitter.durations.to_numpy(float)
    e = fitter.event_observed.to_numpy(bool)
    score = np.exp(x @ fitter.params_.to_numpy(float))
    # risk-set sums from each row to the end (rows are sorted by time)
    r = np.cumsum(score[::-1])[::-1]
    rx = np.cumsum((score[:, None] * x)[::-1], axis=0)[::-1]
    start = np.r_[True, t[1:] != t[:-1]]
    group = np.cumsum(start) - 1
    first = np.flatnonzero(start)
    m = np.bincount(group, weights=e, minlength=len(first))
    d = np.bincount(group, weights=score * e, minlength=len(first))
    dx = np.stack([np.bincount(group, weights=score * e * x[:, j], minlength=len(first))
                   for j in range(x.shape[1])], axis=1) if x.shape[1] else \
        np.zeros((len(first), 0))
    has = np.flatnonzero(m > 0)
    reps = m[has].astype(int)
    g = np.repeat(has, reps)
    frac = (np.arange(reps.sum()) - np.repeat(np.cumsum(reps) - reps, reps)) / m[g]
    terms = (rx[first[g]] - frac[:, None] * dx[g]) / ((r[first[g]] - frac * d[g]) * m[g])[:, None]
    mean = np.zeros((len(first), x.shape[1]))
    np.add.at(mean, g, terms)
    resid = (x - mean[group])[e]
    scaled = e.sum() * resid @ np.asarray(fitter.variance_matrix_, float)
    return pd.DataFrame(scaled, columns=cols, index=order[e])


class CoxModel(_LifelinesModel):
    """lifelines Cox PH on landmark rows, account-clustered robust errors. The PH test
    (Schoenfeld residuals, rank transform; on a sample of whole accounts past
    :data:`PH_TEST_MAX_ROWS` rows, ``ph_test_rows_`` says how many) is run; when the
    term-class variable (monthly vs fixed term) breaks proportionality, the model is
    stratified by it (the renewal calendar makes the two hazards different in shape,
    not only in level)."""

    kind = "cox"

    def __init__(self, n_features: int = 12, penalizer: float = 0.01, features=None,
                 standardise: bool = True, stratify: str | bool = "auto", robust: bool = True,
                 ph_test_max_rows: int = PH_TEST_MAX_ROWS):
        super().__init__(n_features, penalizer, features, standardise, stratify)
        # robust=False keeps the point estimates (all that scoring uses) and skips
        # lifelines' sandwich estimator, O(rows x events): hours at 50k accounts
        self.robust = robust
        self.ph_test_max_rows = ph_test_max_rows

    def _fit(self, rows):
        from lifelines import CoxPHFitter
        from lifelines.statistics import proportional_hazard_test

        df = self._prepare(rows)
        self.use_term_ = (S.TERM_MONTHS in rows.columns and self.stratify is not False
                          and (rows[S.TERM_MONTHS].to_numpy() <= 1).std() > 0)
        if self.use_term_:
            df["term_class"] = (rows[S.TERM_MONTHS].to_numpy() <= 1).astype(int)
        df[S.ACCOUNT_ID] = (rows[S.ACCOUNT_ID].to_numpy() if S.ACCOUNT_ID in rows.columns
                            else np.arange(len(rows)))
        self.zmean_ = df[self.inputs_].mean()
        ph = account_sample(df, self.ph_test_max_rows).drop(columns=[S.ACCOUNT_ID])
        self.ph_test_rows_ = len(ph)
        probe = CoxPHFitter(penalizer=self.penalizer).fit(ph, F.DURATION, F.EVENT)
        test = proportional_hazard_test(probe, ph, time_transform="rank",
                                        precomputed_residuals=scaled_schoenfeld(probe, ph))
        self.ph_test_ = test.summary.reset_index().rename(columns={"index": "covariate"})
        p_term = float(test.summary.loc["term_class", "p"]) if "term_class" in test.summary.index \
            else 1.0
        self.strata_ = ["term_class"] if self.use_term_ and (
            self.stratify is True or p_term < 0.05) else None
        self.fitter_ = CoxPHFitter(penalizer=self.penalizer).fit(
            df if self.robust else df.drop(columns=[S.ACCOUNT_ID]), F.DURATION, F.EVENT,
            cluster_col=S.ACCOUNT_ID if self.robust else None, strata=self.strata_,
            robust=self.robust)
        self.inputs_model_ = [c for c in self.fitter_.params_.index]

    def _frame(self, snapshot):
        z = self._prep(snapshot)
        if self.use_term_:
            z["term_class"] = (snapshot[S.TERM_MONTHS].to_numpy() <= 1).astype(int)
        return z

    def predict_survival(self, snapshot, times):
        fr = self._frame(snapshot).reset_index(drop=True)
        sf = self.fitter_.predict_survival_function(fr, times=times)
        return np.clip(sf[fr.index].to_numpy().T, 0, 1)     # strata reorder the columns

    def risk_score(self, snapshot):
        return self.fitter_.predict_log_partial_hazard(self._frame(snapshot)).to_numpy(float)

    def contributions(self, snapshot):
        """beta_j * (x_j - mean_j) on the log partial hazard (lifelines' centring)."""
        fr = self._frame(snapshot)
        params = self.fitter_.params_
        centred = fr[params.index] - self.fitter_._norm_mean[params.index]
        contrib = centred * params.to_numpy()
        phi = pd.DataFrame(0.0, index=snapshot.index, columns=self.feature_names_)
        for c in params.index:
            phi[c if c in self.feature_names_ else S.TERM_MONTHS] += contrib[c].to_numpy()
        return phi, 0.0

    def hazard_ratios(self) -> pd.DataFrame:
        """Hazard ratio per standard deviation of each input, with 95% robust intervals."""
        s = self.fitter_.summary
        return pd.DataFrame({"covariate": s.index, "hazard_ratio": s["exp(coef)"].to_numpy(),
                             "lo": s["exp(coef) lower 95%"].to_numpy(),
                             "hi": s["exp(coef) upper 95%"].to_numpy(),
                             "p": s["p"].to_numpy()})


class AFTModel(_LifelinesModel):
    """Parametric AFT (Weibull and log-normal fitted; the lower AIC is kept)."""

    kind = "aft"

    def _fit(self, rows):
        from lifelines import LogNormalAFTFitter, WeibullAFTFitter

        df = self._prepare(rows)
        self.zmean_ = df[self.inputs_].mean()
        fits = {}
        for name, cls in (("weibull", WeibullAFTFitter), ("lognormal", LogNormalAFTFitter)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fits[name] = cls(penalizer=self.penalizer).fit(df, F.DURATION, F.EVENT)
        self.aic_ = {k: float(v.AIC_) for k, v in fits.items()}
        self.distribution_ = min(self.aic_, key=self.aic_.get)
        self.fitter_ = fits[self.distribution_]

    def predict_survival(self, snapshot, times):
        sf = self.fitter_.predict_survival_function(self._prep(snapshot), times=times)
        return np.clip(sf.to_numpy().T, 0, 1)

    def _key(self):
        return "lambda_" if "lambda_" in self.fitter_.params_.index.get_level_values(0) \
            else "mu_"

    def _beta(self):
        return self.fitter_.params_.loc[self._key()].drop("Intercept")

    def _intercept(self):
        return float(self.fitter_.params_.loc[(self._key(), "Intercept")])

    def risk_score(self, snapshot):
        """Minus the log time scale (higher = sooner churn)."""
        beta = self._beta()
        return -(self._prep(snapshot)[beta.index].to_numpy() @ beta.to_numpy()
                 + self._intercept())

    def contributions(self, snapshot):
        """Exact linear contributions -beta_j * (z_j - mean z_j) on -log(time scale)."""
        beta = self._beta()
        phi = self._fold_linear(beta, snapshot, sign=-1.0)
        base = -(self.zmean_.reindex(beta.index).to_numpy() @ beta.to_numpy() + self._intercept())
        return phi, base
