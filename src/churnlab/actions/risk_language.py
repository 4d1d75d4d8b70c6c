"""One risk language: the tier, the health score and the probability say the same thing.

Every account gets one probability that everything else is read from: the calibrated
chance of churning **by its next renewal, looking at least 90 days ahead**
(``p_churn_decision`` = P(churn within max(days to renewal, 90 days))). It covers each
account's next decision point: an annual customer renewing in eight months is judged on
that renewal, a monthly customer on the next quarter (three renewals), and a customer
renewing in 20 days on the quarter that holds the renewal. As survival is non-increasing
it is the larger of ``p_churn_90d`` and ``p_churn_before_renewal``.

* **Health** (0-100) is that probability on the articles' scale, piecewise linear and
  decreasing: 100 at 0%, **80 at the yellow cut**, **60 at the red cut**, 0 at 100%. So
  green 80-100, yellow 60-79 and red below 60 keep the articles' meaning in every month
  and on every product.
* **Tier** is the band of the health score rounded to a whole number (what every screen
  shows): green 80+, yellow 60-79, red below 60; equivalently, a band of
  ``p_churn_decision`` at the cuts. The health and the tier can never disagree.
* **Cuts** (:data:`DEFAULT_CUTS`: red from 25%, yellow from 10%) are a documented setting
  (``churnlab report --red-from / --yellow-from``; docs/risk_language.md), fixed from
  month to month: a tier change means the account's risk changed, not the book's.
* **Reasons in words** (``tier_reason``): wherever the tier could seem to disagree with
  another figure on the row (the 90-day probability alone would give another band, or a
  large account renews soon), the row says why.

The model's learned weights are shown as *what moves* the probability (the signal
families' share of the SHAP values), not as a second score.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnlab.data import contract as S
from churnlab.errors import InputError
from churnlab.models.health_families import article_tier

HEALTH_GREEN, HEALTH_YELLOW = (cut for _, cut in S.HEALTH_TIERS[:2])   # the articles' 80 / 60
MIN_HORIZON_DAYS = 90


@dataclass(frozen=True)
class RiskCuts:
    """Lower bounds of ``p_churn_decision`` for the red and yellow tiers."""

    red: float = 0.25
    yellow: float = 0.10

    def __post_init__(self):
        if not 0 < self.yellow < self.red < 1:
            raise InputError(f"tier cut-offs: need 0 < yellow < red < 1, got yellow "
                             f"{self.yellow} and red {self.red}")

    def words(self) -> str:
        return (f"red when the chance of churning by the next renewal (looking at least "
                f"{MIN_HORIZON_DAYS} days ahead) is {self.red:.0%} or more (health below "
                f"{HEALTH_YELLOW}), yellow from {self.yellow:.0%} (health {HEALTH_YELLOW}-"
                f"{HEALTH_GREEN - 1}), green below {self.yellow:.0%} (health "
                f"{HEALTH_GREEN}-100)")


DEFAULT_CUTS = RiskCuts()


def decision_probability(p90, p_before_renewal) -> np.ndarray:
    """P(churn within max(days to renewal, 90 days)): the larger of the two."""
    return np.fmax(np.asarray(p90, float), np.asarray(p_before_renewal, float))


def health_from_probability(p, cuts: RiskCuts = DEFAULT_CUTS) -> np.ndarray:
    """0-100, decreasing in ``p``: 100, 80, 60 and 0 at 0, the yellow cut, the red cut
    and 1, linear in between."""
    p = np.clip(np.asarray(p, float), 0.0, 1.0)
    return np.interp(p, [0.0, cuts.yellow, cuts.red, 1.0], [100.0, HEALTH_GREEN,
                                                            HEALTH_YELLOW, 0.0])


def tier_from_health(health) -> np.ndarray:
    """green 80+, yellow 60-79, red below 60, on the health rounded as shown."""
    return np.asarray(article_tier(np.round(np.asarray(health, float))), dtype=str)


def shown_health(p, cuts: RiskCuts = DEFAULT_CUTS) -> np.ndarray:
    """The health as stored and shown: :func:`health_from_probability` to 0.1."""
    return np.round(health_from_probability(p, cuts), 1)


def tier_of_probability(p, cuts: RiskCuts = DEFAULT_CUTS) -> np.ndarray:
    """The tier of a probability: the band of its shown health (one rounding path for
    every tier churnlab writes)."""
    return tier_from_health(shown_health(p, cuts))


def _when(days: float) -> str:
    return "today" if days <= 0 else "tomorrow" if days < 2 else f"in {days:.0f} days"


def tier_reasons(rows: pd.DataFrame, cuts: RiskCuts = DEFAULT_CUTS) -> list[str]:
    """The sentence a row needs where its figures could seem to disagree ('' where they
    cannot): the 90-day probability alone would give another band (the risk sits at a
    renewal beyond 90 days), or an account on a contract longer than a month whose ARR is
    above the book's top-fifth line renews within 90 days while green. ``rows`` has
    p_churn_90d, p_churn_before_renewal, p_churn_decision, days_to_renewal, tier and arr
    (and term_months: without it every account counts as on a longer contract)."""
    p90 = rows["p_churn_90d"].to_numpy(float)
    band90 = tier_of_probability(p90, cuts)
    large = rows[S.ARR].quantile(0.8) if len(rows) else None
    term = rows[S.TERM_MONTHS].to_numpy(float) if S.TERM_MONTHS in rows else \
        np.full(len(rows), 12.0)
    out = []
    for r, b90, months in zip(rows.itertuples(index=False), band90, term):
        days = float(r.days_to_renewal)
        if r.tier != b90:       # only when the renewal is beyond 90 days
            out.append(f"{r.tier.capitalize()} for its renewal {_when(days)}: "
                       f"{r.p_churn_decision:.0%} chance of not renewing, though only "
                       f"{r.p_churn_90d:.0%} of churning in the next 90 days.")
        elif r.tier == "green" and days <= MIN_HORIZON_DAYS and large is not None \
                and r.arr > large and months > 1:
            out.append(f"Green although it renews {_when(days)}: a large account with "
                       f"only {r.p_churn_decision:.0%} chance of not renewing; on the "
                       f"renewal calendar for timing, not for risk.")
        else:
            out.append("")
    return out


def apply_risk_language(scores: pd.DataFrame, cuts: RiskCuts = DEFAULT_CUTS) -> pd.DataFrame:
    """``scores`` (p_churn_90d, p_churn_before_renewal, days_to_renewal, arr and
    optionally term_months) with ``p_churn_decision``, ``health``, ``tier`` and
    ``tier_reason`` added."""
    out = scores.copy()
    out["p_churn_decision"] = decision_probability(out["p_churn_90d"],
                                                   out["p_churn_before_renewal"])
    out["health"] = shown_health(out["p_churn_decision"], cuts)
    out["tier"] = tier_from_health(out["health"])
    out["tier_reason"] = tier_reasons(out, cuts) if len(out) else []
    return out


def check_risk_language(rows: pd.DataFrame, cuts: RiskCuts = DEFAULT_CUTS) -> list[str]:
    """The rule, checked on every row of an output: the problems found (empty = none).
    Tier = band of the rounded health; health = the probability on the scale; a row
    whose 90-day band differs from its tier carries a reason."""
    bad = []
    if rows.empty:
        return bad
    h = health_from_probability(rows["p_churn_decision"], cuts)
    off = np.abs(h - rows["health"].to_numpy(float)) > 0.051
    bad += [f"account {a}: health {x} is not its probability on the scale"
            for a, x in zip(rows.loc[off, S.ACCOUNT_ID], rows.loc[off, "health"])]
    t = tier_from_health(rows["health"]) != rows["tier"].to_numpy()
    bad += [f"account {a}: tier {x} is not the band of its health"
            for a, x in zip(rows.loc[t, S.ACCOUNT_ID], rows.loc[t, "tier"])]
    b90 = tier_of_probability(rows["p_churn_90d"], cuts)
    need = (b90 != rows["tier"].to_numpy()) & (rows["tier_reason"].fillna("") == "").to_numpy()
    bad += [f"account {a}: tier and 90-day probability differ with no reason"
            for a in rows.loc[need, S.ACCOUNT_ID]]
    return bad
