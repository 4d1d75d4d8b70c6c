"""Figures of the leading signals and the health score (notebook 01).

Every function takes the tables computed elsewhere (:mod:`churnlab.signals`,
:mod:`churnlab.models.health`) and returns a :class:`matplotlib.figure.Figure`; none saves,
shows or prints. Figures are built without pyplot, so nothing accumulates in global
state and a notebook displays each returned figure exactly once.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from churnlab.present.style import (
    DIRECTION_COLOURS,
    FAMILY_COLOURS,
    INK,
    NEUTRAL,
    PALETTE,
    clean,
    new_figure,
    say_empty,
    short,
)


def plot_lead_times(lead_times: pd.DataFrame, summary: pd.DataFrame, top: int = 10,
                    horizon: int | None = None) -> Figure:
    """Signal timeline before churn: distribution of lead times of the top risk signals.

    Parameters
    ----------
    lead_times : :func:`churnlab.signals.lead_time_table` (one row per churner x signal).
    summary : :func:`churnlab.signals.summarise_signals` (ranks and directions).
    top : how many risk signals to show (best ranked first).
    """
    risk = summary[summary["direction"] == "risk"].sort_values("rank").head(top)
    fig = new_figure(9, 0.55 * max(len(risk), 2) + 1.4)
    ax = fig.add_subplot()
    if risk.empty:
        return say_empty(fig, ax, "no significant risk signal")
    data, labels, colours = [], [], []
    for _, row in risk.iloc[::-1].iterrows():
        values = lead_times.loc[lead_times["signal"] == row["signal"], "lead_days"].to_numpy()
        data.append(values if values.size else np.array([np.nan]))
        labels.append(short(row["label"]))
        colours.append(FAMILY_COLOURS.get(row["family"], NEUTRAL))
    parts = ax.boxplot(data, orientation="horizontal", widths=0.6, patch_artist=True,
                       showfliers=False, medianprops={"color": INK})
    for patch, colour in zip(parts["boxes"], colours):
        patch.set_facecolor(colour)
        patch.set_alpha(0.55)
    ax.set_yticks(range(1, len(labels) + 1), labels)
    horizon = horizon or int(np.nanmax([np.nanmax(d) if np.isfinite(d).any() else 0
                                        for d in data]) // 30 * 30 + 30)
    ax.set_xlim(horizon, 0)
    ax.axvline(0, color=PALETTE["red"], lw=2)
    ax.set_xlabel("days before churn (first appearance of the signal)")
    ax.set_title("When the warning signs appeared before churn (top risk signals)")
    handles = {f: c for f, c in zip(risk["family"], [FAMILY_COLOURS.get(f, NEUTRAL)
                                                      for f in risk["family"]])}
    from matplotlib.patches import Patch

    ax.legend([Patch(color=c, alpha=0.55) for c in handles.values()], list(handles),
              title="family", loc="upper left", bbox_to_anchor=(1.01, 1.0),
              fontsize="small", frameon=False)
    clean(ax)
    return fig


def plot_lift_by_family(summary: pd.DataFrame, include_none: bool = False) -> Figure:
    """Forest plot: each signal's headline lift (churners vs renewals) with its 95% CI,
    grouped by family; red = risk, green = protective, grey = no reliable difference."""
    rows = summary if include_none else summary[summary["direction"] != "none"]
    rows = rows[np.isfinite(rows["lift"].astype(float))]
    order = rows.assign(_f=rows["family"].map({f: i for i, f in enumerate(FAMILY_COLOURS)}))
    order = order.sort_values(["_f", "lift"], ascending=[False, True])
    fig = new_figure(9, 0.32 * max(len(order), 3) + 1.4)
    ax = fig.add_subplot()
    if order.empty:
        return say_empty(fig, ax, "no significant signal")
    y = np.arange(len(order))
    colours = order["direction"].map(DIRECTION_COLOURS).fillna(NEUTRAL).to_numpy()
    lift = order["lift"].to_numpy(float)
    err = np.vstack([lift - order["lift_lo"].to_numpy(float),
                     order["lift_hi"].to_numpy(float) - lift])
    for yi, li, e0, e1, c in zip(y, lift, err[0], err[1], colours):
        ax.errorbar(li, yi, xerr=[[e0], [e1]], fmt="o", color=c, capsize=2, ms=5)
    ax.set_yticks(y, [f"{short(lbl, 42)}  ({w} d)" for lbl, w in
                      zip(order["label"], order["window"])], fontsize="small")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(lambda v, _: f"{v:g}")
    ax.axvline(1, color=INK, lw=1, ls="--")
    ax.set_xlabel("lift: how many times more common among churners than renewals (log scale)")
    # family bands
    fam = order["family"].to_numpy()
    start = 0
    for i in range(1, len(fam) + 1):
        if i == len(fam) or fam[i] != fam[start]:
            if len(set(fam)) > 1:
                ax.axhspan(start - 0.5, i - 0.5, color=FAMILY_COLOURS.get(fam[start], NEUTRAL),
                           alpha=0.07, lw=0)
                ax.text(1.0, (start + i - 1) / 2, fam[start], transform=ax.get_yaxis_transform(),
                        ha="left", va="center", fontsize="small",
                        color=FAMILY_COLOURS.get(fam[start], INK))
            start = i
    ax.set_title("Lift by signal family (95% CI); red = risk, green = protective")
    clean(ax)
    return fig


def plot_metric_cohorts(cohorts: pd.DataFrame, label: str | None = None) -> Figure:
    """Churn rate (with 95% CI) by cohort of a metric (:func:`churnlab.signals.metric_cohorts`)."""
    fig = new_figure(9, 4)
    ax = fig.add_subplot()
    if cohorts.empty:
        return say_empty(fig, ax, "No usage event type in this data to cut the book by.")
    x = np.arange(len(cohorts))
    rate = cohorts["churn_rate"].to_numpy(float)
    base = cohorts["churned"].sum() / max(cohorts["n"].sum(), 1)
    colours = [PALETTE["red"] if r > 2 * base else PALETTE["yellow"] if r > base
               else PALETTE["green"] for r in rate]
    ax.bar(x, rate, color=colours, alpha=0.8)
    ax.errorbar(x, rate, yerr=[rate - cohorts["churn_rate_lo"], cohorts["churn_rate_hi"] - rate],
                fmt="none", color=INK, capsize=3)
    ax.axhline(base, color=INK, ls="--", lw=1)
    ax.text(len(x) - 0.5, base, f" overall {base:.0%}", va="bottom", ha="right",
            fontsize="small")
    ticks = [("no data" if c == "no data" else f"{c}\n{lo:.3g}-{hi:.3g}")
             for c, lo, hi in zip(cohorts["cohort"], cohorts["metric_lo"], cohorts["metric_hi"])]
    ax.set_xticks(x, ticks, fontsize="x-small")
    metric = label or str(cohorts["metric"].iloc[0]) if len(cohorts) else ""
    ax.set_xlabel(f"cohort (decile) of {metric} a year ago, with its range")
    ax.set_ylabel("share churned within the year")
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.set_title(f"Churn rate by {metric} cohort")
    clean(ax)
    return fig


def plot_adjusted(adjusted: pd.DataFrame, label: str = "") -> Figure:
    """A confounded signal's lift per window: naive vs adjusted views, with 95% CIs."""
    if adjusted.empty:
        fig = new_figure(8, 1.2)
        return say_empty(fig, fig.add_subplot(), "No confounded signal to show.")
    views = list(dict.fromkeys(adjusted["view"]))
    windows = list(dict.fromkeys(adjusted["window"]))
    colours = dict(zip(views, [PALETTE["red"], "#1f77b4", "#6a1b9a", NEUTRAL]))
    fig = new_figure(8, 3.8)
    ax = fig.add_subplot()
    width = 0.8 / max(len(views), 1)
    for k, view in enumerate(views):
        part = adjusted[adjusted["view"] == view].set_index("window").reindex(windows)
        x = np.arange(len(windows)) + (k - (len(views) - 1) / 2) * width
        lift = part["lift"].to_numpy(float)
        ok = np.isfinite(lift)
        ax.errorbar(x[ok], lift[ok], yerr=[lift[ok] - part["lift_lo"].to_numpy(float)[ok],
                                           part["lift_hi"].to_numpy(float)[ok] - lift[ok]],
                    fmt="o", capsize=3, color=colours[view], label=view)
    ax.axhline(1, color=INK, ls="--", lw=1)
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:g}")
    ax.yaxis.set_minor_formatter(lambda v, _: f"{v:g}")
    ax.set_xticks(range(len(windows)), [f"{w} days before" for w in windows])
    ax.set_ylabel("lift (churners vs renewals, log scale)")
    ax.set_title(f"{label or adjusted['signal'].iloc[0]}: naive vs adjusted for usage")
    ax.legend(frameon=False, fontsize="small")
    clean(ax)
    return fig


def plot_weights(weights: pd.DataFrame) -> Figure:
    """Default (articles) vs learned family weights, learned with bootstrap intervals.

    ``weights``: :meth:`churnlab.models.health.HealthScore.weights_table` or the ``weights`` of
    a :class:`churnlab.evaluation.health.HealthEvaluation` (then the core-five weights are drawn too).
    """
    fams = weights["family"].tolist()
    series = [("default", "default (articles)", NEUTRAL, None, None),
              ("learned", "learned (all families)", PALETTE["green"], "learned_lo", "learned_hi")]
    if "learned (core five)" in weights.columns:
        series.append(("learned (core five)", "learned (core five)", "#1f77b4",
                       "core_lo", "core_hi"))
    fig = new_figure(9, 4)
    ax = fig.add_subplot()
    width = 0.8 / len(series)
    x = np.arange(len(fams))
    for k, (col, name, colour, lo, hi) in enumerate(series):
        vals = weights[col].to_numpy(float)
        pos = x + (k - (len(series) - 1) / 2) * width
        ok = np.isfinite(vals)
        ax.bar(pos[ok], vals[ok], width=width, color=colour, alpha=0.85, label=name)
        if lo is not None:
            lo_v, hi_v = weights[lo].to_numpy(float), weights[hi].to_numpy(float)
            ok = ok & np.isfinite(lo_v)
            ax.errorbar(pos[ok], vals[ok], yerr=[np.maximum(vals[ok] - lo_v[ok], 0),
                                                 np.maximum(hi_v[ok] - vals[ok], 0)],
                        fmt="none", color=INK, capsize=3)
    ax.set_xticks(x, fams)
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.set_ylabel("weight in the health score")
    ax.set_title("Health-score weights: the articles' defaults vs learned from churners (95% CI)")
    ax.legend(frameon=False, fontsize="small")
    clean(ax)
    return fig


def plot_tier_churn(tiers: pd.DataFrame, weighting: str = "learned") -> Figure:
    """Churn rate per tier (articles' cuts and data-suggested cuts) for one weighting,
    annotated with each tier's share of accounts and of churned ARR."""
    part = tiers[tiers["weighting"] == weighting]
    schemes = list(dict.fromkeys(part["scheme"]))
    fig = new_figure(4.2 * max(len(schemes), 1) + 1, 3.8)
    axes = fig.subplots(1, max(len(schemes), 1), sharey=True, squeeze=False)[0]
    for ax, scheme in zip(axes, schemes):
        t = part[part["scheme"] == scheme]
        x = np.arange(len(t))
        rate = t["churn_rate"].fillna(0).to_numpy(float)
        ax.bar(x, rate, color=[PALETTE.get(k, NEUTRAL) for k in t["tier"]], alpha=0.85)
        n_total = max(t["n"].sum(), 1)
        for xi, r, n, share in zip(x, rate, t["n"], t["share_of_churned_arr"].fillna(0)):
            ax.text(xi, r, f"{n / n_total:.0%} of accounts\n{share:.0%} of churned ARR",
                    ha="center", va="bottom", fontsize="x-small")
        ax.set_xticks(x, t["tier"])
        ax.set_ylim(0, max(float(np.nanmax(part["churn_rate"].fillna(0))), 0.05) * 1.25)
        ax.set_title(f"{scheme} tiers")
        ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
        clean(ax)
    axes[0].set_ylabel("churn rate after the score date")
    fig.suptitle(f"Churn by health tier ({weighting} weights), out of time")
    return fig


def plot_score_comparison(metrics: pd.DataFrame,
                          columns: Sequence[str] = ("concordance", "auc_90d", "auc_180d",
                                                    "auc_before_renewal")) -> Figure:
    """Out-of-time discrimination of each weighting (concordance and AUCs)."""
    columns = [c for c in columns if c in metrics.columns]
    fig = new_figure(8, 3.6)
    ax = fig.add_subplot()
    width = 0.8 / max(len(metrics), 1)
    colours = {"default": NEUTRAL, "learned": PALETTE["green"], "learned (core five)": "#1f77b4"}
    x = np.arange(len(columns))
    for k, (_, row) in enumerate(metrics.iterrows()):
        pos = x + (k - (len(metrics) - 1) / 2) * width
        vals = row[columns].to_numpy(float)
        ax.bar(pos, vals, width=width, label=row["weighting"],
               color=colours.get(row["weighting"], NEUTRAL), alpha=0.85)
    ax.axhline(0.5, color=INK, ls="--", lw=1)
    ax.set_ylim(0.4, 1.0)
    ax.set_xticks(x, columns)
    ax.set_ylabel("out-of-time score (0.5 = chance)")
    ax.set_title("Does the score rank next period's churners first?")
    ax.legend(frameon=False, fontsize="small")
    clean(ax)
    return fig


def plot_adjusted_directions(directions: pd.DataFrame) -> Figure:
    """Each event type's adjusted hazard ratio per standard deviation with its 95%
    interval (others and tenure held fixed), coloured by the direction it is named by."""
    d = directions.dropna(subset=["adj_hr"])
    fig = new_figure(8, max(2.5, 0.32 * len(d) + 1.2))
    ax = fig.add_subplot()
    if d.empty:
        return say_empty(fig, ax, "No adjusted effect could be estimated on this data.")
    d = d.iloc[::-1]
    colour = d["adj_direction"].map({"risk": PALETTE["red"], "protective": PALETTE["green"]}
                                    ).fillna(NEUTRAL)
    y = np.arange(len(d))
    ax.errorbar(d["adj_hr"], y, xerr=[d["adj_hr"] - d["adj_hr_lo"],
                                      d["adj_hr_hi"] - d["adj_hr"]],
                fmt="none", ecolor=NEUTRAL, capsize=2)
    ax.scatter(d["adj_hr"], y, c=list(colour), zorder=3)
    ax.axvline(1, color=INK, ls="--", lw=1)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(lambda v, _: f"{v:g}")
    ax.set_yticks(y, list(d["label"]))
    ax.set_xlabel("hazard ratio per standard deviation, others and tenure held fixed")
    ax.set_title("What each event type does on its own (red: raises risk, green: lowers it, "
                 "grey: no reliable effect)", fontsize="medium")
    clean(ax)
    return fig
