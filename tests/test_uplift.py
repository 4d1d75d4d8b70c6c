"""Uplift targeting: the Qini curve on hand-made outcomes, the pooled learner on a world
with a strong planted heterogeneity (and on one where the plays do nothing), the root-cause
scores it reads from the data's signal map, the gate that keeps the risk queue, and the
comparison with risk targeting against the simulator's truth."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from _simdata import experiments_world

from churnlab.actions.experiments import ARM
from churnlab.actions.uplift import (
    cause_columns,
    fit_uplift,
    qini_coefficient,
    qini_curve,
    split_accounts,
)
from churnlab.cli import main
from churnlab.data import contract as S
from churnlab.data.signal_map import load_signal_map
from churnlab.data.warehouse import open_warehouse
from churnlab.pipeline.experiments import run_experiments
from churnlab.pipeline.uplift import Y, target_book, uplift_rows, validate_uplift
from churnlab.sim.generate import simulate_saas
from churnlab.sim.params import PLAYBOOKS, SimulationParams, effect_if, expected_relative_effect
from churnlab.sim.truth import targeting_against_truth


def _world(n: int, seed: int, effect: float) -> pd.DataFrame:
    """Randomised accounts (control, play_a, play_b); churn probability 0.5, cut by
    ``effect`` with play_a when x1 > 0 and with play_b when x1 < 0 (nothing else
    matters); a segment column and a noise feature."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    arm = rng.choice(["control", "play_a", "play_b"], n)
    p = 0.5 - effect * (((arm == "play_a") & (x1 > 0)) | ((arm == "play_b") & (x1 < 0)))
    return pd.DataFrame({S.ACCOUNT_ID: [f"A{i}" for i in range(n)], ARM: arm,
                         "x1__mean_30d": x1, "x2__mean_30d": x2,
                         S.SEGMENT: rng.choice(["one", "two"], n),
                         S.ARR: rng.lognormal(9, 0.5, n),
                         Y: (rng.random(n) < p).astype(int)})


def test_the_qini_curve_rewards_the_right_order_and_punishes_the_reverse():
    # 100 persuadables (churn without the play, stay with it), 100 who never churn
    n = 200
    persuadable = np.arange(n) < 100
    treated = np.arange(n) % 2 == 0
    rows = pd.DataFrame({ARM: np.where(treated, "play", "control"),
                         Y: (persuadable & ~treated).astype(int)})
    right = pd.DataFrame({"uplift": persuadable.astype(float), "uplift_play":
                          persuadable.astype(float)})
    curve = qini_curve(rows, right)
    assert curve["churns_prevented"].iloc[-1] == pytest.approx(50.0)   # 100 treated x 0.5
    assert qini_coefficient(curve) > 10
    wrong = right.assign(uplift=1 - right["uplift"], uplift_play=1 - right["uplift_play"])
    assert qini_coefficient(qini_curve(rows, wrong)) < -10


def test_the_learner_finds_which_play_helps_whom_when_the_data_suffice():
    rows = _world(3000, 1, effect=0.35)
    train, test = split_accounts(rows, 0.3, seed=0)
    assert set(test[ARM]) == {"control", "play_a", "play_b"}
    assert not set(train[S.ACCOUNT_ID]) & set(test[S.ACCOUNT_ID])
    model = fit_uplift(train, ["x1__mean_30d", "x2__mean_30d"])
    pred = model.predict(test)
    truth = np.where(test["x1__mean_30d"] > 0, "play_a", "play_b")
    assert (pred["best_play"].to_numpy() == truth).mean() > 0.85
    v = validate_uplift(rows, n_boot=200)
    assert v.status == "validated" and v.qini_lo > 0
    assert v.model is not None and "better than chance" in v.sentence


@pytest.mark.parametrize("n", [1500, 600])
def test_the_csms_diagnosed_cause_is_an_effect_modifier_the_signals_need_not_reveal(n):
    # the play that works is set by the diagnosed cause alone; no feature shows it (the
    # second world is small: 600 accounts, ~200 per arm)
    rows = _world(n, 2, effect=0.35)
    rows[S.DIAGNOSED_CAUSE] = np.where(rows["x1__mean_30d"] > 0, "product_fit",
                                       "service_experience")
    truth_of = lambda t: np.where(t[S.DIAGNOSED_CAUSE] == "product_fit", "play_a",  # noqa: E731
                                  "play_b")
    rows = rows.drop(columns=["x1__mean_30d"])
    train, test = split_accounts(rows, 0.3, seed=0)
    hit = {}
    for name, data in (("with", train), ("without", train.drop(columns=[S.DIAGNOSED_CAUSE]))):
        model = fit_uplift(data, ["x2__mean_30d"])
        assert (S.DIAGNOSED_CAUSE in model.modifiers) == (name == "with")
        pred = model.predict(test if name == "with" else test.drop(columns=[S.DIAGNOSED_CAUSE]))
        hit[name] = (pred["best_play"].to_numpy() == truth_of(test)).mean()
    # without it the learner cannot tell the two groups apart: about half right
    assert hit["with"] > 0.85 and hit["without"] < 0.7, hit


def test_the_book_is_targeted_with_the_triages_root_cause_where_no_csm_diagnosed_one():
    rows = _world(3000, 3, effect=0.35)
    rows[S.DIAGNOSED_CAUSE] = np.where(rows["x1__mean_30d"] > 0, "product_fit",
                                       "service_experience")
    v = validate_uplift(rows.drop(columns=["x1__mean_30d"]), n_boot=100)
    assert v.status == "validated"
    causes = ["product_fit", "service_experience", "service_experience", "product_fit"]
    accounts = pd.DataFrame({S.ACCOUNT_ID: ["A1", "A2", "A3", "A4"],
                             "tier": ["red", "yellow", "red", "green"],
                             S.ARR: [10.0, 20.0, 30.0, 40.0], "priority": [1, 2, 3, 4],
                             "root_cause": causes})
    snapshot = accounts[[S.ACCOUNT_ID]].assign(x2__mean_30d=0.0).iloc[::-1]
    book = target_book(v, accounts, snapshot).set_index(S.ACCOUNT_ID)
    assert list(book.index) == ["A3", "A2", "A1"]        # green left out; by ARR x uplift
    assert book["uplift_play"].to_dict() == {"A1": "play_a", "A2": "play_b", "A3": "play_b"}


def _cause_world(n: int, seed: int) -> pd.DataFrame:
    """Randomised accounts whose play works only by root cause: ``fix_it`` cuts churn by
    0.3 when the account's friction signals (two risk signals the map points at
    service) are high, ``talk`` when its engagement (a protective signal pointing at
    value) is low; 40 noise features beside them."""
    rng = np.random.default_rng(seed)
    friction = rng.normal(size=n)
    engaged = rng.normal(size=n)
    arm = rng.choice(["control", "fix_it", "talk"], n)
    cut = 0.3 * (((arm == "fix_it") & (friction > 0)) | ((arm == "talk") & (engaged < 0)))
    rows = pd.DataFrame({S.ACCOUNT_ID: [f"A{i}" for i in range(n)], ARM: arm,
                         "bugs__sum_90d": np.exp(friction + rng.normal(0, 0.3, n)),
                         "escalations__sum_90d": friction + rng.normal(0, 0.3, n),
                         "sessions__mean_90d": 50 + 10 * engaged + rng.normal(0, 3, n),
                         Y: (rng.random(n) < 0.55 - cut).astype(int),
                         "friction": friction, "engaged": engaged})     # latent, not inputs
    for j in range(40):
        rows[f"noise{j}__mean_30d"] = rng.normal(size=n)
    return rows


SIGNAL_MAP = """event_types:
  bugs:        {family: support, kind: count, label: bugs, direction: risk,
                root_cause: service_experience}
  escalations: {family: support, kind: count, label: escalations, direction: risk}
  sessions:    {family: usage, kind: gauge, label: sessions, direction: protective}
  unrelated:   {family: usage, kind: count, label: unrelated}
"""


def test_root_cause_scores_come_from_the_signal_map_and_find_cause_driven_effects(tmp_path):
    (tmp_path / "map.yaml").write_text(SIGNAL_MAP)
    signal_map = load_signal_map(tmp_path / "map.yaml")
    rows = _cause_world(900, 4)
    causes = cause_columns(rows.columns, signal_map)
    # support defaults to service experience, usage to value perception; protective
    # signals count against the cause; a signal without a direction is left out
    assert causes == {"service_experience": [("bugs__sum_90d", 1.0),
                                             ("escalations__sum_90d", 1.0)],
                      "value_perception": [("sessions__mean_90d", -1.0)]}
    assert cause_columns(rows.columns, None) == {}
    train, test = split_accounts(rows, 0.3, seed=0)
    features = [c for c in rows.columns if "__" in c]
    truth = np.where(test["friction"] > 0, "fix_it", "talk")
    only = (test["friction"] > 0) != (test["engaged"] < 0)      # exactly one play works
    hit = {}
    for name, sm in (("with map", signal_map), ("without", None)):
        pred = fit_uplift(train, features, signal_map=sm).predict(test)
        hit[name] = (pred["best_play"].to_numpy()[only] == truth[only]).mean()
    # with the map the cause scores carry the effect; without it the same 630 accounts
    # must find it among 43 weakly-penalised interactions
    assert hit["with map"] > 0.75
    assert hit["with map"] > hit["without"] + 0.05


def test_plays_that_do_nothing_do_not_validate_and_the_queue_stays_on_risk():
    v = validate_uplift(_world(1500, 2, effect=0.0), n_boot=200)
    assert v.status == "not validated" and v.model is None
    assert v.qini_lo <= 0 <= v.qini_hi
    assert "stays ranked by risk" in v.sentence
    accounts = pd.DataFrame({S.ACCOUNT_ID: ["A1"], "tier": ["red"], S.ARR: [1.0],
                             "priority": [1]})
    assert target_book(v, accounts, accounts).empty


def test_too_few_randomised_accounts_say_so_in_one_line():
    v = validate_uplift(_world(60, 3, effect=0.3))
    assert v.status == "not enough data"
    assert v.sentence.startswith("Too few randomised accounts")


def test_targeting_against_the_truth_never_beats_the_oracle(tmp_path_factory):
    world = experiments_world(tmp_path_factory.getbasetemp())
    truth = pd.read_parquet(world / "truth" / "interventions.parquet")
    with open_warehouse(world) as wh:
        r = run_experiments(wh)
        rows = uplift_rows(wh, r)
    assert len(rows) and rows[Y].isin([0, 1]).all()
    assert (rows["followed_days"] >= 180).all()
    v = validate_uplift(rows, n_boot=100)
    assert v.test is not None
    t = targeting_against_truth(v.test, truth)
    for k in ("arr_kept_uplift", "arr_kept_risk", "arr_kept_random",
              "arr_kept_oracle_risk_ranking", "arr_kept_oracle_arr_ranking"):
        assert 0 <= t[k] <= t["arr_kept_oracle"] + 1e-6
    assert t["worked"] == round(0.5 * t["accounts"])


def test_the_ranking_ceiling_ranks_the_true_best_play_by_true_risk_and_by_arr():
    # four equal-ARR accounts but one big one; the riskiest are the ones plays barely move
    plays = list(PLAYBOOKS)
    q = np.array([0.9, 0.8, 0.3, 0.2])
    best = np.array([0.05, 0.04, 0.2, 0.15])          # the true best play's cut of q
    arr = np.array([100.0, 100.0, 100.0, 1000.0])
    start = pd.Timestamp("2026-01-01")
    truth = pd.DataFrame({S.ACCOUNT_ID: list("abcd"), S.STARTED_AT: start, "q_before": q})
    for i, k in enumerate(plays):
        truth[effect_if(k)] = best if i == 0 else best / 2
    held = pd.DataFrame({S.ACCOUNT_ID: list("abcd"), S.STARTED_AT: start, S.ARR: arr,
                         "p_no_play": q, "best_play": plays[0], "uplift": best})
    t = targeting_against_truth(held, truth)
    kept = best * arr                                  # 5, 4, 20, 150
    assert t["arr_kept_oracle"] == pytest.approx(150 + 20)
    assert t["arr_kept_oracle_risk_ranking"] == pytest.approx(150 + 5)   # d (180), a (90)
    assert t["arr_kept_oracle_arr_ranking"] == pytest.approx(150 + kept[0])  # d, then a
    assert t["arr_kept_uplift"] == pytest.approx(t["arr_kept_oracle"])
    # the risk queue with given plays: d and a (the riskiest by risk x ARR) are worked; a
    # gets the second play (half the cut), d a play the simulator never planted (nothing)
    given = targeting_against_truth(held, truth, risk_plays={
        "x": [plays[1], plays[0], plays[0], "save_conversation"]})
    assert given["arr_kept_risk_x"] == pytest.approx(kept[0] / 2)


def test_simulate_with_growth_effects_records_play_effects_that_vary_by_segment(tmp_path):
    out = tmp_path / "g"
    assert main(["-q", "simulate", "--accounts", "800", "--months", "24", "--seed", "3",
                 "--growth-effects", "--out", str(out)]) == 0
    params = json.loads((out / "truth" / "params.json").read_text())
    assert params["playbook_segment_factors"]["executive_engagement"] == [0.2, 1.0, 1.8]
    assert params["milestone_expansion_effects"] == {"qbr_held": 1.8}
    t = pd.read_parquet(out / "truth" / "interventions.parquet")
    # the recorded cut is q_before x the planted relative effect for cause and segment
    ratio = (t["effect_if__executive_engagement"] / t["q_before"]).groupby(t[S.SEGMENT]).max()
    assert {"SMB", "Enterprise"} <= set(ratio.index)
    assert ratio["SMB"] < ratio["Enterprise"]


@pytest.mark.parametrize("accounts,months,seed", [(2500, 36, 5), (1500, 18, 8)])
def test_planted_futility_scales_every_play_by_engagement_so_effects_fall_with_risk(
        accounts, months, seed):
    # the second world is short: 18 months of history
    sims = {name: simulate_saas(accounts, months, seed=seed, params=make())
            for name, make in (("growth", SimulationParams.growth_effects),
                               ("futility", SimulationParams.futility_effects))}
    best = {}
    for name, sim in sims.items():
        t = sim.truth_interventions
        root = t["root_cause"].map({c: i for i, c in enumerate(S.ROOT_CAUSES)}).to_numpy()
        seg = t[S.SEGMENT].map({s: i for i, s in enumerate(S.SEGMENTS)}).to_numpy()
        share = []
        for k in PLAYBOOKS:
            full = t["q_before"] * expected_relative_effect(sim.params, k, root, seg)
            share.append(np.divide(t[effect_if(k)], full, out=np.full(len(t), np.nan),
                                   where=full > 0))
        share = np.column_stack(share)
        # one engagement factor per account, the same for every play (that can move it)
        assert np.nanmax(share, axis=1) - np.nanmin(share, axis=1) == pytest.approx(0, abs=1e-9)
        share = np.nanmax(share, axis=1)
        # a play the account got: its realised cut is the recorded expected cut
        # (pricing draws its discount size, so it is left out)
        got = t[t[S.ARM] != "control"]
        got = got[got[S.PLAYBOOK] != "pricing_concession"]
        cut = np.array([r[effect_if(r[S.PLAYBOOK])] for _, r in got.iterrows()])
        assert np.allclose(got["true_effect"], cut, atol=1e-9)
        best[name] = (t[[effect_if(k) for k in PLAYBOOKS]].max(axis=1), t["q_before"], share)
    assert np.allclose(best["growth"][2], 1.0)
    s = best["futility"][2]
    assert s.min() >= 0 and s.max() <= 1 and (s == 0).mean() > 0.05 and (s == 1).mean() > 0.05
    # the premise: without futility a play's cut follows risk; with it, it falls with risk
    corr = {n: np.corrcoef(q, e)[0, 1] for n, (e, q, _) in best.items()}
    assert corr["growth"] > 0.2 and corr["futility"] < -0.2, corr


def test_simulate_with_futility_records_the_engagement_band(tmp_path):
    out = tmp_path / "f"
    assert main(["-q", "simulate", "--accounts", "800", "--months", "24", "--seed", "3",
                 "--futility", "--out", str(out)]) == 0
    params = json.loads((out / "truth" / "params.json").read_text())
    assert params["responsive_health"] == [40.0, 70.0]
    assert params["playbook_segment_factors"]["executive_engagement"] == [0.2, 1.0, 1.8]
