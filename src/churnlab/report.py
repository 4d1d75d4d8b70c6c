"""The monthly risk report: what it computes, how it is rendered, where it lands.

What a month means
------------------
The report for month ``YYYY-MM`` is written after that month closes: it uses the data
up to the month's last day, so its **as-of date** is the first day of the next month
(the report for 2026-10 is as of 2026-11-01) and its forecasts look forward from there.
"Last month" is the same computation one month earlier (as of 2026-10-01): the tier
movements compare the two dates, and *last month's forecast vs what happened* compares
the probability, made at 2026-10-01, that each active account would leave during
October with whether it did leave (no active subscription on 2026-11-01).

The forecast on record is the previous report's ``accounts.parquet`` when that report
exists in the output folder. Otherwise it is re-created honestly: the current model
scores the 2026-10-01 snapshot. The model cannot have learnt October's outcomes,
because a churn is only confirmed (and so only used as a training label) 30 days
(the grace period) after the subscription ends, and the model was trained at or before
2026-11-01; a model trained after the report's as-of date is refused.

Rendering
---------
``notebooks/monthly_risk_report.ipynb`` (paired with its jupytext script) is executed
by papermill with a ``parameters`` cell of literals (:data:`PARAMETERS`); the notebook
is thin and calls :func:`compute_month` and the presentation functions below. The
executed notebook is converted to a self-contained HTML page by :func:`notebook_html`:
no code, no parameters cell, no stream output (progress, warnings), images embedded as
base64, inline CSS with a print layout, and no script or stylesheet fetched from
anywhere. A failed cell fails the command and nothing is written.

Output folder (written atomically: built in a temporary folder beside it, then moved)::

    reports/YYYY-MM/
        report.html       for leadership
        report.ipynb      the executed notebook, for analysts
        accounts.parquet / accounts.csv / accounts.json   one row per active account
        tasks.csv         CRM-importable tasks
        packs/            one HTML + CSV + JSON per CSM
        summary.json      the headline figures
        manifest.json     parameters, data fingerprint, model card, versions, git, files
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from churnlab import features as F
from churnlab import lifecycle
from churnlab import schema as S
from churnlab.storage import atomic_dir, write_frame, write_json

TEMPLATE = Path(__file__).resolve().parents[2] / "notebooks" / "monthly_risk_report.py"
# The template's parameters and their meaning (papermill's inspection must return these).
PARAMETERS = {
    "month": "report month YYYY-MM (as of the first day of the next month)",
    "data_dir": "input data: folder of Parquet/CSV tables, or a DuckDB file",
    "model_path": "trained model folder, or a model dir holding champion.json",
    "out_dir": "folder the report's data files and CSM packs are written to",
    "previous_dir": "last month's report folder ('' when none): its forecast is on record",
    "horizon_days": "forecast horizon for ARR at risk: 30, 90 or 180",
    "segment": "only this segment ('' = all)",
    "top_n": "rows in the top at-risk accounts table",
}
HORIZONS = (30, 90, 180)
MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
TIERS = ("green", "yellow", "red")
HEALTH_BOOTSTRAP = 30
NPS_DETRACTOR_MAX = 6
NPS_PROMOTER_MIN = 9
PLAN_LIMIT_NEAR = 85.0
# explanation families that describe the contract calendar, not the customer's behaviour
CONTRACT_FAMILIES = ("contract",)  # churnlab.explain.CONTRACT


class ReportInputError(ValueError):
    """A month, folder or model the report cannot be made from (says which and why)."""


# ------------------------------------------------------------------ months
def parse_month(text: str) -> pd.Period:
    """``YYYY-MM`` -> a monthly Period; anything else is a :class:`ReportInputError`."""
    m = MONTH_RE.match(str(text).strip())
    if not m:
        raise ReportInputError(f"month {text!r} is not in YYYY-MM form (e.g. 2026-10)")
    return pd.Period(f"{m.group(1)}-{m.group(2)}", freq="M")


def month_dates(month) -> tuple[pd.Timestamp, pd.Timestamp]:
    """(as-of date of last month's report, as-of date of this month's report): the
    first day of the month and the first day of the next month."""
    month = parse_month(month) if isinstance(month, str) else month
    return month.start_time.normalize(), (month + 1).start_time.normalize()


def data_range(wh) -> tuple[pd.Timestamp, pd.Timestamp]:
    """(first subscription start, observation end = the day after the data ends)."""
    first = wh.con.execute(f"SELECT min({S.START_DATE}) FROM {S.SUBSCRIPTIONS}").fetchone()[0]
    if first is None:
        raise ReportInputError("table subscriptions is empty: there is nothing to report on")
    return pd.Timestamp(first), lifecycle.observation_end(wh)


def check_month(wh, month) -> None:
    """Refuse a month the data cannot support, naming the month and the data's range.

    The month must be complete in the data (its as-of date, the first day of the next
    month, at or before the observation end), and the month before it must already
    have active accounts (the report compares the two)."""
    month = parse_month(month) if isinstance(month, str) else month
    prev, as_of = month_dates(month)
    first, end = data_range(wh)
    span = f"the data covers {first.date()} to {(end - pd.Timedelta(days=1)).date()}"
    if as_of > end:
        last = end.to_period("M") - 1
        raise ReportInputError(f"month {month} is beyond the data: {span}, so the latest "
                               f"complete month is {last}")
    if prev <= first:
        raise ReportInputError(f"month {month} has no data before it: {span}; the first "
                               f"month that can be reported is {first.to_period('M') + 1}")
    n = wh.con.execute(f"SELECT count(*) FROM ({lifecycle.active_accounts_sql(prev)})").fetchone()[0]
    if n == 0:
        raise ReportInputError(f"month {month}: no account was active on {prev.date()} ({span})")


def latest_complete_month(wh) -> pd.Period:
    """The last month whose every day is in the data."""
    _, end = data_range(wh)
    return end.to_period("M") - 1


# ------------------------------------------------------------------ the computation
@dataclass
class MonthlyRisk:
    """Everything the monthly report shows, computed from the data and the model."""

    month: pd.Period
    as_of: pd.Timestamp
    prev_as_of: pd.Timestamp
    horizon_days: int
    segment: str
    accounts: pd.DataFrame          # one row per active account: scores, tier, triage
    tasks: pd.DataFrame
    importance: pd.DataFrame        # signal families: learned share vs default
    tiers: pd.DataFrame             # tier, accounts, arr, share, expected loss
    movements: pd.DataFrame         # previous tier x current tier (accounts)
    forecast: dict                  # last month's forecast vs what happened
    forecast_bins: pd.DataFrame
    previous: dict                  # last month's headline figures
    interventions: pd.DataFrame     # playbooks started in the last 12 months by outcome
    detractors: pd.DataFrame
    expansion: pd.DataFrame
    model_card: dict
    health_weights: pd.DataFrame
    notes: list = field(default_factory=list)
    tier_cuts: dict = field(default_factory=dict)   # health score: green / yellow lower bounds

    @property
    def p_col(self) -> str:
        return f"p_churn_{self.horizon_days}d"

    @property
    def lost_col(self) -> str:
        return f"expected_arr_lost_{self.horizon_days}d"


def _read_interventions(wh, as_of) -> pd.DataFrame | None:
    if S.INTERVENTIONS not in wh.tables:
        return None
    df = wh.query(f"SELECT * FROM {S.INTERVENTIONS} WHERE {S.STARTED_AT} < DATE "
                  f"'{as_of.date().isoformat()}'")
    return df


def _month_probability(model, snapshot: pd.DataFrame, days: int) -> np.ndarray:
    if snapshot.empty:
        return np.zeros(0)
    return 1 - model.predict_survival(snapshot.reset_index(drop=True), [float(days)])[:, 0]


def _previous_forecast(previous_dir, prev_snap, model, days) -> tuple[pd.DataFrame, str]:
    """Last month's P(leave during this month) per account: on record or re-created."""
    path = Path(previous_dir) / "accounts.parquet" if previous_dir else None
    if path is not None and path.is_file():
        prev = pd.read_parquet(path, columns=[S.ACCOUNT_ID, S.ARR, "p_churn_next_month",
                                              "expected_arr_lost_90d"])
        return prev.rename(columns={"p_churn_next_month": "p"}), "on record"
    out = pd.DataFrame({S.ACCOUNT_ID: prev_snap[S.ACCOUNT_ID].to_numpy(),
                        S.ARR: prev_snap[S.ARR].to_numpy(float),
                        "p": _month_probability(model, prev_snap, days)})
    out["expected_arr_lost_90d"] = np.nan
    return out, "re-created"


def forecast_check(forecast: pd.DataFrame, active_now: set, n_bins: int = 5
                   ) -> tuple[dict, pd.DataFrame]:
    """Compare last month's P(leave during the month) with who left.

    Returns headline figures (expected vs observed count with a 95% Poisson-binomial
    interval of the expected count, ARR expected vs lost, AUC on realised churn) and a
    calibration table by quantile of the forecast."""
    from sklearn.metrics import roc_auc_score

    p = forecast["p"].to_numpy(float)
    left = ~forecast[S.ACCOUNT_ID].isin(active_now).to_numpy()
    arr = forecast[S.ARR].to_numpy(float)
    sd = float(np.sqrt((p * (1 - p)).sum()))
    out = {"accounts": int(len(p)), "expected_churns": float(p.sum()),
           "observed_churns": int(left.sum()),
           "expected_lo": float(max(p.sum() - 1.96 * sd, 0)),
           "expected_hi": float(p.sum() + 1.96 * sd),
           "expected_arr_lost": float((p * arr).sum()), "arr_lost": float(arr[left].sum()),
           "auc": float(roc_auc_score(left, p)) if 0 < left.sum() < len(left) else np.nan}
    out["within_interval"] = bool(out["expected_lo"] <= out["observed_churns"] <= out["expected_hi"])
    k = max(min(n_bins, int(left.sum()) or 1), 1)
    bins = pd.qcut(pd.Series(p).rank(method="first"), k, labels=False) if len(p) >= k else \
        pd.Series(np.zeros(len(p), int))
    df = pd.DataFrame({"bin": bins.to_numpy(), "p": p, "y": left.astype(float)})
    tab = df.groupby("bin").agg(predicted=("p", "mean"), observed=("y", "mean"),
                                n=("y", "size")).reset_index()
    tab["se"] = np.sqrt(tab["predicted"] * (1 - tab["predicted"]) / tab["n"])
    return out, tab


def tier_table(accounts: pd.DataFrame, lost_col: str) -> pd.DataFrame:
    """Accounts, ARR and expected ARR lost per health tier (always all three tiers)."""
    g = accounts.groupby("tier")
    tab = pd.DataFrame({"accounts": g.size(), "arr": g[S.ARR].sum(),
                        "expected_arr_lost": g[lost_col].sum()}).reindex(list(TIERS)).fillna(0)
    tab["accounts"] = tab["accounts"].astype(int)
    tab["share_accounts"] = tab["accounts"] / max(tab["accounts"].sum(), 1)
    tab["share_arr"] = tab["arr"] / tab["arr"].sum() if tab["arr"].sum() > 0 else 0.0
    return tab.rename_axis("tier").reset_index()


def movement_matrix(prev_tiers: pd.DataFrame, now_tiers: pd.DataFrame) -> pd.DataFrame:
    """Accounts by last month's tier (rows, plus 'new') and this month's (columns, plus
    'left': no longer active)."""
    m = prev_tiers[[S.ACCOUNT_ID, "tier"]].merge(now_tiers[[S.ACCOUNT_ID, "tier"]],
                                                 on=S.ACCOUNT_ID, how="outer",
                                                 suffixes=("_prev", "_now"))
    m["tier_prev"] = m["tier_prev"].fillna("new")
    m["tier_now"] = m["tier_now"].fillna("left")
    tab = pd.crosstab(m["tier_prev"], m["tier_now"])
    return tab.reindex(index=list(TIERS) + ["new"], columns=list(TIERS) + ["left"],
                       fill_value=0).rename_axis(index="last month", columns="this month")


def _tiers(scored: pd.DataFrame) -> pd.DataFrame:
    """The report's tier is the data-suggested one (see the method note); the articles'
    tier is kept beside it."""
    out = scored.rename(columns={"tier": "tier_articles"})
    out["tier"] = out["tier_data"]
    return out


def _fit_health(wh, as_of, progress: bool):
    from churnlab.health import fit_health_score

    return fit_health_score(wh, as_of, step_months=2, n_bootstrap=HEALTH_BOOTSTRAP,
                            random_state=0)


def compute_month(wh, month, model, horizon_days: int = 90, segment: str = "",
                  top_n: int = 15, previous_dir=None, progress: bool = False) -> MonthlyRisk:
    """Score, explain and triage every account active at the month's as-of date, and
    compare with last month (see the module doc for what a month means)."""
    from churnlab import explain, triage
    from churnlab.survival import score_accounts

    month = parse_month(month) if isinstance(month, str) else month
    if int(horizon_days) not in HORIZONS:
        raise ReportInputError(f"horizon_days must be one of {HORIZONS}, not {horizon_days}")
    check_month(wh, month)
    prev_as_of, as_of = month_dates(month)
    trained = pd.Timestamp(model.card.get("as_of", as_of))
    if trained > as_of:
        raise ReportInputError(
            f"model {model.card.get('model_id')} was trained at {trained.date()}, after this "
            f"report's as-of date {as_of.date()}: it has seen the outcomes the report judges; "
            f"use a model trained at or before {as_of.date()}")
    notes = []
    snap = F.make_snapshot(wh, as_of)
    prev_snap = F.make_snapshot(wh, prev_as_of)
    if segment:
        known = sorted(snap[S.SEGMENT].dropna().unique())
        if segment not in known:
            raise ReportInputError(f"segment {segment!r} is not in accounts.segment "
                                   f"(values: {', '.join(known)})")
        snap = snap[snap[S.SEGMENT] == segment].reset_index(drop=True)
        prev_snap = prev_snap[prev_snap[S.SEGMENT] == segment].reset_index(drop=True)
    if snap.empty:
        raise ReportInputError(f"month {month}: no active account on {as_of.date()}"
                               + (f" in segment {segment}" if segment else ""))
    scores = score_accounts(model, snap, as_of)
    days_next = int(((month + 2).start_time - (month + 1).start_time).days)
    scores["p_churn_next_month"] = _month_probability(model, snap, days_next)
    health = _fit_health(wh, as_of, progress)
    h_now, h_prev = _tiers(health.score(snap)), _tiers(health.score(prev_snap))
    cuts = health.thresholds_["learned"]
    articles = h_now["tier_articles"].value_counts()
    notes.append(f"health tiers use the cuts the data suggests for the learned score (green "
                 f"{cuts['green']:.1f}+, yellow {cuts['yellow']:.1f}+, red below): the articles' "
                 f"cuts (80/60) would put {articles.get('green', 0):,} accounts in green, "
                 f"{articles.get('yellow', 0):,} in yellow and {articles.get('red', 0):,} in red")
    expl = explain.explain_accounts(model, snap, wh.signal_map, top_n=3)
    phi, _ = explain.shap_values(model, snap.reset_index(drop=True))
    importance = explain.global_importance(model, snap, wh.signal_map, phi=phi)
    interventions = _read_interventions(wh, as_of)
    names = wh.query(f"SELECT {S.ACCOUNT_ID}, {S.NAME} FROM {S.ACCOUNTS}")
    tri = triage.triage_accounts(scores, expl, snap, health=h_now, interventions=interventions,
                                 accounts=names, signal_map=wh.signal_map, phi=phi)
    extra = [c for c in scores.columns if c not in tri.columns]
    accounts = tri.merge(scores[[S.ACCOUNT_ID] + extra], on=S.ACCOUNT_ID, how="left")
    prev_tier = h_prev.set_index(S.ACCOUNT_ID)["tier"]
    accounts["tier_last_month"] = accounts[S.ACCOUNT_ID].map(prev_tier).fillna("new")
    for col in ("nps_response__last", "plan_limit_usage__last"):
        if col in snap.columns:
            accounts[col] = accounts[S.ACCOUNT_ID].map(snap.set_index(S.ACCOUNT_ID)[col])
    tasks = triage.make_tasks(tri, as_of)

    forecast, source = _previous_forecast(previous_dir, prev_snap, model,
                                          (as_of - prev_as_of).days)
    if segment and source == "on record":
        forecast = forecast[forecast[S.ACCOUNT_ID].isin(set(prev_snap[S.ACCOUNT_ID]))]
    fc, fc_bins = forecast_check(forecast, set(snap[S.ACCOUNT_ID]))
    fc["source"] = source
    prev_scores = score_accounts(model, prev_snap, prev_as_of) if not prev_snap.empty else None
    previous = {"accounts": int(len(prev_snap)), "arr": float(prev_snap[S.ARR].sum()),
                "expected_arr_lost": float(prev_scores[f"expected_arr_lost_{horizon_days}d"].sum())
                if prev_scores is not None else np.nan,
                "red": int((h_prev["tier"] == "red").sum())}

    lookback = as_of - pd.DateOffset(months=12)
    if interventions is not None and len(interventions):
        iv = interventions[pd.to_datetime(interventions[S.STARTED_AT]) >= lookback].copy()
        iv[S.OUTCOME] = iv.get(S.OUTCOME, pd.Series("pending", index=iv.index)).fillna("pending")
        ivt = pd.crosstab(iv[S.PLAYBOOK], iv[S.OUTCOME]).reindex(
            columns=list(S.INTERVENTION_OUTCOMES), fill_value=0)
        done = ivt["saved"] + ivt["churned"]
        ivt["save_rate"] = np.where(done > 0, ivt["saved"] / done.replace(0, 1), np.nan)
        ivt["in_flight"] = ivt["pending"]
        interventions_tab = ivt.sort_values("in_flight", ascending=False).reset_index()
    else:
        interventions_tab = pd.DataFrame(columns=[S.PLAYBOOK, *S.INTERVENTION_OUTCOMES,
                                                  "save_rate", "in_flight"])
        notes.append("no interventions table in the data: playbook outcomes are not shown")

    open_tasks = tasks.groupby(S.ACCOUNT_ID).size() if len(tasks) else pd.Series(dtype=int)
    nps = accounts.get("nps_response__last", pd.Series(np.nan, index=accounts.index))
    det = accounts[nps <= NPS_DETRACTOR_MAX].copy()
    det["open_tasks"] = det[S.ACCOUNT_ID].map(open_tasks).fillna(0).astype(int)
    detractors = det.sort_values(["nps_response__last", S.ARR], ascending=[True, False])
    limit = accounts.get("plan_limit_usage__last", pd.Series(np.nan, index=accounts.index))
    exp = accounts[(accounts["tier"] == "green") &
                   ((nps >= NPS_PROMOTER_MIN) | (limit >= PLAN_LIMIT_NEAR))].copy()
    exp["reason"] = np.where(limit.loc[exp.index] >= PLAN_LIMIT_NEAR,
                             "near its plan limit", "NPS promoter")
    both = (limit.loc[exp.index] >= PLAN_LIMIT_NEAR) & (nps.loc[exp.index] >= NPS_PROMOTER_MIN)
    exp.loc[both, "reason"] = "near its plan limit and an NPS promoter"
    expansion = exp.sort_values(S.ARR, ascending=False)

    return MonthlyRisk(month=month, as_of=as_of, prev_as_of=prev_as_of,
                       horizon_days=int(horizon_days), segment=segment or "",
                       accounts=accounts.sort_values("priority").reset_index(drop=True),
                       tasks=tasks, importance=importance,
                       tiers=tier_table(accounts, f"expected_arr_lost_{horizon_days}d"),
                       movements=movement_matrix(h_prev, h_now), forecast=fc,
                       forecast_bins=fc_bins, previous=previous,
                       interventions=interventions_tab, detractors=detractors,
                       expansion=expansion, model_card=dict(model.card),
                       health_weights=health.weights_table(), notes=notes,
                       tier_cuts={k: float(cuts[k]) for k in ("green", "yellow")})


# ------------------------------------------------------------------ words and figures
def _money(x: float) -> str:
    x = float(x)
    if abs(x) >= 1e6:
        return f"${x / 1e6:,.2f}M"
    if abs(x) >= 1e4:
        return f"${x / 1e3:,.0f}k"
    return f"${x:,.0f}"


def headline(r: MonthlyRisk) -> dict:
    """The key figures, as numbers (written to summary.json; tests read them)."""
    a = r.accounts
    return {"month": str(r.month), "as_of": str(r.as_of.date()), "segment": r.segment,
            "accounts": int(len(a)), "arr": float(a[S.ARR].sum()),
            "horizon_days": r.horizon_days,
            "expected_arr_lost_horizon": float(a[r.lost_col].sum()),
            "expected_arr_lost_before_renewal": float(a["expected_arr_lost_before_renewal"].sum()),
            "expected_arr_saved": float(a["expected_arr_saved"].sum()),
            "tiers": {t: int(n) for t, n in zip(r.tiers["tier"], r.tiers["accounts"])},
            "tier_arr": {t: float(v) for t, v in zip(r.tiers["tier"], r.tiers["arr"])},
            "previous": r.previous, "forecast": r.forecast,
            "model_id": r.model_card.get("model_id"), "tasks": int(len(r.tasks))}


def executive_summary(r: MonthlyRisk) -> str:
    """A few sentences for leadership, from the numbers (markdown)."""
    h = headline(r)
    a = r.accounts
    scope = f" in the {r.segment} segment" if r.segment else ""
    lines = [f"**{h['accounts']:,} active accounts{scope} with {_money(h['arr'])} ARR** "
             f"on {r.as_of.date()}."]
    lost, prev = h["expected_arr_lost_horizon"], r.previous.get("expected_arr_lost")
    change = ""
    if prev and np.isfinite(prev) and prev > 0:
        d = lost / prev - 1
        change = (f", {'up' if d > 0 else 'down'} {abs(d):.0%} from {_money(prev)} a month "
                  f"earlier")
    lines.append(f"Expected ARR lost in the next {r.horizon_days} days: **{_money(lost)}** "
                 f"({lost / max(h['arr'], 1):.1%} of ARR{change}); before each account's next "
                 f"renewal: **{_money(h['expected_arr_lost_before_renewal'])}**.")
    red = r.tiers.set_index("tier")
    lines.append(f"{int(red.loc['red', 'accounts']):,} accounts are red "
                 f"({_money(red.loc['red', 'arr'])} ARR; {r.previous.get('red', 0):,} a month "
                 f"earlier) and {int(red.loc['yellow', 'accounts']):,} yellow.")
    imp = r.importance
    contract = imp.loc[imp["family"].isin(CONTRACT_FAMILIES), "learned_share"].sum()
    top = imp[~imp["family"].isin(CONTRACT_FAMILIES)].head(2)
    if len(top):
        fams = " and ".join(f"{f} ({s:.0%})" for f, s in zip(top["family"], top["learned_share"]))
        timing = (f"; renewal timing and contract terms account for {contract:.0%}"
                  if contract > 0 else "")
        lines.append(f"The main behavioural reasons: {fams} of the model's explained risk "
                     f"this month{timing}.")
    at_risk = a.loc[a["p_churn_before_renewal"] >= 0.2, "root_cause"]
    rc = at_risk[at_risk != "unclear"].value_counts()
    if len(rc):
        second = (f", then {_words(rc.index[1])} ({rc.iloc[1]:,})" if len(rc) > 1 else "")
        lines.append(f"Among the {len(at_risk):,} accounts with at least a 20% chance of leaving "
                     f"before renewal, the most common root cause is {_words(rc.index[0])} "
                     f"({rc.iloc[0]:,} accounts){second}.")
    fc = r.forecast
    verdict = ("within" if fc["within_interval"] else "outside")
    lines.append(f"Last month's forecast ({fc['source']}) expected {fc['expected_churns']:.1f} "
                 f"accounts to leave; {fc['observed_churns']} did, {verdict} its 95% range "
                 f"({fc['expected_lo']:.0f}-{fc['expected_hi']:.0f}).")
    lines.append(f"Working the priority queue is worth an expected "
                 f"**{_money(h['expected_arr_saved'])}** of ARR saved; {h['tasks']:,} tasks are "
                 f"open for the CSMs.")
    return "\n\n".join(lines)


def title(r: MonthlyRisk) -> str:
    scope = f" · {r.segment}" if r.segment else ""
    return (f"# Churn risk · {r.month}{scope}\n\nData to "
            f"{(r.as_of - pd.Timedelta(days=1)).date()}; forecasts from {r.as_of.date()}; "
            f"model `{r.model_card.get('model_id')}`.")


def tier_summary_table(r: MonthlyRisk) -> pd.DataFrame:
    t = r.tiers
    return pd.DataFrame({"tier": t["tier"], "accounts": t["accounts"].map("{:,}".format),
                         "share of accounts": t["share_accounts"].map("{:.0%}".format),
                         "ARR": t["arr"].map(_money),
                         "share of ARR": t["share_arr"].map("{:.0%}".format),
                         f"expected ARR lost ({r.horizon_days}d)":
                             t["expected_arr_lost"].map(_money)})


def families_words(r: MonthlyRisk) -> str:
    """Which families carry more (or less) of the risk than the articles' weights say."""
    imp = r.importance.dropna(subset=["default_share"])
    lines = []
    for _, row in r.importance.head(3).iterrows():
        d = row["default_share"]
        ref = (f"among the five families the articles weigh, {row['learned_share_core']:.0%} "
               f"against their {d:.0%}" if np.isfinite(d) else
               "the articles give it no weight of its own")
        lines.append(f"- **{row['family']}**: {row['learned_share']:.0%} of the model's "
                     f"explained risk ({ref}).")
    gap = (imp["learned_share_core"] - imp["default_share"])
    if len(imp) and gap.max() > 0:
        high = imp.loc[gap.idxmax()]
        lines.append(f"- Among the five core families, **{high['family']}** weighs most above "
                     f"its default weight: {high['learned_share_core']:.0%} vs "
                     f"{high['default_share']:.0%}.")
    if len(imp) and gap.min() < 0:
        low = imp.loc[gap.idxmin()]
        lines.append(f"- **{low['family']}** weighs most below its default weight: "
                     f"{low['learned_share_core']:.0%} vs {low['default_share']:.0%}.")
    return ("Share of mean |SHAP| (the model's risk scale) by signal family this month:\n\n"
            + "\n".join(lines))


def playbook_table(r: MonthlyRisk) -> pd.DataFrame:
    """Recommended playbooks this month (accounts, ARR at stake) beside the playbooks
    started in the last 12 months and their outcomes."""
    a = r.accounts[r.accounts["p_churn_before_renewal"] >= 0.2].copy()
    a["playbook"] = a["playbook"].astype(str).str.split(";").str[0].str.strip()
    rec = a.groupby("playbook").agg(recommended=(S.ACCOUNT_ID, "size"),
                                    arr=(S.ARR, "sum"))
    iv = r.interventions.set_index(S.PLAYBOOK) if len(r.interventions) else pd.DataFrame()
    out = rec.join(iv, how="outer") if len(iv) else rec
    out = out.fillna({"recommended": 0, "arr": 0}).sort_values("recommended", ascending=False)
    res = pd.DataFrame({"playbook": pd.Index(out.index).map(_words),
                        "lead playbook now (P before renewal >= 20%)":
                            out["recommended"].astype(int).map("{:,}".format),
                        "ARR of those accounts": out["arr"].map(_money)})
    if "in_flight" in out:
        res["in flight"] = out["in_flight"].fillna(0).astype(int).to_numpy()
        res["saved / churned (12 months)"] = [
            f"{int(s)} / {int(c)}" if np.isfinite(s) else "-"
            for s, c in zip(out["saved"].fillna(np.nan), out["churned"].fillna(np.nan))]
        res["save rate"] = out["save_rate"].map(
            lambda v: f"{v:.0%}" if np.isfinite(v) else "-").to_numpy()
    return res.reset_index(drop=True)


def detractor_table(r: MonthlyRisk, n: int = 15) -> pd.DataFrame:
    d = r.detractors.head(n)
    if d.empty:
        return pd.DataFrame({"note": ["no NPS detractor (score 0-6) among active accounts"]})
    return pd.DataFrame({"account": d[S.NAME], "owner": d[S.CSM_OWNER],
                         "NPS": d["nps_response__last"].map("{:.0f}".format),
                         "ARR": d[S.ARR].map(_money), "tier": d["tier"],
                         "open tasks": d["open_tasks"],
                         "playbook": d["playbook"].map(_words)}).reset_index(drop=True)


def expansion_table(r: MonthlyRisk, n: int = 15) -> pd.DataFrame:
    e = r.expansion.head(n)
    if e.empty:
        return pd.DataFrame({"note": ["no green account is near its plan limit or a promoter"]})
    limit = e.get("plan_limit_usage__last", pd.Series(np.nan, index=e.index))
    return pd.DataFrame({"account": e[S.NAME], "owner": e[S.CSM_OWNER],
                         "ARR": e[S.ARR].map(_money), "why": e["reason"],
                         "plan limit used": limit.map(
                             lambda v: f"{v:.0f}%" if np.isfinite(v) else "-"),
                         "tier": e["tier"]}).reset_index(drop=True)


def method_note(r: MonthlyRisk) -> str:
    c = r.model_card
    summ = {row["model"]: row for row in c.get("backtest_summary", [])}
    champ = summ.get(c.get("kind"), {})
    conc = (f" In its rolling-origin backtest it ranked accounts with a concordance of "
            f"{champ['uno_c']:.2f} and a 90-day calibration error of "
            f"{champ['calibration_error_90d']:.1%}." if champ else "")
    notes = "".join(f" {n[0].upper()}{n[1:]}." for n in r.notes)
    return (f"*How to read this report.* Probabilities come from the time-to-churn model "
            f"`{c.get('model_id')}` ({c.get('kind')}), trained on data to {c.get('as_of')}."
            f"{conc} Health tiers come from a health score whose family weights were learned "
            f"from last year's churners. "
            f"Expected ARR lost = probability x ARR; expected ARR saved = P(churn before "
            f"renewal) x save probability x ARR.{notes}")


def _words(code) -> str:
    """'executive_engagement; pricing_concession' -> 'executive engagement; pricing
    concession' (codes stay codes in the CSV/JSON files)."""
    return "" if code is None or (isinstance(code, float) and np.isnan(code)) else \
        str(code).replace("_", " ")


def top_accounts(r: MonthlyRisk, n: int | None = None) -> pd.DataFrame:
    """The top at-risk accounts by expected ARR lost, as a display table."""
    a = r.accounts.sort_values(r.lost_col, ascending=False).head(n or 15)
    out = pd.DataFrame({
        "account": a[S.NAME], "owner": a[S.CSM_OWNER], "ARR": a[S.ARR].map(_money),
        "renewal": pd.to_datetime(a["next_renewal"]).dt.date.astype(str),
        "tier": a["tier"], f"P(churn {r.horizon_days}d)": a[r.p_col].map("{:.0%}".format),
        "P(before renewal)": a["p_churn_before_renewal"].map("{:.0%}".format),
        "expected ARR lost": a[r.lost_col].map(_money),
        "top reasons": a["drivers"].map(lambda d: "; ".join(list(d)[:2]) if d is not None else ""),
        "root cause": a["root_cause"].map(_words), "playbook": a["playbook"].map(_words),
        "save probability": a["save_probability"].map("{:.0%}".format)})
    return out.reset_index(drop=True)


def table_html(df: pd.DataFrame, tier_col: str | None = "tier") -> str:
    """An escaped HTML table; tier cells show a badge in their tier colour; short
    columns do not wrap, long text wraps (sentences get a readable width)."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    kind = {}
    for c in df.columns:
        length = df[c].astype(str).str.len().mean() if len(df) else 0
        kind[c] = ' class="prose"' if length > 60 else ' class="text"' if length > 16 else ""
    rows = []
    for _, row in df.iterrows():
        cells = []
        for c, v in row.items():
            text = html.escape("" if v is None else str(v))
            if c == tier_col:
                cells.append(f'<td><span class="tier tier-{text}">{text}</span></td>')
            else:
                cells.append(f"<td{kind[c]}>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<div class="table-wrap"><table class="report-table"><thead><tr>{head}</tr>'
            f'</thead><tbody>{"".join(rows)}</tbody></table></div>')


def plot_tiers(r: MonthlyRisk):
    """Accounts and ARR per health tier, in the tier colours."""
    from churnlab.plots import PALETTE, _clean, _figure

    fig = _figure(9, 3.2)
    axes = fig.subplots(1, 2)
    t = r.tiers
    colours = [PALETTE[x] for x in t["tier"]]
    for ax, col, title, fmt in ((axes[0], "accounts", "accounts", "{:,.0f}"),
                                (axes[1], "arr", "ARR", None)):
        vals = t[col].to_numpy(float)
        ax.barh(t["tier"], vals, color=colours)
        for y, v in enumerate(vals):
            ax.text(v, y, " " + (fmt.format(v) if fmt else _money(v)), va="center",
                    fontsize="small")
        ax.invert_yaxis()
        ax.set_title(f"{title} by health tier")
        ax.set_xlim(0, max(vals.max(), 1) * 1.25)
        ax.set_xticks([])
        _clean(ax)
    return fig


def plot_movements(r: MonthlyRisk):
    """Tier movements since last month as a heat-map matrix with counts."""
    from churnlab.plots import _figure

    m = r.movements
    fig = _figure(6, 3.6)
    ax = fig.add_subplot()
    ax.imshow(np.log1p(m.to_numpy(float)), cmap="Greys", aspect="auto", alpha=0.6)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, f"{m.iat[i, j]:,}", ha="center", va="center", fontsize="small")
    ax.set_xticks(range(m.shape[1]), m.columns)
    ax.set_yticks(range(m.shape[0]), m.index)
    ax.set_xlabel(f"this month ({r.as_of.date()})")
    ax.set_ylabel(f"last month ({r.prev_as_of.date()})")
    ax.set_title("Health-tier movements (accounts)")
    return fig


def plot_families(r: MonthlyRisk):
    """Signal families' share of the model's explained risk vs the articles' weights
    (the five core families compared among themselves; every family and the contract
    calendar as shares of the whole)."""
    from churnlab.explain import plot_family_weights

    return plot_family_weights(r.importance)


def plot_forecast(r: MonthlyRisk):
    """Last month's forecast vs what happened, by forecast quantile (binomial 95% bars)."""
    from churnlab.plots import INK, PALETTE, _clean, _figure

    b = r.forecast_bins
    fig = _figure(5.5, 3.6)
    ax = fig.add_subplot()
    lim = max(b["predicted"].max(), b["observed"].max(), 0.01) * 1.15
    ax.plot([0, lim], [0, lim], color=INK, lw=0.8, ls="--", label="perfect calibration")
    ax.errorbar(b["predicted"], b["observed"], yerr=1.96 * b["se"], fmt="o",
                color=PALETTE["red"], capsize=3, label="observed (95% range if calibrated)")
    ax.set_xlim(0, lim)
    ax.set_ylim(0, lim)
    ax.xaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.set_xlabel("forecast P(leave during the month)")
    ax.set_ylabel("share that left")
    ax.set_title(f"Forecast made {r.prev_as_of.date()} vs outcome")
    ax.legend(frameon=False, fontsize="x-small")
    _clean(ax)
    return fig


def plot_root_causes(r: MonthlyRisk):
    """Expected ARR lost before renewal by root cause."""
    from churnlab.plots import _clean, _figure

    g = r.accounts.groupby("root_cause")["expected_arr_lost_before_renewal"].sum()
    g = g.sort_values()
    fig = _figure(6.5, 2.8)
    ax = fig.add_subplot()
    ax.barh(g.index.astype(str), g.to_numpy(float), color="#546e7a")
    for y, v in enumerate(g.to_numpy(float)):
        ax.text(v, y, " " + _money(v), va="center", fontsize="small")
    ax.set_xlim(0, max(g.max(), 1) * 1.3)
    ax.set_xticks([])
    ax.set_title("Expected ARR lost before renewal, by root cause")
    _clean(ax)
    return fig


def forecast_words(r: MonthlyRisk) -> str:
    fc = r.forecast
    auc = "" if not np.isfinite(fc["auc"]) else (
        f" The forecast ranked leavers above stayers with an AUC of {fc['auc']:.2f} "
        "(0.5 = chance).")
    src = ("the forecast on record in last month's report" if fc["source"] == "on record" else
           "last month's forecast, re-created with this model on last month's data (the model "
           "had not seen these outcomes: churn is confirmed only after the 30-day grace period)")
    return (f"From {src}: {fc['accounts']:,} accounts, {fc['expected_churns']:.1f} expected to "
            f"leave during the month (95% range {fc['expected_lo']:.0f}-{fc['expected_hi']:.0f}), "
            f"**{fc['observed_churns']} did**; ARR expected lost {_money(fc['expected_arr_lost'])}, "
            f"actually lost {_money(fc['arr_lost'])}.{auc} "
            + ("The count is within the range: this month's numbers can be trusted as "
               "probabilities." if fc["within_interval"] else
               "The count is outside the range: read this month's probabilities as a ranking "
               "and watch next month's check."))


# ------------------------------------------------------------------ outputs
def _flat(df: pd.DataFrame) -> pd.DataFrame:
    """Lists as ' | '-joined text (CSV)."""
    out = df.copy()
    for c in out.columns:
        if out[c].map(lambda v: isinstance(v, (list, tuple, np.ndarray))).any():
            out[c] = out[c].map(lambda v: " | ".join(map(str, v))
                                if isinstance(v, (list, tuple, np.ndarray)) else v)
    return out


def write_outputs(r: MonthlyRisk, out_dir) -> dict:
    """The report's data files and CSM packs into ``out_dir`` (the report folder being
    built). Returns the headline figures."""
    from churnlab import packs

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    acc = r.accounts.copy()
    for c in acc.columns:
        if acc[c].map(lambda v: isinstance(v, np.ndarray)).any():
            acc[c] = acc[c].map(lambda v: list(v) if isinstance(v, np.ndarray) else v)
    write_frame(acc, out / "accounts.parquet")
    write_frame(_flat(acc), out / "accounts.csv")
    write_frame(_flat(acc), out / "accounts.json")
    write_frame(r.tasks, out / "tasks.csv")
    previous = pd.DataFrame({S.ACCOUNT_ID: r.accounts[S.ACCOUNT_ID],
                             "tier": r.accounts["tier_last_month"].replace("new", None)})
    note = (f"Health tiers: green {r.tier_cuts['green']:.1f}+, yellow "
            f"{r.tier_cuts['yellow']:.1f}+, red below {r.tier_cuts['yellow']:.1f} (cut-offs "
            f"suggested by last year's churn on this book)") if r.tier_cuts else ""
    packs.write_csm_packs(r.accounts, out / "packs", r.as_of, previous=previous.dropna(),
                          tier_note=note)
    h = headline(r)
    write_json(h, out / "summary.json")
    return h


# ------------------------------------------------------------------ HTML
CSS = """
body{font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;color:#263238;
max-width:1100px;margin:2em auto;padding:0 1em;line-height:1.45}
h1{font-size:1.7em;border-bottom:3px solid #263238;padding-bottom:.2em}
h2{font-size:1.25em;margin-top:1.8em;border-bottom:1px solid #cfd8dc}
img{max-width:100%;height:auto}
table.report-table{border-collapse:collapse;font-size:.82em;width:100%;margin:.6em 0}
.report-table th,.report-table td{border-bottom:1px solid #eceff1;padding:.3em .5em;text-align:left;
vertical-align:top}
.report-table th{background:#eceff1}
.report-table td{white-space:nowrap}.report-table th{vertical-align:bottom}
.report-table td.text{white-space:normal;min-width:7em}
.report-table td.prose{white-space:normal;min-width:15em}
.table-wrap{overflow-x:auto}
.tier{display:inline-block;padding:0 .55em;border-radius:.7em}
.tier-green{color:#fff;background:#2e7d32}.tier-yellow{background:#f9a825}
.tier-red{color:#fff;background:#c62828}
.footer{color:#78909c;font-size:.8em;margin-top:3em}
@media print{body{max-width:none;margin:0;font-size:10pt}h2{page-break-after:avoid}
img,tr{page-break-inside:avoid}a{color:inherit;text-decoration:none}
.table-wrap{overflow:visible}}
"""
HIDDEN_TAGS = {"parameters", "injected-parameters", "remove-cell"}


def notebook_html(nb, title: str, footer: str = "") -> str:
    """Leadership's HTML from an executed notebook: markdown cells and rich outputs
    only (no code, no parameters, no stream output); refuses a notebook with an error."""
    import mistune
    import nbformat

    if isinstance(nb, (str, Path)):
        nb = nbformat.read(str(nb), as_version=4)
    md = mistune.create_markdown(plugins=["table"])
    parts = []
    for cell in nb.cells:
        if HIDDEN_TAGS & set(cell.get("metadata", {}).get("tags", [])):
            continue
        if cell.cell_type == "markdown":
            parts.append(md(cell.source))
            continue
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            kind = out.get("output_type")
            if kind == "error":
                raise ReportInputError(f"the report notebook failed: {out.get('ename')}: "
                                       f"{out.get('evalue')}")
            if kind not in ("display_data", "execute_result"):
                continue           # stdout/stderr: progress and warnings are not content
            data = out.get("data", {})
            if "text/html" in data:
                parts.append(_text(data["text/html"]))
            elif "image/png" in data:
                png = _text(data["image/png"]).replace("\n", "")
                base64.b64decode(png, validate=True)
                parts.append(f'<p><img alt="figure" src="data:image/png;base64,{png}"></p>')
            elif "text/markdown" in data:
                parts.append(md(_text(data["text/markdown"])))
            elif "text/plain" in data:
                parts.append(f"<pre>{html.escape(_text(data['text/plain']))}</pre>")
    body = "\n".join(parts)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head>"
            f'<body>\n{body}\n<div class="footer">{html.escape(footer)}</div></body></html>\n')


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


# ------------------------------------------------------------------ orchestration
def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _git_revision() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def _say(progress: bool, text: str) -> None:
    if progress:
        print(text, file=sys.stderr, flush=True)


def resolve_model(wh, as_of, model_path=None, model_dir=None, progress: bool = False,
                  **train_options) -> Path:
    """The model folder to use: ``model_path`` when given; otherwise the champion in
    ``model_dir`` when it was trained at ``as_of`` on these exact data, else a new one
    trained there (backtest + champion, :func:`churnlab.survival.train_champion`)."""
    from churnlab.survival import CHAMPION_FILE, load_model, train_champion

    if model_path:
        path = Path(model_path)
        load_model(path)            # fails with the path named
        return path
    if model_dir is None:
        raise ReportInputError("give a model (--model) or a model folder to train into")
    model_dir = Path(model_dir)
    if (model_dir / CHAMPION_FILE).is_file():
        card = load_model(model_dir).card
        if card.get("as_of") == str(as_of.date()) and \
                card.get("data_fingerprint") == wh.fingerprint():
            _say(progress, f"      reusing champion {card['model_id']} in {model_dir}")
            return model_dir
    _say(progress, f"      training the champion at {as_of.date()} (backtest of every model)")
    train_champion(wh, as_of, model_dir, progress=progress, **train_options)
    return model_dir


def render_report(month: str, data, out="reports", model=None, model_dir=None,
                  force: bool = False, horizon_days: int = 90, segment: str = "",
                  top_n: int = 15, progress: bool = False, signal_map=None,
                  **train_options) -> Path:
    """Render ``out/YYYY-MM/`` (see the module doc). An existing month is refused unless
    ``force``, which replaces it atomically; any failure leaves nothing behind."""
    from churnlab.notebook import run_notebook
    from churnlab.survival import _versions
    from churnlab.validate import require_valid
    from churnlab.warehouse import open_warehouse

    import logging

    logging.getLogger("papermill").setLevel(logging.WARNING)   # its INFO lines are noise here
    t0 = time.perf_counter()
    period = parse_month(month)
    if int(horizon_days) not in HORIZONS:
        raise ReportInputError(f"horizon must be one of {HORIZONS} days, not {horizon_days}")
    out = Path(out)
    target = out / str(period)
    if target.exists() and any(target.iterdir()) and not force:
        raise FileExistsError(f"{target} already holds the {period} report: pass --force to "
                              "replace it (atomically)")
    data = Path(data).resolve()
    prev_as_of, as_of = month_dates(period)
    _say(progress, f"[1/4] validating {data}")
    with open_warehouse(data, signal_map=signal_map) as wh:
        require_valid(wh)
        check_month(wh, period)
        _say(progress, f"[2/4] model for {period} (as of {as_of.date()})")
        model_path = resolve_model(wh, as_of, model, model_dir, progress, **train_options)
        fingerprint = wh.fingerprint()
    from churnlab.survival import load_model

    card = load_model(model_path).card
    previous = out / str(period - 1)
    params = {"month": str(period), "data_dir": str(data),
              "model_path": str(Path(model_path).resolve()), "out_dir": "",
              "previous_dir": str(previous.resolve()) if (previous / "accounts.parquet").is_file()
              else "", "horizon_days": int(horizon_days), "segment": segment or "",
              "top_n": int(top_n)}
    with atomic_dir(target, overwrite=force) as tmp:
        params["out_dir"] = str(tmp.resolve())
        _say(progress, "[3/4] executing the report notebook (papermill)")
        nb_path = run_notebook(TEMPLATE, tmp / "report.ipynb", params, progress=progress)
        _say(progress, "[4/4] rendering HTML and the manifest")
        title = f"Churn risk report · {period}" + (f" · {segment}" if segment else "")
        footer = (f"churnlab · data {fingerprint[:12]} · model {card.get('model_id')} · "
                  f"as of {as_of.date()}")
        (tmp / "report.html").write_text(notebook_html(nb_path, title, footer), encoding="utf-8")
        manifest_params = dict(params, out_dir=str(target.resolve()))
        files = {str(p.relative_to(tmp)): _sha256(p) for p in sorted(tmp.rglob("*"))
                 if p.is_file()}
        write_json({"month": str(period), "as_of": str(as_of.date()),
                    "previous_as_of": str(prev_as_of.date()), "parameters": manifest_params,
                    "data": str(data), "data_fingerprint": fingerprint,
                    "model_id": card.get("model_id"), "model_card": card,
                    "library_versions": {**_versions(), **_report_versions()},
                    "git_revision": _git_revision(), "files": files}, tmp / "manifest.json")
    _say(progress, f"done in {time.perf_counter() - t0:.0f}s -> {target / 'report.html'}")
    return target


def _report_versions() -> dict:
    import importlib.metadata as md

    out = {}
    for pkg in ("papermill", "nbformat", "shap", "matplotlib", "duckdb", "pyarrow"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    return out
