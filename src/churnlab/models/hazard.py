"""Discrete-time hazard models on the contract calendar (gradient-boosted and logistic)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import clone

from churnlab.data import contract as S
from churnlab.features import snapshot as F
from churnlab.models.calendar import (
    MONTH_DAYS,
    calendar_design,
    design_array,
    moved_design,
    renewal_offsets,
    survival_at_rows,
    survival_from_hazards,
)
from churnlab.models.survival_base import (
    DERIVED,
    MIN_OFFSET_EVENTS,
    PROJECTION_MONTHS,
    SurvivalInputError,
    SurvivalModel,
    apply_scaling,
    fit_scaling,
    observed_months,
)


class _HazardModel(SurvivalModel):
    """Discrete-time monthly hazard on person-months (see module doc)."""

    derived_inputs = tuple(DERIVED)

    def _columns(self) -> list[str]:
        return self.feature_names_ + list(self.derived_inputs)

    def _design(self, snapshot, elapsed=0.0) -> pd.DataFrame:
        """The inputs ``elapsed`` days after the snapshot, a frame on its index (what the
        explanations read)."""
        return calendar_design(snapshot, self._columns(), elapsed)

    def _design_matrix(self, snapshot, elapsed=0.0, take=None):
        """The same inputs for fitting and projecting, for the rows at positions ``take``
        (all when None), without copying the snapshot's other columns: a frame with a
        fresh index here, a float32 array for xgboost."""
        return pd.DataFrame(design_array(snapshot, self._columns(), elapsed, take),
                            columns=self._columns())

    recalibrate = True      # estimate the months-ahead offsets in fit (see below)

    def _fit(self, rows):
        keep, y = observed_months(rows)
        take = np.flatnonzero(keep)     # the person-months: rows with a fully observed month
        y = y[take]
        if y.sum() == 0:
            raise SurvivalInputError("landmark rows: no churn within a fully observed month")
        self.n_person_months_, self.n_events_ = len(take), int(y.sum())
        self._fit_hazard(self._design_matrix(rows, take=take), y,
                         pd.to_datetime(rows[F.LANDMARK]).to_numpy()[take])
        self.month_offsets_ = (self._months_ahead_offsets(rows) if self.recalibrate
                               else np.zeros(1))

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
        observed, labels = observed_months(rows)
        margins: dict[int, list] = {}
        churned: dict[int, list] = {}
        for h in (0, 1):
            train = np.flatnonzero((half != h) & observed)   # the other half's person-months
            y = labels[train]
            if y.sum() == 0 or (half == h).sum() == 0:
                return np.zeros(1)
            sub = clone(self).set_params(**self._refit_params())
            sub.recalibrate, sub.feature_names_ = False, self.feature_names_
            sub._fit_hazard(sub._design_matrix(rows, take=train), y)
            mine = np.flatnonzero(half == h)
            base = sub._design_matrix(rows, take=mine)     # this half at 0 days, moved below
            for k in range(PROJECTION_MONTHS):
                lo, hi = k * MONTH_DAYS, (k + 1) * MONTH_DAYS
                churn = e & (t >= lo) & (t < hi)
                at_risk = (half == h) & (t >= lo) & (churn | (t >= hi))
                if not at_risk.any():
                    break
                held = np.flatnonzero(at_risk)
                x = _take_rows(base, np.searchsorted(mine, held))
                x = moved_design(x, rows, self._columns(), lo, take=held, copy=False)
                margins.setdefault(k, []).append(sub._margin(x))
                churned.setdefault(k, []).append(churn[at_risk])
            del base

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

    def _refit_params(self) -> dict:
        """Parameters the cross-fitted halves take from the fitted model."""
        return {}

    def month_offset(self, k: int) -> float:
        """Log-odds offset of the k-th projected month (0 = the next month)."""
        off = getattr(self, "month_offsets_", np.zeros(1))
        return float(off[min(k, len(off) - 1)])

    def _month_hazard(self, snapshot: pd.DataFrame, k: int, base=None) -> np.ndarray:
        """The hazard of the k-th projected month; ``base``: the snapshot's design at
        0 days (:meth:`_design_matrix`), to move rather than rebuild."""
        from scipy.special import expit

        x = (self._design_matrix(snapshot, k * MONTH_DAYS) if base is None
             else moved_design(base, snapshot, self._columns(), k * MONTH_DAYS))
        return expit(self._margin(x) + self.month_offset(k))

    def monthly_hazards(self, snapshot: pd.DataFrame, n_months: int = PROJECTION_MONTHS
                        ) -> np.ndarray:
        return np.column_stack([self._month_hazard(snapshot, k) for k in range(n_months)])

    def predict_survival(self, snapshot, times) -> np.ndarray:
        return self.survival_curve(snapshot)(times)

    def survival_curve(self, snapshot):
        """``times -> S(times)`` for the snapshot's rows; each projected month's hazard is
        computed once, however many calls (the backtest's judgement and the scores ask
        for several sets of times)."""
        months: list[np.ndarray] = []
        base: list = []         # the design at 0 days, built once

        def hazards(times) -> tuple[np.ndarray, np.ndarray]:
            n_months = int(np.max(times[np.isfinite(times)], initial=0) // MONTH_DAYS) + 1
            if len(months) < n_months and not base:
                base.append(self._design_matrix(snapshot))
            months.extend(self._month_hazard(snapshot, k, base[0])
                          for k in range(len(months), n_months))
            return np.column_stack(months[:n_months]), renewal_offsets(snapshot, n_months)

        def curve(times) -> np.ndarray:
            times = np.asarray(times, float)
            return survival_from_hazards(*hazards(times), times)

        def at_rows(times_per_row) -> np.ndarray:
            times_per_row = np.asarray(times_per_row, float)
            return survival_at_rows(*hazards(times_per_row), times_per_row)
        curve.at_rows = at_rows
        return curve

    def predict_survival_at(self, snapshot, times_per_row, curve=None, block: int = 32):
        """S(t_i) for row i at its own time t_i, row by row from the projected hazards
        (the same values as the base class's blocks of distinct times, in one pass)."""
        curve = curve or self.survival_curve(snapshot)
        if hasattr(curve, "at_rows"):
            return curve.at_rows(times_per_row)
        return super().predict_survival_at(snapshot, times_per_row, curve, block)

    def risk_score(self, snapshot) -> np.ndarray:
        """Log-odds of the hazard in the month after the as-of date."""
        return self._margin(self._design_matrix(snapshot))

    def _hazard(self, x):
        return 1 / (1 + np.exp(-self._margin(x)))

    def _fold(self, phi: pd.DataFrame) -> pd.DataFrame:
        for d in self.derived_inputs:
            src = DERIVED[d]
            phi[src] = (phi[src] if src in phi else 0.0) + phi.pop(d)
        return phi[self.feature_names_]


def monotone_signs(columns, signal_map) -> dict[str, int]:
    """+1 / -1 per input whose event type has a declared direction in the map: its window
    sums, means, latest value, occurrence flags and trend move with the direction
    (``risk``: +1, ``protective``: -1), its days since the last event against it; inputs
    without a declared direction (and family aggregates) are left free."""
    if signal_map is None:
        return {}
    sign = {"risk": 1, "protective": -1}
    out = {}
    for c in columns:
        et, sep, stat = str(c).partition("__")
        if not sep or et not in signal_map:
            continue
        d = sign.get(signal_map[et].direction, 0)
        if d and stat == "days_since":
            out[c] = -d
        elif d and (stat in ("trend", "last") or stat.startswith(("sum_", "mean_", "any_"))):
            out[c] = d
    return out


def _take_rows(x, positions: np.ndarray):
    """A copy of the design's rows at ``positions`` (an array or a frame, fresh index)."""
    if isinstance(x, pd.DataFrame):
        return x.iloc[positions].reset_index(drop=True)
    return x[positions]


def _array(x: pd.DataFrame) -> np.ndarray:
    """The design as the float32 array xgboost works in (columns in the model's order),
    row-major: pandas hands back a column-major array, which xgboost's quantile sketch
    reads more slowly (the same values, so the same trees; ``scripts/fit_speedups.py``).
    """
    if isinstance(x, np.ndarray):
        return x
    return np.ascontiguousarray(x.to_numpy(dtype=np.float32, na_value=np.nan))


class HazardXGB(_HazardModel):
    """Gradient-boosted monthly hazard (xgboost binary:logistic).

    With ``early_stopping`` set, the number of rounds is chosen on a time-ordered split:
    the person-months of the last ``validation_months`` landmark dates are held out, a
    probe is boosted on the earlier ones until the held-out log-loss has not improved
    for ``early_stopping`` rounds (at most ``n_estimators``), and the model is refitted
    on every person-month with the probe's best round count; the cross-fitted halves of
    the months-ahead offsets reuse that count. So the round count adapts to the book
    (a few thousand accounts over-fit 300 rounds; a large book may use them all).
    Off by default (``early_stopping=0`` boosts ``n_estimators`` rounds): measured on the
    test world, the log-loss-optimal count (65 rounds) raised the backtest concordance by
    0.003 but the top drivers named the planted shock's family for 43% of shocked
    accounts instead of 54% (chance 37%): fewer trees leave rare flags out of the
    explanations (benchmarks/RESULTS_train_budget.md).

    Rounds and learning rate (``n_estimators``, ``learning_rate``; None: by the book's
    size). Below :attr:`LARGE_BOOK` person-months, 150 rounds at 0.05 (was 300: the
    backtest's Harrell C was higher at 150 on the demo, 0.832 vs 0.821, and at 50,000
    accounts, 0.8451 vs 0.8436). From it on, 100 rounds at 0.075: the same shrinkage in
    two thirds of the trees and a quarter less time a fit, where a large book's four
    boosted fits are half of its month. Against 150 at 0.05 (``scripts/xgb_options.py``,
    benchmarks/RESULTS_train_budget.md, session 26) it moved the boosted hazard's Harrell
    C by -0.0008 at 50,000 accounts (321,000 person-months a fit) but by -0.0037 (paired
    SE 0.0039) on the 2,000-account test world and -0.0039 on a 5,000-account consumer
    world: more, smaller steps pay on a small book, where they are cheap. The
    cross-fitted halves take the fitted model's values."""

    kind = "hazard_xgb"
    MIN_VALIDATION_EVENTS = 20      # fewer held-out churns: no early stopping

    LARGE_BOOK = 100_000            # person-months in a fit: the large book's rounds
    SMALL_BOOK_BOOSTING = {"n_estimators": 150, "learning_rate": 0.05}
    LARGE_BOOK_BOOSTING = {"n_estimators": 100, "learning_rate": 0.075}

    def __init__(self, n_estimators: int | None = None, max_depth: int = 4,
                 learning_rate: float | None = None,
                 subsample: float = 0.8, colsample_bytree: float = 0.5,
                 min_child_weight: float = 5.0, n_jobs: int = 2, random_state: int = 0,
                 signal_map=None, monotone: bool = True, early_stopping: int = 0,
                 validation_months: int = 3, max_bin: int = 256):
        self.n_estimators, self.max_depth, self.learning_rate = n_estimators, max_depth, \
            learning_rate
        self.subsample, self.colsample_bytree = subsample, colsample_bytree
        self.min_child_weight, self.n_jobs, self.random_state = min_child_weight, n_jobs, \
            random_state
        self.signal_map, self.monotone = signal_map, monotone
        self.early_stopping, self.validation_months = early_stopping, validation_months
        self.max_bin = max_bin

    def _fit_hazard(self, x, y, when=None):
        """Where the signal map declares a direction, the trees are constrained to it
        (xgboost ``monotone_constraints``, :func:`monotone_signs`): more of a risk signal
        never lowers the hazard, more of a protective one never raises it."""
        import xgboost as xgb

        params = {k: v for k, v in self.get_params().items()
                  if k not in ("signal_map", "monotone", "early_stopping", "validation_months")}
        columns = list(x.columns) if isinstance(x, pd.DataFrame) else self._columns()
        self.monotone_ = (monotone_signs(columns, self.signal_map) if self.monotone
                          else {})
        if self.monotone_:
            params["monotone_constraints"] = tuple(self.monotone_.get(c, 0) for c in columns)
        by_size = (self.LARGE_BOOK_BOOSTING if len(y) >= self.LARGE_BOOK
                   else self.SMALL_BOOK_BOOSTING)
        for k, v in by_size.items():
            if params[k] is None:
                params[k] = v
        self.learning_rate_ = float(params["learning_rate"])
        held = self._validation_rows(y, when)
        xa = _array(x)      # numpy, not pandas: xgboost's DataFrame conversion is slow
        if held is not None:
            probe = xgb.XGBClassifier(objective="binary:logistic", tree_method="hist",
                                      eval_metric="logloss",
                                      early_stopping_rounds=self.early_stopping, **params)
            probe.fit(xa[~held], y[~held], eval_set=[(xa[held], y[held])], verbose=False)
            params["n_estimators"] = int(probe.best_iteration) + 1
        self.n_trees_ = int(params["n_estimators"])
        self.booster_ = xgb.XGBClassifier(objective="binary:logistic", tree_method="hist",
                                          eval_metric="logloss", **params).fit(xa, y)
        self.booster_.get_booster().feature_names = columns     # as before: named

    def _validation_rows(self, y, when) -> np.ndarray | None:
        """The person-months of the last ``validation_months`` landmark dates, or None
        when early stopping is off or either side would be too thin to judge."""
        if not self.early_stopping or when is None:
            return None
        dates = np.unique(when)
        if len(dates) <= 2 * self.validation_months:
            return None
        held = np.asarray(when >= dates[-self.validation_months])
        if y[held].sum() < self.MIN_VALIDATION_EVENTS or y[~held].sum() < \
                self.MIN_VALIDATION_EVENTS:
            return None
        return held

    def _refit_params(self) -> dict:
        return {"n_estimators": self.n_trees_, "learning_rate": self.learning_rate_,
                "early_stopping": 0}

    def _design_matrix(self, snapshot, elapsed=0.0, take=None):
        """The float32 row-major array xgboost works in (see :func:`_array`)."""
        return np.ascontiguousarray(design_array(snapshot, self._columns(), elapsed, take,
                                                 np.float32))

    def __setstate__(self, state):
        """Models saved before early stopping boosted a fixed ``n_estimators`` (and
        before monotone constraints, had none)."""
        state.setdefault("signal_map", None)
        state.setdefault("monotone", bool(state.get("monotone_")))
        state.setdefault("early_stopping", 0)
        state.setdefault("validation_months", 3)
        state.setdefault("max_bin", 256)
        state.setdefault("n_trees_", state.get("n_estimators"))
        state.setdefault("learning_rate_", state.get("learning_rate"))
        super().__setstate__(state)

    def _margin(self, x):
        return self.booster_.predict(_array(x), output_margin=True).astype(float)

    def contributions(self, snapshot):
        """TreeSHAP (xgboost pred_contribs) on the log-odds of the next month's hazard."""
        import xgboost as xgb

        x = self._design(snapshot)
        dm = xgb.DMatrix(_array(x), feature_names=list(x.columns))
        c = self.booster_.get_booster().predict(dm, pred_contribs=True).astype(float)
        phi = pd.DataFrame(c[:, :-1], columns=x.columns, index=snapshot.index)
        return self._fold(phi), float(c[0, -1]) if len(c) else 0.0


class HazardLogit(_HazardModel):
    """L2 logistic monthly hazard on median-imputed, standardised inputs."""

    kind = "hazard_logit"

    def __init__(self, C: float = 0.1, max_iter: int = 2000):
        self.C, self.max_iter = C, max_iter


    def _fit_hazard(self, x, y, when=None):
        from sklearn.linear_model import LogisticRegression

        self.median_, self.mean_, self.scale_ = fit_scaling(x)
        zs = apply_scaling(x, self.median_, self.mean_, self.scale_)
        self.lr_ = LogisticRegression(C=self.C, max_iter=self.max_iter).fit(zs.to_numpy(), y)

    def _z(self, x):
        return apply_scaling(x, self.median_, self.mean_, self.scale_).to_numpy()

    def _margin(self, x):
        return self._z(x) @ self.lr_.coef_[0] + self.lr_.intercept_[0]

    def contributions(self, snapshot):
        """Exact linear contributions beta_j * (z_j - mean z_j) (mean over training = 0)."""
        x = self._design(snapshot)
        phi = pd.DataFrame(self._z(x) * self.lr_.coef_[0], columns=x.columns,
                           index=snapshot.index)
        return self._fold(phi), float(self.lr_.intercept_[0])
