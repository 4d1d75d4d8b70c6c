"""Shared statistics: risk ratios, Fisher and Mantel-Haenszel, Benjamini-Hochberg, Wilson
intervals, and a seeded sample of whole accounts."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import BaseEstimator, TransformerMixin

from churnlab.data import contract as S


def account_sample(df: pd.DataFrame, max_rows: int, seed: int = 0) -> pd.DataFrame:
    """``df`` itself when it has at most ``max_rows`` rows, else the rows of a seeded
    random share ``max_rows / len(df)`` of its accounts (``account_id``; whole accounts,
    so each sampled account keeps all its rows). Deterministic for the same data."""
    if len(df) <= max_rows:
        return df
    ids = np.sort(pd.unique(df[S.ACCOUNT_ID]))
    k = max(1, int(len(ids) * max_rows / len(df)))
    chosen = np.random.default_rng(seed).choice(ids, size=k, replace=False)
    return df[df[S.ACCOUNT_ID].isin(chosen)]


# ============================================================================ statistics
def risk_ratio(a, n1, c, n0, alpha: float = 0.05):
    """Ratio of two proportions ``(a/n1) / (c/n0)`` with a Katz log interval.

    When ``a`` or ``c`` is zero, 0.5 is added to every cell (Haldane) before both the
    ratio and its standard error are computed. Vectorised over numpy arrays.

    Returns
    -------
    (ratio, lower, upper, se_log) arrays.
    """
    a, n1, c, n0 = (np.asarray(x, dtype=float) for x in (a, n1, c, n0))
    fix = ((a == 0) | (c == 0)).astype(float) * 0.5
    a2, c2, n12, n02 = a + fix, c + fix, n1 + 2 * fix, n0 + 2 * fix
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (a2 / n12) / (c2 / n02)
        se = np.sqrt(1 / a2 - 1 / n12 + 1 / c2 - 1 / n02)
    empty = (n1 == 0) | (n0 == 0) | (a + c == 0)
    ratio, se = np.where(empty, np.nan, ratio), np.where(empty, np.nan, se)
    z = stats.norm.ppf(1 - alpha / 2)
    return ratio, ratio * np.exp(-z * se), ratio * np.exp(z * se), se


def fisher_p(a, n1, c, n0) -> np.ndarray:
    """Two-sided Fisher exact p-values of 2x2 tables (with / without x churner / stayer)."""
    out = []
    for ai, n1i, ci, n0i in zip(*(np.asarray(x, dtype=int).ravel() for x in (a, n1, c, n0))):
        if n1i == 0 or n0i == 0:
            out.append(np.nan)
            continue
        out.append(stats.fisher_exact([[ai, n1i - ai], [ci, n0i - ci]]).pvalue)
    return np.asarray(out, dtype=float)


def bh_qvalues(p) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values); NaNs are kept and not counted."""
    p = np.asarray(p, dtype=float)
    q = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    m = int(ok.sum())
    if m == 0:
        return q
    order = np.argsort(p[ok])
    ranked = p[ok][order] * m / np.arange(1, m + 1)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    vals = np.empty(m)
    vals[order] = np.minimum(ranked, 1.0)
    q[ok] = vals
    return q


def mantel_haenszel_rr(a, n1, c, n0, alpha: float = 0.05):
    """Mantel-Haenszel ratio of proportions over strata, Greenland-Robins interval,
    and the Cochran-Mantel-Haenszel test p-value.

    ``a, n1, c, n0`` are per-stratum arrays (signal among n1 churners, among n0
    stayers). Strata with a single group carry no information and drop out.

    Returns
    -------
    (ratio, lower, upper, p_value) floats (NaN when undefined).
    """
    a, n1, c, n0 = (np.asarray(x, dtype=float) for x in (a, n1, c, n0))
    keep = (n1 > 0) & (n0 > 0)
    a, n1, c, n0 = a[keep], n1[keep], c[keep], n0[keep]
    if a.size == 0:
        return (np.nan,) * 4
    n = n1 + n0
    r = np.sum(a * n0 / n)
    s = np.sum(c * n1 / n)
    if r == 0 or s == 0:
        return (np.nan,) * 4
    ratio = r / s
    m1 = a + c
    var_log = np.sum((n1 * n0 * m1 - a * c * n) / n ** 2) / (r * s)
    z = stats.norm.ppf(1 - alpha / 2)
    se = np.sqrt(max(var_log, 0.0))
    expected = n1 * m1 / n
    variance = n1 * n0 * m1 * (n - m1) / (n ** 2 * np.maximum(n - 1, 1))
    if variance.sum() <= 0:
        p = np.nan
    else:
        chi2 = (abs(a.sum() - expected.sum()) - 0.5) ** 2 / variance.sum()
        p = float(stats.chi2.sf(max(chi2, 0.0), 1))
    return ratio, ratio * np.exp(-z * se), ratio * np.exp(z * se), p


def wilson_interval(k, n, alpha: float = 0.05):
    """Wilson score interval of a proportion (vectorised)."""
    k, n = np.asarray(k, dtype=float), np.asarray(n, dtype=float)
    z = stats.norm.ppf(1 - alpha / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


class MedianImputer(TransformerMixin, BaseEstimator):
    """Missing values (NaN) replaced by each column's median on the fitted rows, a column
    with none observed by 0: what scikit-learn's ``SimpleImputer(strategy="median",
    keep_empty_features=True)`` gives, value for value, from a plain ``nanmedian``
    instead of its masked-array sort (a fifth of the report's expansion step at 50k)."""

    def fit(self, x, y=None) -> "MedianImputer":
        x = np.asarray(x, float)
        empty = np.isnan(x).all(axis=0)
        med = np.zeros(x.shape[1])
        if (~empty).any():
            med[~empty] = np.nanmedian(x[:, ~empty], axis=0)
        self.statistics_ = med
        return self

    def transform(self, x) -> np.ndarray:
        x = np.asarray(x, float)
        return np.where(np.isnan(x), self.statistics_[None, :], x)

