"""Save experiments: which play keeps more customers than doing nothing, and by how much.

An experiment is read from the ``interventions`` table when it has an ``arm`` column
with a control arm (``control`` or ``holdout``, any case) and at least one treated arm.
Each treated play is compared with the control:

* the unit is the account at its **first** randomised assignment (intention to treat);
  time runs from ``started_at`` to the churn of the service span that covered it, and is
  censored at the end of observation (the as-of date less the grace period, the last day
  a churn can be confirmed);
* per arm and horizon (90 and 180 days): the Kaplan-Meier churn risk, its difference
  from the control with a 95% interval, the restricted mean survival time (days kept as a
  customer out of the horizon) and its difference, the ARR enrolled and the ARR the
  difference keeps; over the whole follow-up, the log-rank test (Holm-adjusted over the
  arms) and the Cox hazard ratio;
* when a pre-assignment covariate is given (the model's risk score before the play
  started), the risk difference among accounts enrolled early enough to be followed for
  the whole horizon is also adjusted for it (CUPED / Lin), and the variance it removes is
  quoted;
* guards: a winner is named only when both arms have at least ``min_per_arm`` accounts
  followed for the read-out horizon, no more than ``max_contamination`` of an arm's
  accounts were assigned to another arm within the horizon, and the arms are balanced
  before assignment: an arm is held back when a standardised mean difference (log ARR,
  tenure, the covariate) exceeds ``max_smd`` *and* is beyond what randomisation gives by
  chance (z > 3.29, p < 0.001), the same bar as a sample-ratio-mismatch check;
* a winner needs a Holm-adjusted log-rank p-value at most ``alpha``; among several, the
  one with the largest fall in churn risk at the read-out horizon.

When the plays were not randomised, only descriptive numbers are shown and the read-out
says why they cannot be compared.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from churnlab.actions.experiment_stats import adjusted_difference, holm, kaplan_meier
from churnlab.data import contract as S

CONTROL_NAMES = ("control", "holdout", "hold-out", "control_group")
HORIZONS = (90, 180)
Z95 = 1.959963984540054
ARM = "arm_name"


@dataclass(frozen=True)
class Guards:
    readout_days: int = 180
    min_per_arm: int = 30
    max_contamination: float = 0.05
    max_smd: float = 0.1
    imbalance_z: float = 3.29   # two-sided p < 0.001: randomisation broken, not bad luck
    alpha: float = 0.05


@dataclass
class Readout:
    randomised: bool
    verdict: str                       # one plain line
    arms: pd.DataFrame                 # one row per arm x horizon
    summary: pd.DataFrame              # one row per arm: n, log-rank, HR, balance, status
    enrolment: pd.DataFrame            # one row per enrolled account
    notes: list[str] = field(default_factory=list)
    winner: str | None = None
    guards: Guards = field(default_factory=Guards)
    covariate: str | None = None       # the pre-assignment covariate adjusted for, if any


def is_control(arm: pd.Series) -> pd.Series:
    return arm.astype("string").str.strip().str.lower().isin(CONTROL_NAMES).fillna(False)


def arm_names(interventions: pd.DataFrame) -> pd.Series | None:
    """The arm each intervention belongs to: ``control`` or its playbook (with the arm
    label when it is neither control nor ``treatment``); None when not randomised."""
    if S.ARM not in interventions or interventions[S.ARM].isna().all():
        return None
    arm = interventions[S.ARM].astype("string").str.strip()
    ctrl = is_control(arm)
    if not ctrl.any() or ctrl.all():
        return None
    play = interventions[S.PLAYBOOK].astype("string")
    plain = arm.str.lower().isin(["treatment", "treated", "test"]).fillna(False) | arm.isna()
    name = play.where(plain, play + " / " + arm)
    return name.where(~ctrl, "control").astype(object)


def enrol(interventions: pd.DataFrame, spans: pd.DataFrame, contracts: pd.DataFrame,
          end, readout_days: int = 180, names: pd.Series | None = None) -> pd.DataFrame:
    """One row per account at its first assignment before ``end``.

    ``spans``: lifecycle.churn_outcomes (account_id, span_start, span_end, churned,
    churn_date); ``contracts``: account_id, started_at, arr, tenure_days at assignment.
    Columns: account_id, arm_name, started_at, days, churned, arr, tenure_days,
    contaminated (assigned to another arm within ``readout_days``), followed_days
    (``end`` - started_at: how long the account could be followed), and diagnosed_cause
    when the interventions record it.
    """
    end = pd.Timestamp(end)
    iv = interventions.copy()
    iv[ARM] = names if names is not None else iv[S.PLAYBOOK].astype(object)
    iv[S.STARTED_AT] = pd.to_datetime(iv[S.STARTED_AT])
    iv = iv[iv[S.STARTED_AT] < end].sort_values([S.STARTED_AT, S.ACCOUNT_ID], kind="stable")
    cols = [S.ACCOUNT_ID, ARM, S.STARTED_AT, "days", "churned", S.ARR, "tenure_days",
            "contaminated", "followed_days"]
    if iv.empty:
        return pd.DataFrame(columns=cols)
    first = iv.drop_duplicates(S.ACCOUNT_ID, keep="first")
    later = iv.merge(first[[S.ACCOUNT_ID, ARM, S.STARTED_AT]], on=S.ACCOUNT_ID,
                     suffixes=("", "_first"))
    cross = later[(later[ARM] != later[f"{ARM}_first"])
                  & (later[S.STARTED_AT] - later[f"{S.STARTED_AT}_first"]
                     <= pd.Timedelta(days=readout_days))]
    # the CSM's diagnosed cause at the first assignment, when the data record one
    keep = [S.ACCOUNT_ID, ARM, S.STARTED_AT] + [S.DIAGNOSED_CAUSE] * (S.DIAGNOSED_CAUSE in iv)
    out = first[keep].reset_index(drop=True)
    out["contaminated"] = out[S.ACCOUNT_ID].isin(set(cross[S.ACCOUNT_ID]))
    sp = spans.merge(out[[S.ACCOUNT_ID, S.STARTED_AT]], on=S.ACCOUNT_ID)
    sp = sp[(sp["span_start"] <= sp[S.STARTED_AT])
            & (sp["span_end"].isna() | (sp["span_end"] > sp[S.STARTED_AT]))]
    sp = sp.drop_duplicates(S.ACCOUNT_ID)
    out = out.merge(sp[[S.ACCOUNT_ID, "churned", "churn_date"]], on=S.ACCOUNT_ID, how="inner")
    churned = out["churned"].astype(bool) & (pd.to_datetime(out["churn_date"]) <= end)
    stop = pd.to_datetime(out["churn_date"]).where(churned, end)
    out["churned"] = churned.to_numpy()
    out["days"] = (stop - out[S.STARTED_AT]).dt.days.astype(float)
    out["followed_days"] = (end - out[S.STARTED_AT]).dt.days.astype(float)
    c = contracts[[S.ACCOUNT_ID, S.STARTED_AT, S.ARR, "tenure_days"]].copy()
    c[S.STARTED_AT] = pd.to_datetime(c[S.STARTED_AT])
    out = out.merge(c, on=[S.ACCOUNT_ID, S.STARTED_AT], how="left")
    return out[cols + [c for c in out.columns if c not in cols and c != "churn_date"]]


def _imbalance(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Standardised mean difference and its z statistic under randomisation."""
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if len(a) < 2 or len(b) < 2:
        return np.nan, np.nan
    va, vb = a.var(ddof=1), b.var(ddof=1)
    sd, se = np.sqrt((va + vb) / 2), np.sqrt(va / len(a) + vb / len(b))
    diff = abs(a.mean() - b.mean())
    return (float(diff / sd) if sd > 0 else 0.0), (float(diff / se) if se > 0 else 0.0)


def _balance(g: pd.DataFrame, ctrl: pd.DataFrame, covariate: str | None) -> tuple[float, float]:
    """The largest standardised difference before assignment (log ARR, tenure, the
    covariate) and the largest z: chance imbalances of small arms have small z."""
    pairs = [(np.log1p(g[S.ARR].to_numpy(float)), np.log1p(ctrl[S.ARR].to_numpy(float))),
             (g["tenure_days"].to_numpy(float), ctrl["tenure_days"].to_numpy(float))]
    if covariate:
        pairs.append((g[covariate].to_numpy(float), ctrl[covariate].to_numpy(float)))
    values = np.array([_imbalance(a, b) for a, b in pairs], dtype=float)
    if np.isnan(values).all():
        return np.nan, np.nan
    return float(np.nanmax(values[:, 0])), float(np.nanmax(values[:, 1]))


def _cox(g: pd.DataFrame, ctrl: pd.DataFrame) -> tuple[float, float, float]:
    df = pd.DataFrame({"days": np.r_[g["days"], ctrl["days"]].clip(min=0.5),
                       "churned": np.r_[g["churned"], ctrl["churned"]].astype(int),
                       "treated": np.r_[np.ones(len(g)), np.zeros(len(ctrl))]})
    if df["churned"].sum() < 2:
        return np.nan, np.nan, np.nan
    from lifelines import CoxPHFitter  # lifelines is imported where used (~0.7 s that
    #                                      the report's kernel, which reads a month, skips)

    try:
        cph = CoxPHFitter().fit(df, "days", "churned")
    except Exception:   # lifelines' convergence errors: the ratio is not shown
        return np.nan, np.nan, np.nan
    s = cph.summary.loc["treated"]
    return (float(s["exp(coef)"]), float(s["exp(coef) lower 95%"]),
            float(s["exp(coef) upper 95%"]))


def _arm_rows(name, g, ctrl, covariate, horizons) -> list[dict]:
    km_g, km_c = kaplan_meier(g["days"], g["churned"]), kaplan_meier(ctrl["days"],
                                                                      ctrl["churned"])
    rows = []
    for h in horizons:
        r, se = km_g.risk_at(h)
        r0, se0 = km_c.risk_at(h)
        m, sem = km_g.rmst(h)
        m0, sem0 = km_c.rmst(h)
        diff, se_d = r - r0, np.hypot(se, se0)
        dm, se_m = m - m0, np.hypot(sem, sem0)
        row = dict(arm=name, horizon=h, n=len(g), n_control=len(ctrl),
                   n_complete=int((g["followed_days"] >= h).sum()),
                   n_complete_control=int((ctrl["followed_days"] >= h).sum()),
                   churn_risk=r, churn_risk_control=r0, risk_diff=diff,
                   risk_diff_lo=diff - Z95 * se_d, risk_diff_hi=diff + Z95 * se_d,
                   rmst=m, rmst_control=m0, rmst_diff=dm, rmst_diff_lo=dm - Z95 * se_m,
                   rmst_diff_hi=dm + Z95 * se_m,
                   arr_enrolled=float(g[S.ARR].sum()),
                   arr_kept_vs_control=float(-diff * g[S.ARR].sum()))
        row.update(_adjusted(g, ctrl, h, covariate))
        rows.append(row)
    return rows


def _adjusted(g, ctrl, h, covariate) -> dict:
    """CUPED on the accounts enrolled at least ``h`` days before the end (chosen by start
    date, never by outcome), so that every one of them has a known outcome at ``h``."""
    both = pd.concat([g.assign(_t=1.0), ctrl.assign(_t=0.0)])
    both = both[both["followed_days"] >= h]
    nan = dict(adj_diff=np.nan, adj_diff_lo=np.nan, adj_diff_hi=np.nan,
               variance_removed=np.nan)
    if both["_t"].nunique() < 2 or both.groupby("_t").size().min() < 5:
        return nan
    y = (both["churned"] & (both["days"] < h)).to_numpy(float)
    x = None
    if covariate:
        cov = both[covariate].to_numpy(float)
        miss = np.isnan(cov)
        x = np.column_stack([np.where(miss, np.nanmean(cov) if (~miss).any() else 0, cov),
                             miss.astype(float)])
    est, se, se_plain = adjusted_difference(y, both["_t"].to_numpy(), x)
    removed = 1 - (se / se_plain) ** 2 if se_plain > 0 else np.nan
    return dict(adj_diff=est, adj_diff_lo=est - Z95 * se, adj_diff_hi=est + Z95 * se,
                variance_removed=removed if covariate else 0.0)


def read_out(enrolment: pd.DataFrame, randomised: bool, guards: Guards = Guards(),
             covariate: str | None = None, horizons=HORIZONS) -> Readout:
    """The experiment's read-out (see the module docstring)."""
    horizons = tuple(sorted(set(horizons) | {guards.readout_days}))
    if enrolment.empty:
        return Readout(randomised, "No play was started before the read-out date: "
                       "nothing to read out.", pd.DataFrame(), pd.DataFrame(), enrolment,
                       guards=guards)
    if not randomised:
        return _descriptive(enrolment, horizons, guards)
    from lifelines.statistics import logrank_test

    ctrl = enrolment[enrolment[ARM] == "control"]
    rows, summary = [], []
    for name, g in enrolment[enrolment[ARM] != "control"].groupby(ARM, sort=True):
        rows += _arm_rows(name, g, ctrl, covariate, horizons)
        lr = logrank_test(g["days"], ctrl["days"], g["churned"], ctrl["churned"])
        hr, hr_lo, hr_hi = _cox(g, ctrl)
        summary.append(dict(arm=name, n=len(g), n_control=len(ctrl),
                            logrank_p=float(lr.p_value), hazard_ratio=hr, hr_lo=hr_lo,
                            hr_hi=hr_hi,
                            contamination=float(g["contaminated"].mean()),
                            contamination_control=float(ctrl["contaminated"].mean()),
                            **dict(zip(("imbalance_smd", "imbalance_z"),
                                       _balance(g, ctrl, covariate)))))
    arms, summary = pd.DataFrame(rows), pd.DataFrame(summary)
    summary["logrank_p_holm"] = holm(summary["logrank_p"])
    at = arms[arms["horizon"] == guards.readout_days].set_index("arm")
    summary["risk_diff"] = summary["arm"].map(at["risk_diff"])
    summary["rmst_diff"] = summary["arm"].map(at["rmst_diff"])
    summary["status"] = [_status(s, at.loc[s["arm"]], guards) for s in summary.to_dict("records")]
    winner, verdict = _verdict(summary, guards)
    return Readout(True, verdict, arms, summary, enrolment, winner=winner, guards=guards,
                   covariate=covariate)


def _words(arm) -> str:
    return str(arm).replace("_", " ")


def _status(s: dict, at: pd.Series, g: Guards) -> str:
    if min(at["n_complete"], at["n_complete_control"]) < g.min_per_arm:
        return (f"too early: {int(at['n_complete'])} treated and "
                f"{int(at['n_complete_control'])} control accounts followed "
                f"{g.readout_days} days (needs {g.min_per_arm} each)")
    worst = max(s["contamination"], s["contamination_control"])
    if worst > g.max_contamination:
        return (f"contaminated: {worst:.0%} of an arm's accounts were also assigned to "
                f"another arm within {g.readout_days} days (limit {g.max_contamination:.0%})")
    if s["imbalance_smd"] > g.max_smd and s["imbalance_z"] > g.imbalance_z:
        return (f"unbalanced: the arms differ before assignment more than chance allows "
                f"(standardised difference {s['imbalance_smd']:.2f}, z = "
                f"{s['imbalance_z']:.1f})")
    if s["logrank_p_holm"] <= g.alpha:
        return "less churn than control" if s["risk_diff"] < 0 else "more churn than control"
    return "no clear difference from control"


def _verdict(summary: pd.DataFrame, g: Guards) -> tuple[str | None, str]:
    good = summary[summary["status"] == "less churn than control"]
    blocked = summary[~summary["status"].str.endswith("control")]
    if not good.empty:
        best = good.sort_values("risk_diff").iloc[0]
        extra = (f" ({len(blocked)} arm(s) not read: see their status)" if len(blocked)
                 else "")
        name = _words(best["arm"])
        return best["arm"], (f"{name[:1].upper() + name[1:]} keeps the most customers: "
                             f"{-100 * best['risk_diff']:.1f} percentage points "
                             f"less churn within {g.readout_days} days than control (log-rank p = "
                             f"{best['logrank_p_holm']:.3g}, Holm-adjusted){extra}.")
    if len(blocked) == len(summary):
        return None, ("No winner can be named yet: " + blocked.iloc[0]["status"]
                      + (f" (and {len(blocked) - 1} more arm(s) held back)"
                         if len(blocked) > 1 else "") + ".")
    return None, (f"No play keeps clearly more customers than control within "
                  f"{g.readout_days} days (Holm-adjusted log-rank p > {g.alpha}).")


def _descriptive(enrolment: pd.DataFrame, horizons, guards: Guards) -> Readout:
    rows = []
    for name, g in enrolment.groupby(ARM, sort=True):
        km = kaplan_meier(g["days"], g["churned"])
        for h in horizons:
            r, _ = km.risk_at(h)
            rows.append(dict(arm=name, horizon=h, n=len(g), churn_risk=r,
                             rmst=km.rmst(h)[0], arr_enrolled=float(g[S.ARR].sum())))
    verdict = ("The plays were not randomised (no control arm in the interventions' arm "
               "column): the numbers below describe each play's accounts and cannot say "
               "which play saves more, because the CSMs chose who got what.")
    return Readout(False, verdict, pd.DataFrame(rows), pd.DataFrame(), enrolment,
                   guards=guards)
