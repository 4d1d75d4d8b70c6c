"""Signals adjusted for usage (per active user, stratified) and metric cohorts."""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnlab.data import contract as S
from churnlab.data import lifecycle
from churnlab.errors import InputError
from churnlab.features import snapshot as F
from churnlab.features.landmarks import attach_labels
from churnlab.signals.analysis import stratified_counts, usage_strata
from churnlab.signals.cohort import (
    ALERT,
    BASELINE_DAYS,
    FELL,
    IS_CHURNER,
    MIN_BASELINE_DAYS,
    N_USAGE_STRATA,
    ROSE,
    resolve_as_of,
)
from churnlab.signals.derive import (
    baseline_days_available,
    from_looks,
    look_windows,
    observable_days_of,
    window_name,
)
from churnlab.signals.evidence import SignalEvidence
from churnlab.signals.multivariable import confounding_candidate
from churnlab.signals.peers import PEER_KINDS
from churnlab.stats import fisher_p, mantel_haenszel_rr, risk_ratio, wilson_interval


# ========================================================================== confounding
def _per_user_change(ev: SignalEvidence, event_type: str, kind: str = ROSE,
                     baseline_days: int = BASELINE_DAYS):
    """``rose`` / ``fell`` on the event rate per active user: the events counted in a
    trailing period against the events expected there from the account's baseline
    rate per user times its users in that period (0.5 event added to both sides)."""
    if ev.usage_signal is None:
        raise InputError("no usage signal to normalise by")
    c, u = ev.aggregates[event_type], ev.aggregates[ev.usage_signal]
    looks = look_windows(ev.windows)
    days = observable_days_of(ev.cohort)
    base_days = baseline_days_available(ev.cohort, ev.horizon, baseline_days)
    threshold = -np.log1p(-ev.material_change)
    on = np.full((len(c), len(looks)), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        ok_base = (base_days >= MIN_BASELINE_DAYS) & (u["base_n"].to_numpy() > 0)
        rate_base = np.where(ok_base, c["base_s"].to_numpy() / base_days, np.nan)
        users_base = np.where(ok_base, u["base_s"].to_numpy() / u["base_n"].to_numpy(), np.nan)
        for j, (o, length) in enumerate(looks):
            un = u[f"look{j}_n"].to_numpy()
            users = np.where(un > 0, u[f"look{j}_s"].to_numpy() / un, np.nan)
            expected = rate_base * length * users / users_base
            change = np.log((c[f"look{j}_s"].to_numpy() + 0.5) / (expected + 0.5))
            ok = (days >= o + length) & np.isfinite(change)
            hit = change >= threshold if kind == ROSE else change <= -threshold
            on[ok, j] = hit[ok].astype(float)
    return from_looks(on, looks, ev.windows)[0]


def compare_adjusted(evidence: SignalEvidence, event_type: str, signal: str | None = None,
                     alpha: float = 0.05) -> pd.DataFrame:
    """A possibly confounded signal seen three ways, per window.

    * ``naive``: the signal as analysed (churners vs stayers);
    * ``per active user``: for counts, the same change (rose / fell; a rise for an
      ``occurred`` signal) measured on the event rate per active user: events against
      those expected from the account's own baseline rate per user and its current
      users;
    * ``usage-stratified``: the naive indicator's Mantel-Haenszel lift within quintiles
      of usage in the same window (accounts compared at equal usage).

    ``signal`` defaults to the event type's signal that naively looks most like a
    warning (the smallest p-value among lifts above 1; else its first signal).

    Returns
    -------
    DataFrame: view, signal, window, lift, lift_lo, lift_hi, p_value, prev_churners,
    prev_stayers, n_churners, n_stayers.
    """
    ev = evidence
    churner = ev.cohort[IS_CHURNER].to_numpy()
    # the change and occurrence signals (a level against peers has no per-user view)
    candidates = [s for s in ev.signals if s.event_type == event_type
                  and s.kind not in PEER_KINDS]
    if not candidates:
        raise KeyError(f"event type {event_type!r} is not among the analysed signals")

    def tables(app):
        out = []
        for i in range(len(ev.windows)):
            x = app[:, i]
            ok = ~np.isnan(x)
            out.append((np.sum(x[ok & churner] == 1), np.sum(ok & churner),
                        np.sum(x[ok & ~churner] == 1), np.sum(ok & ~churner)))
        return out

    if signal is None:
        def naive_risk(sig):
            best = np.inf
            for a, n1, c, n0 in tables(ev.appeared[sig.signal]):
                lift = risk_ratio(a, n1, c, n0, alpha)[0]
                if np.isfinite(lift) and lift > 1:
                    best = min(best, fisher_p([a], [n1], [c], [n0])[0])
            return best
        signal = min(candidates, key=naive_risk).signal
    sig = ev.signal(signal)
    views = [("naive", signal, ev.appeared[signal])]
    if ev.usage_signal is not None and sig.measure == "count" and sig.kind != ALERT:
        kind = FELL if sig.kind == FELL else ROSE
        views.append(("per active user", f"{event_type}:{kind}_per_user",
                      _per_user_change(ev, event_type, kind)))
    rows = []
    for view, name, app in views:
        for window, (a, n1, c, n0) in zip(ev.windows, tables(app)):
            lift, lo, hi, _ = risk_ratio(a, n1, c, n0, alpha)
            rows.append(dict(view=view, signal=name, window=window_name(window),
                             lift=float(lift), lift_lo=float(lo), lift_hi=float(hi),
                             p_value=float(fisher_p([a], [n1], [c], [n0])[0]),
                             prev_churners=a / n1 if n1 else np.nan,
                             prev_stayers=c / n0 if n0 else np.nan,
                             n_churners=int(n1), n_stayers=int(n0)))
    app = ev.appeared[signal]
    for i, window in enumerate(ev.windows):
        strata = usage_strata(ev.usage_level[:, i], N_USAGE_STRATA)
        counts = stratified_counts(app[:, i], churner, strata)
        lift, lo, hi, p = mantel_haenszel_rr(*counts, alpha=alpha)
        rows.append(dict(view="usage-stratified", signal=signal, window=window_name(window),
                         lift=lift, lift_lo=lo, lift_hi=hi, p_value=p,
                         prev_churners=np.nan, prev_stayers=np.nan,
                         n_churners=int(counts[1].sum()), n_stayers=int(counts[3].sum())))
    return pd.DataFrame(rows)


def describe_adjustment(adjusted: pd.DataFrame, label: str, alpha: float = 0.05) -> str:
    """One paragraph: what the naive view of a confounded signal claims, and what is
    left of it once usage is accounted for (from :func:`compare_adjusted`)."""
    naive = adjusted[adjusted["view"] == "naive"]
    head = naive.loc[naive["p_value"].idxmin()]
    adj = adjusted[(adjusted["view"] != "naive") & (adjusted["window"] == head["window"])]

    def claim(r) -> str:
        if r["p_value"] < alpha and r["lift"] > 1:
            return (f"is {r['lift']:.1f}x more common among churners "
                    f"(95% CI {r['lift_lo']:.1f}-{r['lift_hi']:.1f})")
        if r["p_value"] < alpha and r["lift"] < 1:
            return (f"is {1 / r['lift']:.1f}x less common among churners "
                    f"(95% CI {1 / r['lift_hi']:.1f}-{1 / r['lift_lo']:.1f})")
        return (f"shows no reliable difference (lift {r['lift']:.2f}, "
                f"95% CI {r['lift_lo']:.2f}-{r['lift_hi']:.2f})")

    text = (f"Naively, \"{label}\" {head['window']} days before the reference date "
            f"{claim(head)}.")
    for _, r in adj.iterrows():
        text += f" Seen {r['view']}, it {claim(r)}."
    naive_risk = head["p_value"] < alpha and head["lift"] > 1
    adj_risk = any((r["p_value"] < alpha) and (r["lift_lo"] > 1) for _, r in adj.iterrows())
    naive_prot = head["p_value"] < alpha and head["lift"] < 1
    if naive_risk and not adj_risk:
        text += (" The naive view would have called it a warning sign; once usage is held "
                 "fixed it is not one: the difference came from how much the accounts use "
                 "the product, not from the signal itself.")
    elif naive_prot and not adj_risk and all(r["lift_hi"] >= 1 for _, r in adj.iterrows()):
        text += (" The naive view would have read it as a sign of health; once usage is held "
                 "fixed the difference disappears: busy accounts simply generate more of it.")
    elif naive_risk and adj_risk:
        text += " The warning survives the adjustment for usage."
    else:
        text += " Neither view makes it a warning sign."
    return text


# ============================================================================== cohorts
def metric_cohorts(wh, as_of=None, metric: str | None = None,
                   n_cohorts: int = 10, lookback_months: int = 12,
                   grace_days: int = S.GRACE_DAYS, alpha: float = 0.05) -> pd.DataFrame:
    """Churn rate by cohort (quantile group) of a point-in-time metric.

    Accounts active ``lookback_months`` before as-of are grouped by ``n_cohorts``
    quantiles of ``metric`` (a snapshot column; default: the 90-day mean of the event
    type with role ``active_users``, else of the first usage event type) at that
    date; each cohort's churn rate is the share that churned (confirmed by as-of)
    before as-of, with a Wilson interval. Accounts without a value form their own
    cohort (``no data``).

    Returns
    -------
    DataFrame: cohort, metric_lo, metric_hi, metric_median, n, churned, churn_rate,
    churn_rate_lo, churn_rate_hi, arr, churned_arr.
    """
    as_of = resolve_as_of(wh, as_of)
    start = as_of - pd.DateOffset(months=lookback_months)
    snap = F.make_snapshot(wh, start, grace_days=grace_days)
    if metric is None:
        usage = wh.signal_map.role("active_users") or next(
            (s.event_type for s in wh.signal_map.by_family("usage")), None)
        if usage is None:           # nothing to cut the book by: the section says so
            return pd.DataFrame(columns=["cohort", "metric_lo", "metric_hi", "metric_median",
                                         "n", "churned", "churn_rate", "churn_rate_lo",
                                         "churn_rate_hi", "arr", "churned_arr"])
        stat = {"gauge": "mean_90d", "flag": "any_90d"}.get(wh.signal_map[usage].kind,
                                                            "sum_90d")
        metric = f"{usage}__{stat}"
    if metric not in snap.columns:
        raise KeyError(f"{metric!r} is not a snapshot column")
    outcomes = lifecycle.churn_outcomes(wh, grace_days, obs_end=as_of)
    labelled = attach_labels(snap, outcomes, as_of)
    churned = labelled[F.EVENT].astype(bool) & (pd.to_datetime(labelled[F.CHURN_DATE]) < as_of)
    df = pd.DataFrame({"value": labelled[metric].astype(float), "churned": churned,
                       "arr": labelled[S.ARR].astype(float)})
    have = df["value"].notna()
    df["cohort"] = "no data"
    if have.sum() >= n_cohorts:
        codes = pd.qcut(df.loc[have, "value"].rank(method="first"), n_cohorts, labels=False)
        df.loc[have, "cohort"] = (codes + 1).astype(int).astype(str)
    g = df.groupby("cohort", sort=False)
    out = pd.DataFrame({"metric_lo": g["value"].min(), "metric_hi": g["value"].max(),
                        "metric_median": g["value"].median(), "n": g.size(),
                        "churned": g["churned"].sum(),
                        "arr": g["arr"].sum(),
                        "churned_arr": df[df["churned"]].groupby("cohort")["arr"].sum()})
    out["churned_arr"] = out["churned_arr"].fillna(0.0)
    out["churn_rate"] = out["churned"] / out["n"]
    out["churn_rate_lo"], out["churn_rate_hi"] = wilson_interval(out["churned"], out["n"], alpha)
    out = out.reset_index()
    out["_order"] = pd.to_numeric(out["cohort"], errors="coerce").fillna(n_cohorts + 1)
    out = out.sort_values("_order").drop(columns="_order").reset_index(drop=True)
    out.insert(1, "metric", metric)
    return out


def confounding_view(evidence: SignalEvidence, table: pd.DataFrame,
                     event_type: str | None = None) -> tuple[pd.DataFrame, str, str]:
    """The notebook's confounding example: ``(compare_adjusted table, label, paragraph)``
    for ``event_type``, or for the event type whose raw and adjusted directions disagree
    most (:func:`~churnlab.signals.multivariable.confounding_candidate`). When there is
    none (or the event type is not analysed), an empty table and one plain line."""
    smap = evidence.signal_map
    chosen = event_type or confounding_candidate(table)
    if chosen is None:
        return (pd.DataFrame(), "", "Raw lifts and adjusted effects agree for every event "
                "type here: no signal is confounded by overall activity.")
    if not any(s.event_type == chosen for s in evidence.signals):
        return pd.DataFrame(), "", f"{chosen!r} is not among the analysed event types."
    label = smap[chosen].label if smap is not None and chosen in smap else chosen
    adjusted = compare_adjusted(evidence, chosen)
    return adjusted, label, describe_adjustment(adjusted, label)
