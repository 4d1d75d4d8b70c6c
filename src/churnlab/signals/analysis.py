"""Leading signals of last year's churners: the analysis (method in this docstring).

The articles' advice: "don't guess the weights: analyse the customers who churned in
the last 12 months and see which signals appeared first". This module does that
analysis so an analyst can rerun it on their own data.

Method
------
**Cohort** (:func:`make_cohort`). Churners are the accounts whose churn (confirmed,
:mod:`churnlab.data.lifecycle`) fell in the ``lookback_months`` before the as-of date T; their
reference date is the churn date (the end of their last contract). Stayers are the
accounts still active at T that passed a contract boundary (a renewal) in the same
months while staying; each gets one such boundary as its reference date, drawn at
random with ``seed``. Both groups are thus seen at the same moment of the contract
calendar, at which B2B churn concentrates, and over the same calendar months. Only
information available before T is used (churn is "confirmed" as seen from T).

**Signals** (:func:`derive_signals`). Each event type of the signal map becomes one or
two binary "it appeared" indicators, evaluated in windows of days before the reference
date (default 0-30, 30-90, 90-180):

* ``occurred``: flags and sparse counts: at least one event in the window;
* ``fell`` / ``rose``: dense counts (pre-aggregated usage, or event types with at least
  ``dense_min_per_30d`` events a month for the median account) and gauges without an
  alert threshold: the rate (counts) or mean (gauges) over a trailing 30-day period
  inside the window moved by a material amount against the account's own baseline
  (the ``baseline_days`` before the earliest window, leaving out the account's first
  ``ONBOARDING_DAYS`` of service: a ramp-up is not a normal level): a drop of at least
  ``material_change`` or the symmetric rise (x 1 / (1 - material_change)). Trailing
  periods start every 7 days from the window's start (plus one ending at the window's
  end), so the first appearance has a weekly resolution and lags the onset of a change
  by up to one trailing period;
* ``alert``: gauges with ``alert_below`` / ``alert_above``: the mean reading in the
  window is beyond the threshold (accounts without a reading in the window are left
  out of that test, so that answering more surveys or filing more tickets does not by
  itself make an alert more likely); its first appearance is the first single reading
  beyond the threshold.

A window that lies (partly) before the account's first observable day (its service
start, or the first day of the data) is not observable: the reference is left out of
that test rather than counted as "no signal".

**Statistics** (:func:`analyse_signals`). Per signal and window: prevalence among
churners and stayers; lift = ratio of the two prevalences with a 95% Katz interval on
the log scale (0.5 added to every cell when a count is zero); Fisher's exact p-value;
Benjamini-Hochberg q-values across every test of the run; a Mantel-Haenszel lift
stratified by usage quintile in the same window (what is left once the account's usage
level is held fixed); coverage (share of churned ARR in which the signal appeared in the
window); lead time (days between the signal's first appearance in the ``max(window)``
days before churn and the churn); and a univariate Cox hazard ratio of churn within
``hr_horizon_days`` for accounts that showed the signal in any window before a landmark
(accounts observable over the whole horizon), on monthly landmarks of the active base in
the lookback year (one landmark per account, drawn with ``seed``, so rows are
independent; lifelines; one ratio per signal, with Benjamini-Hochberg q-values of its
own).

:func:`summarise_signals` ranks signals by strength and earliness and writes one
sentence per signal; :func:`compare_adjusted` puts a confounded signal's naive view next
to its per-active-user and usage-stratified views.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd

from churnlab.data import contract as S
from churnlab.errors import InputError
from churnlab.features import snapshot as F
from churnlab.signals.cohort import (
    DEFAULT_WINDOWS,
    IS_CHURNER,
    MATERIAL_CHANGE,
    N_USAGE_STRATA,
)
from churnlab.signals.derive import observable_days_of, window_name
from churnlab.signals.evidence import FIRST_OF_ACCOUNT, SignalEvidence, collect_evidence
from churnlab.signals.multivariable import adjusted_effects
from churnlab.stats import bh_qvalues, fisher_p, mantel_haenszel_rr, risk_ratio

log = logging.getLogger(__name__)

# ============================================================================= analysis
def _hazard_ratio(x: np.ndarray, duration: np.ndarray, event: np.ndarray):
    """Univariate Cox hazard ratio of a binary covariate (lifelines), with 95% CI."""
    from lifelines import CoxPHFitter

    ok = ~np.isnan(x)
    x, duration, event = x[ok], duration[ok], event[ok]
    if x.size == 0 or x.min() == x.max() or event.sum() == 0 or event[x == 1].sum() == 0:
        return (np.nan,) * 4
    df = (pd.DataFrame({"x": x, "T": duration, "E": event})
          .groupby(["x", "T", "E"]).size().rename("w").reset_index())
    row = None
    # lifelines' default Newton step overshoots on strong binary effects: damp it
    for step in (0.5, 0.2):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cph = CoxPHFitter().fit(df, "T", "E", weights_col="w",
                                        fit_options={"step_size": step})
        except Exception as exc:  # lifelines raises several convergence errors
            log.debug("Cox fit failed (step %s): %s", step, exc)
            continue
        row = cph.summary.loc["x"]
        if np.isfinite(row["exp(coef) lower 95%"]) and np.isfinite(row["exp(coef) upper 95%"]):
            break
        row = None
    if row is None:
        return (np.nan,) * 4
    return (float(row["exp(coef)"]), float(row["exp(coef) lower 95%"]),
            float(row["exp(coef) upper 95%"]), float(row["p"]))


def _any_window(appeared: np.ndarray) -> np.ndarray:
    """1 if the signal appeared in any observable window, 0 if in none, NaN if no
    window was observable."""
    out = np.full(appeared.shape[0], np.nan)
    seen = ~np.isnan(appeared).all(axis=1)
    out[seen] = np.nanmax(appeared[seen], axis=1)
    return out


def usage_strata(level: np.ndarray, n_strata: int) -> np.ndarray:
    """Quintile (by default) of usage per reference; -1 for no reading."""
    out = np.full(level.shape, -1, dtype=int)
    ok = ~np.isnan(level)
    if ok.sum() >= n_strata:
        edges = np.unique(np.quantile(level[ok], np.linspace(0, 1, n_strata + 1)[1:-1]))
        out[ok] = np.searchsorted(edges, level[ok], side="right")
    return out


def stratified_counts(x: np.ndarray, churner: np.ndarray, strata: np.ndarray):
    ok = ~np.isnan(x)
    rows = []
    for k in np.unique(strata[ok]):
        m = ok & (strata == k)
        rows.append((np.sum(x[m & churner] == 1), np.sum(m & churner),
                     np.sum(x[m & ~churner] == 1), np.sum(m & ~churner)))
    return np.array(rows, dtype=float).reshape(-1, 4).T


def analyse_signals(wh=None, as_of=None, windows=DEFAULT_WINDOWS, lookback_months: int = 12,
                    seed: int = 0, material_change: float = MATERIAL_CHANGE,
                    alpha: float = 0.05, hazard: bool = True,
                    max_landmark_rows: int = 8000, hr_horizon_days: int = 180,
                    usage_signal: str | None = None,
                    evidence: SignalEvidence | None = None, **kwargs) -> pd.DataFrame:
    """Leading-signal analysis of the churners of the ``lookback_months`` before as-of.

    Parameters
    ----------
    wh : an open, validated warehouse (not needed when ``evidence`` is given).
    as_of : analysis date (default: the data's end).
    windows : ``(start, end)`` day ranges before the reference date.
    lookback_months : how far back churners are taken (12: "last year's churners").
    seed : stayers' reference renewal draw and the landmark sample.
    material_change : the relative drop that counts as "fell" (and its symmetric rise).
    alpha : level of the confidence intervals and the q-value cut for ``significant``.
    hazard : fit univariate Cox hazard ratios on monthly landmarks (slowest part).
    max_landmark_rows : at most this many accounts (one random monthly landmark each)
        for the hazard ratios.
    hr_horizon_days : hazard ratios are of churn within this many days of a landmark.
    usage_signal : usage event type whose per-window quintile stratifies the
        Mantel-Haenszel lift (default weekly active users).
    evidence : a :func:`collect_evidence` result to reuse (then the settings above
        that shape the evidence are taken from it).
    **kwargs : passed to :func:`collect_evidence` (``baseline_days``,
        ``dense_min_per_30d``, ``grace_days``).

    Returns
    -------
    DataFrame, one row per signal and window: signal, event_type, family, kind, label,
    window, window_start, window_end, n_churners, n_stayers, churners_with,
    stayers_with, prev_churners, prev_stayers, lift, lift_lo, lift_hi, p_value,
    q_value, significant, direction (``risk`` / ``protective`` / ``none``), lift_mh,
    lift_mh_lo, lift_mh_hi, p_mh, q_mh, coverage_arr (share of churned ARR showing the
    signal in the window), and per signal (repeated on its rows): coverage_arr_any
    (in any window), lead_n, lead_median, lead_q25, lead_q75 (days, churners
    observable over the whole horizon), hr, hr_lo, hr_hi, hr_p, hr_q (the signal in
    any window before a monthly landmark vs churn within ``hr_horizon_days``).
    """
    if evidence is None:
        if wh is None:
            raise InputError("analyse_signals needs a warehouse or evidence")
        evidence = collect_evidence(wh, as_of, windows, lookback_months, seed, material_change,
                                    usage_signal=usage_signal, hazard=hazard,
                                    max_landmark_rows=max_landmark_rows,
                                    hr_horizon_days=hr_horizon_days, **kwargs)
    ev = evidence
    cohort = ev.cohort
    churner = cohort[IS_CHURNER].to_numpy()
    arr = cohort[S.ARR].to_numpy(dtype=float)
    churned_arr = arr[churner].sum()
    full = observable_days_of(cohort) >= ev.horizon
    # hazard ratios on landmarks whose whole horizon is observable (a young account
    # cannot show an old signal, and its churn risk differs for reasons of its own)
    # hazard ratios count every account once (its first_of_account landmark)
    landmark_full = ((observable_days_of(ev.landmarks) >= ev.horizon)
                     & ev.landmarks[FIRST_OF_ACCOUNT].to_numpy(bool)
                     if ev.landmarks is not None else None)
    strata = np.column_stack([usage_strata(ev.usage_level[:, i], N_USAGE_STRATA)
                              for i in range(len(ev.windows))])
    rows = []
    for sig in ev.signals:
        app, first = ev.appeared[sig.signal], ev.first_age[sig.signal]
        lead = first[churner & full & ~np.isnan(first)]
        any_first = churner & ~np.isnan(first)
        per_signal = dict(
            coverage_arr_any=arr[any_first].sum() / churned_arr if churned_arr > 0 else np.nan,
            lead_n=lead.size,
            lead_median=float(np.median(lead)) if lead.size else np.nan,
            lead_q25=float(np.quantile(lead, 0.25)) if lead.size else np.nan,
            lead_q75=float(np.quantile(lead, 0.75)) if lead.size else np.nan)
        hr = (_hazard_ratio(np.where(landmark_full, _any_window(ev.landmark_appeared[sig.signal]),
                                     np.nan),
                            ev.landmarks[F.DURATION].to_numpy(float),
                            ev.landmarks[F.EVENT].to_numpy(float))
              if ev.landmarks is not None else (np.nan,) * 4)
        for i, window in enumerate(ev.windows):
            x = app[:, i]
            ok = ~np.isnan(x)
            a, n1 = np.sum(x[ok & churner] == 1), np.sum(ok & churner)
            c, n0 = np.sum(x[ok & ~churner] == 1), np.sum(ok & ~churner)
            mh = mantel_haenszel_rr(*stratified_counts(x, churner, strata[:, i]), alpha=alpha)
            rows.append(dict(
                signal=sig.signal, event_type=sig.event_type, family=sig.family,
                kind=sig.kind, label=sig.label, window=window_name(window),
                window_start=window[0], window_end=window[1],
                n_churners=int(n1), n_stayers=int(n0), churners_with=int(a),
                stayers_with=int(c),
                prev_churners=a / n1 if n1 else np.nan, prev_stayers=c / n0 if n0 else np.nan,
                lift_mh=mh[0], lift_mh_lo=mh[1], lift_mh_hi=mh[2], p_mh=mh[3],
                coverage_arr=(arr[churner & ok & (x == 1)].sum() / churned_arr
                              if churned_arr > 0 else np.nan),
                hr=hr[0], hr_lo=hr[1], hr_hi=hr[2], hr_p=hr[3], **per_signal))
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    lift, lo, hi, _ = risk_ratio(table["churners_with"], table["n_churners"],
                                 table["stayers_with"], table["n_stayers"], alpha)
    table["lift"], table["lift_lo"], table["lift_hi"] = lift, lo, hi
    table["p_value"] = fisher_p(table["churners_with"], table["n_churners"],
                                table["stayers_with"], table["n_stayers"])
    table["q_value"] = bh_qvalues(table["p_value"])
    table["q_mh"] = bh_qvalues(table["p_mh"])
    per_signal_hr = table.drop_duplicates("signal")[["signal", "hr_p"]]
    table["hr_q"] = table["signal"].map(dict(zip(per_signal_hr["signal"],
                                                 bh_qvalues(per_signal_hr["hr_p"]))))
    table = _with_adjusted(table, ev, alpha)
    table["significant"] = table["q_value"] < alpha
    table["direction"] = np.where(~table["significant"], "none",
                                  np.where(table["lift"] > 1, "risk", "protective"))
    order = ["signal", "event_type", "family", "kind", "label", "window", "window_start",
             "window_end", "n_churners", "n_stayers", "churners_with", "stayers_with",
             "prev_churners", "prev_stayers", "lift", "lift_lo", "lift_hi", "p_value",
             "q_value", "significant", "direction", "lift_mh", "lift_mh_lo", "lift_mh_hi",
             "p_mh", "q_mh", "coverage_arr", "coverage_arr_any", "lead_n", "lead_median",
             "lead_q25", "lead_q75", "hr", "hr_lo", "hr_hi", "hr_p", "hr_q",
             *ADJUSTED_COLUMNS]
    return table[order]


MATERIAL_HR = 1.05      # smallest adjusted hazard ratio per sd (or its inverse) named

ADJUSTED_COLUMNS = ["adj_hr", "adj_hr_lo", "adj_hr_hi", "adj_p", "adj_q", "adj_direction",
                    "adj_note"]


def _with_adjusted(table: pd.DataFrame, ev, alpha: float) -> pd.DataFrame:
    """Each event type's adjusted effect (:mod:`churnlab.signals.multivariable`) on its
    rows; its q-values are Benjamini-Hochberg over every test of the run (the lift tests
    and the adjusted effects together)."""
    if ev.signal_map is not None:
        adj = adjusted_effects(ev, ev.signal_map)
    else:
        adj = pd.DataFrame({"event_type": table["event_type"].unique(), "adj_hr": np.nan,
                            "adj_hr_lo": np.nan, "adj_hr_hi": np.nan, "adj_p": np.nan,
                            "adj_note": "no signal map"})
    p_all = np.concatenate([table["p_value"].to_numpy(float), adj["adj_p"].to_numpy(float)])
    adj["adj_q"] = bh_qvalues(p_all)[len(table):]
    # named only when significant and material: a hazard ratio per standard deviation
    # within 5% of 1 is not a signal anyone can act on (a weak residue of confounding)
    sig = (adj["adj_q"] < alpha) & (np.abs(np.log(adj["adj_hr"])) >= np.log(MATERIAL_HR))
    adj["adj_direction"] = np.where(~sig, "none", np.where(adj["adj_hr"] > 1, "risk",
                                                           "protective"))
    return table.merge(adj, on="event_type", how="left")
