"""Health score: weights, sub-scores, tiers, and the out-of-time comparison of default
vs learned weights."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from churnlab.data import contract as S
from churnlab.evaluation.health import _auc, tier_table
from churnlab.models.health import HealthScore
from churnlab.models.health_families import (
    CORE_FAMILIES,
    LEARNED,
    LEARNED_CORE,
    HealthInputError,
    article_tier,
    default_weights,
    fit_nonneg_logistic,
    tier_from_cuts,
)


# ================================================================ small pieces
def test_default_weights_are_the_articles_mid_points_scaled_to_one():
    w = default_weights()
    assert w.sum() == pytest.approx(1.0)
    mids = {f: (lo + hi) / 2 for f, (lo, hi) in S.DEFAULT_WEIGHT_RANGES.items()}
    for f, mid in mids.items():
        assert w[f] == pytest.approx(mid / sum(mids.values()))
    assert (w.drop(list(mids)) == 0).all()
    assert w["usage"] > w["engagement"] > w["support"] == w["outcomes"] > w["sentiment"]


def test_article_tiers_follow_the_schema_cuts():
    tiers = article_tier([100, 80, 79.99, 60, 59.99, 0])
    assert list(tiers) == ["green", "green", "yellow", "yellow", "red", "red"]


def test_mann_whitney_auc_is_sklearns():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    health = rng.normal(size=500) - y + rng.integers(0, 3, 500)  # with ties
    assert _auc(y, health) == pytest.approx(roc_auc_score(y, -health))


def test_non_negative_logistic_recovers_planted_coefficients_and_zeros_the_wrong_sign():
    rng = np.random.default_rng(1)
    n = 20000
    scores = rng.uniform(size=(n, 3))
    # risk falls with scores 0 and 1 (beta 3 and 1); score 2 would *raise* risk
    eta = 1.0 - scores @ np.array([3.0, 1.0, -1.0])
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(int)
    beta = fit_nonneg_logistic(scores, y)
    assert beta[2] == 0.0
    # the constrained fit keeps the others near truth; tolerance ~ 5 standard errors
    # of a logistic coefficient on a uniform covariate at this n (about 0.06 each)
    assert beta[0] == pytest.approx(3.0, abs=0.3)
    assert beta[1] == pytest.approx(1.0, abs=0.3)


# ====================================================== a labelled toy snapshot
def make_snapshot(n: int = 3000, seed: int = 0):
    """Point-in-time features in churnlab's column names, with planted effects:
    low logins and a champion departure raise churn; NPS does a little; newsletters
    do nothing."""
    rng = np.random.default_rng(seed)
    logins = rng.gamma(4, 25, n)
    champion = (rng.uniform(size=n) < 0.1).astype(int)
    nps = np.clip(np.round(rng.normal(8, 2, n)), 0, 10)
    newsletters = rng.poisson(3, n).astype(float)
    eta = -2.0 - 0.02 * (logins - 100) + 2.0 * champion - 0.15 * (nps - 8)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(int)
    snap = pd.DataFrame({
        S.ACCOUNT_ID: [f"A{i // 2}" for i in range(n)],   # two rows per account
        "logins__sum_90d": logins, "logins__trend": rng.normal(0, 0.2, n),
        "nps_response__mean_90d": np.where(rng.uniform(size=n) < 0.2, np.nan, nps),
        "nps_response__trend": rng.normal(0, 0.1, n),
        "champion_left__any_30d": champion * (rng.uniform(size=n) < 0.3),
        "champion_left__any_90d": champion, "champion_left__any_180d": champion,
        "newsletter_opened__sum_90d": newsletters, "newsletter_opened__trend": 0.0,
    })
    return snap, y


@pytest.fixture(scope="module")
def toy():
    snap, y = make_snapshot()
    model = HealthScore(n_bootstrap=40, random_state=0).fit(snap, y)
    return snap, y, model


def test_fit_returns_self_and_init_only_stores_settings():
    snap, y = make_snapshot(600)
    est = HealthScore(n_bootstrap=5, C=0.5)
    assert est.get_params()["C"] == 0.5 and not hasattr(est, "weights_")
    assert est.fit(snap, y) is est


def test_learned_weights_are_non_negative_sum_to_one_and_have_intervals(toy):
    _, _, model = toy
    w = model.weights_
    assert (w >= 0).all() and w.sum() == pytest.approx(1.0)
    assert list(model.weights_ci_.index) == list(w.index)
    assert (model.weights_ci_["lo"] <= model.weights_ci_["hi"]).all()
    assert (model.weights_ci_.to_numpy() >= 0).all() and (model.weights_ci_.to_numpy() <= 1).all()
    boot = model.weights_boot_
    assert np.allclose(boot.sum(axis=1), 1.0)


def test_families_without_signal_get_little_weight_and_informative_ones_most(toy):
    _, _, model = toy
    w = model.weights_
    assert set(w.index) == {"usage", "engagement", "sentiment", "relationship"}
    assert w["usage"] > w["engagement"] and w["relationship"] > w["engagement"]
    # engagement (newsletters) carries no signal: its interval reaches zero
    assert model.weights_ci_.loc["engagement", "lo"] == pytest.approx(0.0, abs=1e-6)


def test_directions_are_learned_from_the_data(toy):
    _, _, model = toy
    d = model.directions_.set_index("feature")["direction"]
    assert d["logins__log_sum_90d"] == "higher is healthier"
    assert d["champion_left__any_180d"] == "higher is riskier" or \
        d["champion_left__any_90d"] == "higher is riskier"
    assert d["nps_response__mean_90d"] == "higher is healthier"


def test_scores_are_0_to_100_with_tiers_from_their_cuts(toy):
    snap, y, model = toy
    out = model.score(snap)
    assert len(out) == len(snap)
    assert out["health"].between(0, 100).all()
    for f in model.families_:
        assert out[f"score_{f}"].between(0, 100).all()
    assert (out["tier"] == article_tier(out["health"])).all()
    cuts = model.thresholds_[LEARNED]
    assert (out["tier_data"] == tier_from_cuts(out["health"], cuts)).all()
    assert cuts["green"] >= cuts["yellow"] >= cuts["red"] == 0
    # in-sample the score ranks churners first
    assert _auc(y, out["health"].to_numpy()) > 0.7


def test_default_weighting_uses_the_articles_weights(toy):
    snap, _, model = toy
    subs = model.sub_scores(snap)
    w = model.default_weights_
    expected = subs[model.families_].to_numpy() @ w.to_numpy()
    assert model.score(snap, "default")["health"].to_numpy() == pytest.approx(expected)


def test_bad_labels_are_refused_by_name():
    snap, y = make_snapshot(100)
    with pytest.raises(HealthInputError, match="one value per snapshot row"):
        HealthScore().fit(snap, y[:-1])
    with pytest.raises(HealthInputError, match="single class"):
        HealthScore().fit(snap, np.zeros(len(snap)))
    with pytest.raises(HealthInputError, match="account_id"):
        HealthScore().fit(snap.drop(columns=S.ACCOUNT_ID), y)


def test_tier_table_counts_churn_and_arr_per_tier():
    df = pd.DataFrame({"t": ["green", "green", "yellow", "red", "red"],
                       "y": [0, 1, 0, 1, np.nan], S.ARR: [10.0, 20.0, 30.0, 40.0, 50.0]})
    t = tier_table(df, "t", "y").set_index("tier")
    assert t.loc["green", "churn_rate"] == 0.5
    assert t.loc["red", "n"] == 1           # the unknown outcome is left out
    assert t["share_of_churned_arr"].sum() == pytest.approx(1.0)
    assert t.loc["red", "share_of_churned_arr"] == pytest.approx(40 / 60)


# ========================================== out of time, on a simulated SaaS
from _simdata import health_evaluation, simulated_data  # noqa: E402


@pytest.fixture(scope="session")
def sim_data(tmp_path_factory) -> str:
    return str(simulated_data(tmp_path_factory.getbasetemp() / "churnlab-sim"))


@pytest.fixture(scope="session")
def evaluation(sim_data):
    return health_evaluation(sim_data)


def _auc_standard_error(auc: float, n_pos: int, n_neg: int) -> float:
    """Hanley & McNeil (1982)."""
    q1, q2 = auc / (2 - auc), 2 * auc ** 2 / (1 + auc)
    return float(np.sqrt((auc * (1 - auc) + (n_pos - 1) * (q1 - auc ** 2)
                          + (n_neg - 1) * (q2 - auc ** 2)) / (n_pos * n_neg)))


@pytest.mark.slow
def test_the_evaluation_trains_before_the_score_date_and_judges_after_it(evaluation):
    ev = evaluation
    assert ev.training_dates
    horizon = pd.Timedelta(days=ev.horizon_days + S.GRACE_DAYS)
    assert max(ev.training_dates) + horizon <= ev.score_date
    assert ev.score_date + horizon <= ev.outcome_end
    assert (pd.to_datetime(ev.scores["landmark"]) == ev.score_date).all()
    assert ev.metrics["churners_within_horizon"].iloc[0] >= 50


@pytest.mark.slow
def test_learned_weights_do_at_least_as_well_as_the_defaults_out_of_time(evaluation):
    """On 2,000 simulated accounts the learned weights gain about +0.01 concordance
    and AUC over the articles' defaults; the paired bootstrap interval of that gain
    includes zero at this size, so the test asserts only that the learned weighting is
    ahead and that "worse than the default" is outside the interval's upper bound.
    (On the 5,000-account demo the gain is measured again and quoted in the issue note.)"""
    d = evaluation.differences.set_index("metric")
    for metric in ("concordance", f"auc_{evaluation.horizon_days}d"):
        assert d.loc[metric, "learned_minus_default"] > 0, metric
        assert d.loc[metric, "hi"] > 0
        assert d.loc[metric, "lo"] <= d.loc[metric, "learned_minus_default"] <= d.loc[metric, "hi"]
    m = evaluation.metrics.set_index("weighting")
    assert (m[["concordance", "auc_90d", f"auc_{evaluation.horizon_days}d"]] > 0.6).all().all()


@pytest.mark.slow
def test_the_families_the_articles_do_not_weigh_carry_weight(evaluation):
    model = evaluation.model
    extra = [f for f in model.families_ if f not in CORE_FAMILIES]
    assert extra
    share = model.weights_boot_[extra].sum(axis=1)
    assert share.quantile(0.025) > 0       # the bootstrap interval of their total excludes 0
    m = evaluation.metrics.set_index("weighting")
    assert m.loc[LEARNED, "concordance"] > m.loc[LEARNED_CORE, "concordance"]


@pytest.mark.slow
def test_sub_scores_with_planted_effects_rank_next_periods_churners(evaluation):
    df = evaluation.scores
    outcome = f"churn_{evaluation.horizon_days}d"
    known = df[df[outcome].notna()]
    y = known[outcome].to_numpy()
    n_pos, n_neg = int(y.sum()), int((1 - y).sum())
    for family in ("usage", "engagement", "support", "outcomes", "lifecycle"):
        auc = _auc(y, known[f"score_{family}"].to_numpy())
        assert auc - 1.96 * _auc_standard_error(auc, n_pos, n_neg) > 0.5, (family, auc)


@pytest.mark.slow
def test_tiers_concentrate_next_periods_churn(evaluation):
    t = evaluation.tiers
    data = t[(t["weighting"] == LEARNED) & (t["scheme"] == "data")].set_index("tier")
    assert data.loc["red", "churn_rate"] > data.loc["yellow", "churn_rate"] \
        > data.loc["green", "churn_rate"]
    assert data.loc["red", "churn_rate"] > evaluation.model.base_rate_
    f = evaluation.flagged.set_index(["weighting", "scheme"]).loc[(LEARNED, "data")]
    assert f["share_churned_arr_red_or_yellow"] > f["share_accounts_red_or_yellow"]
    cuts = evaluation.model.thresholds_[LEARNED]
    assert 0 < cuts["yellow"] <= cuts["green"] <= 100
