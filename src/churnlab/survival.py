"""Time-to-churn models, a rolling-origin backtest, model artifacts and account scores.

Approach (why a discrete-time hazard on the contract calendar)
---------------------------------------------------------------
B2B churn concentrates at renewal dates: an annual account can only leave when its term
ends, a monthly one at any month. The champion family is therefore a **discrete-time
(monthly) hazard model** fitted on landmark *person-months*: every monthly landmark row
(:func:`churnlab.features.make_landmarks`) is one account-month whose outcome is "churned
before the next landmark" (rows whose month is not fully observed, and confirmed by the
grace period, at the training cut-off are left out). Its inputs are the point-in-time
features plus contract-calendar covariates derived from the snapshot (renewal falls in
this month, monthly term). Forward projection is month by month: the calendar is known
in advance (``days_to_renewal`` decreases by the month's length and resets to the term
at a renewal, tenure grows), the behavioural features are held at their as-of values, so

    S(t) = prod_k (1 - h_k)  and  P(churn within h) = 1 - S(h).

Held features go stale: an account that will leave in three months looks healthier now
than it will a month before it leaves, so a hazard learnt one month ahead and projected
on as-of features under-predicts months 2, 3, ... (measured: 90-day probabilities about
a sixth too low). Each hazard model therefore also learns a log-odds offset per
projected month, cross-fitted on held-out accounts (``_months_ahead_offsets``); the next
month's hazard is left as fitted.

Within a month the hazard's mass sits on the renewal date when a renewal falls inside
the month (that is when annual accounts leave) and is spread evenly otherwise, so
``P(churn before renewal) == P(churn within days_to_renewal)`` exactly and the renewal
month's whole risk counts before the renewal.

Two hazard learners: gradient-boosted trees (xgboost ``binary:logistic``) and an L2
logistic regression. lifelines Cox PH (stratified by term class after the PH test,
account-clustered robust errors) and a parametric AFT (Weibull vs log-normal by AIC) run
on the landmark time axis (days since the landmark) with a compact screened feature set;
a 90-day logistic classifier and the health score are the baselines. All models share
one interface: ``fit(landmark_rows) -> self``, ``predict_survival(snapshot, times)``,
``risk_score(snapshot)``, ``predict_horizons(snapshot)`` and ``contributions(snapshot)``.

Remaining lifetime: ``expected_remaining_days`` is the mean lifetime *restricted* to
``MAX_DAYS`` (730 days, the projection horizon): integral of S(t) from 0 to 730, given
the account is active at the as-of date. ``median_remaining_days`` is the first day S(t)
<= 0.5, NaN when the curve stays above 0.5 for the whole 730 days (read ">730").
"""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from churnlab import features as F
from churnlab import lifecycle
from churnlab import schema as S
from churnlab.storage import atomic_dir, write_json

log = logging.getLogger(__name__)

MONTH_DAYS = 30.4375
MAX_DAYS = 730
HORIZONS = (30, 90, 180)
PROJECTION_MONTHS = int(np.ceil(MAX_DAYS / MONTH_DAYS)) + 1
MIN_OFFSET_EVENTS = 50      # churns needed to estimate a months-ahead offset
MODEL_FILE = "model.joblib"
CARD_FILE = "card.json"
CHAMPION_FILE = "champion.json"
BACKTEST_TABLES = ("metrics", "scores", "folds")   # saved beside the model
SURVIVAL_KINDS = ("hazard_xgb", "hazard_logit", "cox", "aft")
BASELINE_KINDS = ("logistic_90d", "health")
# derived inputs and the snapshot column each one comes from (contributions fold back)
DERIVED = {"renewal_in_month": "days_to_renewal", "is_monthly": S.TERM_MONTHS}
SCORE_COLUMNS = ["account_id", "as_of", "arr", "next_renewal", "days_to_renewal",
                 "p_churn_30d", "p_churn_90d", "p_churn_180d", "p_churn_before_renewal",
                 "expected_remaining_days", "median_remaining_days", "expected_arr_lost_90d",
                 "expected_arr_lost_before_renewal", "risk_score", "risk_rank", "model_id"]


class SurvivalInputError(ValueError):
    """Input rows a survival model cannot use (names the column and rule)."""


# ------------------------------------------------------------------ input checks
def check_columns(df: pd.DataFrame, columns, what: str = "snapshot") -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise SurvivalInputError(f"{what}: missing column(s) {missing}")


def check_labels(df: pd.DataFrame) -> None:
    check_columns(df, [F.DURATION, F.EVENT, F.LANDMARK], "landmark rows")
    bad = df.index[(df[F.DURATION] < 0) | df[F.DURATION].isna()]
    if len(bad):
        raise SurvivalInputError(f"landmark rows: column {F.DURATION} must be >= 0 "
                                 f"({len(bad)} rows, first index {bad[0]})")
    if not df[F.EVENT].isin([0, 1, True, False]).all():
        raise SurvivalInputError(f"landmark rows: column {F.EVENT} must be 0/1")
    if len(df) == 0 or int(df[F.EVENT].sum()) == 0:
        raise SurvivalInputError("landmark rows: no churn event to learn from "
                                 f"({len(df)} rows)")


# ------------------------------------------------------------------ training labels
def month_days(landmark) -> np.ndarray:
    """Days from each landmark to the same day next month."""
    t = pd.to_datetime(pd.Series(landmark))
    return ((t + pd.DateOffset(months=1)) - t).dt.days.to_numpy()


def training_rows(landmarks: pd.DataFrame, cutoff, grace_days: int = S.GRACE_DAYS
                  ) -> pd.DataFrame:
    """Landmark rows with labels as they were observable at ``cutoff``.

    :func:`churnlab.features.censor_at` keeps churns confirmed (churn + grace) by the
    cutoff; as a churn needs the grace period to be seen, every other row is censored at
    ``cutoff - grace`` (the last date for which "no churn" is known), and landmarks on
    or after that date are dropped. Nothing after ``cutoff`` can reach a model.
    """
    cutoff = pd.Timestamp(cutoff)
    seen_until = cutoff - pd.Timedelta(days=grace_days)
    out = F.censor_at(landmarks, cutoff, grace_days)
    t = pd.to_datetime(out[F.LANDMARK])
    out = out[t < seen_until].copy()
    t = pd.to_datetime(out[F.LANDMARK])
    cap = (seen_until - t).dt.days.to_numpy()
    ev = out[F.EVENT].to_numpy().astype(bool)
    out[F.DURATION] = np.where(ev, out[F.DURATION], np.minimum(out[F.DURATION], cap)).astype(int)
    out = out[out[F.DURATION] > 0]
    return out.reset_index(drop=True)


def person_months(rows: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """One person-month per landmark row: (rows whose month is fully observed,
    1 if the account churned before the next landmark)."""
    md = month_days(rows[F.LANDMARK])
    ev = rows[F.EVENT].to_numpy().astype(bool) & (rows[F.DURATION].to_numpy() <= md)
    keep = ev | (rows[F.DURATION].to_numpy() >= md)
    return rows[keep].reset_index(drop=True), ev[keep].astype(int)


# ------------------------------------------------------------------ calendar
def calendar_inputs(snapshot: pd.DataFrame, elapsed_days: float = 0.0) -> pd.DataFrame:
    """Model inputs of the snapshot ``elapsed_days`` later on its contract calendar:
    days to renewal decrease and reset to the term at a renewal, tenure grows,
    everything else is held. Adds the derived ``renewal_in_month`` / ``is_monthly``."""
    x = snapshot
    if elapsed_days:
        x = snapshot.copy()
        term_days = np.maximum(x[S.TERM_MONTHS].to_numpy(float), 1) * MONTH_DAYS
        dtr = x["days_to_renewal"].to_numpy(float) - elapsed_days
        k = np.ceil(np.maximum(-dtr, 0) / term_days + 1e-12) * (dtr <= 0)
        x["days_to_renewal"] = dtr + k * term_days
        x["tenure_days"] = x["tenure_days"].to_numpy(float) + elapsed_days
    else:
        x = snapshot.copy()
    x["renewal_in_month"] = (x["days_to_renewal"].to_numpy(float) <= MONTH_DAYS).astype(float)
    x["is_monthly"] = (x[S.TERM_MONTHS].to_numpy(float) <= 1).astype(float)
    return x


def renewal_offsets(snapshot: pd.DataFrame, n_months: int) -> np.ndarray:
    """(n, n_months) day offset of a renewal inside each projected month (NaN if none)."""
    term_days = np.maximum(snapshot[S.TERM_MONTHS].to_numpy(float), 1) * MONTH_DAYS
    dtr = snapshot["days_to_renewal"].to_numpy(float)
    out = np.full((len(snapshot), n_months), np.nan)
    for k in range(n_months):
        lo = k * MONTH_DAYS
        # first renewal at or after lo: dtr + j*term
        j = np.ceil(np.maximum(lo - dtr, 0) / term_days)
        r = dtr + j * term_days
        inside = (r >= lo) & (r < lo + MONTH_DAYS)
        out[inside, k] = r[inside] - lo
    return out


def survival_from_hazards(hazard: np.ndarray, offsets: np.ndarray, times) -> np.ndarray:
    """S(t) for monthly hazards (n, K): mass at the renewal day inside a renewal month,
    spread evenly otherwise. Returns (n, len(times)), non-increasing in t."""
    hazard = np.clip(hazard, 0.0, 1.0 - 1e-12)
    n, K = hazard.shape
    cum = np.concatenate([np.ones((n, 1)), np.cumprod(1 - hazard, axis=1)], axis=1)
    out = np.empty((n, len(times)))
    for i, t in enumerate(np.asarray(times, float)):
        k = min(int(t // MONTH_DAYS), K - 1)
        within = min(t - k * MONTH_DAYS, MONTH_DAYS)
        s0, h, off = cum[:, k], hazard[:, k], offsets[:, k]
        even = s0 * (1 - h) ** (within / MONTH_DAYS)
        step = np.where(within >= off, s0 * (1 - h), s0)
        out[:, i] = np.where(np.isnan(off), even, step)
    return out


# ------------------------------------------------------------------ models
class SurvivalModel:
    """Template: ``fit`` checks and hands off to ``_fit``; predictions build on
    ``predict_survival``. Subclasses set ``kind``."""

    kind = "base"
    has_survival = True

    def fit(self, rows: pd.DataFrame) -> "SurvivalModel":
        check_labels(rows)
        self.feature_names_ = feature_inputs(rows)
        self._fit(rows.reset_index(drop=True))
        return self

    def predict_horizons(self, snapshot: pd.DataFrame, horizons=HORIZONS) -> pd.DataFrame:
        """P(churn within h) per horizon, P(before renewal), restricted mean and median
        remaining days (see module doc)."""
        grid = np.arange(0, MAX_DAYS + 1, dtype=float)
        out = {}
        chunks = []
        for lo in range(0, len(snapshot), 5000):
            part = snapshot.iloc[lo:lo + 5000]
            surv = self.predict_survival(part, grid)
            dtr = np.maximum(part["days_to_renewal"].to_numpy(float), 0)
            res = {f"p_churn_{h}d": 1 - surv[:, int(h)] for h in horizons}
            res["p_churn_before_renewal"] = 1 - self.predict_survival_at(part, dtr)
            res["expected_remaining_days"] = np.trapezoid(surv, grid, axis=1)
            below = surv <= 0.5
            res["median_remaining_days"] = np.where(below.any(axis=1),
                                                    below.argmax(axis=1).astype(float), np.nan)
            chunks.append(pd.DataFrame(res))
        out = pd.concat(chunks, ignore_index=True)
        return out

    def predict_survival_at(self, snapshot: pd.DataFrame, times_per_row) -> np.ndarray:
        """S(t_i) for row i at its own time t_i."""
        times_per_row = np.asarray(times_per_row, float)
        uniq = np.unique(times_per_row)
        surv = self.predict_survival(snapshot, uniq)
        idx = np.searchsorted(uniq, times_per_row)
        return surv[np.arange(len(snapshot)), idx]

    @property
    def card(self) -> dict:
        return getattr(self, "card_", {})


def feature_inputs(df: pd.DataFrame) -> list[str]:
    """Numeric snapshot columns the models use (features.feature_columns)."""
    cols = F.feature_columns(df)
    return [c for c in cols if pd.api.types.is_numeric_dtype(df[c])]


class _HazardModel(SurvivalModel):
    """Discrete-time monthly hazard on person-months (see module doc)."""

    def _design(self, snapshot, elapsed=0.0) -> pd.DataFrame:
        x = calendar_inputs(snapshot, elapsed)
        return x[self.feature_names_ + list(DERIVED)].astype(float)

    recalibrate = True      # estimate the months-ahead offsets in fit (see below)

    def _fit(self, rows):
        pm, y = person_months(rows)
        if y.sum() == 0:
            raise SurvivalInputError("landmark rows: no churn within a fully observed month")
        self.n_person_months_, self.n_events_ = len(pm), int(y.sum())
        self._fit_hazard(self._design(pm), y)
        self.month_offsets_ = (self._months_ahead_offsets(rows) if self.recalibrate
                               else np.zeros(1))

    def _clone(self) -> "_HazardModel":
        raise NotImplementedError

    def _months_ahead_offsets(self, rows: pd.DataFrame) -> np.ndarray:
        """Log-odds offsets a_k for the k-th projected month (a_0 = 0), cross-fitted.

        The hazard is learnt one month ahead from fresh features; projecting it k months
        holds the behavioural features at their as-of values, and accounts that will
        leave in month k look healthier at the as-of date than they will just before
        they leave, so the raw projection under-predicts months 2, 3, ... For each half
        of the accounts (split by a hash of the account id), a model of the same kind
        fitted on the other half projects the held-out landmark rows k months ahead;
        a_k is the intercept shift that makes the projected hazard match the observed
        churn of the rows at risk in month k (summed over both halves), minus the same
        shift for month 0, so the next month's hazard (what ``risk_score`` and the SHAP
        values explain) is the fitted model's own. Months with fewer than
        ``MIN_OFFSET_EVENTS`` observed churns reuse the last estimated offset."""
        from scipy.optimize import brentq
        from scipy.special import expit

        ids = (rows[S.ACCOUNT_ID] if S.ACCOUNT_ID in rows.columns
               else pd.Series(rows.index)).astype(str)
        half = pd.util.hash_pandas_object(ids, index=False).to_numpy() % 2
        t = rows[F.DURATION].to_numpy(float)
        e = rows[F.EVENT].to_numpy().astype(bool)
        margins: dict[int, list] = {}
        churned: dict[int, list] = {}
        for h in (0, 1):
            train = rows[half != h].reset_index(drop=True)
            pm, y = person_months(train)
            if y.sum() == 0 or (half == h).sum() == 0:
                return np.zeros(1)
            sub = self._clone()
            sub.recalibrate, sub.feature_names_ = False, self.feature_names_
            sub._fit_hazard(sub._design(pm), y)
            for k in range(PROJECTION_MONTHS):
                lo, hi = k * MONTH_DAYS, (k + 1) * MONTH_DAYS
                churn = e & (t >= lo) & (t < hi)
                at_risk = (half == h) & (t >= lo) & (churn | (t >= hi))
                if not at_risk.any():
                    break
                held = rows[at_risk].reset_index(drop=True)
                margins.setdefault(k, []).append(sub._margin(sub._design(held, lo)))
                churned.setdefault(k, []).append(churn[at_risk])

        def shift(m, y):
            target = y.sum()
            f = lambda a: expit(m + a).sum() - target  # noqa: E731
            return brentq(f, -10.0, 10.0) if 0 < target < len(y) else np.nan

        est = []
        for k in sorted(margins):
            y = np.concatenate(churned[k])
            est.append(shift(np.concatenate(margins[k]), y)
                       if y.sum() >= MIN_OFFSET_EVENTS else np.nan)
        if not est or not np.isfinite(est[0]):
            return np.zeros(1)
        out = [0.0]
        for a in est[1:]:
            out.append(a - est[0] if np.isfinite(a) else out[-1])
        return np.asarray(out)

    def month_offset(self, k: int) -> float:
        """Log-odds offset of the k-th projected month (0 = the next month)."""
        off = getattr(self, "month_offsets_", np.zeros(1))
        return float(off[min(k, len(off) - 1)])

    def monthly_hazards(self, snapshot: pd.DataFrame, n_months: int = PROJECTION_MONTHS
                        ) -> np.ndarray:
        from scipy.special import expit

        cols = [expit(self._margin(self._design(snapshot, k * MONTH_DAYS)) + self.month_offset(k))
                for k in range(n_months)]
        return np.column_stack(cols)

    def predict_survival(self, snapshot, times) -> np.ndarray:
        times = np.asarray(times, float)
        n_months = int(np.max(times, initial=0) // MONTH_DAYS) + 1
        hz = self.monthly_hazards(snapshot, n_months)
        return survival_from_hazards(hz, renewal_offsets(snapshot, n_months), times)

    def risk_score(self, snapshot) -> np.ndarray:
        """Log-odds of the hazard in the month after the as-of date."""
        return self._margin(self._design(snapshot))

    def _hazard(self, x):
        return 1 / (1 + np.exp(-self._margin(x)))

    def _fold(self, phi: pd.DataFrame) -> pd.DataFrame:
        for d, src in DERIVED.items():
            phi[src] = phi[src] + phi.pop(d)
        return phi[self.feature_names_]


class HazardXGB(_HazardModel):
    """Gradient-boosted monthly hazard (xgboost binary:logistic)."""

    kind = "hazard_xgb"

    def __init__(self, n_estimators: int = 300, max_depth: int = 4, learning_rate: float = 0.05,
                 subsample: float = 0.8, colsample_bytree: float = 0.5,
                 min_child_weight: float = 5.0, n_jobs: int = 2, random_state: int = 0):
        self.params = dict(n_estimators=n_estimators, max_depth=max_depth,
                           learning_rate=learning_rate, subsample=subsample,
                           colsample_bytree=colsample_bytree, min_child_weight=min_child_weight,
                           n_jobs=n_jobs, random_state=random_state)

    def _clone(self):
        return HazardXGB(**self.params)

    def _fit_hazard(self, x, y):
        import xgboost as xgb

        self.booster_ = xgb.XGBClassifier(objective="binary:logistic", tree_method="hist",
                                          eval_metric="logloss", **self.params).fit(x, y)

    def _margin(self, x):
        return self.booster_.predict(x, output_margin=True).astype(float)

    def contributions(self, snapshot):
        """TreeSHAP (xgboost pred_contribs) on the log-odds of the next month's hazard."""
        import xgboost as xgb

        x = self._design(snapshot)
        dm = xgb.DMatrix(x, feature_names=list(x.columns))
        c = self.booster_.get_booster().predict(dm, pred_contribs=True).astype(float)
        phi = pd.DataFrame(c[:, :-1], columns=x.columns, index=snapshot.index)
        return self._fold(phi), float(c[0, -1]) if len(c) else 0.0


class HazardLogit(_HazardModel):
    """L2 logistic monthly hazard on median-imputed, standardised inputs."""

    kind = "hazard_logit"

    def __init__(self, C: float = 0.1, max_iter: int = 2000):
        self.C, self.max_iter = C, max_iter

    def _clone(self):
        return HazardLogit(C=self.C, max_iter=self.max_iter)

    def _fit_hazard(self, x, y):
        from sklearn.linear_model import LogisticRegression

        self.median_ = x.median().fillna(0.0)
        z = x.fillna(self.median_)
        self.mean_, self.scale_ = z.mean(), z.std().replace(0, 1.0).fillna(1.0)
        zs = (z - self.mean_) / self.scale_
        self.lr_ = LogisticRegression(C=self.C, max_iter=self.max_iter).fit(zs.to_numpy(), y)

    def _z(self, x):
        return ((x.fillna(self.median_) - self.mean_) / self.scale_).to_numpy()

    def _margin(self, x):
        return self._z(x) @ self.lr_.coef_[0] + self.lr_.intercept_[0]

    def contributions(self, snapshot):
        """Exact linear contributions beta_j * (z_j - mean z_j) (mean over training = 0)."""
        x = self._design(snapshot)
        phi = pd.DataFrame(self._z(x) * self.lr_.coef_[0], columns=x.columns,
                           index=snapshot.index)
        return self._fold(phi), float(self.lr_.intercept_[0])


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
        self._fit(rows.reset_index(drop=True))
        return self

    def _prep(self, snapshot) -> pd.DataFrame:
        x = snapshot[self.inputs_].astype(float).fillna(self.median_)
        return (x - self.mean_) / self.scale_

    def _prepare(self, rows):
        self.inputs_ = (list(self.features) if self.features is not None else
                        screen_features(rows, self.feature_names_, self.n_features))
        x = rows[self.inputs_].astype(float)
        self.median_ = x.median().fillna(0.0)
        x = x.fillna(self.median_)
        self.mean_, self.scale_ = x.mean(), x.std().replace(0, 1.0).fillna(1.0)
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


# lifelines' Schoenfeld residuals grow an array one event time at a time (quadratic in
# the events): past this many landmark rows the PH test runs on a sample of whole accounts
PH_TEST_MAX_ROWS = 100_000


def ph_test_sample(df: pd.DataFrame, max_rows: int, seed: int = 0) -> pd.DataFrame:
    """``df`` itself when it has at most ``max_rows`` rows, else the rows of a seeded
    random share ``max_rows / len(df)`` of its accounts (``account_id``; whole accounts,
    so the sample keeps each account's follow-up). Deterministic for the same data."""
    if len(df) <= max_rows:
        return df
    ids = np.sort(pd.unique(df[S.ACCOUNT_ID]))
    k = max(1, int(len(ids) * max_rows / len(df)))
    chosen = np.random.default_rng(seed).choice(ids, size=k, replace=False)
    return df[df[S.ACCOUNT_ID].isin(chosen)]


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
        self.use_term_ = S.TERM_MONTHS in rows.columns and self.stratify is not False
        if self.use_term_:
            df["term_class"] = (rows[S.TERM_MONTHS].to_numpy() <= 1).astype(int)
        df[S.ACCOUNT_ID] = (rows[S.ACCOUNT_ID].to_numpy() if S.ACCOUNT_ID in rows.columns
                            else np.arange(len(rows)))
        self.zmean_ = df[self.inputs_].mean()
        ph = ph_test_sample(df, self.ph_test_max_rows).drop(columns=[S.ACCOUNT_ID])
        self.ph_test_rows_ = len(ph)
        probe = CoxPHFitter(penalizer=self.penalizer).fit(ph, F.DURATION, F.EVENT)
        test = proportional_hazard_test(probe, ph, time_transform="rank")
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
        self.median_ = x.median().fillna(0.0)
        x = x.fillna(self.median_)
        self.mean_, self.scale_ = x.mean(), x.std().replace(0, 1.0).fillna(1.0)
        self.lr_ = LogisticRegression(C=self.C, max_iter=2000).fit(
            ((x - self.mean_) / self.scale_).to_numpy(), y)

    def risk_score(self, snapshot):
        x = snapshot[self.feature_names_].astype(float).fillna(self.median_)
        return ((x - self.mean_) / self.scale_).to_numpy() @ self.lr_.coef_[0] \
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
        from churnlab.health import HealthScore

        obs = rows[F.EVENT].astype(bool) | (rows[F.DURATION] >= self.horizon_days)
        r = rows[obs].reset_index(drop=True)
        y = (r[F.EVENT].astype(bool) & (r[F.DURATION] <= self.horizon_days)).astype(int)
        self.model_ = HealthScore(signal_map=self.signal_map, n_bootstrap=self.n_bootstrap,
                                  random_state=self.random_state).fit(r, y.to_numpy())

    def risk_score(self, snapshot):
        return 100 - self.model_.score(snapshot)["health"].to_numpy(float)


MODEL_CLASSES = {c.kind: c for c in (HazardXGB, HazardLogit, CoxModel, AFTModel,
                                     Logistic90, HealthBaseline)}


def make_model(kind: str, random_state: int = 0, signal_map=None, **options):
    """A model of ``kind`` (one of MODEL_CLASSES) with its relevant options."""
    if kind not in MODEL_CLASSES:
        raise ValueError(f"unknown model kind {kind!r}: use one of {sorted(MODEL_CLASSES)}")
    if kind == "hazard_xgb":
        keys = ("n_estimators", "max_depth", "learning_rate", "n_jobs")
        return HazardXGB(random_state=random_state,
                         **{k: options[k] for k in keys if k in options})
    if kind == "health":
        return HealthBaseline(signal_map=signal_map, random_state=random_state)
    if kind == "cox":       # backtests and scoring need no robust standard errors
        return CoxModel(robust=False, **{k: options[k] for k in ("n_features",) if k in options})
    if kind == "aft" and "n_features" in options:
        return MODEL_CLASSES[kind](n_features=options["n_features"])
    return MODEL_CLASSES[kind]()


# ------------------------------------------------------------------ metrics
def _surv_array(event, time):
    from sksurv.util import Surv

    return Surv.from_arrays(np.asarray(event).astype(bool), np.asarray(time, float))


def evaluate_scores(test: pd.DataFrame, risk, train: pd.DataFrame, surv_fn=None,
                    p90=None, tau: int = 90) -> dict:
    """Out-of-time metrics of one model on the rows scored at one origin.

    ``test`` has duration_days / churned seen later and arr; ``risk`` higher = sooner;
    ``surv_fn(times) -> (n, len(times))`` for the IBS; ``p90`` for calibration.
    Concordance (Harrell, Uno) is on time to churn censored at ``tau`` = 90 days, as the
    simulator's oracle concordance is defined; AUC at 90/180 days; IBS over 30-180 days.
    """
    from lifelines.utils import concordance_index
    from sksurv.metrics import (concordance_index_ipcw, cumulative_dynamic_auc,
                                integrated_brier_score)

    risk = np.asarray(risk, float)
    t = test[F.DURATION].to_numpy(float)
    e = test[F.EVENT].to_numpy().astype(bool)
    tt = np.minimum(t, tau + 1)
    et = e & (t <= tau)
    # The censoring distribution (IPCW) is estimated on the scored rows themselves: their
    # censoring is administrative (observation end) and their follow-up can be longer
    # than any training row's, which a training-set estimate could not weight.
    y_test = _surv_array(et, np.maximum(tt, 1))
    y_full = _surv_array(e, np.maximum(t, 1))
    y_train = y_full
    out = {"n": len(test), "events_90d": int((e & (t <= 90)).sum()),
           "harrell_c": concordance_index(tt, -risk, et),
           "uno_c": float(concordance_index_ipcw(y_train, y_test, risk, tau=tau)[0])}
    aucs, _ = cumulative_dynamic_auc(y_train, y_full, risk, [90, 180])
    out["auc_90"], out["auc_180"] = float(aucs[0]), float(aucs[1])
    cens = t[~e]
    grid = np.arange(30, min(180, cens.max() - 1 if len(cens) else 180) + 1, 15, dtype=float)
    out["ibs"], out["ibs_km"] = np.nan, np.nan
    if len(grid) >= 2:
        from lifelines import KaplanMeierFitter

        km = KaplanMeierFitter().fit(train[F.DURATION], train[F.EVENT])
        km_s = np.tile(km.survival_function_at_times(grid).to_numpy(), (len(test), 1))
        out["ibs_km"] = float(integrated_brier_score(y_train, y_full, km_s, grid))
        if surv_fn is not None:
            out["ibs"] = float(integrated_brier_score(y_train, y_full, surv_fn(grid), grid))
    y90 = e & (t <= 90)
    known = y90 | (t >= 90)
    order = np.argsort(-risk, kind="stable")
    top = order[:max(int(np.ceil(0.1 * len(risk))), 1)]
    base = y90[known].mean()
    out["top_decile_lift"] = float(y90[top][known[top]].mean() / base) if base > 0 else np.nan
    arr = test[S.ARR].to_numpy(float)
    lost = (arr * y90).sum()
    out["churned_arr_top10"] = float((arr * y90)[top].sum() / lost) if lost > 0 else np.nan
    out["calibration_error_90d"] = np.nan
    if p90 is not None:
        cal = calibration_table(np.asarray(p90)[known], y90[known])
        out["calibration_error_90d"] = float(np.average(
            (cal["predicted"] - cal["observed"]).abs(), weights=cal["n"]))
        out["mean_p90"], out["observed_90d"] = float(np.mean(np.asarray(p90)[known])), \
            float(y90[known].mean())
    return out


def calibration_table(p, y, n_bins: int = 10) -> pd.DataFrame:
    """Mean predicted vs observed rate by decile of predicted probability, with a
    binomial standard error of the observed rate."""
    p, y = np.asarray(p, float), np.asarray(y, float)
    bins = pd.qcut(pd.Series(p).rank(method="first"), n_bins, labels=False)
    df = pd.DataFrame({"bin": bins, "p": p, "y": y}).groupby("bin")
    out = pd.DataFrame({"predicted": df["p"].mean(), "observed": df["y"].mean(),
                        "n": df["y"].size()}).reset_index()
    out["se"] = np.sqrt(out["predicted"] * (1 - out["predicted"]) / out["n"])
    return out


# ------------------------------------------------------------------ backtest
@dataclass
class Backtest:
    """Rolling-origin backtest: metrics per model and origin, and the scored rows."""

    metrics: pd.DataFrame      # model, origin, metrics...
    scores: pd.DataFrame       # origin, account_id, model, risk, p90, duration, churned, arr
    folds: pd.DataFrame        # origin, train_first, train_last, last_label_date, rows

    def summary(self) -> pd.DataFrame:
        cols = ["harrell_c", "uno_c", "auc_90", "auc_180", "ibs", "ibs_km",
                "calibration_error_90d", "top_decile_lift", "churned_arr_top10"]
        return self.metrics.groupby("model", sort=False)[cols].mean()


def default_origins(as_of, n_origins: int = 3, step_months: int = 2,
                    follow_up_days: int = 180, grace_days: int = S.GRACE_DAYS):
    """Monthly origins whose ``follow_up_days`` (+ grace) are observed by ``as_of``."""
    last = pd.Timestamp(as_of) - pd.Timedelta(days=follow_up_days + grace_days)
    last = last.to_period("M").to_timestamp()
    return [last - pd.DateOffset(months=step_months * i) for i in range(n_origins)][::-1]


def run_backtest(landmarks: pd.DataFrame, origins, models=SURVIVAL_KINDS + BASELINE_KINDS,
                 lookback_months: int = 12, grace_days: int = S.GRACE_DAYS,
                 signal_map=None, random_state: int = 0, progress: bool = False,
                 **options) -> Backtest:
    """For each origin: train every model on landmarks before it (labels censored as
    observable at the origin, :func:`training_rows`), score the landmark rows *at* the
    origin (features before it), and judge them on outcomes seen at the landmarks'
    observation end."""
    rows, mrows, frows = [], [], []
    pairs = [(pd.Timestamp(o), k) for o in origins for k in models]
    it = pairs
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(pairs, desc="backtest", unit="fit")
    lm = pd.to_datetime(landmarks[F.LANDMARK])
    cache = {}
    for origin, kind in it:
        if origin not in cache:
            first = origin - pd.DateOffset(months=lookback_months)
            train = training_rows(landmarks[lm >= first], origin, grace_days)
            test = landmarks[lm == origin].reset_index(drop=True)
            if test.empty:
                raise ValueError(f"no landmark rows at origin {origin.date()}: origins must "
                                 "be landmark dates")
            cache = {origin: (train, test)}
            cd = pd.to_datetime(train[F.CHURN_DATE])
            frows.append({"origin": origin, "train_first": pd.to_datetime(train[F.LANDMARK]).min(),
                          "train_last": pd.to_datetime(train[F.LANDMARK]).max(),
                          "last_label_date": (pd.to_datetime(train[F.LANDMARK]) +
                                              pd.to_timedelta(train[F.DURATION], "D")).max(),
                          "last_churn_date": cd.max(), "rows": len(train),
                          "events": int(train[F.EVENT].sum()), "test_rows": len(test)})
        train, test = cache[origin]
        model = make_model(kind, random_state, signal_map, **options).fit(train)
        risk = model.risk_score(test)
        p90, surv_fn = None, None
        if model.has_survival:
            p90 = 1 - model.predict_survival(test, [90.0])[:, 0]
            risk = p90          # survival models are ranked by P(churn within 90 days)
            surv_fn = (lambda m, x: (lambda g: m.predict_survival(x, g)))(model, test)
        m = evaluate_scores(test, risk, train, surv_fn, p90)
        mrows.append({"model": kind, "origin": origin, **m})
        rows.append(pd.DataFrame({"origin": origin, "model": kind,
                                  S.ACCOUNT_ID: test[S.ACCOUNT_ID], "risk": risk,
                                  "p90": p90 if p90 is not None else np.nan,
                                  F.DURATION: test[F.DURATION], F.EVENT: test[F.EVENT],
                                  S.ARR: test[S.ARR], "term_months": test[S.TERM_MONTHS]}))
    return Backtest(pd.DataFrame(mrows), pd.concat(rows, ignore_index=True),
                    pd.DataFrame(frows))


def oracle_scores(backtest: Backtest, truth_dir) -> pd.DataFrame:
    """Evaluation only (never in the pipeline): the simulator's ``oracle_risk_90d`` on
    exactly the rows scored at each origin, in the layout of ``backtest.scores``."""
    am = pd.read_parquet(Path(truth_dir) / "account_months.parquet",
                         columns=[S.ACCOUNT_ID, "month_start", "oracle_risk_90d"])
    am[S.ACCOUNT_ID] = am[S.ACCOUNT_ID].astype(str)
    first = backtest.scores[backtest.scores["model"] == backtest.scores["model"].iloc[0]]
    key = pd.MultiIndex.from_frame(am[["month_start", S.ACCOUNT_ID]])
    risk = pd.Series(am["oracle_risk_90d"].to_numpy(), index=key)
    want = pd.MultiIndex.from_arrays([pd.to_datetime(first["origin"]),
                                      first[S.ACCOUNT_ID].astype(str)])
    out = first.copy()
    out["model"] = "oracle"
    out["risk"] = out["p90"] = risk.reindex(want).to_numpy(float)
    return out.reset_index(drop=True)


def oracle_metrics(backtest: Backtest, truth_dir) -> pd.DataFrame:
    """The oracle's metrics per origin on the backtest's rows (evaluation only)."""
    scores = oracle_scores(backtest, truth_dir)
    out = []
    for origin, rows in scores.groupby("origin"):
        ok = rows["risk"].notna().to_numpy()
        rows = rows[ok].reset_index(drop=True)
        m = evaluate_scores(rows, rows["risk"], rows, None, rows["p90"])
        out.append({"model": "oracle", "origin": origin, "coverage": float(ok.mean()), **m})
    return pd.DataFrame(out)


def concordance_difference(scores: pd.DataFrame, model_a: str, model_b: str,
                           n_bootstrap: int = 200, random_state: int = 0,
                           tau: int = 90) -> dict:
    """Harrell's C (time censored at ``tau``) of ``model_a`` minus ``model_b``, averaged
    over origins, on the same rows, with a paired account bootstrap standard error."""
    from lifelines.utils import concordance_index

    rng = np.random.default_rng(random_state)
    diffs, boots = [], np.zeros(n_bootstrap)
    n_origins = scores["origin"].nunique()
    for origin, rows in scores[scores["model"].isin([model_a, model_b])].groupby("origin"):
        wide = rows.pivot_table(index=S.ACCOUNT_ID, columns="model", values="risk")
        lab = rows.drop_duplicates(S.ACCOUNT_ID).set_index(S.ACCOUNT_ID).loc[wide.index]
        wide = wide.dropna()
        lab = lab.loc[wide.index]
        t = lab[F.DURATION].to_numpy(float)
        e = lab[F.EVENT].to_numpy().astype(bool) & (t <= tau)
        t = np.minimum(t, tau + 1)
        a, b = wide[model_a].to_numpy(), wide[model_b].to_numpy()

        def c(idx):
            return concordance_index(t[idx], -a[idx], e[idx]) - \
                concordance_index(t[idx], -b[idx], e[idx])
        all_idx = np.arange(len(t))
        diffs.append(c(all_idx))
        for i in range(n_bootstrap):
            boots[i] += c(rng.integers(0, len(t), len(t))) / n_origins
    return {"difference": float(np.mean(diffs)), "se": float(np.std(boots, ddof=1))}


# ------------------------------------------------------------------ training & artifacts
def _versions() -> dict:
    import importlib.metadata as md

    out = {}
    for pkg in ("churnlab", "numpy", "pandas", "scikit-learn", "xgboost", "lifelines",
                "scikit-survival"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    return out


RENEWAL_AWARE_KINDS = ("hazard_xgb", "hazard_logit")   # put churn mass on renewal dates


def choose_champion(summary: pd.DataFrame, tie: float = 0.005) -> str:
    """The survival model with the highest mean Uno C; models within ``tie`` of it
    (about one paired bootstrap SE of a concordance difference on a few thousand rows:
    a difference that small is noise) are tied. Among tied models the renewal-aware
    ones (:data:`RENEWAL_AWARE_KINDS`: their P(churn before renewal) counts the renewal
    month's risk on the renewal date, where Cox and AFT spread it over continuous time
    and understate it for an account renewing in a few days) are preferred, then the
    best-calibrated 90-day probability (what CSMs and leadership read), then the lower
    integrated Brier score."""
    cands = summary.loc[[k for k in summary.index if k in SURVIVAL_KINDS]]
    near = cands[cands["uno_c"] >= cands["uno_c"].max() - tie]
    aware = near[near.index.isin(RENEWAL_AWARE_KINDS)]
    if len(aware):
        near = aware
    order = near.sort_values(["calibration_error_90d", "ibs"], na_position="last")
    return str(order.index[0])


def train_champion(wh, as_of, model_dir, progress: bool = False, origins=None,
                   n_origins: int = 3, step_months: int = 2, lookback_months: int = 12,
                   models=SURVIVAL_KINDS + BASELINE_KINDS, landmarks: pd.DataFrame | None = None,
                   random_state: int = 0, grace_days: int = S.GRACE_DAYS, **options):
    """Backtest, choose the champion, refit it on every label observable at ``as_of``
    and persist it.

    Parameters
    ----------
    wh : open, validated warehouse. as_of : training date (nothing after it is used).
    model_dir : folder; the model goes to ``model_dir/<model_id>/`` (model.joblib +
        card.json) and ``model_dir/champion.json`` names it.
    origins : backtest origins (default :func:`default_origins`, ``n_origins`` every
        ``step_months`` with 180 days of follow-up before ``as_of``).
    lookback_months : training window before each origin and before ``as_of``.
    models : kinds to backtest (the champion is chosen among SURVIVAL_KINDS).
    landmarks : precomputed landmarks covering the window with labels seen at
        ``as_of`` (built here otherwise).
    options : model options (``n_estimators``, ``max_depth``, ``n_features``...).

    Returns
    -------
    (model, card)
    """
    as_of = pd.Timestamp(as_of)
    origins = [pd.Timestamp(o) for o in (origins or default_origins(
        as_of, n_origins, step_months, grace_days=grace_days))]
    if any(o >= as_of for o in origins):
        raise ValueError(f"backtest origins must be before as_of {as_of.date()}: {origins}")
    first = min(origins) - pd.DateOffset(months=lookback_months)
    if landmarks is None:
        dates = F.monthly_dates(first, as_of - pd.Timedelta(days=1))
        landmarks = F.make_landmarks(wh, dates, grace_days=grace_days, obs_end=as_of,
                                     progress=progress)
    else:
        landmarks = F.censor_at(landmarks, as_of, grace_days) if \
            pd.to_datetime(landmarks[F.LANDMARK]).max() >= as_of else landmarks
    bt = run_backtest(landmarks, origins, models, lookback_months, grace_days,
                      wh.signal_map, random_state, progress, **options)
    summary = bt.summary()
    champion = choose_champion(summary)
    lm = pd.to_datetime(landmarks[F.LANDMARK])
    train = training_rows(landmarks[lm >= as_of - pd.DateOffset(months=lookback_months)],
                          as_of, grace_days)
    model = make_model(champion, random_state, wh.signal_map, **options).fit(train)
    fingerprint = wh.fingerprint()
    key = json.dumps({"kind": champion, "as_of": str(as_of.date()), "data": fingerprint,
                      "options": options, "seed": random_state, "lookback": lookback_months},
                     sort_keys=True, default=str)
    model_id = f"{champion}-{as_of.date().isoformat()}-{hashlib.sha1(key.encode()).hexdigest()[:8]}"
    card = {"model_id": model_id, "kind": champion, "as_of": str(as_of.date()),
            "training_window": [str(pd.to_datetime(train[F.LANDMARK]).min().date()),
                                str(pd.to_datetime(train[F.LANDMARK]).max().date())],
            "training_rows": int(len(train)), "training_events": int(train[F.EVENT].sum()),
            "features": list(model.feature_names_), "options": options,
            "random_state": random_state, "lookback_months": lookback_months,
            "origins": [str(o.date()) for o in origins],
            "backtest_summary": json.loads(summary.reset_index().to_json(orient="records")),
            "backtest": json.loads(bt.metrics.to_json(orient="records", date_format="iso")),
            "library_versions": _versions(), "data_fingerprint": fingerprint,
            "months_ahead_offsets": [round(float(a), 4) for a in
                                     getattr(model, "month_offsets_", [])],
            "method": __doc__.split("Approach")[1].split("Remaining lifetime")[0].strip()
                      if champion.startswith("hazard") else model.__doc__}
    model.card_ = card
    model.model_id_ = model_id
    model.backtest_ = bt                # saved beside the model (save_model)
    save_model(model, Path(model_dir) / model_id)
    write_json({"model_id": model_id, "path": model_id}, Path(model_dir) / CHAMPION_FILE)
    return model, card


def save_model(model: SurvivalModel, folder) -> Path:
    """Write model.joblib + card.json atomically into ``folder`` (and, when the model
    carries its backtest, ``backtest_{metrics,scores,folds}.parquet``)."""
    import joblib

    with atomic_dir(folder, overwrite=True) as tmp:
        bt = getattr(model, "backtest_", None)
        if bt is not None:
            del model.backtest_
        joblib.dump(model, tmp / MODEL_FILE)
        if bt is not None:
            model.backtest_ = bt
        (tmp / CARD_FILE).write_text(json.dumps(model.card_, indent=2, sort_keys=True,
                                                default=str) + "\n")
        if bt is not None:          # the backtest's tables travel with the model
            for name in BACKTEST_TABLES:
                getattr(bt, name).to_parquet(tmp / f"backtest_{name}.parquet", index=False)
    return Path(folder)


def load_model(path) -> SurvivalModel:
    """Load a model folder, or the champion named by ``path/champion.json``; warns when
    installed library versions differ from the card's. The saved backtest (if any)
    comes back as ``model.backtest_``."""
    import joblib

    path = Path(path)
    if (path / CHAMPION_FILE).is_file():
        path = path / json.loads((path / CHAMPION_FILE).read_text())["path"]
    if not (path / MODEL_FILE).is_file():
        raise FileNotFoundError(f"{path}: no {MODEL_FILE} (nor {CHAMPION_FILE}) here")
    model = joblib.load(path / MODEL_FILE)
    model.card_ = json.loads((path / CARD_FILE).read_text())
    if all((path / f"backtest_{name}.parquet").is_file() for name in BACKTEST_TABLES):
        model.backtest_ = Backtest(*(pd.read_parquet(path / f"backtest_{name}.parquet")
                                     for name in BACKTEST_TABLES))
    now = _versions()
    diff = {k: (v, now.get(k)) for k, v in model.card_.get("library_versions", {}).items()
            if k != "churnlab" and now.get(k) != v}
    if diff:
        warnings.warn(f"model {model.card_['model_id']} was saved with other library "
                      f"versions (saved, installed): {diff}", stacklevel=2)
    return model


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


# ------------------------------------------------------------------ Kaplan-Meier
def kaplan_meier(rows: pd.DataFrame, by: str, times=(30, 90, 180, 365)) -> pd.DataFrame:
    """Kaplan-Meier survival by group at ``times`` with 95% intervals and at-risk
    counts, the median, and the multivariate log-rank test across groups."""
    from lifelines import KaplanMeierFitter
    from lifelines.statistics import multivariate_logrank_test

    check_columns(rows, [by, F.DURATION, F.EVENT], "landmark rows")
    out = []
    for g, r in rows.groupby(by, observed=True):
        km = KaplanMeierFitter().fit(r[F.DURATION], r[F.EVENT])
        ci = km.confidence_interval_survival_function_
        for t in times:
            out.append({by: g, "days": t, "survival": float(km.survival_function_at_times(t).iloc[0]),
                        "lo": float(np.interp(t, ci.index, ci.iloc[:, 0])),
                        "hi": float(np.interp(t, ci.index, ci.iloc[:, 1])),
                        "at_risk": int((r[F.DURATION] >= t).sum()),
                        "median_days": float(km.median_survival_time_)})
    test = multivariate_logrank_test(rows[F.DURATION], rows[by], rows[F.EVENT])
    df = pd.DataFrame(out)
    df.attrs["logrank_p"] = float(test.p_value)
    df.attrs["logrank_chi2"] = float(test.test_statistic)
    return df


# ------------------------------------------------------------------ notebook 02 helpers
TERM_CLASSES = {1: "monthly", 12: "annual"}


def term_class(term_months) -> np.ndarray:
    """'monthly' (1 month), 'annual' (12), 'multi-year' (longer), 'other' otherwise."""
    t = np.asarray(term_months, float)
    return np.where(t <= 1, "monthly", np.where(t == 12, "annual",
                                                np.where(t > 12, "multi-year", "other")))


def load_or_train_champion(wh, as_of=None, model_dir=None, n_origins: int = 3,
                           n_estimators: int | None = None, random_state: int = 0,
                           progress: bool = False, **kwargs):
    """The champion saved in ``model_dir`` when it was trained at ``as_of`` on these data
    (fingerprint) with the same origins count, trees and seed and carries its backtest;
    otherwise
    :func:`train_champion` into ``model_dir`` (a temporary folder when None). Returns
    the model with ``backtest_`` (a :class:`Backtest`) and ``card``."""
    import tempfile

    as_of = lifecycle.observation_end(wh) if as_of is None else pd.Timestamp(as_of)
    options = {"n_estimators": int(n_estimators)} if n_estimators else {}
    if model_dir is not None and (Path(model_dir) / CHAMPION_FILE).is_file():
        model = load_model(model_dir)
        c = model.card
        if (c.get("as_of") == str(as_of.date()) and len(c.get("origins", [])) == n_origins
                and c.get("options", {}) == options and c.get("random_state") == random_state
                and c.get("data_fingerprint") == wh.fingerprint()
                and getattr(model, "backtest_", None) is not None):
            log.info("reusing champion %s from %s", c["model_id"], model_dir)
            return model
    model_dir = Path(model_dir) if model_dir is not None else \
        Path(tempfile.mkdtemp(prefix="churnlab-models-"))
    model, _ = train_champion(wh, as_of, model_dir, progress=progress, n_origins=n_origins,
                              random_state=random_state, **options, **kwargs)
    return model


def landmark_groups(wh, date, obs_end=None, health_model=None) -> pd.DataFrame:
    """Landmark rows of the accounts active at ``date`` with outcomes seen at ``obs_end``
    and the groups of the Kaplan-Meier curves: segment, ``term`` (:func:`term_class`)
    and, given a health score fitted on what was known at ``date``, its data-suggested
    ``tier`` (as in the monthly report) and the articles' ``tier_articles``."""
    rows = F.make_landmarks(wh, [pd.Timestamp(date)], obs_end=obs_end)
    rows["term"] = term_class(rows[S.TERM_MONTHS])
    if health_model is not None:
        h = health_model.score(rows)
        rows["tier"] = h["tier_data"].to_numpy()
        rows["tier_articles"] = h["tier"].to_numpy()
        rows["health"] = h["health"].to_numpy()
    return rows


def fit_cox_and_aft(wh, as_of=None, lookback_months: int = 12, n_features: int = 12,
                    landmarks: pd.DataFrame | None = None, grace_days: int = S.GRACE_DAYS,
                    progress: bool = False):
    """The explanatory lifelines models on the champion's training rows (landmarks of
    the ``lookback_months`` before ``as_of``, labels observable at ``as_of``).
    Returns (CoxModel, AFTModel, training rows)."""
    as_of = lifecycle.observation_end(wh) if as_of is None else pd.Timestamp(as_of)
    first = as_of - pd.DateOffset(months=lookback_months)
    if landmarks is None:
        landmarks = F.make_landmarks(wh, F.monthly_dates(first, as_of - pd.Timedelta(days=1)),
                                     grace_days=grace_days, obs_end=as_of, progress=progress)
    lm = pd.to_datetime(landmarks[F.LANDMARK])
    train = training_rows(landmarks[lm >= first], as_of, grace_days)
    cox = CoxModel(n_features=n_features).fit(train)
    aft = AFTModel(n_features=n_features).fit(train)
    return cox, aft, train


def describe_ph_check(cox: CoxModel, alpha: float = 0.05) -> str:
    """The proportional-hazards check of a fitted :class:`CoxModel` and what was done."""
    test = cox.ph_test_.set_index("covariate")["p"]
    broken = [c for c, p in test.items() if p < alpha]
    term = test.get("term_class", np.nan)
    if cox.strata_:
        act = (f"the term class (monthly vs fixed term) breaks proportional hazards "
               f"(Schoenfeld test, rank time, p = {term:.2g}), so the model is stratified "
               "by it: each class keeps its own baseline hazard (monthly accounts can leave "
               "any month, fixed terms at renewal) and the hazard ratios below are within "
               "term class")
    elif cox.use_term_:
        act = (f"the term class passes the proportional-hazards test (p = {term:.2g}), so "
               "it stays an ordinary covariate")
    else:
        act = "no term class in the data, no stratification"
    others = [c for c in broken if c != "term_class"]
    tail = (f"; {len(others)} other input(s) also show time-varying effects at p < {alpha} "
            f"({', '.join(others[:5])}): their hazard ratios are averages over follow-up"
            if others else "; no other input breaks proportionality at p < " f"{alpha}")
    return f"PH check: {act}{tail}."


def describe_aft(aft: AFTModel) -> str:
    """Which AFT family was kept and by how much AIC."""
    other = [k for k in aft.aic_ if k != aft.distribution_][0]
    return (f"AFT family: {aft.distribution_} (AIC {aft.aic_[aft.distribution_]:,.0f}) "
            f"over {other} (AIC {aft.aic_[other]:,.0f}), a difference of "
            f"{aft.aic_[other] - aft.aic_[aft.distribution_]:,.0f}.")


SUMMARY_COLUMNS = ["harrell_c", "uno_c", "auc_90", "auc_180", "ibs", "ibs_km",
                   "calibration_error_90d", "top_decile_lift", "churned_arr_top10"]


def backtest_table(backtest: Backtest, oracle: pd.DataFrame | None = None,
                   per_origin: bool = False) -> pd.DataFrame:
    """The backtest's metrics (mean over origins, or per origin), the oracle's (from
    :func:`oracle_metrics`) beside them when given."""
    m = backtest.metrics if oracle is None else pd.concat([backtest.metrics, oracle],
                                                          ignore_index=True)
    cols = [c for c in SUMMARY_COLUMNS if c in m.columns]
    if per_origin:
        return m.set_index(["origin", "model"])[cols].sort_index()
    return m.groupby("model", sort=False)[cols].mean()


def pooled_calibration(backtest: Backtest, model: str, n_bins: int = 10) -> pd.DataFrame:
    """:func:`calibration_table` of ``model``'s 90-day probabilities over every origin's
    rows whose 90-day outcome is known (churned within 90 days, or followed 90 days)."""
    rows = backtest.scores[backtest.scores["model"] == model]
    t, e = rows[F.DURATION].to_numpy(float), rows[F.EVENT].to_numpy().astype(bool)
    y = e & (t <= 90)
    known = y | (t >= 90)
    return calibration_table(rows["p90"].to_numpy(float)[known], y[known], n_bins)


def group_survival(model: SurvivalModel, snapshot: pd.DataFrame, groups,
                   max_days: int = MAX_DAYS) -> pd.DataFrame:
    """Per group of accounts (e.g. health tier) at the snapshot's date: accounts, ARR,
    the mean predicted P(churn within 90 days) and the median time to churn of the
    group's average survival curve (first day it reaches 0.5; NaN = beyond
    ``max_days``)."""
    groups = pd.Series(np.asarray(groups), index=snapshot.index)
    grid = np.arange(0, max_days + 1, dtype=float)
    out = []
    for g, idx in groups.groupby(groups, sort=False).groups.items():
        part = snapshot.loc[idx]
        curve = model.predict_survival(part, grid).mean(axis=0)
        below = np.flatnonzero(curve <= 0.5)
        out.append({"group": g, "accounts": len(part), "arr": float(part[S.ARR].sum()),
                    "p_churn_90d": float(1 - curve[90]),
                    "median_days": float(grid[below[0]]) if len(below) else np.nan})
    return pd.DataFrame(out)


def card_table(card: dict) -> pd.DataFrame:
    """The model card's headline fields as a two-column table."""
    summ = {r["model"]: r for r in card.get("backtest_summary", [])}.get(card["kind"], {})
    rows = [("model id", card["model_id"]), ("kind", card["kind"]),
            ("trained as of", card["as_of"]),
            ("training window (landmarks)", " to ".join(card["training_window"])),
            ("training rows / churn events", f"{card['training_rows']:,} / "
                                              f"{card['training_events']:,}"),
            ("inputs", f"{len(card['features'])} point-in-time features + contract calendar"),
            ("backtest origins", ", ".join(card["origins"])),
            ("backtest Uno C / Harrell C", f"{summ.get('uno_c', np.nan):.3f} / "
                                           f"{summ.get('harrell_c', np.nan):.3f}"),
            ("calibration error at 90 days", f"{summ.get('calibration_error_90d', np.nan):.4f}"),
            ("data fingerprint", str(card["data_fingerprint"])[:16]),
            ("libraries", ", ".join(f"{k} {v}" for k, v in card["library_versions"].items()
                                    if v))]
    return pd.DataFrame(rows, columns=["field", "value"]).set_index("field")


def _days(d: float, max_days: int = MAX_DAYS) -> str:
    return f"> {max_days} days" if not np.isfinite(d) else f"{d:,.0f} days"


def leadership_findings(backtest: Backtest, champion: str, oracle: pd.DataFrame | None = None,
                        tier_curves: pd.DataFrame | None = None,
                        scores: pd.DataFrame | None = None, tiers=None,
                        km: pd.DataFrame | None = None,
                        max_days: int = MAX_DAYS) -> list[str]:
    """What the champion means, in sentences built from the numbers.

    Parameters
    ----------
    backtest : the champion's backtest (every model, every origin).
    champion : its kind. oracle : :func:`oracle_metrics` on the same rows (evaluation).
    tier_curves : :func:`group_survival` by health tier at the as-of date.
    scores : :func:`score_accounts` at the as-of date; ``tiers`` aligned with it.
    km : :func:`kaplan_meier` by tier (observed, at an earlier landmark).
    """
    summ = backtest_table(backtest)
    c = summ.loc[champion]
    n_orig = backtest.metrics["origin"].nunique()
    out = []
    names = {"health": "the health score", "logistic_90d": "the 90-day logistic baseline"}
    base = [f"{name} {summ.loc[m, 'harrell_c']:.3f}" for m, name in names.items()
            if m in summ.index]
    line = (f"Out of time ({n_orig} monthly origins), the champion ({champion}) orders "
            f"accounts by 90-day churn risk with a concordance of {c['harrell_c']:.3f} "
            f"(Harrell; Uno {c['uno_c']:.3f})")
    if base:
        line += f", against {' and '.join(base)}"
    if oracle is not None and len(oracle):
        line += (f"; an oracle that knows each account's true hazard reaches "
                 f"{oracle['harrell_c'].mean():.3f} on the same accounts")
    out.append(line + ".")
    out.append(f"The champion ranks {c['churned_arr_top10']:.0%} of the next quarter's "
               f"churned ARR into its top 10% of accounts (top-decile lift "
               f"{c['top_decile_lift']:.1f}x).")
    cal = backtest.metrics[backtest.metrics["model"] == champion]
    if "mean_p90" in cal:
        pred, obs = cal["mean_p90"].mean(), cal["observed_90d"].mean()
        miss = (f"per decile they miss by {100 * c['calibration_error_90d']:.1f} "
                "percentage points")
        se = np.nan         # a calibrated decile's binomial standard error
        if "model" in backtest.scores and (backtest.scores["model"] == champion).sum() >= 10:
            table = pooled_calibration(backtest, champion)
            se = float(np.average(table["se"], weights=table["n"]))
        if np.isfinite(se) and c["calibration_error_90d"] > 2 * se:
            way = "under" if pred < obs else "over"
            out.append(f"Its 90-day probabilities {way}-predict: {pred:.1%} on average when "
                       f"{obs:.1%} churned; {miss}, more than binomial noise (a decile's "
                       f"standard error is {100 * se:.1f} points). Read them as a ranking "
                       f"first and their level as approximate.")
        else:
            noise = (f" (a decile's binomial standard error is {100 * se:.1f} points)"
                     if np.isfinite(se) else "")
            out.append(f"Its 90-day probabilities are calibrated: {pred:.1%} predicted on "
                       f"average and {obs:.1%} churned; {miss}{noise}.")
    if tier_curves is not None and len(tier_curves):
        tc = tier_curves.set_index("group")
        parts = [f"the {t} tier ({int(tc.loc[t, 'accounts']):,} accounts) "
                 f"{_days(tc.loc[t, 'median_days'], max_days)}"
                 for t in ("red", "yellow", "green") if t in tc.index]
        if "red" in tc.index:
            out.append(f"Accounts in the red tier have a median time to churn of "
                       f"{_days(tc.loc['red', 'median_days'], max_days)} and a "
                       f"{tc.loc['red', 'p_churn_90d']:.1%} chance of churning within 90 "
                       f"days (model; median by tier: {'; '.join(parts)}).")
    if km is not None and len(km):
        by = km.columns[0]
        k180 = km[km["days"] == 180].set_index(by)
        parts = [f"{t} {1 - k180.loc[t, 'survival']:.0%} (95% CI "
                 f"{1 - k180.loc[t, 'hi']:.0%}-{1 - k180.loc[t, 'lo']:.0%})"
                 for t in ("red", "yellow", "green") if t in k180.index]
        if parts:
            out.append(f"Observed: of the accounts in each health tier at the earlier "
                       f"landmark, the share churned within 180 days was "
                       f"{', '.join(parts)} (log-rank p = {km.attrs['logrank_p']:.2g}).")
    if scores is not None and len(scores):
        lost = scores["expected_arr_lost_90d"].sum()
        line = (f"Across the {len(scores):,} active accounts, the expected ARR lost within "
                f"90 days is ${lost:,.0f} ({lost / scores[S.ARR].sum():.1%} of ARR)")
        if tiers is not None:
            red = scores.loc[np.asarray(tiers) == "red", "expected_arr_lost_90d"].sum()
            line += f"; {red / lost:.0%} of it sits in the red tier" if lost > 0 else ""
        out.append(line + ".")
    return out
