"""The monthly report's figures."""

from __future__ import annotations

import numpy as np

from churnlab.fmt import money_short, words
from churnlab.pipeline.month import MonthlyRisk
from churnlab.present.explain_plots import plot_family_weights
from churnlab.present.style import INK, PALETTE, clean, new_figure, percent_square


def plot_tiers(r: MonthlyRisk):
    """Accounts and ARR per health tier, in the tier colours."""

    fig = new_figure(9, 3.2)
    axes = fig.subplots(1, 2)
    t = r.tiers
    colours = [PALETTE[x] for x in t["tier"]]
    for ax, col, title, fmt in ((axes[0], "accounts", "accounts", "{:,.0f}"),
                                (axes[1], "arr", "ARR", None)):
        vals = t[col].to_numpy(float)
        ax.barh(t["tier"], vals, color=colours)
        for y, v in enumerate(vals):
            ax.text(v, y, " " + (fmt.format(v) if fmt else money_short(v)), va="center",
                    fontsize="small")
        ax.invert_yaxis()
        ax.set_title(f"{title} by risk tier")
        ax.set_xlim(0, max(vals.max(), 1) * 1.25)
        ax.set_xticks([])
        clean(ax)
    return fig


def plot_movements(r: MonthlyRisk):
    """Tier movements since last month as a heat-map matrix with counts."""

    m = r.movements
    fig = new_figure(6, 3.6)
    ax = fig.add_subplot()
    ax.imshow(np.log1p(m.to_numpy(float)), cmap="Greys", aspect="auto", alpha=0.6)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, f"{m.iat[i, j]:,}", ha="center", va="center", fontsize="small")
    ax.set_xticks(range(m.shape[1]), m.columns)
    ax.set_yticks(range(m.shape[0]), m.index)
    ax.set_xlabel(f"this month ({r.as_of.date()})")
    ax.set_ylabel(f"last month ({r.prev_as_of.date()})")
    ax.set_title("Risk-tier movements since last month (accounts)")
    return fig


def plot_families(r: MonthlyRisk):
    """Signal families' share of the model's explained risk vs the articles' weights
    (the five core families compared among themselves; every family and the contract
    calendar as shares of the whole)."""

    return plot_family_weights(r.importance)


def plot_forecast(r: MonthlyRisk):
    """Last month's forecast vs what happened, by forecast quantile (binomial 95% bars)."""

    b = r.forecast_bins
    fig = new_figure(5.5, 3.6)
    ax = fig.add_subplot()
    lim = max(b["predicted"].max(), b["observed"].max(), 0.01) * 1.15
    ax.plot([0, lim], [0, lim], color=INK, lw=0.8, ls="--", label="perfect calibration")
    ax.errorbar(b["predicted"], b["observed"], yerr=1.96 * b["se"], fmt="o",
                color=PALETTE["red"], capsize=3, label="observed (95% range if calibrated)")
    percent_square(ax, lim, "forecast P(leave during the month)", "share that left")
    ax.set_title(f"Forecast made {r.prev_as_of.date()} vs outcome")
    ax.legend(frameon=False, fontsize="x-small")
    clean(ax)
    return fig


def plot_root_causes(r: MonthlyRisk):
    """Expected ARR lost by the next renewal, by root cause (in words)."""

    g = r.accounts.groupby("root_cause")["expected_arr_lost_decision"].sum()
    g = g.sort_values()
    g.index = [words(c) for c in g.index]
    fig = new_figure(6.5, 2.8)
    ax = fig.add_subplot()
    ax.barh(g.index.astype(str), g.to_numpy(float), color="#546e7a")
    for y, v in enumerate(g.to_numpy(float)):
        ax.text(v, y, " " + money_short(v), va="center", fontsize="small")
    ax.set_xlim(0, max(g.max(), 1) * 1.3)
    ax.set_xticks([])
    ax.set_title("Expected ARR lost by the next renewal, by root cause")
    clean(ax)
    return fig
