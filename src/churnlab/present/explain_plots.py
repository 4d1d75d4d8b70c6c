"""Figures of the explanations: family weights, beeswarm, dependence, waterfall, root causes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnlab.data import contract as S
from churnlab.fmt import words
from churnlab.present.style import FAMILY_COLOURS, INK, NEUTRAL


# ------------------------------------------------------------------ figures
def _fig(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def plot_family_weights(importance: pd.DataFrame):
    """Learned weights (share of mean |SHAP| per family) beside the articles' default
    weights: left, the five families the articles weigh (shares among them); right,
    every family and the contract (shares of the whole)."""

    fig = _fig(11, 4.2)
    left, right = fig.subplots(1, 2, width_ratios=[1, 1.2])
    core = importance.dropna(subset=["default_share"]).sort_values("default_share")
    y = np.arange(len(core))
    left.barh(y + 0.2, core["learned_share_core"], height=0.4, label="learned (SHAP)",
              color=[FAMILY_COLOURS.get(f, NEUTRAL) for f in core["family"]])
    left.barh(y - 0.2, core["default_share"], height=0.4, label="articles' default",
              color="white", edgecolor=INK, hatch="//")
    left.set_yticks(y, [words(f) for f in core["family"]])
    left.xaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    left.set_title("Five core families: learned vs default weights")
    left.legend(loc="lower right", frameon=False)
    allf = importance.sort_values("learned_share")
    right.barh(np.arange(len(allf)), allf["learned_share"],
               color=[FAMILY_COLOURS.get(f, NEUTRAL) for f in allf["family"]])
    right.set_yticks(np.arange(len(allf)), [words(f) for f in allf["family"]])
    right.xaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    right.set_title("Every family and the contract calendar (share of mean |SHAP|)")
    for ax in (left, right):
        ax.spines[["top", "right"]].set_visible(False)
    return fig


def plot_root_cause_mix(tri: pd.DataFrame):
    """Accounts and expected ARR lost by the next renewal, by root cause (triage table;
    causes in words)."""
    fig = _fig(9, 3.4)
    left, right = fig.subplots(1, 2)
    lost = tri.assign(lost=tri["p_churn_decision"] * tri[S.ARR])
    g = lost.groupby("root_cause").agg(accounts=(S.ACCOUNT_ID, "size"), arr=("lost", "sum"))
    g = g.sort_values("arr")
    g.index = [words(c) for c in g.index]
    left.barh(g.index, g["accounts"], color="#546e7a")
    left.set_title("Accounts by root cause")
    right.barh(g.index, g["arr"], color="#c62828")
    right.xaxis.set_major_formatter(lambda v, _: f"${v / 1e3:,.0f}k")
    right.set_title("Expected ARR lost by the next renewal")
    right.set_yticks([])
    for ax in (left, right):
        ax.spines[["top", "right"]].set_visible(False)
    return fig
