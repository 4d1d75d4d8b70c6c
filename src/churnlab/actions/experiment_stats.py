"""The statistics of a save experiment: Kaplan-Meier with Greenwood variance, restricted
mean survival time, the covariate-adjusted (CUPED / Lin) difference and the planner.

Plain numpy so that every number can be checked by hand; lifelines is used beside it
for the log-rank test and the Cox hazard ratio (:mod:`churnlab.actions.experiments`).

* Kaplan-Meier ``S(t)`` at the distinct event times; ``Var S(t)`` by Greenwood:
  ``S(t)^2 sum_{t_i <= t} d_i / (n_i (n_i - d_i))``.
* RMST at ``tau`` = the area under ``S`` on ``[0, tau]`` (days of the first ``tau`` an
  enrolled account stays a customer); its variance (Klein & Moeschberger 4.5):
  ``sum_{t_i <= tau} A_i^2 d_i / (n_i (n_i - d_i))`` with ``A_i`` the area under ``S``
  from ``t_i`` to ``tau``.
* The adjusted difference of a binary outcome between two arms is Lin's (2013)
  regression ``y ~ 1 + T + (x - xbar) + T (x - xbar)`` with HC2 standard errors: the
  coefficient of ``T`` is unbiased under randomisation whatever ``x`` is (it only has to
  be measured before assignment), and its variance shrinks by about the share of the
  outcome's variance that ``x`` explains. With one covariate this is CUPED.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class KaplanMeier:
    times: np.ndarray     # distinct event times (days), increasing
    at_risk: np.ndarray   # n_i: accounts followed to t_i and not yet churned
    events: np.ndarray    # d_i: churns at t_i
    survival: np.ndarray  # S just after t_i

    def survival_at(self, t: float) -> float:
        k = np.searchsorted(self.times, t, side="right")
        return 1.0 if k == 0 else float(self.survival[k - 1])

    def _greenwood_terms(self) -> np.ndarray:
        n, d = self.at_risk.astype(float), self.events.astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(n > d, d / (n * (n - d)), 0.0)

    def risk_at(self, t: float) -> tuple[float, float]:
        """``1 - S(t)`` and its Greenwood standard error."""
        s = self.survival_at(t)
        k = np.searchsorted(self.times, t, side="right")
        var = s * s * float(self._greenwood_terms()[:k].sum())
        return 1.0 - s, float(np.sqrt(var))

    def rmst(self, tau: float) -> tuple[float, float]:
        """Restricted mean survival time on ``[0, tau]`` and its standard error."""
        keep = self.times <= tau
        t, s = self.times[keep], self.survival[keep]
        edges = np.concatenate([[0.0], t, [float(tau)]])
        level = np.concatenate([[1.0], s])
        pieces = level * np.diff(edges)
        area = float(pieces.sum())
        # A_i: area from t_i to tau = the pieces after t_i
        tail = np.cumsum(pieces[::-1])[::-1][1:]
        var = float((tail ** 2 * self._greenwood_terms()[keep]).sum())
        return area, float(np.sqrt(var))


def kaplan_meier(time, event) -> KaplanMeier:
    """Kaplan-Meier estimate from follow-up ``time`` (days) and ``event`` (churned)."""
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=bool)
    if time.size == 0:
        empty = np.zeros(0)
        return KaplanMeier(empty, empty.astype(int), empty.astype(int), empty)
    times = np.unique(time[event])
    order = np.sort(time)
    at_risk = order.size - np.searchsorted(order, times, side="left")
    ev_sorted = np.sort(time[event])
    events = (np.searchsorted(ev_sorted, times, side="right")
              - np.searchsorted(ev_sorted, times, side="left"))
    with np.errstate(divide="ignore", invalid="ignore"):
        survival = np.cumprod(1.0 - events / at_risk)
    return KaplanMeier(times, at_risk, events, survival)


def adjusted_difference(y, treated, x=None) -> tuple[float, float, float]:
    """Difference in mean ``y`` (treated minus control) adjusted for pre-assignment ``x``
    (Lin's interacted regression, HC2 errors). Returns (estimate, se, se_unadjusted);
    without usable covariates the estimate is the plain difference and both errors are
    Neyman's ``sqrt(s1^2/n1 + s0^2/n0)``."""
    y = np.asarray(y, dtype=float)
    t = np.asarray(treated, dtype=float)
    se_plain = _hc2_se(np.column_stack([np.ones_like(y), t]), y)
    if x is None:
        est, se = _ols(np.column_stack([np.ones_like(y), t]), y)[0][1], se_plain
        return float(est), se, se_plain
    x = np.asarray(x, dtype=float).reshape(len(y), -1)
    x = x[:, np.nanstd(x, axis=0) > 0]
    if x.shape[1] == 0 or len(y) < 4 * (2 + 2 * x.shape[1]):
        return adjusted_difference(y, t)
    xc = x - x.mean(axis=0)
    design = np.column_stack([np.ones_like(y), t, xc, xc * t[:, None]])
    beta, _ = _ols(design, y)
    return float(beta[1]), _hc2_se(design, y), se_plain


def _ols(design, y):
    beta, *_ = np.linalg.lstsq(design, y, rcond=None)
    return beta, y - design @ beta


def _hc2_se(design, y, coef: int = 1) -> float:
    """HC2 standard error of coefficient ``coef`` of the OLS fit of ``y`` on ``design``."""
    _, resid = _ols(design, y)
    bread = np.linalg.pinv(design.T @ design)
    lev = np.einsum("ij,jk,ik->i", design, bread, design)
    w = resid ** 2 / np.clip(1 - lev, 1e-12, None)
    meat = design.T @ (design * w[:, None])
    cov = bread @ meat @ bread
    return float(np.sqrt(max(cov[coef, coef], 0.0)))


def holm(p) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values (NaN kept)."""
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    order = ok[np.argsort(p[ok])]
    m = order.size
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def accounts_per_arm(p_control: float, effect: float, alpha: float = 0.05,
                     power: float = 0.8, comparisons: int = 1,
                     variance_reduction: float = 0.0) -> int:
    """Accounts per arm to detect an absolute fall of ``effect`` in the churn risk from
    ``p_control`` (two-sided, Bonferroni over ``comparisons``), with the variance shrunk
    by ``variance_reduction`` (the share a pre-assignment covariate explains)."""
    p0 = float(np.clip(p_control, 1e-6, 1 - 1e-6))
    p1 = float(np.clip(p0 - effect, 1e-6, 1 - 1e-6))
    if effect <= 0:
        raise ValueError(f"effect must be a positive fall in churn risk, got {effect}")
    z = stats.norm.ppf(1 - alpha / (2 * max(comparisons, 1))) + stats.norm.ppf(power)
    var = (p0 * (1 - p0) + p1 * (1 - p1)) * (1 - float(np.clip(variance_reduction, 0, 0.95)))
    return int(np.ceil(z * z * var / effect ** 2))
