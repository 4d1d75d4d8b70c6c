"""Expansion for people: contract changes by month, attribution, the milestone
comparison in a chart and in words (see :mod:`churnlab.pipeline.expansion`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from churnlab.fmt import money_short
from churnlab.present.style import INK, NEUTRAL, PALETTE, clean, new_figure, say_empty


def plot_expansion_by_month(expansion) -> Figure:
    """ARR added by expansions and taken by contractions, per month."""
    fig = new_figure(8, 3.6)
    ax = fig.add_subplot()
    c = expansion.changes
    if c.empty:
        return say_empty(fig, ax, "no expansion or contraction in the last 12 months")
    month = pd.to_datetime(c["changed_at"]).dt.to_period("M")
    g = c.assign(month=month).pivot_table(index="month", columns="kind", values="arr_change",
                                          aggfunc="sum", fill_value=0.0)
    x = np.arange(len(g))
    if "expansion" in g:
        ax.bar(x, g["expansion"] / 1e3, color=PALETTE["green"], label="expansion")
    if "contraction" in g:
        ax.bar(x, g["contraction"] / 1e3, color=PALETTE["red"], label="contraction")
    ax.axhline(0, color=INK, lw=0.6)
    ax.set_xticks(x, [str(p) for p in g.index], rotation=45, ha="right", fontsize="small")
    ax.set_ylabel("ARR change ($k)")
    ax.set_title("ARR won and lost within existing accounts, by month")
    ax.legend(frameon=False, fontsize="small")
    clean(ax)
    return fig


def attribution_table(expansion) -> pd.DataFrame:
    """Expansions and their ARR by the last milestone before them (or none)."""
    a = expansion.attributed
    if a is None or a.empty:
        return pd.DataFrame()
    key = a["milestone"].fillna("no milestone in the window").str.replace("_", " ")
    t = a.assign(credited_to=key).groupby("credited_to").agg(
        expansions=("arr_change", "size"), arr_added=("arr_change", "sum"),
        median_days_before=("days_before", "median"))
    t = t.sort_values("arr_added", ascending=False).reset_index()
    return pd.DataFrame({
        "credited to (last milestone)": t["credited_to"],
        "expansions": t["expansions"],
        "ARR added": t["arr_added"].map(money_short),
        "median days before": t["median_days_before"].map(
            lambda v: "-" if pd.isna(v) else f"{v:.0f}")})


def plot_milestone_ratios(expansion) -> Figure:
    """Crude and stratified ratio of expansion rates, with vs without each milestone."""
    c = expansion.comparison
    fig = new_figure(8, 1.4 + 0.6 * max(len(c), 1))
    ax = fig.add_subplot()
    c = c.dropna(subset=["adjusted_ratio"]) if len(c) else c
    if c.empty:
        return say_empty(fig, ax, "no milestone with and without accounts to compare")
    y = np.arange(len(c))
    ax.errorbar(c["adjusted_ratio"], y, xerr=[c["adjusted_ratio"] - c["adjusted_lo"],
                                              c["adjusted_hi"] - c["adjusted_ratio"]],
                fmt="o", color=INK, capsize=3, label="within strata (Mantel-Haenszel, 95%)")
    ax.plot(c["crude_ratio"], y - 0.2, "o", mfc="none", color=NEUTRAL, label="crude")
    ax.axvline(1, color=NEUTRAL, ls="--", lw=1)
    ax.set_xscale("log")
    ax.set_yticks(y, c["milestone"].str.replace("_", " "))
    ax.set_xlabel(f"expansion rate in the next {expansion.window_days} days, with the "
                  "milestone / without (log scale)")
    ax.set_title("Do accounts with a milestone expand more? (not randomised)")
    ax.legend(frameon=False, fontsize="small")
    clean(ax)
    return fig


def summary_words(expansion) -> str:
    """The expansion summary in words, then its notes (what was not used or was
    sampled, and why) as a list."""
    notes = "".join(f"\n- {n}" for n in expansion.notes)
    return expansion.summary() + ("\n" + notes if notes else "")


def comparison_words(expansion) -> str:
    c = expansion.comparison
    if c is None or c.empty:
        return "No milestone could be compared: the data have none with both groups."
    lines = []
    for r in c.dropna(subset=["adjusted_ratio"]).itertuples():
        way = ("more often than" if r.adjusted_lo > 1 else "less often than"
               if r.adjusted_hi < 1 else "about as often as")
        lines.append(f"- Accounts with **{r.milestone.replace('_', ' ')}** in the "
                     f"{expansion.window_days} days before expanded {way} those without, "
                     f"within the strata: ratio {r.adjusted_ratio:.2f} "
                     f"({r.adjusted_lo:.2f}-{r.adjusted_hi:.2f}); crude {r.crude_ratio:.2f}.")
    lines.append("\nA crude ratio far from the stratified one means the milestone mostly "
                 "marks accounts that were going to expand anyway.")
    return "\n".join(lines)
