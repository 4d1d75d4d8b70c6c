"""Uplift targeting: the Qini curve on hand-made outcomes, the T-learner on a world with a
strong planted heterogeneity (and on one where the plays do nothing), the gate that keeps
the risk queue, and the comparison with risk targeting against the simulator's truth."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from _simdata import experiments_world

from churnlab.actions.experiments import ARM
from churnlab.actions.uplift import fit_uplift, qini_coefficient, qini_curve, split_accounts
from churnlab.cli import main
from churnlab.data import contract as S
from churnlab.data.warehouse import open_warehouse
from churnlab.pipeline.experiments import run_experiments
from churnlab.pipeline.uplift import Y, target_book, uplift_rows, validate_uplift
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


def test_the_t_learner_finds_which_play_helps_whom_when_the_data_suffice():
    rows = _world(3000, 1, effect=0.35)
    train, test = split_accounts(rows, 0.3, seed=0)
    assert set(test[ARM]) == {"control", "play_a", "play_b"}
    assert not set(train[S.ACCOUNT_ID]) & set(test[S.ACCOUNT_ID])
    model = fit_uplift(train, ["x1__mean_30d", "x2__mean_30d"], c=1.0)
    pred = model.predict(test)
    truth = np.where(test["x1__mean_30d"] > 0, "play_a", "play_b")
    assert (pred["best_play"].to_numpy() == truth).mean() > 0.85
    v = validate_uplift(rows, n_boot=200)
    assert v.status == "validated" and v.qini_lo > 0
    assert v.model is not None and "better than chance" in v.sentence


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
    for k in ("arr_kept_uplift", "arr_kept_risk", "arr_kept_random"):
        assert 0 <= t[k] <= t["arr_kept_oracle"] + 1e-6
    assert t["worked"] == round(0.5 * t["accounts"])


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
