"""Notebook 02's helpers: Kaplan-Meier groups, Cox/AFT statements, leadership findings."""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnlab.actions.risk_language import (
    DEFAULT_CUTS,
    RiskCuts,
    decision_probability,
    tier_of_probability,
)
from churnlab.data import contract as S
from churnlab.data import lifecycle
from churnlab.evaluation.backtest import Backtest
from churnlab.evaluation.metrics import calibration_table
from churnlab.features import snapshot as F
from churnlab.features.landmarks import make_landmarks, monthly_dates
from churnlab.models.lifelines_models import AFTModel, CoxModel
from churnlab.models.survival_base import MAX_DAYS, SurvivalModel, check_columns, training_rows


# ------------------------------------------------------------------ Kaplan-Meier
def kaplan_meier(rows: pd.DataFrame, by: str, times=(30, 90, 180, 365)) -> pd.DataFrame:
    """Kaplan-Meier survival by group at ``times`` with 95% intervals and at-risk
    counts, the median, and the multivariate log-rank test across groups."""
    from lifelines import KaplanMeierFitter
    from lifelines.statistics import multivariate_logrank_test

    check_columns(rows, [F.DURATION, F.EVENT], "landmark rows")
    empty = pd.DataFrame(columns=[by, "days", "survival", "lo", "hi", "at_risk",
                                  "median_days"])
    empty.attrs.update(logrank_p=np.nan, logrank_chi2=np.nan)
    if by not in rows.columns:          # e.g. no health score could be fitted
        return empty
    out = []
    for g, r in rows.groupby(by, observed=True):
        km = KaplanMeierFitter().fit(r[F.DURATION], r[F.EVENT])
        ci = km.confidence_interval_survival_function_
        for t in times:
            out.append({by: g, "days": t, "survival": float(km.survival_function_at_times(t).iloc[0]),
                        "lo": float(np.interp(t, ci.index, ci.iloc[:, 0])),
                        "hi": float(np.interp(t, ci.index, ci.iloc[:, 1])),
                        "at_risk": int((r[F.DURATION] >= t).sum()),
                        "median_days": float(km.median_survival_time_)})
    df = pd.DataFrame(out) if out else empty
    df.attrs.update(logrank_p=np.nan, logrank_chi2=np.nan)
    if rows[by].nunique() > 1:
        test = multivariate_logrank_test(rows[F.DURATION], rows[by], rows[F.EVENT])
        df.attrs.update(logrank_p=float(test.p_value), logrank_chi2=float(test.test_statistic))
    return df


# ------------------------------------------------------------------ notebook 02 helpers
TERM_CLASSES = {1: "monthly", 12: "annual"}


def term_class(term_months) -> np.ndarray:
    """'monthly' (1 month), 'annual' (12), 'multi-year' (longer), 'other' otherwise."""
    t = np.asarray(term_months, float)
    return np.where(t <= 1, "monthly", np.where(t == 12, "annual",
                                                np.where(t > 12, "multi-year", "other")))


def origin_tiers(backtest: Backtest | None, model: str, origin,
                 cuts: RiskCuts = DEFAULT_CUTS) -> pd.DataFrame:
    """account_id and tier of the one risk language at a backtest origin, from
    ``model``'s out-of-time probabilities there (the model was trained before the
    origin): the band of max(P(churn in 90 days), P(churn before renewal)). Empty
    without a backtest."""
    if backtest is None or "p_renewal" not in backtest.scores:
        return pd.DataFrame(columns=[S.ACCOUNT_ID, "tier"])
    sc = backtest.scores
    rows = sc[(sc["model"] == model) & (pd.to_datetime(sc["origin"]) == pd.Timestamp(origin))]
    p = decision_probability(rows["p90"], rows["p_renewal"])
    return pd.DataFrame({S.ACCOUNT_ID: rows[S.ACCOUNT_ID].to_numpy(),
                         "tier": tier_of_probability(p, cuts)})


def landmark_groups(wh, date, obs_end=None, health_model=None,
                    tiers: pd.DataFrame | None = None) -> pd.DataFrame:
    """Landmark rows of the accounts active at ``date`` with outcomes seen at ``obs_end``
    and the groups of the Kaplan-Meier curves: segment, ``term`` (:func:`term_class`)
    and ``tier``: from ``tiers`` (account_id, tier; e.g. :func:`origin_tiers`, the
    report's risk tiers out of time) or, given a health score fitted on what was known
    at ``date``, its data-suggested tier and the articles' ``tier_articles``."""
    rows = make_landmarks(wh, [pd.Timestamp(date)], obs_end=obs_end)
    rows["term"] = term_class(rows[S.TERM_MONTHS])
    if tiers is not None and len(tiers):
        rows["tier"] = rows[S.ACCOUNT_ID].map(tiers.set_index(S.ACCOUNT_ID)["tier"])
    elif health_model is not None:
        h = health_model.score(rows)
        rows["tier"] = h["tier_data"].to_numpy()
        rows["tier_articles"] = h["tier"].to_numpy()
        rows["health"] = h["health"].to_numpy()
    return rows


def fit_cox_and_aft(wh, as_of=None, lookback_months: int = 12, n_features: int = 12,
                    landmarks: pd.DataFrame | None = None, grace_days: int = S.GRACE_DAYS,
                    progress: bool = False):
    """The explanatory lifelines models on the champion's training rows (landmarks of
    the ``lookback_months`` before ``as_of``, labels observable at ``as_of``).
    Returns (CoxModel, AFTModel, training rows)."""
    as_of = lifecycle.observation_end(wh) if as_of is None else pd.Timestamp(as_of)
    first = as_of - pd.DateOffset(months=lookback_months)
    if landmarks is None:
        landmarks = make_landmarks(wh, monthly_dates(first, as_of - pd.Timedelta(days=1)),
                                     grace_days=grace_days, obs_end=as_of, progress=progress)
    lm = pd.to_datetime(landmarks[F.LANDMARK])
    train = training_rows(landmarks[lm >= first], as_of, grace_days)
    cox = CoxModel(n_features=n_features).fit(train)
    aft = AFTModel(n_features=n_features).fit(train)
    return cox, aft, train


def describe_ph_check(cox: CoxModel, alpha: float = 0.05) -> str:
    """The proportional-hazards check of a fitted :class:`CoxModel` and what was done."""
    test = cox.ph_test_.set_index("covariate")["p"]
    broken = [c for c, p in test.items() if p < alpha]
    term = test.get("term_class", np.nan)
    if cox.strata_:
        act = (f"the term class (monthly vs fixed term) breaks proportional hazards "
               f"(Schoenfeld test, rank time, p = {term:.2g}), so the model is stratified "
               "by it: each class keeps its own baseline hazard (monthly accounts can leave "
               "any month, fixed terms at renewal) and the hazard ratios below are within "
               "term class")
    elif cox.use_term_:
        act = (f"the term class passes the proportional-hazards test (p = {term:.2g}), so "
               "it stays an ordinary covariate")
    else:
        act = "no term class in the data, no stratification"
    others = [c for c in broken if c != "term_class"]
    tail = (f"; {len(others)} other input(s) also show time-varying effects at p < {alpha} "
            f"({', '.join(others[:5])}): their hazard ratios are averages over follow-up"
            if others else "; no other input breaks proportionality at p < " f"{alpha}")
    return f"PH check: {act}{tail}."


def describe_aft(aft: AFTModel) -> str:
    """Which AFT family was kept and by how much AIC."""
    other = [k for k in aft.aic_ if k != aft.distribution_][0]
    return (f"AFT family: {aft.distribution_} (AIC {aft.aic_[aft.distribution_]:,.0f}) "
            f"over {other} (AIC {aft.aic_[other]:,.0f}), a difference of "
            f"{aft.aic_[other] - aft.aic_[aft.distribution_]:,.0f}.")


SUMMARY_COLUMNS = ["harrell_c", "uno_c", "auc_90", "auc_180", "ibs", "ibs_km",
                   "calibration_error_90d", "top_decile_lift", "churned_arr_top10"]


def validation_words(card: dict) -> str:
    """One line on how the champion was validated: the backtest used (and how it was
    shortened for a short history), or that it was not validated and why."""
    plan = card.get("backtest_plan") or {}
    if not card.get("validated", True) or not card.get("origins"):
        return ("**Not validated.** The champion was trained without a backtest (the "
                "history is too short for one, or `--no-backtest`): the sections below "
                "that judge models out of time have nothing to show, and its probabilities "
                "are untested.")
    line = (f"Validated by a rolling-origin backtest at {len(card['origins'])} origin(s) "
            f"({', '.join(card['origins'])})")
    if plan.get("lookback_months"):
        line += (f", {plan['lookback_months']} months of training before each and "
                 f"{plan['follow_up_days']} days of follow-up after")
    line += "."
    if plan.get("adapted"):
        line += f" Shortened: {plan['note']}."
    screen = card.get("backtest_screen")
    if screen:
        line += (f" To keep training within budget, every model was first screened on a "
                 f"random {screen['accounts']:,} of the {screen['of']:,} accounts; the "
                 f"finalists ({', '.join(screen['finalists'])}) were then backtested on every "
                 f"account, so the champion's figures are a full backtest's and the other "
                 f"models' (trained on less data) are a little pessimistic.")
    return line


def backtest_metrics(backtest: Backtest | None) -> pd.DataFrame:
    """The backtest's metrics per model and origin (empty when there was none)."""
    return backtest.metrics if backtest is not None else pd.DataFrame(
        columns=["model", "origin", *SUMMARY_COLUMNS])


def km_landmark(backtest: Backtest | None, wh, as_of) -> pd.Timestamp:
    """The landmark for the observed survival curves: the first backtest origin, or
    without a backtest the month start three months before ``as_of`` (never before the
    first full month of data)."""
    if backtest is not None and len(backtest.metrics):
        return pd.Timestamp(min(backtest.metrics["origin"]))
    start = (lifecycle.observation_start(wh).to_period("M") + 1).to_timestamp()
    back = (pd.Timestamp(as_of) - pd.DateOffset(months=3)).to_period("M").to_timestamp()
    return max(start, back)


def backtest_table(backtest: Backtest | None, oracle: pd.DataFrame | None = None,
                   per_origin: bool = False) -> pd.DataFrame:
    """The backtest's metrics (mean over origins, or per origin), the oracle's (from
    :func:`oracle_metrics`) beside them when given; empty without a backtest."""
    metrics = backtest_metrics(backtest)
    m = metrics if oracle is None else pd.concat([metrics, oracle], ignore_index=True)
    cols = [c for c in SUMMARY_COLUMNS if c in m.columns]
    if per_origin:
        return m.set_index(["origin", "model"])[cols].sort_index()
    return m.groupby("model", sort=False)[cols].mean()


def pooled_calibration(backtest: Backtest | None, model: str, n_bins: int = 10
                       ) -> pd.DataFrame:
    """:func:`calibration_table` of ``model``'s 90-day probabilities over every origin's
    rows whose 90-day outcome is known (churned within 90 days, or followed 90 days);
    empty without a backtest."""
    if backtest is None:
        return pd.DataFrame(columns=["bin", "predicted", "observed", "n", "se"])
    rows = backtest.scores[backtest.scores["model"] == model]
    t, e = rows[F.DURATION].to_numpy(float), rows[F.EVENT].to_numpy().astype(bool)
    y = e & (t <= 90)
    known = y | (t >= 90)
    return calibration_table(rows["p90"].to_numpy(float)[known], y[known], n_bins)


def risk_tiers(model: SurvivalModel, snapshot: pd.DataFrame,
               cuts: RiskCuts = DEFAULT_CUTS) -> pd.Series:
    """The one risk language's tier per snapshot row (as in the report and the packs)."""
    hz = model.predict_horizons(snapshot.reset_index(drop=True), (90,))
    p = decision_probability(hz["p_churn_90d"], hz["p_churn_before_renewal"])
    return pd.Series(tier_of_probability(p, cuts), index=snapshot.index)


def group_survival(model: SurvivalModel, snapshot: pd.DataFrame, groups,
                   max_days: int = MAX_DAYS) -> pd.DataFrame:
    """Per group of accounts (e.g. risk tier) at the snapshot's date: accounts, ARR,
    the mean predicted P(churn within 90 days) and the median time to churn of the
    group's average survival curve (first day it reaches 0.5; NaN = beyond
    ``max_days``)."""
    if groups is None:              # no grouping (e.g. no health score): one group
        groups = np.full(len(snapshot), "all accounts", dtype=object)
    groups = pd.Series(np.asarray(groups), index=snapshot.index)
    grid = np.arange(0, max_days + 1, dtype=float)
    out = []
    for g, idx in groups.groupby(groups, sort=False).groups.items():
        part = snapshot.loc[idx]
        curve = model.predict_survival(part, grid).mean(axis=0)
        below = np.flatnonzero(curve <= 0.5)
        out.append({"group": g, "accounts": len(part), "arr": float(part[S.ARR].sum()),
                    "p_churn_90d": float(1 - curve[90]),
                    "median_days": float(grid[below[0]]) if len(below) else np.nan})
    return pd.DataFrame(out)


def card_table(card: dict) -> pd.DataFrame:
    """The model card's headline fields as a two-column table."""
    summ = {r["model"]: r for r in card.get("backtest_summary", [])}.get(card["kind"], {})
    rows = [("model id", card["model_id"]), ("kind", card["kind"]),
            ("trained as of", card["as_of"]),
            ("training window (landmarks)", " to ".join(card["training_window"])),
            ("training rows / churn events", f"{card['training_rows']:,} / "
                                              f"{card['training_events']:,}"),
            ("inputs", f"{len(card['features'])} point-in-time features + contract calendar"),
            ("backtest origins", ", ".join(card["origins"]) or "none: not validated"),
            ("backtest Uno C / Harrell C", f"{summ.get('uno_c', np.nan):.3f} / "
                                           f"{summ.get('harrell_c', np.nan):.3f}"),
            ("calibration error at 90 days", f"{summ.get('calibration_error_90d', np.nan):.4f}"),
            ("data fingerprint", str(card["data_fingerprint"])[:16]),
            ("libraries", ", ".join(f"{k} {v}" for k, v in card["library_versions"].items()
                                    if v))]
    return pd.DataFrame(rows, columns=["field", "value"]).set_index("field")


def _days(d: float, max_days: int = MAX_DAYS) -> str:
    return f"> {max_days} days" if not np.isfinite(d) else f"{d:,.0f} days"


def leadership_findings(backtest: Backtest, champion: str, oracle: pd.DataFrame | None = None,
                        tier_curves: pd.DataFrame | None = None,
                        scores: pd.DataFrame | None = None, tiers=None,
                        km: pd.DataFrame | None = None,
                        max_days: int = MAX_DAYS) -> list[str]:
    """What the champion means, in sentences built from the numbers.

    Parameters
    ----------
    backtest : the champion's backtest (every model, every origin).
    champion : its kind. oracle : :func:`oracle_metrics` on the same rows (evaluation).
    tier_curves : :func:`group_survival` by risk tier at the as-of date.
    scores : :func:`score_accounts` at the as-of date; ``tiers`` aligned with it.
    km : :func:`kaplan_meier` by tier (observed, at an earlier landmark).
    """
    if backtest is None or champion not in set(backtest.metrics["model"]):
        out = ["The champion is not validated: it was trained without a backtest, so "
               "nothing here says how well it ranks or how calibrated its probabilities "
               "are. Treat its scores as provisional until the history allows a backtest."]
        return out + _present_lines(tier_curves, km, scores, tiers, max_days)
    summ = backtest_table(backtest)
    c = summ.loc[champion]
    n_orig = backtest.metrics["origin"].nunique()
    out = []
    names = {"health": "the health score", "logistic_90d": "the 90-day logistic baseline"}
    base = [f"{name} {summ.loc[m, 'harrell_c']:.3f}" for m, name in names.items()
            if m in summ.index]
    line = (f"Out of time ({n_orig} monthly origins), the champion ({champion}) orders "
            f"accounts by 90-day churn risk with a concordance of {c['harrell_c']:.3f} "
            f"(Harrell; Uno {c['uno_c']:.3f})")
    if base:
        line += f", against {' and '.join(base)}"
    if oracle is not None and len(oracle):
        line += (f"; an oracle that knows each account's true hazard reaches "
                 f"{oracle['harrell_c'].mean():.3f} on the same accounts")
    out.append(line + ".")
    out.append(f"The champion ranks {c['churned_arr_top10']:.0%} of the next quarter's "
               f"churned ARR into its top 10% of accounts (top-decile lift "
               f"{c['top_decile_lift']:.1f}x).")
    cal = backtest.metrics[backtest.metrics["model"] == champion]
    if "mean_p90" in cal:
        pred, obs = cal["mean_p90"].mean(), cal["observed_90d"].mean()
        miss = (f"per decile they miss by {100 * c['calibration_error_90d']:.1f} "
                "percentage points")
        se = np.nan         # a calibrated decile's binomial standard error
        if "model" in backtest.scores and (backtest.scores["model"] == champion).sum() >= 10:
            table = pooled_calibration(backtest, champion)
            se = float(np.average(table["se"], weights=table["n"]))
        if np.isfinite(se) and c["calibration_error_90d"] > 2 * se:
            way = "under" if pred < obs else "over"
            out.append(f"Its 90-day probabilities {way}-predict: {pred:.1%} on average when "
                       f"{obs:.1%} churned; {miss}, more than binomial noise (a decile's "
                       f"standard error is {100 * se:.1f} points). Read them as a ranking "
                       f"first and their level as approximate.")
        else:
            noise = (f" (a decile's binomial standard error is {100 * se:.1f} points)"
                     if np.isfinite(se) else "")
            out.append(f"Its 90-day probabilities are calibrated: {pred:.1%} predicted on "
                       f"average and {obs:.1%} churned; {miss}{noise}.")
    return out + _present_lines(tier_curves, km, scores, tiers, max_days)


def _present_lines(tier_curves, km, scores, tiers, max_days) -> list[str]:
    """The findings that need no backtest: the tiers' curves and today's exposure."""
    out = []
    if tier_curves is not None and len(tier_curves):
        tc = tier_curves.set_index("group")
        parts = [f"the {t} tier ({int(tc.loc[t, 'accounts']):,} accounts) "
                 f"{_days(tc.loc[t, 'median_days'], max_days)}"
                 for t in ("red", "yellow", "green") if t in tc.index]
        if "red" in tc.index:
            out.append(f"Accounts in the red tier have a median time to churn of "
                       f"{_days(tc.loc['red', 'median_days'], max_days)} and a "
                       f"{tc.loc['red', 'p_churn_90d']:.1%} chance of churning within 90 "
                       f"days (model; median by tier: {'; '.join(parts)}).")
    if km is not None and len(km):
        by = km.columns[0]
        k180 = km[km["days"] == 180].set_index(by)
        parts = [f"{t} {1 - k180.loc[t, 'survival']:.0%} (95% CI "
                 f"{1 - k180.loc[t, 'hi']:.0%}-{1 - k180.loc[t, 'lo']:.0%})"
                 for t in ("red", "yellow", "green") if t in k180.index]
        if parts:
            out.append(f"Observed: of the accounts in each risk tier at the earlier "
                       f"landmark, the share churned within 180 days was "
                       f"{', '.join(parts)} (log-rank p = {km.attrs['logrank_p']:.2g}).")
    if scores is not None and len(scores):
        lost = scores["expected_arr_lost_90d"].sum()
        line = (f"Across the {len(scores):,} active accounts, the expected ARR lost within "
                f"90 days is ${lost:,.0f} ({lost / scores[S.ARR].sum():.1%} of ARR)")
        if tiers is not None:
            red = scores.loc[np.asarray(tiers) == "red", "expected_arr_lost_90d"].sum()
            line += f"; {red / lost:.0%} of it sits in the red tier" if lost > 0 else ""
        out.append(line + ".")
    return out
