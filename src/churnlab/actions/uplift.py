"""Uplift: how much each play would cut an account's chance of churning, learned from the
randomised save experiments, and targeting by it rather than by risk.

Ascarza (2018, "Retention futility") found that the customers most at risk are often not
the ones a retention play changes. So, from the accounts enrolled in randomised plays:

* **T-learner**: one classifier per arm (control and each play) of churn within the
  read-out horizon, on the account's features before assignment (the snapshot at the
  first day of the assignment's month) and its contract columns; an account's uplift for
  play k is ``P(churn | control) - P(churn | k)``: the fall in its churn probability if
  it got k. Each classifier is an L2-regularised logistic regression on standardised
  features (``C`` small: a few hundred accounts per arm cannot carry 200 free weights);
  a T-learner because it assumes nothing about how the plays differ, and logistic
  because it stays calibrated enough to multiply by ARR.
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
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from churnlab.actions.experiments import ARM
from churnlab.data import contract as S

MIN_PER_ARM = 40          # accounts (with a known outcome) an arm needs to be modelled
MAX_LEVELS = 12           # categorical contract columns with at most this many values
CONTROL = "control"


@dataclass
class UpliftModel:
    arms: list[str]                       # control first, then the plays
    features: list[str]                   # numeric inputs (after one-hot encoding)
    categories: dict[str, list[str]]      # categorical column -> levels one-hot encoded
    models: dict = field(default_factory=dict)
    horizon: int = 180

    @property
    def plays(self) -> list[str]:
        return [a for a in self.arms if a != CONTROL]

    def design(self, rows: pd.DataFrame) -> np.ndarray:
        return design_matrix(rows, self.features, self.categories)

    def churn_probabilities(self, rows: pd.DataFrame) -> pd.DataFrame:
        """P(churn within the horizon) under each arm, one column per arm."""
        x = self.design(rows)
        return pd.DataFrame({a: self.models[a].predict_proba(x)[:, 1] for a in self.arms},
                            index=rows.index)

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


def _categorical(rows: pd.DataFrame) -> dict[str, list[str]]:
    out = {}
    for c in (S.SEGMENT, S.PLAN, S.REGION, S.INDUSTRY):
        if c in rows and rows[c].nunique() <= MAX_LEVELS and rows[c].nunique() > 1:
            out[c] = sorted(rows[c].dropna().astype(str).unique())
    return out


def design_matrix(rows: pd.DataFrame, features, categories) -> np.ndarray:
    num = rows.reindex(columns=features).to_numpy(float)
    dummies = [(rows[c].astype(str).to_numpy()[:, None] == np.asarray(levels)[None, :])
               .astype(float) if c in rows else np.zeros((len(rows), len(levels)))
               for c, levels in categories.items()]
    return np.column_stack([num, *dummies]) if dummies else num


def fit_uplift(rows: pd.DataFrame, features, horizon: int = 180, c: float = 0.05,
               seed: int = 0) -> UpliftModel | None:
    """Fit the T-learner on ``rows`` (one per enrolled account with a known outcome:
    ``arm_name``, ``churned_in_horizon`` and the features). None when control or every
    play has fewer than MIN_PER_ARM accounts."""
    counts = rows[ARM].value_counts()
    arms = [a for a in counts.index if counts[a] >= MIN_PER_ARM]
    if CONTROL not in arms or len(arms) < 2:
        return None
    arms = [CONTROL] + sorted(a for a in arms if a != CONTROL)
    usable = [f for f in features if rows[f].notna().any() and rows[f].nunique() > 1]
    model = UpliftModel(arms, usable, _categorical(rows), horizon=horizon)
    x = model.design(rows)
    y = rows["churned_in_horizon"].to_numpy(int)
    for a in arms:
        m = (rows[ARM] == a).to_numpy()
        clf = make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True),
                            StandardScaler(),
                            LogisticRegression(C=c, max_iter=2000, random_state=seed))
        if len(np.unique(y[m])) < 2:
            return None
        model.models[a] = clf.fit(x[m], y[m])
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
