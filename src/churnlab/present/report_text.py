"""The monthly report's words and tables."""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnlab.data import contract as S
from churnlab.fmt import money_short, words
from churnlab.pipeline.experiments import plan_next
from churnlab.pipeline.month import ROLE_COLUMNS, MonthlyRisk
from churnlab.present.experiments import readout_table

# ------------------------------------------------------------------ words and figures


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
            "model_id": r.model_card.get("model_id"),
            "model_validated": r.model_card.get("validated", True) is not False,
            "tasks": int(len(r.tasks))}


def _change(now: float, before) -> str:
    if before is None or not np.isfinite(before) or before <= 0:
        return ""
    d = now / before - 1
    if abs(d) < 0.005:
        return ", unchanged from a month earlier"
    return f", {'up' if d > 0 else 'down'} {abs(d):.0%} from {money_short(before)} a month earlier"


def executive_summary(r: MonthlyRisk) -> str:
    """The leader's five questions, answered from the numbers (markdown): how much ARR is
    at risk and is it up or down, where (and when: renewals due), why in words one can
    act on, what is being done, and whether last month's forecast was right."""
    h = headline(r)
    a = r.accounts
    scope = f" in the {r.segment} segment" if r.segment else ""
    lost = float(a["expected_arr_lost_decision"].sum())
    lost_h = h["expected_arr_lost_horizon"]
    lines = [f"**{h['accounts']:,} active accounts{scope} with {money_short(h['arr'])} ARR** "
             f"on {r.as_of.date()}."]
    lines.append(
        f"- **How much is at risk:** {money_short(lost)} of ARR is expected to be lost by the "
        f"accounts' next renewals ({lost / max(h['arr'], 1):.1%} of ARR"
        f"{_change(lost, r.previous.get('expected_arr_lost_decision'))}); "
        f"{money_short(lost_h)} of it in the next {r.horizon_days} days.")
    tiers = r.tiers.set_index("tier")
    where = (f"- **Where:** {int(tiers.loc['red', 'accounts']):,} accounts are red "
             f"({money_short(tiers.loc['red', 'arr'])} ARR; {r.previous.get('red', 0):,} a "
             f"month earlier) and {int(tiers.loc['yellow', 'accounts']):,} yellow "
             f"({money_short(tiers.loc['yellow', 'arr'])})")
    if not r.segment and a[S.SEGMENT].nunique() > 1:
        seg = a.groupby(S.SEGMENT)["expected_arr_lost_decision"].sum().sort_values()
        where += (f"; the {seg.index[-1]} segment holds the most ARR at risk "
                  f"({money_short(seg.iloc[-1])})")
    lines.append(where + ".")
    term = a[S.TERM_MONTHS] if S.TERM_MONTHS in a else pd.Series(1.0, index=a.index)
    due = a[(a["days_to_renewal"] <= 90) & (term > 1)]
    if len(due):
        lines.append(f"- **When:** {len(due):,} accounts on longer contracts, with "
                     f"{money_short(due[S.ARR].sum())} ARR, renew in the next 90 days; "
                     f"{money_short(due['expected_arr_lost_decision'].sum())} of it is at risk "
                     f"and {int((due['tier'] == 'red').sum()):,} of them are red.")
    elif (term > 1).any():
        lines.append("- **When:** no contract comes up for renewal in the next 90 days.")
    else:
        lines.append("- **When:** every account is on a monthly plan, so any month can be "
                     "the last: there is no renewal calendar to watch.")
    risky = a[a["tier"] != "green"]
    rc = risky.groupby("root_cause")["expected_arr_lost_decision"].agg(["size", "sum"])
    rc = rc.drop(index="unclear", errors="ignore").sort_values("sum", ascending=False)
    if len(rc):
        parts = [f"{words(c)} ({int(row['size']):,} accounts, {money_short(row['sum'])} at "
                 f"risk)" for c, row in rc.head(2).iterrows()]
        lines.append(f"- **Why:** among red and yellow accounts the leading root cause is "
                     f"{parts[0]}" + (f", then {parts[1]}" if len(parts) > 1 else "") + ".")
    else:
        lines.append("- **Why:** no red or yellow account has a clear root cause this month.")
    running = int(r.interventions["in_flight"].sum()) if len(r.interventions) else 0
    lines.append(f"- **What is being done:** {h['tasks']:,} tasks are open for the CSMs"
                 + (f" and {running:,} playbooks are running" if running else "")
                 + f"; working the priority queue is worth an expected "
                 f"**{money_short(h['expected_arr_saved'])}** of ARR saved.")
    ex = r.experiments
    if ex is not None and ex.randomised:
        lines.append(f"- **Do the plays work:** {ex.verdict}")
    fc = r.forecast
    verdict = "right: within" if fc["within_interval"] else "off: outside"
    lines.append(f"- **Was last month's forecast right:** it expected "
                 f"{fc['expected_churns']:.1f} accounts to leave and {fc['observed_churns']} "
                 f"did, {verdict} its 95% range ({fc['expected_lo']:.0f}-"
                 f"{fc['expected_hi']:.0f}).")
    return "\n\n".join(lines[:1]) + "\n\n" + "\n".join(lines[1:])


def title(r: MonthlyRisk) -> str:
    scope = f" · {r.segment}" if r.segment else ""
    return (f"# Churn risk · {r.month}{scope}\n\nData to "
            f"{(r.as_of - pd.Timedelta(days=1)).date()}; forecasts from {r.as_of.date()}; "
            f"model `{r.model_card.get('model_id')}`.")


def tier_summary_table(r: MonthlyRisk) -> pd.DataFrame:
    t = r.tiers
    return pd.DataFrame({"tier": t["tier"], "accounts": t["accounts"].map("{:,}".format),
                         "share of accounts": t["share_accounts"].map("{:.0%}".format),
                         "ARR": t["arr"].map(money_short),
                         "share of ARR": t["share_arr"].map("{:.0%}".format),
                         f"expected ARR lost ({r.horizon_days}d)":
                             t["expected_arr_lost"].map(money_short)})


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
    a = r.accounts[r.accounts["tier"] != "green"].copy()
    a["playbook"] = a["playbook"].astype(str).str.split(";").str[0].str.strip()
    rec = a.groupby("playbook").agg(recommended=(S.ACCOUNT_ID, "size"),
                                    arr=(S.ARR, "sum"))
    iv = r.interventions.set_index(S.PLAYBOOK) if len(r.interventions) else pd.DataFrame()
    out = rec.join(iv, how="outer") if len(iv) else rec
    out = out.fillna({"recommended": 0, "arr": 0}).sort_values("recommended", ascending=False)
    res = pd.DataFrame({"playbook": pd.Index(out.index).map(words),
                        "lead playbook now (red and yellow accounts)":
                            out["recommended"].astype(int).map("{:,}".format),
                        "ARR of those accounts": out["arr"].map(money_short)})
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
    if "nps" not in r.roles:
        return pd.DataFrame({"note": ["No NPS answers in this data, so no detractor list."]})
    if d.empty:
        return pd.DataFrame({"note": ["no NPS detractor (score 0-6) among active accounts"]})
    return pd.DataFrame({"account": d[S.NAME], "owner": d[S.CSM_OWNER],
                         "NPS": d[ROLE_COLUMNS["nps"]].map("{:.0f}".format),
                         "ARR": d[S.ARR].map(money_short), "tier": d["tier"],
                         "open tasks": d["open_tasks"],
                         "playbook": d["playbook"].map(words)}).reset_index(drop=True)


def expansion_table(r: MonthlyRisk, n: int = 15) -> pd.DataFrame:
    e = r.expansion.head(n)
    if not {"nps", "plan_limit"} & set(r.roles):
        return pd.DataFrame({"note": ["No NPS answers or plan-limit usage in this data, so no "
                                      "expansion candidates."]})
    if e.empty:
        return pd.DataFrame({"note": ["no green account is near its plan limit or a promoter"]})
    limit = e.get(ROLE_COLUMNS["plan_limit"], pd.Series(np.nan, index=e.index))
    return pd.DataFrame({"account": e[S.NAME], "owner": e[S.CSM_OWNER],
                         "ARR": e[S.ARR].map(money_short), "why": e["reason"],
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
    if c.get("validated") is False:
        conc = (" **This model is not validated**: it was trained without a backtest "
                "(churnlab train --no-backtest), so its probabilities have not been checked "
                "against what happened afterwards.")
    elif (c.get("backtest_plan") or {}).get("adapted"):
        conc += f" Backtest shortened: {c['backtest_plan']['note']}."
    notes = "".join(f" {n[0].upper()}{n[1:]}." for n in r.notes)
    return (f"*How to read this report.* Probabilities come from the time-to-churn model "
            f"`{c.get('model_id')}` ({c.get('kind')}), trained on data to {c.get('as_of')}."
            f"{conc} One risk language: each account's chance of churning by its next "
            f"renewal (looking at least 90 days ahead) sets its tier and its health, "
            f"{r.cuts.words()}; the signal families show what moves it. "
            f"Expected ARR lost = probability x ARR; expected ARR saved = P(churn within 90 "
            f"days) x save probability x ARR (this quarter's work).{notes}")


def top_accounts(r: MonthlyRisk, n: int | None = None) -> pd.DataFrame:
    """The top at-risk accounts by expected ARR lost, as a display table."""
    a = r.accounts.sort_values(r.lost_col, ascending=False).head(n or r.top_n)
    out = pd.DataFrame({
        "account": a[S.NAME], "owner": a[S.CSM_OWNER], "ARR": a[S.ARR].map(money_short),
        "renewal": pd.to_datetime(a["next_renewal"]).dt.date.astype(str),
        "tier": a["tier"], "health": a["health"].map("{:.0f}".format),
        "chance of churn by renewal": a["p_churn_decision"].map("{:.0%}".format),
        f"in {r.horizon_days} days": a[r.p_col].map("{:.0%}".format),
        "why this tier": a["tier_reason"].fillna(""),
        "expected ARR lost": a[r.lost_col].map(money_short),
        "top reasons": a["drivers"].map(lambda d: "; ".join(list(d)[:2]) if d is not None else ""),
        "root cause": a["root_cause"].map(words), "playbook": a["playbook"].map(words),
        "save probability": a["save_probability"].map("{:.0%}".format)})
    return out.reset_index(drop=True)


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
            f"**{fc['observed_churns']} did**; ARR expected lost {money_short(fc['expected_arr_lost'])}, "
            f"actually lost {money_short(fc['arr_lost'])}.{auc} "
            + ("The count is within the range: this month's numbers can be trusted as "
               "probabilities." if fc["within_interval"] else
               "The count is outside the range: read this month's probabilities as a ranking "
               "and watch next month's check."))


def experiments_words(r: MonthlyRisk) -> str:
    """The save experiments for leadership: the verdict (or why there is none), the
    caveat on the saved / churned counts, and the size of the next test."""
    ex = r.experiments
    if ex is None:
        return "The save experiments were not read out for this report."
    lines = [ex.verdict]
    if ex.randomised:
        lines.append("The comparison is between randomised arms, so a difference is the "
                     "play's effect; the saved / churned counts in the playbook table above "
                     "are not, because CSMs chose who got which play.")
        plan = plan_next(ex)
        if plan is not None:
            lines.append(plan.sentence())
    if r.segment:
        lines.append("The experiments cover the whole book, not only this segment.")
    return "\n\n".join(lines)


def experiments_table(r: MonthlyRisk) -> pd.DataFrame:
    """The read-out table (empty when there is nothing to compare)."""
    ex = r.experiments
    return readout_table(ex) if ex is not None and ex.randomised else pd.DataFrame()


def uplift_words(r: MonthlyRisk) -> str:
    """Whether the uplift model validated, and (if so) what ranking by it changes."""
    v = r.uplift
    if v is None:
        return "The uplift model was not fitted for this report."
    if not (r.experiments is not None and r.experiments.randomised):
        return ("Targeting by a play's effect needs randomised plays to learn from; this "
                "data has none, so the queue is ranked by risk.")
    lines = [v.sentence]
    t = r.targeting
    if t is not None and len(t):
        n = min(r.top_n, len(t))
        by_risk = t.nsmallest(n, "risk_rank")
        by_uplift = t.head(n)
        both = len(set(by_risk[S.ACCOUNT_ID]) & set(by_uplift[S.ACCOUNT_ID]))
        lines.append(
            f"Of the {n} red and yellow accounts where the recommended play is expected to "
            f"save the most ARR ({money_short(by_uplift['expected_arr_saved_uplift'].sum())}), "
            f"{both} are among the risk queue's top {n} (whose plays are expected to save "
            f"{money_short(by_risk['expected_arr_saved_uplift'].sum())} by the same model).")
    return "\n\n".join(lines)
