"""Figures of the time-to-churn analysis (notebook 02 and the monthly report).

Every function takes tables computed elsewhere (:mod:`churnlab.models`, lifelines
fits) and returns a :class:`matplotlib.figure.Figure`; none saves, shows or prints, and
no figure goes through pyplot (Agg-safe, nothing accumulates in global state). Colours
come from :mod:`churnlab.present`: the green / yellow / red tiers are the same colours
everywhere.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from churnlab.errors import InputError
from churnlab.features import snapshot as F
from churnlab.present.style import (
    INK,
    NEUTRAL,
    PALETTE,
    clean,
    new_figure,
    percent_square,
    say_empty,
)

# one colour per model in the backtest charts; the oracle is drawn in ink, dashed
MODEL_COLOURS = {"hazard_xgb": "#1f77b4", "hazard_logit": "#9467bd", "cox": "#8c564b",
                 "aft": "#17becf", "logistic_90d": "#ff7f0e", "health": NEUTRAL,
                 "oracle": INK}


GROUP_COLOURS = ["#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#17becf", "#e377c2",
                 "#bcbd22", "#7f7f7f"]


METRIC_LABELS = {"harrell_c": "Harrell C (90 d)", "uno_c": "Uno C (90 d)",
                 "auc_90": "AUC at 90 days", "auc_180": "AUC at 180 days",
                 "ibs": "integrated Brier score (lower is better)",
                 "calibration_error_90d": "calibration error at 90 days (lower is better)",
                 "top_decile_lift": "top-decile lift", "churned_arr_top10":
                 "share of churned ARR in the top 10%"}


def group_colours(groups: Sequence) -> dict:
    """Tier names get the tier palette; other groups a fixed cycle in the given order."""
    out, k = {}, 0
    for g in groups:
        if str(g) in PALETTE:
            out[g] = PALETTE[str(g)]
        else:
            out[g] = GROUP_COLOURS[k % len(GROUP_COLOURS)]
            k += 1
    return out


def _p_text(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def plot_kaplan_meier(rows: pd.DataFrame, by: str, order: Sequence | None = None,
                      max_days: float | None = None, ticks: Sequence[float] | None = None,
                      title: str | None = None, label: str | None = None,
                      xlabel: str = "days after the landmark date") -> Figure:
    """Kaplan-Meier curves of time to churn by ``by`` with 95% bands, the number of
    accounts at risk under the axis and the multivariate log-rank p in the title.

    Parameters
    ----------
    rows : landmark rows (``duration_days``, ``churned`` and the ``by`` column).
    order : groups to draw, in this order (default: sorted; the tiers green, yellow, red).
    max_days : right end of the axis (default: the longest follow-up).
    ticks : days at which the at-risk counts are shown (default: every 90 days).

    The figure's ``km_`` attribute keeps {group: fitted KaplanMeierFitter}.
    """
    from lifelines import KaplanMeierFitter
    from lifelines.statistics import multivariate_logrank_test

    if by not in rows.columns:
        fig = new_figure(6, 1.2)
        return say_empty(fig, fig.add_subplot(), f"no {label or by.replace('_', ' ')} to "
                                                 "group by in this data")
    data = rows[rows[by].notna()]
    present = list(pd.unique(data[by]))
    if order is None:
        tiers = [t for t in PALETTE if t in present]
        order = tiers if len(tiers) == len(present) else sorted(present, key=str)
    order = [g for g in order if g in present]
    if not order:
        raise InputError(f"plot_kaplan_meier: column {by!r} has no non-missing group")
    max_days = float(max_days or data[F.DURATION].max())
    ticks = list(ticks if ticks is not None else np.arange(0, max_days + 1, 90))
    colours = group_colours(order)
    fig = new_figure(9, 4.6 + 0.28 * len(order))
    ax, tab = fig.subplots(2, 1, height_ratios=[4, 0.35 + 0.28 * len(order)], sharex=True)
    fig.km_ = {}
    for g in order:
        r = data[data[by] == g]
        km = KaplanMeierFitter().fit(r[F.DURATION], r[F.EVENT], label=str(g))
        fig.km_[g] = km
        sf = km.survival_function_.iloc[:, 0]
        ci = km.confidence_interval_survival_function_
        keep = sf.index <= max_days
        ax.step(sf.index[keep], sf.to_numpy()[keep], where="post", color=colours[g], lw=2,
                label=f"{g} (n={len(r):,})")
        ax.fill_between(ci.index[keep], ci.iloc[:, 0].to_numpy()[keep],
                        ci.iloc[:, 1].to_numpy()[keep], step="post", color=colours[g],
                        alpha=0.15, lw=0)
    p = (multivariate_logrank_test(data[F.DURATION], data[by], data[F.EVENT]).p_value
         if len(order) > 1 else np.nan)
    fig.logrank_p_ = float(p)
    ax.set_ylabel("share of accounts not yet churned")
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.set_xlim(0, max_days)
    ax.legend(frameon=False, fontsize="small", loc="lower left")
    name = label or by.replace("_", " ")
    head = title or f"Time to churn by {name}"
    ax.set_title(f"{head} (95% bands; log-rank {_p_text(p)})" if len(order) > 1
                 else f"{head} (95% band)")
    clean(ax)
    # at-risk table: accounts still followed (not churned, not censored) at each tick
    tab.set_ylim(-0.5, len(order) - 0.5)
    tab.set_yticks(range(len(order)), [str(g) for g in order][::-1], fontsize="small")
    for k, g in enumerate(order[::-1]):
        d = data.loc[data[by] == g, F.DURATION].to_numpy(float)
        for t in ticks:
            tab.text(t, k, f"{int((d >= t).sum()):,}", ha="center", va="center",
                     fontsize="x-small", color=colours[g])
    tab.tick_params(axis="y", length=0, pad=16)
    tab.spines[["top", "right", "left"]].set_visible(False)
    tab.set_xticks(ticks)
    tab.set_xlabel(f"{xlabel} (numbers: accounts at risk)")
    return fig


def plot_hazard_ratios(hazard_ratios: pd.DataFrame, labels: dict | None = None,
                       title: str = "Cox model: hazard ratio per standard deviation "
                                    "(95% robust CI)") -> Figure:
    """Forest plot of :meth:`churnlab.models.lifelines_models.CoxModel.hazard_ratios`: one point per
    covariate with its 95% interval on a log axis and the 1.0 reference line; red =
    raises the hazard, green = lowers it (interval excludes 1), grey otherwise."""
    hr = hazard_ratios.sort_values("hazard_ratio").reset_index(drop=True)
    fig = new_figure(8, 0.36 * max(len(hr), 3) + 1.3)
    ax = fig.add_subplot()
    y = np.arange(len(hr))
    v, lo, hi = (hr[c].to_numpy(float) for c in ("hazard_ratio", "lo", "hi"))
    colours = np.where(lo > 1, PALETTE["red"], np.where(hi < 1, PALETTE["green"], NEUTRAL))
    ax.hlines(y, lo, hi, colors=colours, lw=2)
    ax.scatter(v, y, c=colours, s=30, zorder=3)
    labels = labels or {}
    ax.set_yticks(y, [labels.get(c, str(c).replace("__", ": ").replace("_", " "))
                      for c in hr["covariate"]], fontsize="small")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(lambda x, _: f"{x:g}")
    ax.xaxis.set_minor_formatter(lambda x, _: "")
    ax.axvline(1.0, color=INK, lw=1, ls="--")
    ax.set_xlabel("hazard ratio (log scale; > 1 = churns sooner)")
    ax.set_title(title)
    clean(ax)
    return fig


def plot_calibration(table: pd.DataFrame, title: str = "Calibration at 90 days",
                     label: str = "model") -> Figure:
    """Predicted vs observed 90-day churn by decile of predicted probability
    (:func:`churnlab.evaluation.metrics.calibration_table`), error bars +/- 1.96 binomial standard
    errors of a calibrated decile, and the diagonal."""
    fig = new_figure(5.2, 5)
    ax = fig.add_subplot()
    if table is None or not len(table):
        return say_empty(fig, ax, "no out-of-time rows to check calibration on")
    pred, obs = table["predicted"].to_numpy(float), table["observed"].to_numpy(float)
    err = 1.96 * table["se"].to_numpy(float)
    top = float(np.nanmax(np.concatenate([pred + err, obs]))) * 1.08
    ax.plot([0, top], [0, top], color=NEUTRAL, ls="--", lw=1, label="perfect calibration")
    ax.errorbar(pred, obs, yerr=err, fmt="o", color=PALETTE["red"], capsize=3,
                label=f"{label} (deciles, +/- 1.96 SE)")
    percent_square(ax, top, "predicted P(churn within 90 days)",
                   "observed share churned within 90 days")
    ax.set_title(title)
    ax.legend(frameon=False, fontsize="small", loc="upper left")
    clean(ax)
    return fig


def plot_backtest_metrics(metrics: pd.DataFrame, oracle: pd.DataFrame | None = None,
                          columns: Sequence[str] = ("harrell_c", "uno_c", "auc_90", "auc_180",
                                                    "ibs", "calibration_error_90d",
                                                    "top_decile_lift", "churned_arr_top10"),
                          champion: str | None = None) -> Figure:
    """Small multiples: one panel per metric, one line per model across backtest
    origins (the champion thicker), the oracle dashed beside them when given, and the
    Kaplan-Meier IBS (no model) dotted in the IBS panel."""
    if metrics is None or not len(metrics):
        fig = new_figure(6, 1.2)
        return say_empty(fig, fig.add_subplot(), "not validated: no backtest was run")
    data = metrics if oracle is None else pd.concat([metrics, oracle], ignore_index=True)
    columns = [c for c in columns if c in data.columns and data[c].notna().any()]
    models = list(dict.fromkeys(data["model"]))
    origins = sorted(pd.to_datetime(data["origin"]).unique())
    n_cols = 4 if len(columns) > 4 else len(columns)
    n_rows = int(np.ceil(len(columns) / n_cols))
    fig = new_figure(3.2 * n_cols, 2.7 * n_rows + 0.8)
    axes = np.atleast_1d(fig.subplots(n_rows, n_cols, squeeze=False).ravel())
    x = np.arange(len(origins))
    where = {o: i for i, o in enumerate(origins)}
    for ax, col in zip(axes, columns):
        for m in models:
            part = data[data["model"] == m]
            vals = part[col].to_numpy(float)
            if not np.isfinite(vals).any():
                continue
            xs = [where[o] for o in pd.to_datetime(part["origin"])]
            ax.plot(xs, vals, marker="o", ms=3, label=m, color=MODEL_COLOURS.get(m, NEUTRAL),
                    ls="--" if m == "oracle" else "-", lw=2.5 if m == champion else 1.2)
        if col == "ibs" and "ibs_km" in data:
            km = data.groupby(pd.to_datetime(data["origin"]))["ibs_km"].first()
            ax.plot([where[o] for o in km.index], km.to_numpy(float), ls=":", color=INK,
                    label="Kaplan-Meier (no model)")
        ax.set_title(METRIC_LABELS.get(col, col), fontsize="small")
        ax.set_xticks(x, [pd.Timestamp(o).strftime("%Y-%m") for o in origins],
                      fontsize="x-small")
        clean(ax)
    for ax in axes[len(columns):]:
        ax.set_axis_off()
    handles, labels = [], []
    for ax in axes[:len(columns)]:
        for h, lbl in zip(*ax.get_legend_handles_labels()):
            if lbl not in labels:
                handles.append(h)
                labels.append(lbl)
    fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 8),
               frameon=False, fontsize="small")
    fig.suptitle("Out-of-time backtest: every model at every origin")
    return fig


def plot_score_distribution(scores: pd.DataFrame, tiers: pd.Series | None = None,
                            column: str = "p_churn_90d", bins: int = 40) -> Figure:
    """Distribution of the accounts' predicted probability (log-spaced bins), stacked by
    risk tier when ``tiers`` (aligned with ``scores``) is given, with the ARR-weighted
    mean marked."""
    p = scores[column].to_numpy(float)
    fig = new_figure(8, 3.6)
    ax = fig.add_subplot()
    lo = max(float(np.nanmin(p[p > 0])) if (p > 0).any() else 1e-4, 1e-4)
    edges = np.geomspace(lo, max(float(np.nanmax(p)), lo * 10), bins + 1)
    if tiers is not None:
        groups = [t for t in PALETTE if (np.asarray(tiers) == t).any()]
        data = [p[np.asarray(tiers) == t] for t in groups]
        ax.hist(data, bins=edges, stacked=True, color=[PALETTE[t] for t in groups],
                label=[f"{t} tier" for t in groups], alpha=0.85)
        ax.legend(frameon=False, fontsize="small")
    else:
        ax.hist(p, bins=edges, color=PALETTE["red"], alpha=0.7)
    arr_mean = float(np.average(p, weights=scores["arr"].to_numpy(float)))
    ax.axvline(arr_mean, color=INK, ls="--", lw=1)
    ax.text(arr_mean, ax.get_ylim()[1] * 0.95, f" ARR-weighted mean {arr_mean:.1%}",
            fontsize="small", va="top")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(lambda v, _: f"{v:.1%}" if v < 0.01 else f"{v:.0%}")
    days = column.removeprefix("p_churn_").removesuffix("d")
    ax.set_xlabel(f"predicted P(churn within {days} days)" if days.isdigit() else column)
    ax.set_ylabel("accounts")
    ax.set_title(f"Predicted risk of the {len(p):,} active accounts")
    clean(ax)
    return fig
