"""Readers of the simulator's truth (evaluation only; the pipeline never imports this)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from churnlab.actions.root_cause import ROOT_CAUSES
from churnlab.data import contract as S
from churnlab.evaluation.backtest import Backtest
from churnlab.evaluation.metrics import evaluate_scores
from churnlab.sim.params import (
    CHURN_DATE,
    CHURNED,
    MONTH_START,
    NO_WARNING_CHURN,
    ORACLE_RISK_90D,
    PLANNED_CHURN_DATE,
    PLAYBOOKS,
    SimulatedSaaS,
    effect_if,
)
from churnlab.stats import wilson_interval


def oracle_scores(backtest: Backtest, truth_dir) -> pd.DataFrame:
    """Evaluation only (never in the pipeline): the simulator's ``oracle_risk_90d`` on
    exactly the rows scored at each origin, in the layout of ``backtest.scores``."""
    am = pd.read_parquet(Path(truth_dir) / "account_months.parquet",
                         columns=[S.ACCOUNT_ID, "month_start", "oracle_risk_90d"])
    am[S.ACCOUNT_ID] = am[S.ACCOUNT_ID].astype(str)
    first = backtest.scores[backtest.scores["model"] == backtest.scores["model"].iloc[0]]
    key = pd.MultiIndex.from_frame(am[["month_start", S.ACCOUNT_ID]])
    risk = pd.Series(am["oracle_risk_90d"].to_numpy(), index=key)
    want = pd.MultiIndex.from_arrays([pd.to_datetime(first["origin"]),
                                      first[S.ACCOUNT_ID].astype(str)])
    out = first.copy()
    out["model"] = "oracle"
    out["risk"] = out["p90"] = risk.reindex(want).to_numpy(float)
    return out.reset_index(drop=True)


def oracle_metrics(backtest: Backtest, truth_dir) -> pd.DataFrame:
    """The oracle's metrics per origin on the backtest's rows (evaluation only)."""
    scores = oracle_scores(backtest, truth_dir)
    out = []
    for origin, rows in scores.groupby("origin"):
        ok = rows["risk"].notna().to_numpy()
        rows = rows[ok].reset_index(drop=True)
        m = evaluate_scores(rows, rows["risk"], rows, None, rows["p90"])
        out.append({"model": "oracle", "origin": origin, "coverage": float(ok.mean()), **m})
    return pd.DataFrame(out)


# ------------------------------------------------------------------ evaluation only
# Observable signal families of the simulator's shocks (docs/simulator.md): where a
# planted shock should show up in an account's drivers. Evaluation only.
SHOCK_FAMILIES = {
    "champion_left": ("relationship",), "champion_role_changed": ("relationship",),
    "new_leadership": ("relationship",), "merger_acquisition": ("relationship",),
    "budget_cut": ("financial",), "product_gap": ("support",),
    "service_failure": ("support", "sentiment"), "competitor_evaluation": ("competitive",),
    "poor_onboarding": ("lifecycle",),
}


def planted_shocks(truth_dir, as_of, min_effect: float = 0.5,
                   max_age_days: int = 90) -> pd.DataFrame:
    """Evaluation only (reads the simulator's ``truth/``; never used by the pipeline):
    each account's strongest shock that hit in the ``max_age_days`` before ``as_of``
    with an effect of at least ``min_effect`` (logit drop of latent health), with its
    root cause, the families where it should be visible (:data:`SHOCK_FAMILIES`) and
    whether its flag event was emitted (``observed``)."""
    from pathlib import Path

    sh = pd.read_parquet(Path(truth_dir) / "shocks.parquet")
    sh[S.ACCOUNT_ID] = sh[S.ACCOUNT_ID].astype(str)
    as_of = pd.Timestamp(as_of)
    age = (as_of - pd.to_datetime(sh["shock_time"])).dt.days
    keep = sh[(age >= 0) & (age < max_age_days) & (sh["effect_size"] <= -min_effect)].copy()
    keep["age_days"] = age[keep.index]
    keep = keep.sort_values("effect_size").drop_duplicates(S.ACCOUNT_ID)
    keep["families"] = keep["shock_type"].map(lambda t: list(SHOCK_FAMILIES.get(t, ())))
    return keep.reset_index(drop=True)


def shock_hit_rate(explanations: pd.DataFrame, shocks: pd.DataFrame) -> pd.DataFrame:
    """Per shock type (and overall): accounts with a planted shock, how many name one
    of its families among their drivers (``hits``), the rate and its 95% Wilson
    interval. Evaluation only."""

    m = shocks.merge(explanations[[S.ACCOUNT_ID, "driver_families"]], on=S.ACCOUNT_ID)
    m["hit"] = [bool(set(a) & set(b)) for a, b in zip(m["families"], m["driver_families"])]
    rows = [("all", m)] + list(m.groupby("shock_type"))
    out = pd.DataFrame([{"shock_type": k, "accounts": len(g), "hits": int(g["hit"].sum())}
                        for k, g in rows])
    out["rate"] = out["hits"] / out["accounts"].where(out["accounts"] > 0)
    out["lo"], out["hi"] = wilson_interval(out["hits"], out["accounts"])
    return out


def root_cause_agreement(tri: pd.DataFrame, shocks: pd.DataFrame) -> dict:
    """Evaluation only: share of accounts with a planted shock (``planted_shocks``)
    whose triage root cause equals the shock's true class, with a Wilson interval, the
    chance level (agreement of the true classes with the predicted class mix) and the
    confusion table."""

    m = shocks[[S.ACCOUNT_ID, "root_cause"]].rename(columns={"root_cause": "true_cause"}) \
        .merge(tri[[S.ACCOUNT_ID, "root_cause"]], on=S.ACCOUNT_ID)
    hits = int((m["true_cause"] == m["root_cause"]).sum())
    lo, hi = wilson_interval(hits, len(m))
    pred = m["root_cause"].value_counts(normalize=True)
    true = m["true_cause"].value_counts(normalize=True)
    chance = float(sum(pred.get(c, 0) * true.get(c, 0) for c in ROOT_CAUSES))
    return {"accounts": len(m), "agree": hits, "rate": hits / len(m) if len(m) else np.nan,
            "lo": float(lo), "hi": float(hi), "chance": chance,
            "confusion": pd.crosstab(m["true_cause"], m["root_cause"])}


# ------------------------------------------------------------------ calibration
def annual_logo_churn(sim: SimulatedSaaS) -> pd.DataFrame:
    """Logo churn over the last 12 complete months, by segment.

    Accounts active at the start of the year (their first subscription had started and
    they had not churned) form the base; churners are those of them whose churn date
    falls inside the year. Columns: segment, active_at_start, churned, churn_rate.
    """
    end = sim.end
    t0 = end - pd.DateOffset(months=12)
    first = sim.subscriptions.groupby(S.ACCOUNT_ID)[S.START_DATE].min()
    truth = sim.truth_accounts.set_index(S.ACCOUNT_ID)
    df = truth.join(first.rename("first_start"))
    active = (df["first_start"] <= t0) & (df[CHURN_DATE].isna() | (df[CHURN_DATE] > t0))
    churned = active & (df[CHURN_DATE] < end)
    rows = []
    for seg in (*S.SEGMENTS, "all"):
        m = active if seg == "all" else active & (df[S.SEGMENT] == seg)
        n_active, n_churned = int(m.sum()), int((churned & m).sum())
        rows.append({S.SEGMENT: seg, "active_at_start": n_active, "churned": n_churned,
                     "churn_rate": n_churned / n_active if n_active else float("nan")})
    return pd.DataFrame(rows)


def oracle_evaluation(sim: SimulatedSaaS, horizon_days: int = 90, n_month_starts: int = 12,
                      max_rows: int = 300_000) -> dict:
    """How well the oracle (``oracle_risk_90d``) ranks observed churn within 90 days.

    Uses the last ``n_month_starts`` month starts whose 90-day follow-up ends inside the
    data. Returns Harrell's C (time to churn censored at the horizon), ROC AUC of churn
    within the horizon, the mean predicted risk and the observed rate.
    """
    from lifelines.utils import concordance_index
    from sklearn.metrics import roc_auc_score

    months = sim.truth_account_months
    starts = np.sort(months[MONTH_START].unique())
    ok = starts[starts + np.timedelta64(horizon_days, "D") <= np.datetime64(sim.end)]
    chosen = ok[-n_month_starts:]
    df = months.loc[months[MONTH_START].isin(chosen), [S.ACCOUNT_ID, MONTH_START,
                                                       ORACLE_RISK_90D]]
    if len(df) > max_rows:
        df = df.sample(max_rows, random_state=0)
    churn = sim.truth_accounts.set_index(S.ACCOUNT_ID)[CHURN_DATE]
    cd = churn.reindex(df[S.ACCOUNT_ID].astype(str)).to_numpy()
    days = (cd - df[MONTH_START].to_numpy()) / np.timedelta64(1, "D")
    event = np.nan_to_num(days, nan=np.inf) < horizon_days
    duration = np.where(event, days, horizon_days)
    risk = df[ORACLE_RISK_90D].to_numpy()
    if event.all() or not event.any():
        return {"oracle_concordance": float("nan"), "oracle_auc": float("nan")}
    return {
        "oracle_concordance": float(concordance_index(duration, -risk, event)),
        "oracle_auc": float(roc_auc_score(event, risk)),
        "oracle_mean_risk": float(risk.mean()),
        "observed_rate": float(event.mean()),
        "window": f"{pd.Timestamp(chosen[0]).date()}..{pd.Timestamp(chosen[-1]).date()}",
        "rows": int(len(df)),
    }


def summarise_simulation(sim: SimulatedSaaS) -> dict:
    """The numbers to quote: table sizes, annual logo churn by segment, the churn mix
    and the oracle's concordance (see :func:`annual_logo_churn`,
    :func:`oracle_evaluation`). Computed once and cached on ``sim``."""
    if sim._summary is None:
        churn = annual_logo_churn(sim).set_index(S.SEGMENT)["churn_rate"]
        oracle = oracle_evaluation(sim)
        truth = sim.truth_accounts
        year = truth[CHURN_DATE] >= sim.end - pd.DateOffset(months=12)
        churners = truth[truth[CHURNED] & year]
        summary = {
            "accounts": len(sim.accounts),
            "active_at_end": int((~truth[CHURNED]).sum()),
            "subscriptions": len(sim.subscriptions),
            "events": len(sim.events),
            "interventions": len(sim.interventions),
        }
        for seg, rate in churn.items():
            summary[f"annual_logo_churn[{seg}]"] = round(float(rate), 4)
        summary["no_warning_share_of_churn"] = round(float(
            churners[NO_WARNING_CHURN].mean()), 4) if len(churners) else float("nan")
        for key in ("oracle_concordance", "oracle_auc", "oracle_mean_risk", "observed_rate"):
            if key in oracle:
                name = key if key.startswith("oracle") else "observed_churn_90d"
                summary[f"{name}"] = round(oracle[key], 4)
        if "window" in oracle:
            summary["oracle_window"] = oracle["window"]
        sim._summary = summary
    return dict(sim._summary)


def planted_truth_sentence(hit_rate: pd.DataFrame, agreement: dict) -> str:
    """Notebook 03's check against the planted shocks, in one bullet."""
    h = hit_rate.iloc[0]
    return (f"\n- Planted shocks of the last 90 days: the drivers name the shock's family on "
            f"{h['hits']} of {h['accounts']} accounts ({h['rate']:.0%}); the root cause "
            f"matches the true class on {agreement['rate']:.0%} (chance "
            f"{agreement['chance']:.0%}).")


def true_arm_effects(truth_interventions: pd.DataFrame, params: dict,
                     enrolment: pd.DataFrame, horizons=(90, 180)) -> pd.DataFrame:
    """The planted effect of each play against no play on the read-out's enrolled
    accounts (account_id, started_at: each one's first assignment, whatever its arm).

    An enrolled account churns at its episode's planned date (``t`` days after
    assignment) with probability ``q_before`` without a play and ``q_before (1 - r)``
    with play k, ``r`` the planted relative effect for its root cause and segment (for
    pricing the mix of small and big discounts): the truth column ``effect_if__<play>``
    holds ``q_before r``. So the play changes the churn risk within ``h`` days by
    ``-q r [t <= h]`` and the days kept out of ``h`` by ``q r max(h - t, 0)``: averaged
    over the enrolled, the estimands of the risk and RMST differences. Other churn paths
    (quiet lapses, no-warning churn) are the same in every arm. ``params`` is kept for
    the recorded worlds written before the effect columns existed.
    """
    t = truth_interventions.copy()
    t[S.STARTED_AT] = pd.to_datetime(t[S.STARTED_AT])
    e = enrolment[[S.ACCOUNT_ID, S.STARTED_AT]].copy()
    e[S.STARTED_AT] = pd.to_datetime(e[S.STARTED_AT])
    m = e.merge(t, on=[S.ACCOUNT_ID, S.STARTED_AT], how="left")
    days = (pd.to_datetime(m[PLANNED_CHURN_DATE]) - m[S.STARTED_AT]).dt.days.to_numpy(float)
    rows = []
    for name in PLAYBOOKS:
        cut = m[effect_if(name)].to_numpy(float)
        for h in horizons:
            rows.append({"arm": name, "horizon": h,
                         "true_risk_diff": float(np.mean(-cut * (days <= h))),
                         "true_rmst_diff": float(np.mean(cut * np.clip(h - days, 0, None)))})
    return pd.DataFrame(rows)


def arm_effects_from_truth(truth_dir, enrolment: pd.DataFrame, horizons=(90, 180)
                           ) -> pd.DataFrame:
    """:func:`true_arm_effects` from a written simulation's ``truth/`` folder."""
    truth_dir = Path(truth_dir)
    params = json.loads((truth_dir / "params.json").read_text())
    return true_arm_effects(pd.read_parquet(truth_dir / "interventions.parquet"), params,
                            enrolment, horizons)


def targeting_against_truth(held_out: pd.DataFrame, truth_interventions: pd.DataFrame,
                            budget: float = 0.5, average_play: str | None = None,
                            risk_plays: dict | None = None) -> dict:
    """Evaluation only: the ARR the plays would keep on held-out enrolled accounts when
    the CS team works ``budget`` of them, ranked by uplift x ARR or by risk x ARR, each
    account getting the model's recommended play; measured with the planted effects.

    ``held_out``: account_id, started_at, arr, p_no_play, best_play, uplift (the
    validation's held-out rows). Also: the oracle (true best play, true ranking), a
    random half, how often the recommended play is the truly best one, and, with
    ``average_play`` (the play that did best on average in the experiments), the queue a
    team without an uplift model runs: ranked by risk x ARR, everyone given that play.

    The ceiling of ranking itself: every account given its truly best play, ranked by
    the true cut x ARR (the oracle), by the true churn risk x ARR
    (``arr_kept_oracle_risk_ranking``) and by ARR alone (``arr_kept_oracle_arr_ranking``).
    Where the oracle keeps little more than the true-risk ranking, no uplift estimate can
    beat risk targeting by more than that: the plays' effects then follow risk and ARR.

    ``risk_plays``: named play assignments for the risk queue (one play per held-out
    row, in its order; a play the simulator does not plant keeps nothing), each giving
    ``arr_kept_risk_<name>``: ranked by risk x ARR, each account given that play.
    """
    t = truth_interventions.copy()
    t[S.STARTED_AT] = pd.to_datetime(t[S.STARTED_AT])
    h = held_out.copy()
    h[S.STARTED_AT] = pd.to_datetime(h[S.STARTED_AT])
    cols = [effect_if(k) for k in PLAYBOOKS]
    m = h.merge(t[[S.ACCOUNT_ID, S.STARTED_AT, "q_before", *cols]],
                on=[S.ACCOUNT_ID, S.STARTED_AT], how="left")
    arr = m[S.ARR].to_numpy(float)
    true = m[cols].to_numpy(float)
    pick = np.array([PLAYBOOKS.index(p) for p in m["best_play"]])
    kept = true[np.arange(len(m)), pick] * arr
    k = int(round(budget * len(m)))
    top = lambda score: np.argsort(-np.asarray(score, dtype=float), kind="stable")[:k]  # noqa: E731
    out = {"accounts": len(m), "worked": k,
           "arr_kept_uplift": float(kept[top(m["uplift"] * arr)].sum()),
           "arr_kept_risk": float(kept[top(m["p_no_play"] * arr)].sum()),
           "arr_kept_random": float(kept.sum() * k / max(len(m), 1)),
           "arr_kept_oracle": float(np.sort(true.max(axis=1) * arr)[::-1][:k].sum()),
           "arr_kept_oracle_risk_ranking": float(
               (true.max(axis=1) * arr)[top(m["q_before"].to_numpy(float) * arr)].sum()),
           "arr_kept_oracle_arr_ranking": float((true.max(axis=1) * arr)[top(arr)].sum()),
           "best_play_hit_rate": float((true[np.arange(len(m)), pick]
                                        >= true.max(axis=1) - 1e-12).mean())}
    if average_play in PLAYBOOKS:
        same = true[:, PLAYBOOKS.index(average_play)] * arr
        out["arr_kept_risk_average_play"] = float(same[top(m["p_no_play"] * arr)].sum())
    for name, plays in (risk_plays or {}).items():
        k_of = np.array([PLAYBOOKS.index(p) if p in PLAYBOOKS else -1 for p in plays])
        given = np.where(k_of >= 0, true[np.arange(len(m)), np.maximum(k_of, 0)], 0.0) * arr
        out[f"arr_kept_risk_{name}"] = float(given[top(m["p_no_play"] * arr)].sum())
    return out


def planted_milestone_effects(truth_dir) -> pd.DataFrame:
    """The simulator's planted value-milestone effects on expansion: milestone, the
    factor on the chance of expanding at a contract boundary when it was held in the
    window before, the window, and the expected sign of a fair comparison."""
    params = json.loads((Path(truth_dir) / "params.json").read_text())
    effects = params.get("milestone_expansion_effects", {})
    return pd.DataFrame({"milestone": list(effects), "factor": list(effects.values()),
                         "window_days": params.get("milestone_window_days"),
                         "sign": ["more" if f > 1 else "less" if f < 1 else "none"
                                  for f in effects.values()]})
