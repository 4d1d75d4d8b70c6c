"""The rolling-origin backtest: nothing after the origin reaches a model, and on the
simulated SaaS the champion is close to the oracle, clearly above the health score,
no worse than the logistic baseline, and calibrated at 90 days."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _simdata import simulated_data, trained

from churnlab.data import contract as S
from churnlab.evaluation.backtest import (
    default_origins,
    run_backtest,
    screened_backtest,
    training_sample,
)
from churnlab.evaluation.metrics import (
    calibration_table,
    concordance_difference,
    concordance_differences,
    weighted_harrell,
)
from churnlab.features import snapshot as F
from churnlab.features.landmarks import make_landmarks, monthly_dates
from churnlab.models.baselines import Logistic90
from churnlab.models.survival_base import BASELINE_KINDS, SURVIVAL_KINDS, training_rows
from churnlab.sim.truth import oracle_scores

ORIGIN = pd.Timestamp("2025-07-01")


@pytest.fixture(scope="session")
def sim_data(tmp_path_factory) -> str:
    return str(simulated_data(tmp_path_factory.getbasetemp() / "churnlab-sim"))


@pytest.fixture(scope="module")
def leaky_landmarks(sim_data):
    """Landmarks around ORIGIN with a planted leak: ``leak__flag`` is 1 for accounts
    that churn within 90 days after the origin (only knowable later)."""
    from churnlab.data.warehouse import open_warehouse

    with open_warehouse(sim_data) as wh:
        land = make_landmarks(wh, monthly_dates(ORIGIN - pd.DateOffset(months=8), ORIGIN))
    cd = pd.to_datetime(land[F.CHURN_DATE])
    future = land[F.EVENT].astype(bool) & (cd >= ORIGIN) & (cd < ORIGIN + pd.Timedelta(days=90))
    leakers = set(land.loc[future, S.ACCOUNT_ID])
    land["leak__flag"] = land[S.ACCOUNT_ID].isin(leakers).astype(float)
    return land


@pytest.mark.slow
def test_training_rows_hold_no_label_or_landmark_from_after_the_origin(leaky_landmarks):
    rows = training_rows(leaky_landmarks, ORIGIN)
    seen_until = ORIGIN - pd.Timedelta(days=S.GRACE_DAYS)
    t = pd.to_datetime(rows[F.LANDMARK])
    assert t.max() < seen_until
    assert (t + pd.to_timedelta(rows[F.DURATION], "D")).max() <= seen_until
    churn = pd.to_datetime(rows.loc[rows[F.EVENT] == 1, F.CHURN_DATE])
    assert (churn + pd.Timedelta(days=S.GRACE_DAYS)).max() <= ORIGIN
    # the accounts that churn after the origin are in training, but only as survivors
    leak_rows = rows[rows["leak__flag"] == 1]
    assert len(leak_rows) > 0 and leak_rows[F.EVENT].sum() == 0


@pytest.mark.slow
def test_a_planted_leak_is_excluded_by_the_backtest_but_caught_by_a_leaky_fit(
        leaky_landmarks):
    bt = run_backtest(leaky_landmarks, [ORIGIN], models=["hazard_logit"], lookback_months=8)
    honest = bt.metrics["harrell_c"].iloc[0]
    assert bt.folds["last_label_date"].iloc[0] < ORIGIN
    # the same learner given the origin's own rows and labels (the leak) sees the future
    land = leaky_landmarks
    leaky_rows = land[pd.to_datetime(land[F.LANDMARK]) <= ORIGIN].copy()
    leaky_rows[F.DURATION] = np.minimum(leaky_rows[F.DURATION], 95)
    pm_event = leaky_rows[F.EVENT].astype(bool) & (leaky_rows[F.DURATION] <= 95)
    leaky_rows[F.EVENT] = pm_event.astype(int)
    test = land[pd.to_datetime(land[F.LANDMARK]) == ORIGIN].reset_index(drop=True)
    cheat = Logistic90().fit(leaky_rows)
    from lifelines.utils import concordance_index

    y = test[F.EVENT].astype(bool) & (test[F.DURATION] <= 90)
    t = np.minimum(test[F.DURATION], 91)
    cheat_c = concordance_index(t, -cheat.risk_score(test), y)
    assert cheat_c > 0.95
    assert honest < cheat_c - 0.05


@pytest.fixture(scope="module")
def evaluation(sim_data):
    model, card, *_ = trained(sim_data)
    bt = model.backtest_
    scores = pd.concat([bt.scores, oracle_scores(bt, f"{sim_data}/truth")], ignore_index=True)
    return card["kind"], bt, scores


@pytest.mark.slow
def test_the_champion_is_close_to_the_oracle_and_clearly_above_the_health_score(evaluation):
    champion, bt, scores = evaluation
    assert champion in SURVIVAL_KINDS
    assert scores.loc[scores["model"] == "oracle", "risk"].notna().mean() > 0.99
    vs_oracle = concordance_difference(scores, "oracle", champion, n_bootstrap=100)
    vs_health = concordance_difference(scores, champion, "health", n_bootstrap=100)
    vs_logit = concordance_difference(scores, champion, "logistic_90d", n_bootstrap=100)
    c = bt.summary()["harrell_c"]
    # close: at least three quarters of the oracle's discrimination above chance
    oracle_c = c[champion] + vs_oracle["difference"]
    assert c[champion] - 0.5 >= 0.75 * (oracle_c - 0.5)
    assert vs_oracle["difference"] - 2 * vs_oracle["se"] < 0.10
    # clearly above the health score: more than two paired standard errors
    assert vs_health["difference"] > 2 * vs_health["se"]
    # not worse than the 90-day logistic classifier (beyond two standard errors)
    assert vs_logit["difference"] > -2 * vs_logit["se"]


@pytest.mark.slow
def test_the_champion_is_calibrated_at_90_days_within_binomial_error(evaluation):
    champion, bt, _ = evaluation
    rows = bt.scores[bt.scores["model"] == champion]
    t, e = rows[F.DURATION].to_numpy(), rows[F.EVENT].to_numpy().astype(bool)
    y = e & (t <= 90)
    known = y | (t >= 90)
    p, y = rows["p90"].to_numpy()[known], y[known]
    assert abs(p.mean() - y.mean()) < 3 * np.sqrt((p * (1 - p)).sum()) / len(p)
    cal = calibration_table(p, y)
    err = np.average((cal["predicted"] - cal["observed"]).abs(), weights=cal["n"])
    se = np.average(cal["se"], weights=cal["n"])
    assert err < 2 * se                  # E|N(0, se)| = 0.8 se for a calibrated model
    assert (bt.metrics.loc[bt.metrics["model"] == champion, "calibration_error_90d"]
            < 0.03).all()


@pytest.mark.slow
def test_every_model_is_scored_on_the_same_rows_at_every_origin(evaluation):
    _, bt, scores = evaluation
    keys = {m: set(map(tuple, g[["origin", S.ACCOUNT_ID]].astype(str).to_numpy()))
            for m, g in scores.groupby("model")}
    first = next(iter(keys.values()))
    assert all(k == first for k in keys.values())
    assert set(keys) == set(SURVIVAL_KINDS + BASELINE_KINDS) | {"oracle"}
    assert (bt.folds["last_label_date"] < bt.folds["origin"]).all()
    m = bt.metrics
    # the behaviour-free baselines (calendar, tenure) may sit at chance on this world:
    # that is what they are there to show; every other model discriminates
    informed = m[~m["model"].isin(["calendar", "tenure"])]
    assert ((informed["harrell_c"] > 0.5) & (informed["harrell_c"] < 1)).all()
    assert ((m["harrell_c"] > 0) & (m["harrell_c"] < 1)).all()
    s = bt.summary()["harrell_c"]
    assert s[["calendar", "tenure"]].max() < s[list(SURVIVAL_KINDS)].max()
    assert (m.loc[m["model"].isin(SURVIVAL_KINDS), "ibs"]
            < m.loc[m["model"].isin(SURVIVAL_KINDS), "ibs_km"] + 0.005).all()


def test_origins_leave_the_follow_up_observed_before_as_of():
    origins = default_origins("2026-11-01", n_origins=3, step_months=2)
    assert origins == [pd.Timestamp(d) for d in ("2025-12-01", "2026-02-01", "2026-04-01")]
    assert all(o + pd.Timedelta(days=180 + S.GRACE_DAYS) <= pd.Timestamp("2026-11-01")
               for o in origins)


def test_metrics_are_nan_rather_than_an_error_outside_the_follow_up():
    """Reproduces issue 17's first item: an origin whose first 30 days hold no churn
    made scikit-survival raise 'all times must be within follow-up time'."""
    from churnlab.evaluation.metrics import evaluate_scores

    rng = np.random.default_rng(0)
    n = 400
    t = rng.uniform(33, 274, n).round()
    e = rng.uniform(size=n) < 0.3
    e[np.argmax(t)] = False                          # follow-up ends with a censored row
    test = pd.DataFrame({F.DURATION: t, F.EVENT: e, S.ARR: 1000.0})
    risk = -t + rng.normal(0, 30, n)                 # informative: sooner churn, higher risk
    m = evaluate_scores(test, risk, test, None, np.clip(0.3 + 0 * t, 0, 1))
    assert 0.6 < m["uno_c"] <= 1 and 0.5 < m["auc_90"] <= 1
    short = test.assign(**{F.DURATION: np.minimum(t, 120),    # follow-up ends at 120 days
                           F.EVENT: e & (t < 120)})
    m = evaluate_scores(short, risk, short, None, None)
    assert np.isnan(m["auc_180"]) and np.isfinite(m["auc_90"])
    none = test.assign(**{F.EVENT: False})                     # no churn at all
    assert np.isnan(evaluate_scores(none, risk, none, None, None)["uno_c"])


# ------------------------------------------------- the screened backtest (issue 14, item 3)
SCREEN_MODELS = ("hazard_logit", "cox", "aft", "calendar")     # cheap, and two baselines


@pytest.fixture(scope="module", params=["demo", "consumer"])
def screened(request, sim_data, tmp_path_factory):
    """The same backtest run in full and screened on a sample of 500 accounts, on the
    demo-shaped world and on a consumer world (one plan, monthly only, single user)."""
    from churnlab.data import lifecycle
    from churnlab.data.warehouse import open_warehouse
    from churnlab.sim.profiles import simulate_profile, write_profile

    data = sim_data
    if request.param == "consumer":
        data = tmp_path_factory.getbasetemp() / "churnlab-screen-consumer"
        if not data.exists():
            write_profile(simulate_profile("consumer", 1500, 20, seed=4), data)
    with open_warehouse(data) as wh:
        as_of = lifecycle.observation_end(wh)
        origins = default_origins(as_of, n_origins=2)
        lm = make_landmarks(wh, monthly_dates(min(origins) - pd.DateOffset(months=6),
                                              as_of - pd.Timedelta(days=1)), obs_end=as_of)
        smap = wh.signal_map
    full = run_backtest(lm, origins, SCREEN_MODELS, lookback_months=6, signal_map=smap)
    bt, screen = screened_backtest(lm, origins, SCREEN_MODELS, lookback_months=6,
                                   signal_map=smap, max_train_accounts=500)
    return lm, full, bt, screen, smap


@pytest.mark.slow
def test_the_screen_samples_the_same_accounts_at_every_origin_and_only_past_the_cap(screened):
    lm = screened[0]
    n = lm[S.ACCOUNT_ID].nunique()
    assert training_sample(lm, n) is None and training_sample(lm, None) is None
    a, b = training_sample(lm, 500, seed=3), training_sample(lm, 500, seed=3)
    assert len(a) == len(set(a)) == 500 and set(a) <= set(lm[S.ACCOUNT_ID])
    assert np.array_equal(a, b) and not np.array_equal(a, training_sample(lm, 500, seed=4))


@pytest.mark.slow
def test_finalists_are_judged_exactly_as_in_a_full_backtest_and_the_rest_on_the_sample(screened):
    lm, full, bt, screen = screened[:4]
    assert screen["accounts"] == 500 and screen["of"] == lm[S.ACCOUNT_ID].nunique() > 500
    finalists = screen["finalists"]
    assert finalists and set(finalists) <= set(SURVIVAL_KINDS) & set(SCREEN_MODELS)
    key = ["model", "origin"]
    m = bt.metrics.set_index(key).sort_index()
    f = full.metrics.set_index(key).sort_index()
    assert list(m.index) == list(f.index)           # every model at every origin
    numeric = [c for c in f.columns if c != "train_accounts"
               and pd.api.types.is_numeric_dtype(f[c])]
    for kind in finalists:                          # the same numbers as the full run
        pd.testing.assert_frame_equal(m.loc[kind, numeric], f.loc[kind, numeric])
        assert (m.loc[kind, "train_accounts"] > 500).all()
    rest = [k for k in SCREEN_MODELS if k not in finalists]
    for kind in rest:                               # trained on the sample only
        assert (m.loc[kind, "train_accounts"] <= 500).all()
    assert set(bt.folds["screen_train_accounts"]) <= set(range(501))
    # the champion the rule picks is the full backtest's, with the same figures
    from churnlab.evaluation.champion import choose_champion

    champion = choose_champion(full.summary())
    assert choose_champion(bt.summary()) == champion and champion in finalists
    # every model is judged on the same accounts at an origin as in the full run
    for (kind, origin), g in bt.scores.groupby(["model", "origin"]):
        same = full.scores[(full.scores["model"] == kind) & (full.scores["origin"] == origin)]
        assert sorted(g[S.ACCOUNT_ID]) == sorted(same[S.ACCOUNT_ID])


def test_a_saved_champion_is_reused_only_for_the_same_backtest_sample():
    from types import SimpleNamespace

    from churnlab.evaluation.backtest import BACKTEST_ACCOUNTS
    from churnlab.pipeline.train import reusable

    card = {"as_of": "2026-11-01", "data_fingerprint": "f", "origins": ["x", "y", "z"],
            "options": {}, "random_state": 0}
    old = SimpleNamespace(card=card, backtest_=object())    # saved before the screen existed
    assert reusable(old, "2026-11-01", "f")
    assert reusable(old, "2026-11-01", "f", backtest_accounts=BACKTEST_ACCOUNTS)
    assert not reusable(old, "2026-11-01", "f", backtest_accounts=0)
    full = SimpleNamespace(card={**card, "backtest_accounts": 0}, backtest_=object())
    assert reusable(full, "2026-11-01", "f", backtest_accounts=0)
    assert reusable(full, "2026-11-01", "f", backtest_accounts=None)
    assert not reusable(full, "2026-11-01", "f")


def test_weighted_concordance_equals_lifelines_on_every_bootstrap_resample():
    """The bootstrap of concordance differences counts each resample's rows as
    multiplicities; it must give lifelines' Harrell's C of that resample exactly, with
    ties in times, in scores and between churned and censored rows at one time."""
    from lifelines.utils import concordance_index

    rng = np.random.default_rng(3)
    n = 600
    t = rng.integers(1, 30, n).astype(float)          # many tied times
    e = rng.uniform(size=n) < 0.35
    p = rng.integers(0, 12, n) + 0.5 * t               # tied scores, some signal
    resamples = [rng.integers(0, n, n) for _ in range(8)]
    counts = np.column_stack([np.ones(n)] + [np.bincount(ix, minlength=n) for ix in resamples])
    got = weighted_harrell(t, e, p, counts)
    want = [concordance_index(t, p, e)] + [concordance_index(t[ix], p[ix], e[ix])
                                           for ix in resamples]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert got[0] > 0.6                                # the signal is seen


def test_concordance_differences_share_sums_and_give_each_pairs_own_figures():
    """Several baselines against one champion in one call: the champion's sums and the
    comparable-pair sums are shared where two pairs have the same rows and resamples, and
    every pair's difference and standard error are exactly those of its own call, and of
    the bootstrap written out with :func:`weighted_harrell`. One baseline lacks scores
    for some accounts, so its rows (and resamples) differ from the others'."""
    rng = np.random.default_rng(11)
    frames = []
    for origin in pd.to_datetime(["2025-01-01", "2025-03-01"]):
        n = 400
        t = rng.integers(1, 200, n).astype(float)
        e = rng.uniform(size=n) < 0.3
        base = -t + rng.normal(0, 40, n)
        for model, noise in (("champ", 10), ("calendar", 60), ("tenure", 120),
                             ("sparse", 30)):
            risk = base + rng.normal(0, noise, n)
            if model == "sparse":
                risk[rng.uniform(size=n) < 0.2] = np.nan
            frames.append(pd.DataFrame({"origin": origin, "model": model,
                                        S.ACCOUNT_ID: [f"a{i}" for i in range(n)],
                                        "risk": risk, F.DURATION: t, F.EVENT: e}))
    scores = pd.concat(frames, ignore_index=True)
    others = ["calendar", "sparse", "tenure"]
    together = concordance_differences(scores, "champ", others, n_bootstrap=30)
    for b in others:
        assert together[b] == concordance_difference(scores, "champ", b, n_bootstrap=30)
        rng_b = np.random.default_rng(0)          # the bootstrap written out
        diffs, boots = [], np.zeros(30)
        for _, rows in scores[scores["model"].isin(["champ", b])].groupby("origin"):
            wide = rows.pivot_table(index=S.ACCOUNT_ID, columns="model",
                                    values="risk").dropna()
            lab = rows.drop_duplicates(S.ACCOUNT_ID).set_index(S.ACCOUNT_ID).loc[wide.index]
            t = lab[F.DURATION].to_numpy(float)
            e = lab[F.EVENT].to_numpy().astype(bool) & (t <= 90)
            t = np.minimum(t, 91)
            counts = np.column_stack([np.ones(len(t))] + [np.bincount(
                rng_b.integers(0, len(t), len(t)), minlength=len(t)) for _ in range(30)])
            d = (weighted_harrell(t, e, -wide["champ"].to_numpy(), counts)
                 - weighted_harrell(t, e, -wide[b].to_numpy(), counts))
            diffs.append(d[0])
            boots += d[1:] / 2
        assert together[b] == {"difference": float(np.mean(diffs)),
                               "se": float(np.std(boots, ddof=1))}
    assert together["calendar"]["difference"] > 0 and together["tenure"]["difference"] > \
        together["calendar"]["difference"]          # more noise, a larger lead


@pytest.mark.slow
def test_a_screen_with_no_survival_model_returns_the_screen_instead_of_failing(screened):
    """Only baselines (or every survival model failing the screen): no finalist, and the
    screen's rows come back rather than an empty second backtest's error."""
    lm, full = screened[0], screened[1]
    origins = sorted(full.folds["origin"])
    bt, screen = screened_backtest(lm, origins, ("calendar",), lookback_months=6,
                                   max_train_accounts=500)
    assert screen["finalists"] == [] and set(bt.metrics["model"]) == {"calendar"}
    assert (bt.metrics["train_accounts"] <= 500).all() and len(bt.metrics) == len(origins)


# ------------------------------------------------- the backtest in worker processes
@pytest.mark.slow
def test_the_backtest_in_two_processes_equals_the_serial_one_value_for_value(screened):
    """Both worlds (the demo-shaped one and the one-plan, monthly-only consumer world):
    the fits in two worker processes give the serial run's metrics, scores and folds, in
    the same order: the same numbers up to floating-point summation order (a worker's
    linear algebra runs on one thread, the serial run's on two; measured up to ~1e-12
    relative on the integrated Brier score), and the folds exactly (conftest runs the
    suite with CHURNLAB_JOBS=1)."""
    lm, full, smap = screened[0], screened[1], screened[4]
    origins = list(full.folds["origin"])
    par = run_backtest(lm, origins, SCREEN_MODELS, lookback_months=6, jobs=2, signal_map=smap)
    pd.testing.assert_frame_equal(par.metrics, full.metrics, check_exact=False, rtol=1e-9)
    pd.testing.assert_frame_equal(par.scores, full.scores, check_exact=False, rtol=1e-9)
    pd.testing.assert_frame_equal(par.folds, full.folds, check_exact=True)


def test_worker_processes_only_while_an_origin_fits_the_copy_budget(monkeypatch):
    from churnlab.errors import InputError
    from churnlab.evaluation import backtest as B

    assert B._jobs(2, B.PARALLEL_MAX_BYTES) == 2
    assert B._jobs(2, B.PARALLEL_MAX_BYTES + 1) == 1      # each worker would copy it
    assert B._jobs(1, 0) == 1 and B._jobs(0, 0) == 1
    monkeypatch.setenv("CHURNLAB_JOBS", "3")
    assert B.default_jobs() == 3 and B._jobs(None, 0) == 3
    monkeypatch.setenv("CHURNLAB_JOBS", "two")
    with pytest.raises(InputError, match="CHURNLAB_JOBS"):
        B.default_jobs()
    monkeypatch.delenv("CHURNLAB_JOBS")
    assert 1 <= B.default_jobs() <= 4


# ------------------------------------------------- the landmarks read from disk, one window at a time
@pytest.mark.slow
def test_a_backtest_reading_its_windows_from_parquet_equals_the_in_memory_one(screened,
                                                                             tmp_path):
    """Both worlds: the landmark table written by date and read back one origin's window
    at a time (what ``churnlab train`` does, so that a large book's table is not held in
    memory) gives the in-memory screened backtest's metrics, scores and folds exactly."""
    from churnlab.features.landmark_rows import FrameLandmarks, ParquetLandmarks, write_by_date

    lm, bt, smap = screened[0], screened[2], screened[4]
    write_by_date(lm, tmp_path / "landmarks.parquet")
    disk = ParquetLandmarks(tmp_path / "landmarks.parquet")
    origins = list(bt.folds["origin"])
    again, screen = screened_backtest(disk, origins, SCREEN_MODELS, lookback_months=6,
                                      signal_map=smap, max_train_accounts=500)
    assert screen == screened[3]
    for name in ("metrics", "scores", "folds", "failures"):
        pd.testing.assert_frame_equal(getattr(again, name), getattr(bt, name),
                                      check_exact=True)
    # the windows themselves: dates, accounts, an empty window, a window of one date
    mem = FrameLandmarks(lm)
    dates = mem.dates()
    assert disk.dates() == dates and np.array_equal(disk.account_ids(), mem.account_ids())
    some = mem.account_ids()[::7]
    for first, last, accounts in [(dates[1], dates[-2], None), (dates[2], dates[2], some),
                                  (None, dates[0], some), (dates[-1], None, None),
                                  (dates[-1] + pd.Timedelta(days=1), None, None)]:
        want = mem.between(first, last, accounts)
        got = disk.between(first, last, accounts)
        pd.testing.assert_frame_equal(got, want, check_exact=True,
                                      check_index_type=len(want) > 0)
    assert len(mem.between(dates[2], dates[2])) == (pd.to_datetime(lm[F.LANDMARK])
                                                    == dates[2]).sum()


def _training_rows_by_copies(landmarks, cutoff, grace_days=S.GRACE_DAYS):
    """training_rows as it was written before (censor_at, then three more copies): the
    reference the one-copy version must equal."""
    from churnlab.features.landmarks import censor_at

    cutoff = pd.Timestamp(cutoff)
    seen_until = cutoff - pd.Timedelta(days=grace_days)
    out = censor_at(landmarks, cutoff, grace_days)
    t = pd.to_datetime(out[F.LANDMARK])
    out = out[t < seen_until].copy()
    t = pd.to_datetime(out[F.LANDMARK])
    cap = (seen_until - t).dt.days.to_numpy()
    ev = out[F.EVENT].to_numpy().astype(bool)
    out[F.DURATION] = np.where(ev, out[F.DURATION], np.minimum(out[F.DURATION], cap)).astype(int)
    out = out[out[F.DURATION] > 0]
    return out.reset_index(drop=True)


@pytest.mark.slow
def test_training_rows_copied_once_equal_the_censor_then_filter_reference(screened):
    """Both worlds, cutoffs on a landmark date, mid-month and past the last landmark,
    and a grace period of 0 and 30 days: the same rows, labels and dtypes."""
    lm = screened[0]
    dates = sorted(pd.to_datetime(lm[F.LANDMARK]).unique())
    for cutoff in (dates[len(dates) // 2], dates[-2] + pd.Timedelta(days=13),
                   dates[-1] + pd.DateOffset(months=3)):
        for grace in (0, 30):
            got = training_rows(lm, cutoff, grace)
            want = _training_rows_by_copies(lm, cutoff, grace)
            assert len(got) > 0
            pd.testing.assert_frame_equal(got, want, check_exact=True)
