"""Figures of the explanations: family weights, beeswarm, dependence, waterfall, root causes."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from churnlab.data import contract as S
from churnlab.data.signal_map import SignalMap
from churnlab.explain.attribution import feature_event_type
from churnlab.explain.sentences import num
from churnlab.present.style import FAMILY_COLOURS, INK, NEUTRAL, PALETTE


# ------------------------------------------------------------------ figures
def _fig(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _feature_label(name: str, signal_map: SignalMap) -> str:
    et = feature_event_type(name)
    if et in signal_map:
        stat = name.rsplit("__", 1)[1].replace("_", " ")
        return f"{signal_map[et].label} ({stat})"
    return name.replace("__", " ").replace("_", " ")


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
    left.set_yticks(y, core["family"])
    left.xaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    left.set_title("Five core families: learned vs default weights")
    left.legend(loc="lower right", frameon=False)
    allf = importance.sort_values("learned_share")
    right.barh(np.arange(len(allf)), allf["learned_share"],
               color=[FAMILY_COLOURS.get(f, NEUTRAL) for f in allf["family"]])
    right.set_yticks(np.arange(len(allf)), allf["family"])
    right.xaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    right.set_title("Every family and the contract calendar (share of mean |SHAP|)")
    for ax in (left, right):
        ax.spines[["top", "right"]].set_visible(False)
    return fig


def plot_beeswarm(phi: pd.DataFrame, snapshot: pd.DataFrame, signal_map: SignalMap,
                  top: int = 12, max_points: int = 3000, random_state: int = 0):
    """SHAP beeswarm of the ``top`` features by mean |SHAP|: one dot per account
    (risk scale; right = raises risk), coloured by the feature's value (rank within
    the book, blue low to red high; grey when missing)."""
    order = phi.abs().mean().sort_values(ascending=False).index[:top][::-1]
    rng = np.random.default_rng(random_state)
    idx = np.arange(len(phi))
    if len(idx) > max_points:
        idx = np.sort(rng.choice(idx, max_points, replace=False))
    fig = _fig(9, 0.45 * len(order) + 1.5)
    ax = fig.add_subplot()
    for k, name in enumerate(order):
        x = phi[name].to_numpy()[idx]
        v = pd.to_numeric(snapshot[name], errors="coerce").to_numpy()[idx] \
            if name in snapshot.columns else np.full(len(idx), np.nan)
        colour = pd.Series(v).rank(pct=True).to_numpy()
        y = k + rng.uniform(-0.3, 0.3, len(idx))
        missing = np.isnan(colour)
        ax.scatter(x[missing], y[missing], s=5, color="#bdbdbd", alpha=0.6, linewidths=0)
        sc = ax.scatter(x[~missing], y[~missing], s=5, c=colour[~missing], cmap="coolwarm",
                        vmin=0, vmax=1, alpha=0.7, linewidths=0)
    ax.axvline(0, color="#263238", lw=0.8)
    ax.set_yticks(range(len(order)), [_feature_label(n, signal_map)[:55] for n in order])
    ax.set_xlabel("SHAP value (log-odds of next month's churn; right = riskier)")
    ax.set_title(f"What drives the model: the {len(order)} strongest inputs")
    bar = fig.colorbar(sc, ax=ax, ticks=[0, 1], aspect=40)
    bar.ax.set_yticklabels(["low", "high"])
    bar.set_label("feature value")
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def plot_dependence(phi: pd.DataFrame, snapshot: pd.DataFrame, features: Sequence[str],
                    signal_map: SignalMap):
    """SHAP dependence: each feature's value (x) against its SHAP value (y), one panel
    per feature."""
    n = len(features)
    fig = _fig(3.6 * min(n, 3), 3.0 * int(np.ceil(n / 3)))
    axes = np.atleast_1d(fig.subplots(int(np.ceil(n / 3)), min(n, 3))).ravel()
    for ax, name in zip(axes, features):
        x = pd.to_numeric(snapshot[name], errors="coerce")
        ax.scatter(x, phi[name], s=5, alpha=0.5, color="#1f77b4", linewidths=0)
        ax.axhline(0, color="#263238", lw=0.8)
        ax.set_xlabel(_feature_label(name, signal_map)[:45], fontsize=8)
        ax.set_ylabel("SHAP (risk scale)", fontsize=8)
        ax.spines[["top", "right"]].set_visible(False)
    for ax in axes[n:]:
        ax.set_axis_off()
    return fig


def plot_waterfall(phi_row: pd.Series, base: float, snapshot_row: pd.Series,
                   signal_map: SignalMap, top: int = 8, title: str = ""):
    """One account's walk from the base value to its risk score: the ``top`` largest
    SHAP values as bars (red raises, green lowers the risk), the rest summed."""

    order = phi_row.abs().sort_values(ascending=False).index
    shown = list(order[:top])
    rest = float(phi_row.drop(shown).sum())
    labels = [f"{_feature_label(n, signal_map)[:42]} = {_short_value(snapshot_row.get(n))}"
              for n in shown] + [f"{len(order) - len(shown)} other inputs"]
    values = [float(phi_row[n]) for n in shown] + [rest]
    fig = _fig(9, 0.42 * len(values) + 1.6)
    ax = fig.add_subplot()
    start = base
    for k, v in enumerate(values):
        ax.barh(len(values) - 1 - k, v, left=start, height=0.6,
                color=PALETTE["red"] if v > 0 else PALETTE["green"])
        ax.text(start + v, len(values) - 1 - k, f" {v:+.2f}", va="center", fontsize=8,
                ha="left" if v > 0 else "right")
        start += v
    path = base + np.concatenate([[0.0], np.cumsum(values)])
    pad = 0.08 * max(float(path.max() - path.min()), 1e-6)
    ax.set_xlim(float(path.min()) - 2 * pad, float(path.max()) + 2 * pad)
    ax.axvline(base, color="#9e9e9e", lw=0.8, ls="--")
    ax.axvline(start, color="#263238", lw=1.0)
    ax.set_yticks(range(len(values)), labels[::-1], fontsize=8)
    ax.set_xlabel(f"risk (log-odds of next month's churn): base {base:.2f} -> {start:.2f}")
    ax.set_title(title or "Why this account's risk is what it is")
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def _short_value(v) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)) or pd.isna(v):
        return "n/a"
    return num(float(v)) if isinstance(v, (int, float, np.number)) else str(v)


def plot_root_cause_mix(tri: pd.DataFrame):
    """Accounts and expected ARR lost before renewal by root cause (triage table)."""
    fig = _fig(9, 3.4)
    left, right = fig.subplots(1, 2)
    g = tri.groupby("root_cause").agg(accounts=(S.ACCOUNT_ID, "size"),
                                      arr=("expected_arr_lost_before_renewal", "sum"))
    g = g.sort_values("arr")
    left.barh(g.index, g["accounts"], color="#546e7a")
    left.set_title("Accounts by root cause")
    right.barh(g.index, g["arr"], color="#c62828")
    right.xaxis.set_major_formatter(lambda v, _: f"${v / 1e3:,.0f}k")
    right.set_title("Expected ARR lost before renewal")
    right.set_yticks([])
    for ax in (left, right):
        ax.spines[["top", "right"]].set_visible(False)
    return fig
