"""Uplift targeting from the randomised save experiments: fit, validate on held-out
accounts, and (only when it validates) rank the at-risk book by expected ARR saved.

``uplift_rows`` joins each enrolled account with a known outcome at the horizon to its
features before assignment; ``validate_uplift`` fits the pooled learner
(:mod:`churnlab.actions.uplift`) on a seeded 70% of the accounts and draws the Qini curve
on the other 30%, with a bootstrap interval of the Qini coefficient; ``target_book``
ranks red and yellow accounts by uplift x ARR beside their risk rank.

The gate: the queue is ranked by uplift only when the held-out Qini coefficient's 90%
bootstrap interval is above zero. Otherwise the report says the uplift model does not yet
beat random targeting on this book and keeps the risk-based queue: a demanding user does
not retarget the CS team on a model that has not shown it knows who the plays change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnlab.actions.experiments import ARM, Readout
from churnlab.actions.uplift import (
    CONTROL,
    MIN_PER_ARM,
    UpliftModel,
    fit_uplift,
    qini_coefficient,
    qini_curve,
    split_accounts,
)
from churnlab.data import contract as S
from churnlab.features.snapshot import feature_columns
from churnlab.pipeline.experiments import assignment_snapshots

Y = "churned_in_horizon"


@dataclass
class UpliftValidation:
    status: str                       # "validated", "not validated" or "not enough data"
    sentence: str
    model: UpliftModel | None = None  # refitted on every account when validated
    curve: pd.DataFrame | None = None
    qini: float = np.nan
    qini_lo: float = np.nan
    qini_hi: float = np.nan
    n_train: int = 0
    n_test: int = 0
    test: pd.DataFrame | None = None        # held-out rows with their predictions


def uplift_rows(wh, readout: Readout, history=None) -> pd.DataFrame:
    """Enrolled accounts followed for the whole read-out horizon, with ``churned_in_
    horizon`` and their features at the first day of the assignment's month (taken from
    ``history`` where it holds them, :func:`assignment_snapshots`)."""
    e = readout.enrolment
    h = readout.guards.readout_days
    if e is None or e.empty or not readout.randomised:
        return pd.DataFrame()
    e = e[e["followed_days"] >= h].copy()
    if e.empty:
        return e
    e[Y] = (e["churned"] & (e["days"] < h)).astype(int)
    snaps = assignment_snapshots(wh, e, history)
    extra = snaps.drop(columns=[c for c in snaps.columns if c in e.columns])
    return pd.concat([e, extra], axis=1)


def _not_enough(rows: pd.DataFrame, h: int) -> UpliftValidation:
    counts = rows[ARM].value_counts() if len(rows) else pd.Series(dtype=int)
    have = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in counts.items()) or "none"
    return UpliftValidation("not enough data", (
        f"Too few randomised accounts to learn who each play changes: an uplift model needs "
        f"{MIN_PER_ARM} accounts with a known {h}-day outcome in control and in a play "
        f"(have: {have}). The queue stays ranked by risk."))


def validate_uplift(rows: pd.DataFrame, horizon: int = 180, test_share: float = 0.3,
                    seed: int = 0, n_boot: int = 300, signal_map=None) -> UpliftValidation:
    """Fit on a seeded share of the accounts, Qini on the rest, bootstrap the Qini
    coefficient; refit on everything when it validates. ``signal_map`` (the data's)
    gives the learner its root-cause scores; without it, segment and plan only."""
    if rows.empty:
        return _not_enough(rows, horizon)
    features = feature_columns(rows)
    train, test = split_accounts(rows, test_share, seed)
    model = fit_uplift(train, features, horizon, signal_map, seed=seed)
    if model is None or (test[ARM] == CONTROL).sum() < 5:
        return _not_enough(rows, horizon)
    test = test[test[ARM].isin(model.arms)]
    pred = model.predict(test)
    curve = qini_curve(test, pred)
    q = qini_coefficient(curve)
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(test), len(test))
        t, p = test.iloc[idx].reset_index(drop=True), pred.iloc[idx].reset_index(drop=True)
        boot.append(qini_coefficient(qini_curve(t, p)))
    lo, hi = np.quantile(boot, [0.05, 0.95])
    ok = lo > 0
    half = curve.iloc[(curve["share_targeted"] - 0.5).abs().argmin()]
    sentence = (
        f"On {len(test)} held-out accounts, targeting the half the uplift model ranks "
        f"highest would have prevented {half['churns_prevented']:.1f} churns against "
        f"{half['random']:.1f} for a random half (Qini coefficient {q:.2f}, 90% interval "
        f"{lo:.2f} to {hi:.2f}). "
        + ("The model knows who the plays change better than chance: the queue below also "
           "ranks by the ARR the recommended play is expected to save." if ok else
           "That is not better than random targeting with confidence, so the queue stays "
           "ranked by risk; more randomised plays (see the planner) would sharpen it."))
    out = UpliftValidation("validated" if ok else "not validated", sentence,
                           curve=curve, qini=q, qini_lo=float(lo), qini_hi=float(hi),
                           n_train=len(train), n_test=len(test),
                           test=pd.concat([test, pred], axis=1))
    if ok:
        out.model = fit_uplift(rows, features, horizon, signal_map, seed=seed)
    return out


def target_book(validation: UpliftValidation, accounts: pd.DataFrame,
                snapshot: pd.DataFrame) -> pd.DataFrame:
    """Red and yellow accounts ranked by expected ARR saved by their best play (uplift x
    ARR) beside their risk rank (``priority``). Empty unless the model validated.

    When the learner uses the CSM's diagnosed cause, an account not yet in a play has
    none: the triage's root cause stands in for it (the CSM confirms it on the call)."""
    if validation.model is None:
        return pd.DataFrame()
    risky = accounts[accounts["tier"] != "green"]
    snap = snapshot.set_index(S.ACCOUNT_ID).reindex(risky[S.ACCOUNT_ID]).reset_index()
    if S.DIAGNOSED_CAUSE in validation.model.modifiers and "root_cause" in risky:
        snap[S.DIAGNOSED_CAUSE] = risky["root_cause"].to_numpy()
    pred = validation.model.predict(snap)
    out = pd.DataFrame({S.ACCOUNT_ID: risky[S.ACCOUNT_ID].to_numpy(),
                        S.NAME: risky.get(S.NAME, risky[S.ACCOUNT_ID]).to_numpy(),
                        S.ARR: risky[S.ARR].to_numpy(float),
                        "risk_rank": risky["priority"].to_numpy(),
                        "uplift_play": pred["best_play"].to_numpy(),
                        "uplift": pred["uplift"].to_numpy()})
    out["expected_arr_saved_uplift"] = out["uplift"] * out[S.ARR]
    out = out.sort_values("expected_arr_saved_uplift", ascending=False, kind="stable")
    out["uplift_rank"] = np.arange(1, len(out) + 1)
    return out.reset_index(drop=True)
