"""The save experiments' read-out for people: curves, an effect chart, a table, words.

Takes a :class:`churnlab.actions.experiments.Readout` (and optionally the planner's
:class:`churnlab.pipeline.experiments.Plan`); returns figures, display tables and
Markdown. Nothing is computed here that the read-out does not already hold.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from churnlab.actions.experiments import ARM, Readout
from churnlab.data import contract as S
from churnlab.features import snapshot as F
from churnlab.fmt import markdown_table, money_short
from churnlab.present.style import INK, NEUTRAL, PALETTE, clean, new_figure, say_empty
from churnlab.present.survival_plots import plot_kaplan_meier


def _words(arm: str) -> str:
    return str(arm).replace("_", " ")


def plot_arm_curves(readout: Readout, max_days: int = 360) -> Figure:
    """Kaplan-Meier curves of time to churn from the play's start, one per arm."""
    e = readout.enrolment
    if e is None or e.empty:
        fig = new_figure(6, 1.2)
        return say_empty(fig, fig.add_subplot(), "no play was started: no curves to draw")
    rows = pd.DataFrame({F.DURATION: e["days"].to_numpy(float),
                         F.EVENT: e["churned"].astype(bool).to_numpy(),
                         "arm": e[ARM].map(_words).to_numpy()})
    order = sorted(rows["arm"].unique(), key=lambda a: (a != "control", a))
    return plot_kaplan_meier(rows, "arm", order=order, max_days=max_days,
                             ticks=range(0, max_days + 1, 60),
                             title="Time to churn from the play's start, by arm",
                             xlabel="days after the play started")


def plot_arm_effects(readout: Readout) -> Figure:
    """Each play's change in churn risk at the read-out horizon against control with
    its 95% interval (filled: Kaplan-Meier on everyone enrolled; hollow, when the read-out
    used a covariate: adjusted for the pre-assignment risk, on those followed for the
    whole horizon)."""
    h = readout.guards.readout_days
    fig = new_figure(8, 1.4 + 0.45 * max(len(readout.summary), 1))
    ax = fig.add_subplot()
    if not readout.randomised or readout.arms.empty:
        return say_empty(fig, ax, "no randomised arms: no effect against control to draw")
    a = readout.arms[readout.arms["horizon"] == h].sort_values("risk_diff",
                                                               ascending=False)
    y = np.arange(len(a))
    status = readout.summary.set_index("arm")["status"]
    for k, r in enumerate(a.to_dict("records")):
        st = status[r["arm"]]
        colour = (PALETTE["green"] if st.startswith("less churn") else PALETTE["red"]
                  if st.startswith("more churn") else INK if st.endswith("control")
                  else NEUTRAL)
        ax.errorbar(100 * r["risk_diff"], k, xerr=[[100 * (r["risk_diff"] - r["risk_diff_lo"])],
                    [100 * (r["risk_diff_hi"] - r["risk_diff"])]], fmt="o", color=colour,
                    capsize=3)
        if readout.covariate and np.isfinite(r.get("adj_diff", np.nan)):
            ax.plot(100 * r["adj_diff"], k - 0.22, "o", mfc="none", color=colour, ms=6)
    ax.axvline(0, color=NEUTRAL, lw=1, ls="--")
    ax.set_yticks(y, [_words(v) for v in a["arm"]])
    ax.set_xlabel(f"change in churn within {h} days vs control (percentage points; "
                  "left = fewer churn)")
    ax.set_title("What each play changes (95% intervals; green: a winner after Holm; grey: "
                 "held back by a guard"
                 + (";\nhollow: adjusted for the risk before the play, on accounts followed "
                    "the whole horizon)" if readout.covariate else ")"), fontsize="medium")
    clean(ax)
    return fig


def readout_table(readout: Readout) -> pd.DataFrame:
    """One display row per arm: accounts, churn within each horizon, the difference from
    control with its interval, days kept, ARR kept, hazard ratio and the status."""
    if readout.arms.empty:
        return pd.DataFrame()
    horizons = sorted(readout.arms["horizon"].unique())
    out = []
    for arm, g in readout.arms.groupby("arm", sort=False):
        g = g.set_index("horizon")
        row = {"play": _words(arm), "accounts": int(g["n"].iloc[0])}
        for h in horizons:
            row[f"churn within {h} d"] = f"{g.loc[h, 'churn_risk']:.0%}"
            if readout.randomised:
                row[f"vs control at {h} d"] = (
                    f"{100 * g.loc[h, 'risk_diff']:+.1f} pts "
                    f"[{100 * g.loc[h, 'risk_diff_lo']:+.1f}, "
                    f"{100 * g.loc[h, 'risk_diff_hi']:+.1f}]")
        if readout.randomised:
            h = readout.guards.readout_days
            row[f"days kept of {h}"] = (f"{g.loc[h, 'rmst_diff']:+.1f} "
                                        f"[{g.loc[h, 'rmst_diff_lo']:+.1f}, "
                                        f"{g.loc[h, 'rmst_diff_hi']:+.1f}]")
            row["ARR kept vs control (before discounts)"] = money_short(
                g.loc[h, "arr_kept_vs_control"])
        out.append(row)
    table = pd.DataFrame(out)
    if readout.randomised:
        s = readout.summary.set_index("arm")
        arms = readout.arms.drop_duplicates("arm")["arm"]
        table["hazard ratio"] = [f"{s.loc[a, 'hazard_ratio']:.2f} [{s.loc[a, 'hr_lo']:.2f}, "
                                 f"{s.loc[a, 'hr_hi']:.2f}]" for a in arms]
        table["log-rank p (Holm)"] = [f"{s.loc[a, 'logrank_p_holm']:.3g}" for a in arms]
        table["status"] = [s.loc[a, "status"] for a in arms]
        control = readout.arms.iloc[0]
        head = {"play": "control", "accounts": int(control["n_control"])}
        for h in horizons:
            r0 = readout.arms.loc[readout.arms["horizon"] == h, "churn_risk_control"].iloc[0]
            head[f"churn within {h} d"] = f"{r0:.0%}"
        table = pd.concat([pd.DataFrame([head]), table], ignore_index=True).fillna("")
    return table


def adjustment_sentence(readout: Readout) -> str:
    """What adjusting for the pre-assignment risk did to the intervals, in words."""
    if not readout.randomised or readout.arms.empty:
        return ""
    h = readout.guards.readout_days
    vr = readout.arms.loc[readout.arms["horizon"] == h, "variance_removed"]
    if vr.isna().all() or (vr.fillna(0) == 0).all():
        return ""
    v = float(vr.mean())
    if v >= 0.05:
        return (f"Adjusting for each account's risk before its play started removes {v:.0%} "
                f"of the {h}-day difference's variance (the hollow points): the same "
                f"answer with {1 - np.sqrt(1 - v):.0%} narrower intervals.")
    return (f"Adjusting for each account's risk before its play started does not narrow "
            f"the {h}-day intervals ({v:+.0%} of the variance): among accounts already at "
            "risk, who churns is mostly not predictable from before the play, so the "
            "unadjusted differences are the read-out.")


def readout_markdown(readout: Readout, plan=None) -> str:
    """The read-out as Markdown: the verdict, the notes, the table and the plan."""
    lines = ["# Save experiments", "", readout.verdict, ""]
    lines += [f"- {n}" for n in readout.notes]
    table = readout_table(readout)
    if not table.empty:
        lines += ["", markdown_table(table), ""]
    lines += ["", adjustment_sentence(readout)] if adjustment_sentence(readout) else []
    if plan is not None:
        lines += ["", "## The next test", "", plan.sentence()]
    return "\n".join(lines).strip() + "\n"


def plot_qini(validation) -> Figure:
    """The held-out Qini curve of the uplift model beside random targeting."""
    fig = new_figure(7, 4)
    ax = fig.add_subplot()
    curve = getattr(validation, "curve", None)
    if curve is None or curve.empty:
        return say_empty(fig, ax, "too few randomised accounts for an uplift model")
    x = 100 * curve["share_targeted"]
    colour = PALETTE["green"] if validation.status == "validated" else INK
    ax.plot(x, curve["churns_prevented"], color=colour, lw=2, marker="o", ms=3,
            label="ranked by the uplift model")
    ax.plot(x, curve["random"], color=NEUTRAL, ls="--", label="random order")
    ax.axhline(0, color=INK, lw=0.6)
    ax.set_xlabel(f"share of the {validation.n_test} held-out accounts worked (%)")
    ax.set_ylabel("churns prevented (against control)")
    ax.set_title(f"Does the uplift model know who the plays change? (Qini "
                 f"{validation.qini:.2f}, 90% interval {validation.qini_lo:.2f} to "
                 f"{validation.qini_hi:.2f})", fontsize="medium")
    ax.legend(frameon=False, fontsize="small")
    clean(ax)
    return fig


def targeting_table(targeting: pd.DataFrame, n: int = 15) -> pd.DataFrame:
    """The top of the at-risk book by expected ARR saved by the recommended play, with
    the risk-based rank beside it."""
    if targeting is None or targeting.empty:
        return pd.DataFrame()
    t = targeting.head(n)
    return pd.DataFrame({"uplift rank": t["uplift_rank"].to_numpy(),
                         "risk rank": t["risk_rank"].to_numpy(),
                         "account": t[S.NAME].to_numpy(),
                         "ARR": t[S.ARR].map(money_short).to_numpy(),
                         "recommended play": t["uplift_play"].map(_words).to_numpy(),
                         "fall in churn probability": t["uplift"].map("{:.0%}".format)
                         .to_numpy(),
                         "expected ARR saved": t["expected_arr_saved_uplift"]
                         .map(money_short).to_numpy()})
