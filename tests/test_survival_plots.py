"""Survival figures draw what the tables say: one curve per group with the log-rank p
and at-risk counts, the model's hazard ratios, 1.96-SE calibration bars, every model's
metric at every origin; and the notebook-02 helpers state the numbers they are given."""

from __future__ import annotations

import matplotlib

from churnlab.evaluation.backtest import Backtest
from churnlab.evaluation.metrics import calibration_table
from churnlab.features import snapshot as F
from churnlab.models.lifelines_models import CoxModel
from churnlab.models.survival_base import SurvivalModel
from churnlab.present.survival_findings import group_survival, leadership_findings
from churnlab.present.survival_plots import (
    plot_backtest_metrics,
    plot_calibration,
    plot_hazard_ratios,
    plot_kaplan_meier,
    plot_score_distribution,
)

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection

from churnlab.present.style import PALETTE


def _tier_rows(n=900, seed=3) -> pd.DataFrame:
    """Exponential times with a planted hazard per tier, censored at 365 days."""
    rng = np.random.default_rng(seed)
    tier = rng.choice(["green", "yellow", "red"], n, p=[0.5, 0.3, 0.2])
    rate = pd.Series(tier).map({"green": 1 / 2000, "yellow": 1 / 700, "red": 1 / 200})
    t = rng.exponential(1 / rate.to_numpy())
    cens = rng.uniform(100, 365, n)
    return pd.DataFrame({"tier": tier, F.DURATION: np.ceil(np.minimum(t, cens)),
                         F.EVENT: (t <= cens).astype(int)})


def test_kaplan_meier_draws_one_curve_per_group_in_tier_colours_with_the_logrank_p():
    from lifelines import KaplanMeierFitter
    from lifelines.statistics import multivariate_logrank_test

    rows = _tier_rows()
    fig = plot_kaplan_meier(rows, "tier", ticks=[0, 90, 180, 270])
    ax, tab = fig.axes
    assert [line.get_label().split(" ")[0] for line in ax.get_lines()] == \
        ["green", "yellow", "red"]
    assert [line.get_color() for line in ax.get_lines()] == \
        [PALETTE["green"], PALETTE["yellow"], PALETTE["red"]]
    p = multivariate_logrank_test(rows[F.DURATION], rows["tier"], rows[F.EVENT]).p_value
    assert fig.logrank_p_ == pytest.approx(p)
    assert "p < 0.001" in ax.get_title()          # planted rates 10x apart
    # each curve is the Kaplan-Meier estimate of its group
    red = rows[rows["tier"] == "red"]
    km = KaplanMeierFitter().fit(red[F.DURATION], red[F.EVENT])
    line = ax.get_lines()[2]
    y = line.get_ydata()
    np.testing.assert_allclose(y, km.survival_function_.iloc[:, 0].to_numpy()[:len(y)])
    assert len(ax.collections) == 3               # one 95% band per group
    # the at-risk table: accounts still followed at each tick, per group
    texts = {(round(t.get_position()[0]), round(t.get_position()[1])): t.get_text()
             for t in tab.texts}
    assert texts[(180, 0)] == f"{int((red[F.DURATION] >= 180).sum()):,}"   # red: bottom row
    green = rows[rows["tier"] == "green"]
    assert texts[(90, 2)] == f"{int((green[F.DURATION] >= 90).sum()):,}"


def test_kaplan_meier_refuses_a_column_without_groups():
    rows = _tier_rows(50).assign(segment=np.nan)
    with pytest.raises(ValueError, match="segment"):
        plot_kaplan_meier(rows, "segment")


def test_the_forest_plot_shows_the_cox_models_hazard_ratios_and_intervals():
    from lifelines.datasets import load_rossi

    rows = load_rossi().rename(columns={"week": F.DURATION, "arrest": F.EVENT})
    rows[F.LANDMARK] = pd.Timestamp("2020-01-01")
    cox = CoxModel(features=["fin", "age", "prio", "mar"], stratify=False).fit(rows)
    hr = cox.hazard_ratios()
    fig = plot_hazard_ratios(hr)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    points = ax.collections[-1].get_offsets()
    order = hr.sort_values("hazard_ratio")
    np.testing.assert_allclose(points[:, 0], order["hazard_ratio"].to_numpy())
    segs = [c for c in ax.collections if isinstance(c, LineCollection)][0].get_segments()
    np.testing.assert_allclose([s[0][0] for s in segs], order["lo"].to_numpy())
    np.testing.assert_allclose([s[1][0] for s in segs], order["hi"].to_numpy())
    assert [t.get_text() for t in ax.get_yticklabels()] == list(order["covariate"])
    assert any(np.allclose(line.get_xdata(), 1.0) for line in ax.get_lines())
    # prio raises the hazard significantly in Rossi: drawn red
    k = list(order["covariate"]).index("prio")
    assert matplotlib.colors.to_hex(ax.collections[-1].get_facecolors()[k]) == PALETTE["red"]


def test_the_calibration_plot_bars_are_196_standard_errors_and_the_diagonal_is_drawn():
    rng = np.random.default_rng(5)
    p = rng.beta(1, 15, 3000)
    y = rng.random(3000) < p
    table = calibration_table(p, y)
    fig = plot_calibration(table)
    ax = fig.axes[0]
    container = ax.containers[0]
    np.testing.assert_allclose(container.lines[0].get_xdata(), table["predicted"])
    np.testing.assert_allclose(container.lines[0].get_ydata(), table["observed"])
    segs = container.lines[2][0].get_segments()
    np.testing.assert_allclose([s[1][1] - s[0][1] for s in segs], 2 * 1.96 * table["se"])
    diag = ax.get_lines()[0]
    assert np.allclose(diag.get_xdata(), diag.get_ydata())


def _metrics():
    rows = []
    for k, origin in enumerate(pd.to_datetime(["2025-06-01", "2025-08-01", "2025-10-01"])):
        for j, m in enumerate(("hazard_xgb", "cox", "health")):
            rows.append({"model": m, "origin": origin, "harrell_c": 0.7 + 0.03 * j + 0.01 * k,
                         "uno_c": 0.69 + 0.03 * j, "ibs": np.nan if m == "health" else 0.05,
                         "ibs_km": 0.06, "churned_arr_top10": 0.3 + 0.1 * j,
                         "top_decile_lift": 3.0 + j, "calibration_error_90d": 0.01,
                         "mean_p90": 0.05, "observed_90d": 0.05})
    return pd.DataFrame(rows)


def test_backtest_panels_hold_every_models_metric_at_every_origin_and_the_oracle():
    metrics = _metrics()
    oracle = metrics[metrics["model"] == "cox"].assign(model="oracle", harrell_c=0.9)
    fig = plot_backtest_metrics(metrics, oracle, columns=("harrell_c", "ibs"),
                                   champion="hazard_xgb")
    c_ax, ibs_ax = fig.axes[:2]
    lines = {line.get_label(): line for line in c_ax.get_lines()}
    assert set(lines) == {"hazard_xgb", "cox", "health", "oracle"}
    np.testing.assert_allclose(lines["cox"].get_ydata(),
                               metrics.loc[metrics["model"] == "cox", "harrell_c"])
    assert lines["oracle"].get_linestyle() == "--"
    assert lines["hazard_xgb"].get_linewidth() > lines["cox"].get_linewidth()
    ibs = {line.get_label() for line in ibs_ax.get_lines()}
    assert "health" not in ibs and "Kaplan-Meier (no model)" in ibs


def test_the_score_histogram_counts_every_account_once_per_tier():
    rng = np.random.default_rng(1)
    scores = pd.DataFrame({"p_churn_90d": rng.beta(1, 20, 500), "arr": rng.uniform(1, 9, 500)})
    tiers = pd.Series(rng.choice(["green", "yellow", "red"], 500))
    fig = plot_score_distribution(scores, tiers)
    ax = fig.axes[0]
    top = max(p.get_y() + p.get_height() for p in ax.patches)
    per_tier = {t: sum(p.get_height() for p in ax.patches
                       if matplotlib.colors.to_hex(p.get_facecolor()) == PALETTE[t])
                for t in PALETTE}
    assert per_tier == {t: (tiers == t).sum() for t in PALETTE}
    assert top <= 500


# ---------------------------------------------------------------- notebook-02 helpers
def _backtest():
    m = _metrics()
    m.loc[m["model"] == "hazard_xgb", "harrell_c"] = [0.81, 0.82, 0.83]
    return Backtest(m, pd.DataFrame(), pd.DataFrame())


def test_leadership_findings_quote_the_backtest_the_oracle_and_the_tiers():
    bt = _backtest()
    oracle = bt.metrics[bt.metrics["model"] == "cox"].assign(model="oracle", harrell_c=0.88)
    curves = pd.DataFrame({"group": ["green", "yellow", "red"], "accounts": [700, 400, 100],
                           "arr": [1.0, 1.0, 1.0], "p_churn_90d": [0.01, 0.04, 0.16],
                           "median_days": [np.nan, np.nan, 412.0]})
    text = "\n".join(leadership_findings(bt, "hazard_xgb", oracle, curves))
    assert "concordance of 0.820" in text          # the mean over the three origins
    assert "the health score 0.770" in text and "reaches 0.880" in text
    assert "ranks 30% of the next quarter's churned ARR" in text
    assert "red tier have a median time to churn of 412 days" in text
    assert "the green tier (700 accounts) > 730 days" in text


def test_group_median_is_beyond_the_horizon_when_the_curve_stays_above_one_half():
    class Flat(SurvivalModel):
        def predict_survival(self, snapshot, times):
            rate = snapshot["rate"].to_numpy()[:, None]
            return np.exp(-rate * np.asarray(times)[None, :])

    snap = pd.DataFrame({"rate": [np.log(2) / 100, np.log(2) / 300, 1e-5, 1e-5],
                         "arr": [1.0, 2.0, 3.0, 4.0]})
    out = group_survival(Flat(), snap, ["red", "red", "green", "green"]).set_index("group")
    assert np.isnan(out.loc["green", "median_days"])
    # mean of two exponentials with medians 100 and 300 crosses 0.5 between them
    grid = np.arange(0, 731)
    mean = (np.exp(-snap["rate"][0] * grid) + np.exp(-snap["rate"][1] * grid)) / 2
    assert out.loc["red", "median_days"] == grid[np.argmax(mean <= 0.5)]
    assert 100 < out.loc["red", "median_days"] < 300
    assert out.loc["red", "arr"] == 3.0


def _scored(truth_over_predicted, n=4000, seed=9):
    """Backtest rows of one model: predicted p90 ~ U(0.02, 0.18), churn within 90 days
    drawn with probability ``truth_over_predicted * p90`` (others followed 200 days)."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.02, 0.18, n)
    y = rng.random(n) < truth_over_predicted * p
    scores = pd.DataFrame({"origin": pd.Timestamp("2025-06-01"), "model": "hazard_xgb",
                           "account_id": [f"A{i}" for i in range(n)], "risk": p, "p90": p,
                           F.DURATION: np.where(y, rng.integers(1, 90, n), 200),
                           F.EVENT: y.astype(int), "arr": 1.0})
    cal = calibration_table(p, y)
    err = np.average((cal["predicted"] - cal["observed"]).abs(), weights=cal["n"])
    metrics = pd.DataFrame([{"model": "hazard_xgb", "origin": pd.Timestamp("2025-06-01"),
                             "harrell_c": 0.8, "uno_c": 0.8, "churned_arr_top10": 0.3,
                             "top_decile_lift": 3.0, "calibration_error_90d": err,
                             "mean_p90": p.mean(), "observed_90d": y.mean()}])
    return Backtest(metrics, scores, pd.DataFrame())


def test_the_calibration_sentence_says_under_prediction_only_beyond_binomial_noise():
    under = "\n".join(leadership_findings(_scored(2.0), "hazard_xgb"))
    assert "probabilities under-predict" in under and "more than binomial noise" in under
    fair = "\n".join(leadership_findings(_scored(1.0), "hazard_xgb"))
    assert "probabilities are calibrated" in fair and "under-predict" not in fair
