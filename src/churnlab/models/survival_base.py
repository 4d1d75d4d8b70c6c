"""Time-to-churn models: the shared interface, the contract calendar and the method.

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

Two hazard learners: gradient-boosted trees (xgboost ``binary:logistic``; optionally
with the number of rounds chosen by early stopping on the last three landmark months of
the window) and an L2 logistic regression. lifelines Cox PH (stratified by term class after the PH test,
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

import logging

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from churnlab.data import contract as S
from churnlab.errors import DataError
from churnlab.features import snapshot as F
from churnlab.models.calendar import (  # noqa: F401 - the calendar's names, as before
    MONTH_DAYS,
    calendar_columns,
    calendar_design,
    calendar_inputs,
    design_array,
    moved_design,
    renewal_offsets,
    survival_at_rows,
    survival_from_hazards,
)

log = logging.getLogger(__name__)



MAX_DAYS = 730


HORIZONS = (30, 90, 180)


PROJECTION_MONTHS = int(np.ceil(MAX_DAYS / MONTH_DAYS)) + 1


MIN_OFFSET_EVENTS = 50      # churns needed to estimate a months-ahead offset


MODEL_FILE = "model.joblib"


CARD_FILE = "card.json"


# the landmark rows the model was trained and backtested on, saved beside it
FEATURES_FILE = "landmarks.parquet"


CHAMPION_FILE = "champion.json"


BACKTEST_TABLES = ("metrics", "scores", "folds", "failures")   # saved beside the model


SURVIVAL_KINDS = ("hazard_xgb", "hazard_logit", "cox", "aft")


RENEWAL_AWARE_KINDS = ("hazard_xgb", "hazard_logit")   # put churn mass on renewal dates


BASELINE_KINDS = ("logistic_90d", "health", "calendar", "tenure")

# what the calendar-only and tenure-only baselines may see: the contract calendar and
# nothing of the account's behaviour (a champion must beat them to have learnt anything)
CALENDAR_INPUTS = (S.TERM_MONTHS, "tenure_days", "days_to_renewal")


# derived inputs and the snapshot column each one comes from (contributions fold back)
DERIVED = {"renewal_in_month": "days_to_renewal", "is_monthly": S.TERM_MONTHS}


SCORE_COLUMNS = ["account_id", "as_of", "arr", "next_renewal", "days_to_renewal",
                 "p_churn_30d", "p_churn_90d", "p_churn_180d", "p_churn_before_renewal",
                 "expected_remaining_days", "median_remaining_days", "expected_arr_lost_90d",
                 "expected_arr_lost_before_renewal", "risk_score", "risk_rank", "model_id"]


class SurvivalInputError(DataError):
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
    grace = pd.Timedelta(days=grace_days)
    seen_until = cutoff - grace
    # censor_at's labels, then censored at seen_until, worked out on the label columns
    # alone so that the rows are copied once (a large book's window is ~650 MB)
    t = pd.to_datetime(landmarks[F.LANDMARK])
    churn = pd.to_datetime(landmarks[F.CHURN_DATE])
    seen = (landmarks[F.EVENT].astype(bool) & (churn + grace <= cutoff)).to_numpy()
    duration = landmarks[F.DURATION].to_numpy()
    duration = np.where(seen, duration, np.minimum(duration, (cutoff - t).dt.days.to_numpy()))
    duration = np.where(seen, duration, np.minimum(duration, (seen_until - t).dt.days.to_numpy()))
    take = np.flatnonzero((t < seen_until).to_numpy() & (duration > 0))
    out = landmarks.take(take)
    out.index = pd.RangeIndex(len(out))
    out[F.EVENT] = seen[take].astype(int)
    out[F.DURATION] = duration[take].astype(int)
    out[F.CHURN_DATE] = churn.where(seen).to_numpy()[take]
    return out


def observed_months(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per landmark row: whether its month is fully observed, and 1 if the account
    churned before the next landmark (the labels of :func:`person_months`, all rows)."""
    md = month_days(rows[F.LANDMARK])
    ev = rows[F.EVENT].to_numpy().astype(bool) & (rows[F.DURATION].to_numpy() <= md)
    return ev | (rows[F.DURATION].to_numpy() >= md), ev.astype(int)


def person_months(rows: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """One person-month per landmark row: (rows whose month is fully observed,
    1 if the account churned before the next landmark)."""
    keep, y = observed_months(rows)
    return rows[keep].reset_index(drop=True), y[keep]


# ------------------------------------------------------------------ calendar
class SurvivalModel(BaseEstimator):
    """Template: ``fit`` checks and hands off to ``_fit``; predictions build on
    ``predict_survival``. Subclasses set ``kind``. scikit-learn conventions: parameters
    set in ``__init__`` and stored as given, fitted attributes end in ``_``, and
    :func:`sklearn.base.clone` gives an unfitted copy."""

    kind = "base"
    has_survival = True
    only_inputs: tuple | None = None      # restrict the inputs (baselines)

    def fit(self, rows: pd.DataFrame) -> "SurvivalModel":
        check_labels(rows)
        candidates = numeric_inputs(rows)
        if self.only_inputs is not None:
            candidates = [c for c in candidates if c in self.only_inputs]
        self.dropped_inputs_ = uninformative_inputs(rows, candidates)
        self.feature_names_ = [c for c in candidates if c not in self.dropped_inputs_]
        self._fit(positional(rows))
        return self

    def predict_horizons(self, snapshot: pd.DataFrame, horizons=HORIZONS) -> pd.DataFrame:
        """P(churn within h) per horizon, P(before renewal), restricted mean and median
        remaining days (see module doc)."""
        grid = np.arange(0, MAX_DAYS + 1, dtype=float)
        out = {}
        chunks = []
        for lo in range(0, len(snapshot), 5000):
            part = snapshot.iloc[lo:lo + 5000]
            curve = self.survival_curve(part)
            surv = curve(grid)
            dtr = np.maximum(part["days_to_renewal"].to_numpy(float), 0)
            res = {f"p_churn_{h}d": 1 - surv[:, int(h)] for h in horizons}
            res["p_churn_before_renewal"] = 1 - self.predict_survival_at(part, dtr, curve)
            res["expected_remaining_days"] = np.trapezoid(surv, grid, axis=1)
            below = surv <= 0.5
            res["median_remaining_days"] = np.where(below.any(axis=1),
                                                    below.argmax(axis=1).astype(float), np.nan)
            chunks.append(pd.DataFrame(res))
        out = pd.concat(chunks, ignore_index=True)
        return out

    def survival_curve(self, snapshot: pd.DataFrame):
        """``times -> predict_survival(snapshot, times)``; models that project the
        snapshot month by month (the hazards) keep the projection between calls."""
        return lambda times: self.predict_survival(snapshot, times)

    def predict_survival_at(self, snapshot: pd.DataFrame, times_per_row, curve=None,
                            block: int = 32) -> np.ndarray:
        """S(t_i) for row i at its own time t_i (``curve``: the snapshot's
        :meth:`survival_curve`, to reuse). The distinct times go ``block`` at a time:
        a book's days to renewal take hundreds of values, and all of them at once would
        be a rows x times matrix (42,000 x 1,000 is 336 MB, and lifelines makes several)."""
        times_per_row = np.asarray(times_per_row, float)
        uniq = np.unique(times_per_row)
        idx = np.searchsorted(uniq, times_per_row)
        curve = curve or self.survival_curve(snapshot)
        out = np.empty(len(times_per_row))
        for lo in range(0, len(uniq), block):
            rows = np.flatnonzero((idx >= lo) & (idx < lo + block))
            out[rows] = curve(uniq[lo:lo + block])[rows, idx[rows] - lo]
        return out

    @property
    def card(self) -> dict:
        return getattr(self, "card_", {})


def numeric_inputs(df: pd.DataFrame) -> list[str]:
    """Numeric snapshot columns the models may use (features.feature_columns)."""
    return [c for c in F.feature_columns(df) if pd.api.types.is_numeric_dtype(df[c])]


def uninformative_inputs(df: pd.DataFrame, columns) -> dict[str, str]:
    """Inputs no model can learn from, with the reason: constant on these rows (every
    value equal, missing values included), or an exact copy, value for value, of an
    earlier column (perfectly collinear). A constant or duplicated column makes a Cox
    model singular ("delta contains nan") and only adds noise elsewhere."""
    out = {}
    seen = {}
    for c in columns:
        x = pd.to_numeric(df[c], errors="coerce")
        if x.nunique(dropna=False) <= 1:
            out[c] = "constant"
            continue
        key = pd.util.hash_pandas_object(x, index=False).sum()
        twin = next((o for o in seen.get(key, []) if x.equals(pd.to_numeric(df[o],
                                                                          errors="coerce"))), None)
        if twin is not None:
            out[c] = f"same values as {twin}"
            continue
        seen.setdefault(key, []).append(c)
    return out


def positional(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` on a fresh 0..n-1 index, sharing its columns: ``reset_index`` copies every
    column (without pandas' copy-on-write), 640 MB for a 50,000-account book's window,
    held while the model fits. The models only read their rows (tested)."""
    return rows.set_axis(pd.RangeIndex(len(rows)), axis=0, copy=False)


def fit_scaling(x: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
    """The preprocessing the linear models share: per column the median (to impute
    missing values), then the mean and standard deviation of the imputed column (a
    constant column keeps scale 1). Returns ``(median, mean, scale)``."""
    median = x.median().fillna(0.0)
    z = _impute(x, median)
    return median, z.mean(), z.std().replace(0, 1.0).fillna(1.0)


def _impute(x: pd.DataFrame, median: pd.Series) -> pd.DataFrame:
    """``x.fillna(median)``, in one numpy step when ``median`` covers x's columns
    (pandas fills a wide frame column by column: 60% of a logistic hazard's backtest)."""
    if not median.index.equals(x.columns):
        return x.fillna(median)
    a = x.to_numpy(dtype=float)
    a = np.where(np.isnan(a), median.to_numpy(dtype=float)[None, :], a)
    return pd.DataFrame(a, index=x.index, columns=x.columns)


def apply_scaling(x: pd.DataFrame, median, mean, scale) -> pd.DataFrame:
    """Impute with ``median`` and standardise with ``mean`` and ``scale``."""
    if not (median.index.equals(x.columns) and mean.index.equals(x.columns)
            and scale.index.equals(x.columns)):
        return (x.fillna(median) - mean) / scale
    z = (_impute(x, median).to_numpy() - mean.to_numpy(dtype=float)[None, :]) \
        / scale.to_numpy(dtype=float)[None, :]
    return pd.DataFrame(z, index=x.index, columns=x.columns)
