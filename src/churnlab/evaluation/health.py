"""Out-of-time evaluation of the health score (learned vs default weights)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from churnlab.data import contract as S
from churnlab.data import lifecycle
from churnlab.errors import InputError
from churnlab.features import snapshot as F
from churnlab.features.landmarks import attach_labels
from churnlab.models.health import HealthScore, make_training_set
from churnlab.models.health_families import (
    CORE_FAMILIES,
    DEFAULT,
    LEARNED,
    LEARNED_CORE,
    TIER_ORDER,
)


# ------------------------------------------------------------------------- evaluation
@dataclass
class HealthEvaluation:
    """Out-of-time evaluation of the health score (see :func:`evaluate_out_of_time`).

    Attributes
    ----------
    score_date : T, the date scores were computed (features before T only).
    outcome_end : the data end; outcomes are churns after T seen from here.
    horizon_days : churn horizon of the labels and metrics.
    metrics : one row per weighting: concordance, AUC for churn within 90 days, the
        horizon, and before the next renewal, with n and churners per metric.
    differences : learned minus default, per metric, with paired bootstrap intervals.
    tiers : churn rate and ARR per weighting x tier scheme x tier.
    flagged : per weighting x tier scheme: share of the next period's churned ARR (and
        of its churners, and of all accounts) that was red or yellow at T.
    weights : default, learned (all families), learned over the core five, with intervals.
    scores : per account at T: scores of each weighting and the outcome.
    model, model_core : the fitted :class:`HealthScore` objects.
    training_dates : the landmark dates the models were trained on (all with their
        whole horizon observed by the score date).
    """

    score_date: pd.Timestamp
    outcome_end: pd.Timestamp
    horizon_days: int
    metrics: pd.DataFrame
    differences: pd.DataFrame
    tiers: pd.DataFrame
    flagged: pd.DataFrame
    weights: pd.DataFrame
    scores: pd.DataFrame
    model: HealthScore
    model_core: HealthScore
    training_dates: list = field(default_factory=list)


def _auc(y: np.ndarray, health: np.ndarray) -> float:
    """AUC of "low health = churn" (Mann-Whitney, ties counted half)."""
    y = np.asarray(y, dtype=float)
    if y.size == 0 or y.min() == y.max():
        return np.nan
    ranks = rankdata(-np.asarray(health, dtype=float))
    n1 = y.sum()
    n0 = y.size - n1
    return float((ranks[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def _concordance(duration, health, event) -> float:
    from lifelines.utils import concordance_index

    if event.sum() == 0:
        return np.nan
    return float(concordance_index(duration, health, event))


def outcome_labels(scored: pd.DataFrame, snapshot: pd.DataFrame, wh, score_date, obs_end,
                   horizon_days: int, grace_days: int = S.GRACE_DAYS) -> pd.DataFrame:
    """Attach what happened after the score date to scored accounts: duration_days,
    churned, churn_date, and for each outcome whether it is known (follow-up long
    enough or churned before)."""
    outcomes = lifecycle.churn_outcomes(wh, grace_days, obs_end)
    lab = attach_labels(snapshot[[F.LANDMARK, S.ACCOUNT_ID, S.ARR, "next_renewal"]],
                          outcomes, obs_end)
    out = scored.merge(lab, on=[F.LANDMARK, S.ACCOUNT_ID], how="inner")
    follow = (pd.Timestamp(obs_end) - pd.Timestamp(score_date)).days - grace_days
    churn_days = np.where(out[F.EVENT] == 1, out[F.DURATION], np.inf)
    for h in sorted({90, horizon_days}):
        out[f"churn_{h}d"] = (churn_days <= h).astype(float)
        out.loc[~((churn_days <= h) | (follow >= h)), f"churn_{h}d"] = np.nan
    renewal = (pd.to_datetime(out["next_renewal"]) - pd.Timestamp(score_date)).dt.days
    before = churn_days <= renewal.to_numpy()
    out["churn_before_renewal"] = before.astype(float)
    out.loc[~(before | (renewal.to_numpy() <= follow)), "churn_before_renewal"] = np.nan
    out["duration_h"] = np.minimum(out[F.DURATION], horizon_days)
    out["event_h"] = ((out[F.EVENT] == 1) & (out[F.DURATION] <= horizon_days)).astype(int)
    return out


def _metric_row(df: pd.DataFrame, col: str, horizon_days: int) -> dict:
    h = df[col].to_numpy()
    row = {"concordance": _concordance(df["duration_h"].to_numpy(), h, df["event_h"].to_numpy())}
    for target in ("churn_90d", f"churn_{horizon_days}d", "churn_before_renewal"):
        known = df[target].notna().to_numpy()
        row[f"auc_{target.removeprefix('churn_')}"] = _auc(df[target].to_numpy()[known], h[known])
    return row


def tier_table(df: pd.DataFrame, tier_col: str, outcome: str) -> pd.DataFrame:
    """Per tier: accounts, ARR, churners and churned ARR (within the outcome), churn rate."""
    known = df[df[outcome].notna()]
    rows = []
    churned_arr_total = known.loc[known[outcome] == 1, S.ARR].sum()
    for tier in TIER_ORDER:
        part = known[known[tier_col] == tier]
        churned = part[part[outcome] == 1]
        rows.append(dict(tier=tier, n=len(part), arr=part[S.ARR].sum(),
                         churned=len(churned), churn_rate=len(churned) / len(part)
                         if len(part) else np.nan,
                         churned_arr=churned[S.ARR].sum(),
                         share_of_churned_arr=churned[S.ARR].sum() / churned_arr_total
                         if churned_arr_total > 0 else np.nan))
    return pd.DataFrame(rows)


def evaluate_out_of_time(wh, as_of=None, score_date=None, horizon_days: int = 180,
                         lookback_months: int = 12, step_months: int = 1,
                         n_bootstrap: int = 200, random_state: int = 0,
                         grace_days: int = S.GRACE_DAYS) -> HealthEvaluation:
    """Train on last year's churners as known at T, score at T, judge after T.

    Parameters
    ----------
    as_of : the date the evaluation is made (default: the data's end); outcomes after
        T are those known (confirmed) by then.
    score_date : T (default: as_of minus the horizon and the grace period, the latest
        date whose whole horizon is observed).
    horizon_days : churn horizon of training labels, AUC and the tier tables.
    lookback_months, step_months : training landmarks (see :func:`training_dates`).
    n_bootstrap : replicates for the weight intervals and the paired intervals of the
        learned-minus-default metric differences.
    """
    obs_end = lifecycle.observation_end(wh) if as_of is None else pd.Timestamp(as_of)
    t = (obs_end - pd.Timedelta(days=horizon_days + grace_days) if score_date is None
         else pd.Timestamp(score_date))
    if t >= obs_end:
        raise InputError(f"score date {t.date()} leaves no follow-up before {obs_end.date()}")
    snapshots, labels = make_training_set(wh, t, horizon_days, lookback_months, step_months,
                                          grace_days)
    model = HealthScore(signal_map=wh.signal_map, n_bootstrap=n_bootstrap,
                        random_state=random_state).fit(snapshots, labels)
    core = HealthScore(signal_map=wh.signal_map, families=CORE_FAMILIES,
                       n_bootstrap=n_bootstrap, random_state=random_state).fit(snapshots, labels)
    snap = F.make_snapshot(wh, t, grace_days=grace_days)
    variants = {LEARNED: model.score(snap, LEARNED), DEFAULT: model.score(snap, DEFAULT),
                LEARNED_CORE: core.score(snap, LEARNED)}
    scored = variants[LEARNED][[F.LANDMARK, S.ACCOUNT_ID]].copy()
    for name, s in variants.items():
        scored[f"health[{name}]"] = s["health"].to_numpy()
        scored[f"tier[{name}]"] = s["tier"].to_numpy()
        scored[f"tier_data[{name}]"] = s["tier_data"].to_numpy()
    for f in model.families_:
        scored[f"score_{f}"] = variants[LEARNED][f"score_{f}"].to_numpy()
    df = outcome_labels(scored, snap, wh, t, obs_end, horizon_days, grace_days)

    metrics = pd.DataFrame([{"weighting": name, **_metric_row(df, f"health[{name}]", horizon_days)}
                            for name in variants])
    metrics["n"] = len(df)
    metrics["churners_within_horizon"] = int(np.nansum(df[f"churn_{horizon_days}d"]))
    differences = _paired_differences(df, horizon_days, n_bootstrap, random_state)
    outcome = f"churn_{horizon_days}d"
    tiers, flagged = [], []
    for name in variants:
        for scheme, col in (("articles", f"tier[{name}]"), ("data", f"tier_data[{name}]")):
            tt = tier_table(df, col, outcome).assign(weighting=name, scheme=scheme)
            tiers.append(tt)
            flagged.append(dict(weighting=name, scheme=scheme,
                                share_churned_arr_red_or_yellow=tt.loc[
                                    tt["tier"].isin(["red", "yellow"]),
                                    "share_of_churned_arr"].sum(),
                                share_churned_arr_red=tt.loc[tt["tier"] == "red",
                                                             "share_of_churned_arr"].sum(),
                                share_churners_red_or_yellow=tt.loc[
                                    tt["tier"].isin(["red", "yellow"]), "churned"].sum()
                                / max(tt["churned"].sum(), 1),
                                share_accounts_red_or_yellow=tt.loc[
                                    tt["tier"].isin(["red", "yellow"]), "n"].sum()
                                / max(tt["n"].sum(), 1)))
    tiers = pd.concat(tiers, ignore_index=True)[
        ["weighting", "scheme", "tier", "n", "arr", "churned", "churn_rate", "churned_arr",
         "share_of_churned_arr"]]
    weights = model.weights_table().merge(
        core.weights_table()[["family", LEARNED, "learned_lo", "learned_hi"]].rename(
            columns={LEARNED: LEARNED_CORE, "learned_lo": "core_lo", "learned_hi": "core_hi"}),
        on="family", how="left")
    dates = sorted(pd.to_datetime(snapshots[F.LANDMARK]).unique())
    return HealthEvaluation(t, obs_end, horizon_days, metrics, differences, tiers,
                            pd.DataFrame(flagged), weights, df, model, core,
                            [pd.Timestamp(d) for d in dates])


def _paired_differences(df: pd.DataFrame, horizon_days: int, n_bootstrap: int,
                        random_state: int, alpha: float = 0.05) -> pd.DataFrame:
    """Learned minus default, per metric, with a paired (same accounts) bootstrap."""
    names = ("concordance", "auc_90d", f"auc_{horizon_days}d", "auc_before_renewal")
    point_l = _metric_row(df, f"health[{LEARNED}]", horizon_days)
    point_d = _metric_row(df, f"health[{DEFAULT}]", horizon_days)
    rng = np.random.default_rng(random_state)
    draws = []
    for _ in range(n_bootstrap):
        b = df.iloc[rng.integers(0, len(df), len(df))]
        ml = _metric_row(b, f"health[{LEARNED}]", horizon_days)
        md = _metric_row(b, f"health[{DEFAULT}]", horizon_days)
        draws.append({k: ml[k] - md[k] for k in names})
    boot = pd.DataFrame(draws)
    return pd.DataFrame({"metric": names,
                         "learned_minus_default": [point_l[k] - point_d[k] for k in names],
                         "lo": [boot[k].quantile(alpha / 2) for k in names],
                         "hi": [boot[k].quantile(1 - alpha / 2) for k in names]})
