"""Survival metrics: concordance (Harrell, Uno), time-dependent AUC, Brier, calibration, lift."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from churnlab.data import contract as S
from churnlab.features import snapshot as F


# ------------------------------------------------------------------ metrics
def _surv_array(event, time):
    from sksurv.util import Surv

    return Surv.from_arrays(np.asarray(event).astype(bool), np.asarray(time, float))


def evaluate_scores(test: pd.DataFrame, risk, train: pd.DataFrame, surv_fn=None,
                    p90=None, tau: int = 90, p_renewal=None) -> dict:
    """Out-of-time metrics of one model on the rows scored at one origin.

    ``test`` has duration_days / churned seen later and arr; ``risk`` higher = sooner;
    ``surv_fn(times) -> (n, len(times))`` for the IBS; ``p90`` and ``p_renewal`` (P(churn
    before the next renewal)) for calibration: the latter on the rows whose renewal fell
    inside their follow-up (churned by it, or seen past it), mostly rows near a renewal.
    Concordance (Harrell, Uno) is on time to churn censored at ``tau`` = 90 days, as the
    simulator's oracle concordance is defined; AUC at 90/180 days; IBS over 30-180 days.
    """
    from lifelines.utils import concordance_index
    from sksurv.metrics import (
        concordance_index_ipcw,
        cumulative_dynamic_auc,
        integrated_brier_score,
    )

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
    # scikit-survival's time-dependent metrics are defined only at times inside the
    # scored rows' follow-up [first time, last time): a horizon outside it is "not
    # measurable here" (NaN), never an error (e.g. an origin whose first 30 days hold
    # no churn, or a follow-up shorter than 180 days).
    first, last = float(np.maximum(t, 1).min()), float(np.maximum(t, 1).max())
    inside = [h for h in (90, 180) if first <= h < last]
    out = {"n": len(test), "events_90d": int((e & (t <= 90)).sum()),
           "harrell_c": concordance_index(tt, -risk, et) if et.any() else np.nan,
           "uno_c": np.nan, "auc_90": np.nan, "auc_180": np.nan}
    if et.any():
        try:
            out["uno_c"] = float(concordance_index_ipcw(y_train, y_test, risk, tau=tau)[0])
        except ValueError:          # censoring survival reaches zero before tau
            pass
    if inside and e.any():
        try:
            aucs, _ = cumulative_dynamic_auc(y_train, y_full, risk, inside)
            out.update({f"auc_{h}": float(a) for h, a in zip(inside, np.atleast_1d(aucs))})
        except ValueError:          # censoring survival zero at a scored row's time
            pass
    cens = t[~e]
    grid = np.arange(30, min(180, cens.max() - 1 if len(cens) else 180) + 1, 15, dtype=float)
    grid = grid[(grid >= first) & (grid < last)]
    out["ibs"], out["ibs_km"] = np.nan, np.nan
    if len(grid) >= 2:
        from lifelines import KaplanMeierFitter

        km = KaplanMeierFitter().fit(train[F.DURATION], train[F.EVENT])
        km_s = np.tile(km.survival_function_at_times(grid).to_numpy(), (len(test), 1))
        try:
            out["ibs_km"] = float(integrated_brier_score(y_train, y_full, km_s, grid))
            if surv_fn is not None:
                out["ibs"] = float(integrated_brier_score(y_train, y_full, surv_fn(grid),
                                                          grid))
        except ValueError:          # censoring survival zero at a scored row's time
            pass
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
    if p_renewal is not None and "days_to_renewal" in test:
        out.update(_renewal_calibration(test, np.asarray(p_renewal, float), t, e))
    return out


def _renewal_calibration(test, p, t, e) -> dict:
    """Calibration of P(churn before the next renewal) on the rows whose outcome at that
    renewal is known: churned by it (a churn on the renewal day counts) or seen past it."""
    dtr = np.maximum(test["days_to_renewal"].to_numpy(float), 0)
    y = e & (t <= dtr + 1)
    known = y | (t > dtr + 1)
    out = {"n_renewal_known": int(known.sum()), "mean_p_renewal": np.nan,
           "observed_renewal": np.nan, "calibration_error_renewal": np.nan}
    if known.sum() >= 10:
        cal = calibration_table(p[known], y[known])
        out.update({"mean_p_renewal": float(p[known].mean()),
                    "observed_renewal": float(y[known].mean()),
                    "calibration_error_renewal": float(np.average(
                        (cal["predicted"] - cal["observed"]).abs(), weights=cal["n"]))})
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


def weighted_harrell(t, e, pred_time, weights) -> np.ndarray:
    """Harrell's C as lifelines' ``concordance_index(t, pred_time, e)`` computes it, once
    per column of ``weights`` (n x B, each row's multiplicity: a bootstrap resample as
    counts), in matrix products instead of B resamples.

    lifelines' comparable pairs: a churned row i and any row j that left later
    (t_i < t_j), or at the same time without churning (t_i == t_j, j censored); the pair
    is concordant when i's predicted time is shorter, half when tied. A resample's pair
    of copies of one row is never comparable, as here (i == j is not). Exact for integer
    weights (float64 sums of 0, 0.5 and 1)."""
    (num,), den = _harrell_sums(t, e, [pred_time], weights)
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / den


def _harrell_sums(t, e, pred_times, weights, den: bool = True):
    """The weighted concordant-pair sums of each of ``pred_times`` on the same rows and
    weights, and (with ``den``) the comparable-pair sum they share: Harrell's C of the
    k-th is ``nums[k] / den`` (:func:`weighted_harrell`)."""
    t, e = np.asarray(t, float), np.asarray(e, bool)
    w = np.asarray(weights, float)
    preds = [np.asarray(p, float) for p in pred_times]
    died = np.flatnonzero(e)
    nums = [np.zeros(w.shape[1]) for _ in preds]
    total = np.zeros(w.shape[1]) if den else None
    step = max(1, 4_000_000 // max(len(t), 1))       # died rows per block (~32 MB each)
    for lo in range(0, len(died), step):
        i = died[lo:lo + step]
        later = (t[i, None] < t[None, :]) | ((t[i, None] == t[None, :]) & ~e[None, :])
        for num, p in zip(nums, preds):
            score = later * ((p[i, None] < p[None, :]) + 0.5 * (p[i, None] == p[None, :]))
            num += (w[i] * (score @ w)).sum(axis=0)
        if den:
            total += (w[i] * (later.astype(float) @ w)).sum(axis=0)
    return nums, total


def concordance_difference(scores: pd.DataFrame, model_a: str, model_b: str,
                           n_bootstrap: int = 200, random_state: int = 0,
                           tau: int = 90) -> dict:
    """Harrell's C (time censored at ``tau``) of ``model_a`` minus ``model_b``, averaged
    over origins, on the same rows, with a paired account bootstrap standard error (the
    resamples as multiplicities, :func:`weighted_harrell`: at 50,000 accounts this took
    two minutes as 100 calls of lifelines' ``concordance_index`` per origin)."""
    return concordance_differences(scores, model_a, [model_b], n_bootstrap, random_state,
                                   tau)[model_b]


def concordance_differences(scores: pd.DataFrame, model_a: str, others, n_bootstrap: int = 200,
                            random_state: int = 0, tau: int = 90) -> dict:
    """:func:`concordance_difference` of ``model_a`` against each of ``others``, the same
    figures as one call per pair: each pair draws its own resamples from ``random_state``,
    and where two pairs have the same rows at an origin they have the same resamples, so
    ``model_a``'s sums and the shared comparable-pair sums are computed once (half the
    matrix products of a card's two baselines)."""
    memo: dict = {}
    out = {}
    for model_b in others:
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
            n = len(t)
            counts = np.ones((n, n_bootstrap + 1))       # column 0: the sample itself
            for i in range(n_bootstrap):                 # the same resamples as one by one
                counts[:, i + 1] = np.bincount(rng.integers(0, n, n), minlength=n)
            key = (origin, hashlib.sha1(b"".join(np.ascontiguousarray(x).tobytes() for x in (
                pd.util.hash_pandas_object(wide.index, index=False).to_numpy(), t, e,
                counts))).hexdigest())     # the origin's rows and resamples
            todo = [m for m in (model_a, model_b) if (key, m) not in memo]
            if todo:
                nums, den = _harrell_sums(t, e, [-wide[m].to_numpy() for m in todo], counts,
                                          den=key not in memo)
                memo.update({(key, m): v for m, v in zip(todo, nums)})
                memo.setdefault(key, den)
            with np.errstate(invalid="ignore", divide="ignore"):
                d = memo[key, model_a] / memo[key] - memo[key, model_b] / memo[key]
            diffs.append(d[0])
            boots += d[1:] / n_origins
        out[model_b] = {"difference": float(np.mean(diffs)), "se": float(np.std(boots, ddof=1))}
    return out
