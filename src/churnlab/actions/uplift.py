"""Uplift: how much each play would cut an account's chance of churning, learned from the
randomised save experiments, and targeting by it rather than by risk.

Ascarza (2018, "Retention futility") found that the customers most at risk are often not
the ones a retention play changes. So, from the accounts enrolled in randomised plays:

* **a pooled learner** (an "S-learner" with structured interactions): one L2 logistic
  regression of churn within the read-out horizon on every enrolled account, with the
  account's features before assignment (the snapshot at the first day of the
  assignment's month) and its contract columns as the shared baseline, an offset per
  play, and per play an interaction with a few **effect modifiers**: the root cause the
  CSM diagnosed when the play started (the interventions' optional ``diagnosed_cause``),
  the account's segment and plan (the groups plays are tailored by) and one score per
  root cause (the
  mean standardised level of the signals the data's signal map points at that cause,
  risk signals up and protective ones down, over the last 90 days): plays are designed
  per root cause, so that is where their effects should differ. Every other feature also
  interacts with every play, under a penalty 100 times stronger, so that an effect
  modifier nobody thought of can still be found when the data are large enough.
  Why pooled: with ~80 accounts per play, one model per arm (a T-learner) spends most
  of its few hundred outcomes re-learning the baseline risk, and its per-arm noise
  becomes the "uplift"; measured on 20 simulated worlds it chose the truly best play for
  25% of accounts (chance: 20%) and kept less ARR than risk ranking (see
  benchmarks/RESULTS_uplift_5000.md for the pooled learner's figures).
  An account's uplift for play k is ``P(churn | no play) - P(churn | k)``.
* **validation on held-out accounts** (a seeded split by account, stratified by arm): the
  Qini curve: ranking held-out accounts by predicted uplift (a treated account by the
  uplift of the play it got, a control account by its best play's), the churns
  prevented among the top fraction, ``n_treated x (churn rate control - churn rate
  treated)``, beside the random-targeting line; the Qini coefficient is the area between.
* **targeting**: the recommended play is the one with the largest predicted uplift; the
  expected ARR saved is uplift x ARR (the risk-based queue ranks by risk x ARR instead).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from churnlab.actions.experiments import ARM
from churnlab.data import contract as S
from churnlab.data.contract import FAMILY_ROOT_CAUSE
from churnlab.stats import MedianImputer

MIN_PER_ARM = 40          # accounts (with a known outcome) an arm needs to be modelled
MAX_LEVELS = 12           # categorical contract columns with at most this many values
# categorical effect modifiers (when present): the CSM's diagnosed root cause first
MODIFIER_COLUMNS = (S.DIAGNOSED_CAUSE, S.SEGMENT, S.PLAN)
CAUSE_WINDOW = "90d"      # the window of the root-cause scores
CAUSE_SUFFIXES = ("sum", "mean", "any", "events")   # which 90-day feature, in order
CONTROL = "control"
# penalties (inverse L2 strength) of the three blocks of the pooled learner
C_BASE = 0.05             # the shared baseline: a few hundred outcomes, ~200 features
C_MODIFIER = 1.0          # play offsets and play x modifier interactions
C_OTHER = 0.01            # play x every other feature


def cause_columns(columns, signal_map) -> dict[str, list[tuple[str, float]]]:
    """Per root cause, the 90-day feature of each signal the map points at it, with the
    sign that makes it a risk score (+1 for risk signals, -1 for protective ones;
    signals of unknown direction are left out). Empty without a signal map."""
    if signal_map is None:
        return {}
    have = set(columns)
    out: dict[str, list[tuple[str, float]]] = {}
    for spec in signal_map:
        sign = {"risk": 1.0, "protective": -1.0}.get(spec.direction)
        cause = spec.root_cause or FAMILY_ROOT_CAUSE.get(spec.family)
        col = next((f"{spec.event_type}__{s}_{CAUSE_WINDOW}" for s in CAUSE_SUFFIXES
                    if f"{spec.event_type}__{s}_{CAUSE_WINDOW}" in have), None)
        if sign is not None and cause in S.ROOT_CAUSES and col is not None:
            out.setdefault(cause, []).append((col, sign))
    return out


@dataclass
class UpliftModel:
    arms: list[str]                       # control first, then the plays
    features: list[str]                   # numeric inputs (after one-hot encoding)
    categories: dict[str, list[str]]      # categorical column -> levels one-hot encoded
    modifiers: dict[str, list[str]] = field(default_factory=dict)   # effect modifiers
    causes: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    horizon: int = 180
    prep: dict = field(default_factory=dict)   # fitted imputer, scalers, classifier

    @property
    def plays(self) -> list[str]:
        return [a for a in self.arms if a != CONTROL]

    def design(self, rows: pd.DataFrame) -> np.ndarray:
        return design_matrix(rows, self.features, self.categories)

    def cause_scores(self, rows: pd.DataFrame, fit: bool = False) -> pd.DataFrame:
        """One column per root cause: the mean standardised level of its signals (risk
        up, protective down), standardised with the training rows' statistics (``fit``:
        these rows become the training rows). No columns without a signal map."""
        if not self.causes:
            return pd.DataFrame(index=rows.index)
        cols = sorted({c for pairs in self.causes.values() for c, _ in pairs})
        raw = rows.reindex(columns=cols).apply(pd.to_numeric, errors="coerce")
        if fit:
            self.prep["cause_mean"] = raw.mean()
            self.prep["cause_sd"] = raw.std().replace(0, 1).fillna(1)
        z = ((raw - self.prep["cause_mean"]) / self.prep["cause_sd"]).fillna(0.0)
        return pd.DataFrame({cause: sum(sign * z[c].to_numpy(float) for c, sign in pairs)
                             / len(pairs) for cause, pairs in self.causes.items()},
                            index=rows.index)

    def _blocks(self, rows: pd.DataFrame, fit: bool = False):
        """Standardised baseline features and effect modifiers of ``rows``."""
        x = self.design(rows)
        scores = self.cause_scores(rows, fit).to_numpy(float)
        m = np.column_stack([design_matrix(rows, [], self.modifiers), scores])
        return self._standardise("x", x, fit), self._standardise("m", m, fit)

    def _standardise(self, name: str, a: np.ndarray, fit: bool) -> np.ndarray:
        """Median-impute and standardise with the training rows' statistics."""
        if a.shape[1] == 0:
            return a
        if fit:
            imp = MedianImputer().fit(a)
            self.prep[name] = (imp, StandardScaler().fit(imp.transform(a)))
        imp, sc = self.prep[name]
        return sc.transform(imp.transform(a))

    def _matrix(self, x, m, arms) -> np.ndarray:
        parts = [x * np.sqrt(C_BASE)]
        for k in self.plays:
            d = (np.asarray(arms) == k).astype(float)[:, None]
            parts += [d * np.sqrt(C_MODIFIER), d * m * np.sqrt(C_MODIFIER),
                      d * x * np.sqrt(C_OTHER)]
        return np.column_stack(parts)

    def churn_probabilities(self, rows: pd.DataFrame) -> pd.DataFrame:
        """P(churn within the horizon) under each arm, one column per arm."""
        x, m = self._blocks(rows)
        clf = self.prep["clf"]
        return pd.DataFrame({a: clf.predict_proba(self._matrix(x, m, [a] * len(rows)))[:, 1]
                             for a in self.arms}, index=rows.index)

    def predict(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Per row: p_no_play, uplift_<play> for each play, best_play and uplift (the
        best play's fall in churn probability, 0 when no play helps)."""
        p = self.churn_probabilities(rows)
        out = pd.DataFrame({"p_no_play": p[CONTROL]}, index=rows.index)
        for k in self.plays:
            out[f"uplift_{k}"] = p[CONTROL] - p[k]
        ups = out[[f"uplift_{k}" for k in self.plays]].to_numpy()
        best = ups.argmax(axis=1)
        out["best_play"] = np.asarray(self.plays, dtype=object)[best]
        out["uplift"] = np.clip(ups[np.arange(len(out)), best], 0, None)
        return out


def _categorical(rows: pd.DataFrame, columns=(S.SEGMENT, S.PLAN, S.REGION, S.INDUSTRY)
                 ) -> dict[str, list[str]]:
    out = {}
    for c in columns:
        if c in rows and rows[c].nunique() <= MAX_LEVELS and rows[c].nunique() > 1:
            out[c] = sorted(rows[c].dropna().astype(str).unique())
    return out


def design_matrix(rows: pd.DataFrame, features, categories) -> np.ndarray:
    num = rows.reindex(columns=features).to_numpy(float)
    dummies = [(rows[c].astype(str).to_numpy()[:, None] == np.asarray(levels)[None, :])
               .astype(float) if c in rows else np.zeros((len(rows), len(levels)))
               for c, levels in categories.items()]
    return np.column_stack([num, *dummies]) if dummies else num


def fit_uplift(rows: pd.DataFrame, features, horizon: int = 180, signal_map=None,
               seed: int = 0, modifiers=MODIFIER_COLUMNS) -> UpliftModel | None:
    """Fit the pooled learner on ``rows`` (one per enrolled account with a known outcome:
    ``arm_name``, ``churned_in_horizon`` and the features). Arms with fewer than
    MIN_PER_ARM accounts are left out; None without control and at least one play, or
    when the outcome never (or always) happens. ``modifiers``: the categorical columns
    whose levels each play's effect may differ by (those with 2 to MAX_LEVELS values)."""
    counts = rows[ARM].value_counts()
    arms = [a for a in counts.index if counts[a] >= MIN_PER_ARM]
    if CONTROL not in arms or len(arms) < 2:
        return None
    arms = [CONTROL] + sorted(a for a in arms if a != CONTROL)
    rows = rows[rows[ARM].isin(arms)]
    usable = [f for f in features if rows[f].notna().any() and rows[f].nunique() > 1]
    model = UpliftModel(arms, usable, _categorical(rows),
                        modifiers=_categorical(rows, modifiers),
                        causes=cause_columns(rows.columns, signal_map), horizon=horizon)
    x, m = model._blocks(rows, fit=True)
    y = rows["churned_in_horizon"].to_numpy(int)
    if len(np.unique(y)) < 2:
        return None
    model.prep["clf"] = LogisticRegression(C=1.0, max_iter=5000, random_state=seed).fit(
        model._matrix(x, m, rows[ARM].to_numpy()), y)
    return model


def split_accounts(rows: pd.DataFrame, test_share: float = 0.3, seed: int = 0
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A seeded split by account, stratified by arm."""
    rng = np.random.default_rng(seed)
    test = np.zeros(len(rows), dtype=bool)
    for _, idx in rows.groupby(ARM).indices.items():
        pick = rng.permutation(idx)[: int(round(test_share * len(idx)))]
        test[pick] = True
    return rows[~test], rows[test]


def qini_curve(rows: pd.DataFrame, prediction: pd.DataFrame, points: int = 20
               ) -> pd.DataFrame:
    """Held-out Qini curve: rows ranked by predicted uplift (treated: of the play they
    got; control: of their best play); per top fraction, churns prevented
    ``n_t (churned_c / n_c) - churned_t`` and the random line."""
    treated = rows[ARM] != CONTROL
    own = [prediction.at[i, f"uplift_{a}"] if t and f"uplift_{a}" in prediction else
           prediction.at[i, "uplift"] for i, a, t in zip(rows.index, rows[ARM], treated)]
    order = np.argsort(-np.asarray(own, dtype=float), kind="stable")
    y = rows["churned_in_horizon"].to_numpy(float)[order]
    t = treated.to_numpy()[order]
    nt, nc = np.cumsum(t), np.cumsum(~t)
    yt, yc = np.cumsum(y * t), np.cumsum(y * ~t)
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = np.where(nc > 0, nt * yc / nc - yt, 0.0)
    n = len(y)
    cut = np.unique(np.clip(np.round(np.linspace(0, 1, points + 1) * n).astype(int), 0, n))
    total = gain[-1] if n else 0.0
    frac = cut / max(n, 1)
    prevented = np.r_[0.0, gain][cut]
    return pd.DataFrame({"share_targeted": frac, "churns_prevented": prevented,
                         "random": frac * total})


def qini_coefficient(curve: pd.DataFrame) -> float:
    """Area between the Qini curve and the random line (in churns prevented x share)."""
    x = curve["share_targeted"].to_numpy()
    return float(np.trapezoid(curve["churns_prevented"] - curve["random"], x))
