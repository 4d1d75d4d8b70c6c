"""The monthly report's words and tables."""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnlab.data import contract as S
from churnlab.fmt import money_short
from churnlab.pipeline.month import ROLE_COLUMNS, MonthlyRisk
from churnlab.pipeline.months import CONTRACT_FAMILIES

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


def executive_summary(r: MonthlyRisk) -> str:
    """A few sentences for leadership, from the numbers (markdown)."""
    h = headline(r)
    a = r.accounts
    scope = f" in the {r.segment} segment" if r.segment else ""
    lines = [f"**{h['accounts']:,} active accounts{scope} with {money_short(h['arr'])} ARR** "
             f"on {r.as_of.date()}."]
    lost, prev = h["expected_arr_lost_horizon"], r.previous.get("expected_arr_lost")
    change = ""
    if prev and np.isfinite(prev) and prev > 0:
        d = lost / prev - 1
        change = (f", {'up' if d > 0 else 'down'} {abs(d):.0%} from {money_short(prev)} a month "
                  f"earlier")
    lines.append(f"Expected ARR lost in the next {r.horizon_days} days: **{money_short(lost)}** "
                 f"({lost / max(h['arr'], 1):.1%} of ARR{change}); before each account's next "
                 f"renewal: **{money_short(h['expected_arr_lost_before_renewal'])}**.")
    red = r.tiers.set_index("tier")
    lines.append(f"{int(red.loc['red', 'accounts']):,} accounts are red "
                 f"({money_short(red.loc['red', 'arr'])} ARR; {r.previous.get('red', 0):,} a month "
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
                 f"**{money_short(h['expected_arr_saved'])}** of ARR saved; {h['tasks']:,} tasks are "
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
                         "playbook": d["playbook"].map(_words)}).reset_index(drop=True)


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
    a = r.accounts.sort_values(r.lost_col, ascending=False).head(n or r.top_n)
    out = pd.DataFrame({
        "account": a[S.NAME], "owner": a[S.CSM_OWNER], "ARR": a[S.ARR].map(money_short),
        "renewal": pd.to_datetime(a["next_renewal"]).dt.date.astype(str),
        "tier": a["tier"], f"P(churn {r.horizon_days}d)": a[r.p_col].map("{:.0%}".format),
        "P(before renewal)": a["p_churn_before_renewal"].map("{:.0%}".format),
        "expected ARR lost": a[r.lost_col].map(money_short),
        "top reasons": a["drivers"].map(lambda d: "; ".join(list(d)[:2]) if d is not None else ""),
        "root cause": a["root_cause"].map(_words), "playbook": a["playbook"].map(_words),
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
