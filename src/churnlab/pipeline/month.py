"""The month: the book at the month's end and last month's comparison."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from churnlab.actions.experiments import Readout
from churnlab.actions.risk_language import DEFAULT_CUTS, RiskCuts, apply_risk_language
from churnlab.data import contract as S
from churnlab.data.validation import require_valid
from churnlab.data.warehouse import open_warehouse
from churnlab.features import snapshot as F
from churnlab.models.registry import load_model
from churnlab.models.scoring import score_accounts
from churnlab.pipeline.book import book, check_model_date
from churnlab.pipeline.expansion import Expansion, run_expansion
from churnlab.pipeline.experiments import run_experiments
from churnlab.pipeline.months import (
    HORIZONS,
    NPS_DETRACTOR_MAX,
    NPS_PROMOTER_MIN,
    PLAN_LIMIT_NEAR,
    TIERS,
    ReportInputError,
    check_month,
    month_dates,
    parse_month,
)
from churnlab.pipeline.uplift import UpliftValidation, target_book, uplift_rows, validate_uplift

# ------------------------------------------------------------------ the computation
# Columns the accounts table gains from signal-map roles, and the line a report shows
# when the data have no event type with that role.
ROLE_COLUMNS = {"nps": "nps_last", "plan_limit": "plan_limit_last"}
ROLE_MISSING = {
    "nps": "no NPS answers in this data (no event type has role nps in the signal map), so "
           "no detractor list and no NPS tasks",
    "plan_limit": "no plan-limit usage in this data (no event type has role plan_limit), so "
                  "expansion candidates come from NPS promoters only",
}


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
    notes: list = field(default_factory=list)
    cuts: RiskCuts = DEFAULT_CUTS   # the tier cut-offs of the one risk language
    recaps: pd.DataFrame | None = None  # value recap content per account (customer-facing)
    top_n: int = 15                 # rows of the report's top at-risk table
    roles: list = field(default_factory=list)   # signal-map roles present (nps, plan_limit)
    experiments: Readout | None = None          # the save experiments' read-out (whole book)
    uplift: UpliftValidation | None = None      # the uplift model's held-out validation
    targeting: pd.DataFrame | None = None       # red/yellow by uplift x ARR (if validated)
    growth: Expansion | None = None             # expansions, attribution, milestone comparison

    @property
    def p_col(self) -> str:
        return f"p_churn_{self.horizon_days}d"

    @property
    def lost_col(self) -> str:
        return f"expected_arr_lost_{self.horizon_days}d"


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


def rule_tiers(model, snap: pd.DataFrame, cuts: RiskCuts = DEFAULT_CUTS) -> pd.DataFrame:
    """account_id, p_churn_decision, health and tier of the one risk language for a
    snapshot (last month's book, for the movements)."""
    if snap.empty:
        return pd.DataFrame(columns=[S.ACCOUNT_ID, "p_churn_decision", "health", "tier"])
    snap = snap.reset_index(drop=True)
    hz = model.predict_horizons(snap, (90,))
    hz[S.ARR] = snap[S.ARR].to_numpy(float)
    hz["days_to_renewal"] = snap["days_to_renewal"].to_numpy(float)
    hz[S.TERM_MONTHS] = snap[S.TERM_MONTHS].to_numpy(float)
    lang = apply_risk_language(hz, cuts)
    lang[S.ACCOUNT_ID] = snap[S.ACCOUNT_ID].to_numpy()
    return lang[[S.ACCOUNT_ID, "p_churn_decision", "health", "tier"]]


def compute_month(wh, month, model, horizon_days: int = 90, segment: str = "",
                  top_n: int = 15, previous_dir=None, progress: bool = False,
                  cuts: RiskCuts = DEFAULT_CUTS, history=None) -> MonthlyRisk:
    """Score, explain and triage every account active at the month's as-of date (one
    :func:`churnlab.pipeline.book.book`), and compare with last month (see
    :mod:`churnlab.pipeline.render` for what a month means). ``top_n`` is the length of
    the report's table of top at-risk accounts. ``history``: feature rows already built
    from the same data (e.g. the landmark dataset): last month's snapshot and the
    expansion model's monthly rows are taken from it where it holds their dates
    (``make_snapshots(known=...)``, which checks the accounts and contract values)."""
    month = parse_month(month) if isinstance(month, str) else month
    if int(horizon_days) not in HORIZONS:
        raise ReportInputError(f"horizon_days must be one of {HORIZONS}, not {horizon_days}")
    if int(top_n) < 1:
        raise ReportInputError(f"top_n must be at least 1, not {top_n}")
    check_month(wh, month)
    prev_as_of, as_of = month_dates(month)
    check_model_date(model, as_of)
    notes = []
    snap = F.make_snapshot(wh, as_of)
    prev_snap = F.make_snapshots(wh, [prev_as_of], known=history)
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
    notes.append(f"tiers: {cuts.words()}; fixed cut-offs (a setting, not learned), so a "
                 "tier change means the account's risk changed")
    b = book(wh, model, as_of, drivers=3, cuts=cuts, snapshot=snap, progress=progress)
    h_now = b.triage[[S.ACCOUNT_ID, "tier"]]
    h_prev = rule_tiers(model, prev_snap, cuts)
    scores, tri, tasks, interventions = b.scores, b.triage, b.tasks, b.interventions
    days_next = int(((month + 2).start_time - (month + 1).start_time).days)
    scores["p_churn_next_month"] = _month_probability(model, snap, days_next)
    importance = b.importance
    extra = [c for c in scores.columns if c not in tri.columns]
    accounts = tri.merge(scores[[S.ACCOUNT_ID] + extra], on=S.ACCOUNT_ID, how="left")
    accounts["expected_arr_lost_decision"] = accounts["p_churn_decision"] * accounts[S.ARR]
    prev_tier = h_prev.set_index(S.ACCOUNT_ID)["tier"]
    accounts["tier_last_month"] = accounts[S.ACCOUNT_ID].map(prev_tier).fillna("new")
    by_id = snap.set_index(S.ACCOUNT_ID)
    accounts[S.TERM_MONTHS] = accounts[S.ACCOUNT_ID].map(by_id[S.TERM_MONTHS]).astype(float)
    role_cols = {}
    for role, column in ROLE_COLUMNS.items():
        event_type = wh.signal_map.role(role)
        source = f"{event_type}__last"
        if event_type and source in snap.columns:
            accounts[column] = accounts[S.ACCOUNT_ID].map(by_id[source]).astype(float)
            role_cols[role] = column
        else:
            notes.append(ROLE_MISSING[role])

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
                "expected_arr_lost_decision": float(
                    (h_prev["p_churn_decision"].to_numpy(float) *
                     prev_snap[S.ARR].to_numpy(float)).sum()) if len(h_prev) else np.nan,
                "red": int((h_prev["tier"] == "red").sum()),
                "red_arr": float(prev_snap[S.ARR].to_numpy(float)[
                    (h_prev["tier"] == "red").to_numpy()].sum()) if len(h_prev) else 0.0}

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
    missing = pd.Series(np.nan, index=accounts.index)
    nps = accounts.get(ROLE_COLUMNS["nps"], missing)
    det = accounts[nps <= NPS_DETRACTOR_MAX].copy()
    det["open_tasks"] = det[S.ACCOUNT_ID].map(open_tasks).fillna(0).astype(int)
    detractors = det.assign(nps_sort=nps).sort_values(["nps_sort", S.ARR],
                                                      ascending=[True, False])
    limit = accounts.get(ROLE_COLUMNS["plan_limit"], missing)
    exp = accounts[(accounts["tier"] == "green") &
                   ((nps >= NPS_PROMOTER_MIN) | (limit >= PLAN_LIMIT_NEAR))].copy()
    exp["reason"] = np.where(limit.loc[exp.index] >= PLAN_LIMIT_NEAR,
                             "near its plan limit", "NPS promoter")
    both = (limit.loc[exp.index] >= PLAN_LIMIT_NEAR) & (nps.loc[exp.index] >= NPS_PROMOTER_MIN)
    exp.loc[both, "reason"] = "near its plan limit and an NPS promoter"
    expansion = exp.sort_values(S.ARR, ascending=False)
    experiments = run_experiments(wh, as_of)
    uplift = validate_uplift(uplift_rows(wh, experiments, history),
                             experiments.guards.readout_days,
                             signal_map=wh.signal_map)
    targeting = target_book(uplift, accounts, snap)
    growth = run_expansion(wh, as_of, snapshot=snap, history=history)

    return MonthlyRisk(month=month, as_of=as_of, prev_as_of=prev_as_of,
                       horizon_days=int(horizon_days), segment=segment or "",
                       accounts=accounts.sort_values("priority").reset_index(drop=True),
                       tasks=tasks, importance=importance,
                       tiers=tier_table(accounts, f"expected_arr_lost_{horizon_days}d"),
                       movements=movement_matrix(h_prev, h_now), forecast=fc,
                       forecast_bins=fc_bins, previous=previous,
                       interventions=interventions_tab, detractors=detractors,
                       expansion=expansion, model_card=dict(model.card),
                       notes=notes, cuts=cuts, recaps=b.recaps,
                       top_n=int(top_n), roles=sorted(role_cols), experiments=experiments,
                       uplift=uplift, targeting=targeting, growth=growth)


def load_month(month_file: str = "", *, month: str, data_dir, model_path,
               horizon_days: int = 90, segment: str = "", top_n: int = 15,
               previous_dir=None) -> MonthlyRisk:
    """The month for the report notebook: the one ``churnlab report`` computed (saved in
    ``month_file``), or, when the notebook is opened on its own, computed here from
    ``data_dir`` (opened and validated) and ``model_path``."""
    if month_file:
        return joblib.load(month_file)
    with open_warehouse(data_dir) as wh:
        require_valid(wh)
        return compute_month(wh, month, load_model(model_path), horizon_days=horizon_days,
                             segment=segment, top_n=top_n, previous_dir=previous_dir)
