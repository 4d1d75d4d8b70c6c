"""Survival models: planted effects recovered, Rossi reproduced, renewal-aware
probabilities, exact contributions, and artifacts that reload identically."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _simdata import simulated_data, trained

from churnlab.data import contract as S
from churnlab.evaluation.champion import choose_champion
from churnlab.features import snapshot as F
from churnlab.features.landmarks import make_landmarks, monthly_dates
from churnlab.models.baselines import make_model
from churnlab.models.hazard import HazardLogit, _take_rows
from churnlab.models.lifelines_models import (
    AFTModel,
    CoxModel,
    scaled_schoenfeld,
)
from churnlab.models.registry import load_model
from churnlab.models.scoring import score_accounts
from churnlab.models.survival_base import (
    BASELINE_KINDS,
    MAX_DAYS,
    MONTH_DAYS,
    SCORE_COLUMNS,
    SURVIVAL_KINDS,
    SurvivalInputError,
    calendar_design,
    calendar_inputs,
    design_array,
    moved_design,
    positional,
    renewal_offsets,
    survival_from_hazards,
    training_rows,
)
from churnlab.stats import account_sample

ROSSI = {"fin": -0.379, "age": -0.057, "race": 0.314, "wexp": -0.150, "mar": -0.434,
         "paro": -0.085, "prio": 0.091}


@pytest.fixture(scope="session")
def sim_data(tmp_path_factory) -> str:
    return str(simulated_data(tmp_path_factory.getbasetemp() / "churnlab-sim"))


def _as_landmark_rows(df, duration, event):
    out = df.rename(columns={duration: F.DURATION, event: F.EVENT})
    out[F.LANDMARK] = pd.Timestamp("2020-01-01")
    return out


# ---------------------------------------------------------------- estimation
def test_cox_wrapper_reproduces_the_published_rossi_coefficients():
    from lifelines.datasets import load_rossi

    rows = _as_landmark_rows(load_rossi(), "week", "arrest")
    model = CoxModel(features=list(ROSSI), penalizer=0.0, standardise=False,
                        stratify=False).fit(rows)
    coef = model.fitter_.params_
    for name, published in ROSSI.items():
        assert coef[name] == pytest.approx(published, abs=6e-4), name   # 3 decimals


def test_a_planted_hazard_ratio_is_recovered_within_its_standard_error():
    rng = np.random.default_rng(11)
    n, beta = 4000, 0.7
    x = rng.normal(size=n)
    z = rng.binomial(1, 0.5, n).astype(float)            # a null covariate
    t = rng.exponential(1 / (0.01 * np.exp(beta * x)))
    c = rng.uniform(20, 300, n)
    rows = pd.DataFrame({"x": x, "z": z, "t": np.minimum(t, c), "e": (t <= c).astype(int)})
    rows = _as_landmark_rows(rows, "t", "e")
    model = CoxModel(features=["x", "z"], penalizer=0.0, standardise=False,
                        stratify=False).fit(rows)
    s = model.fitter_.summary
    assert abs(s.loc["x", "coef"] - beta) < 3 * s.loc["x", "se(coef)"]
    assert abs(s.loc["z", "coef"]) < 3 * s.loc["z", "se(coef)"]
    hr = model.hazard_ratios().set_index("covariate")
    assert hr.loc["x", "lo"] < np.exp(beta) < hr.loc["x", "hi"]


def test_the_backtests_cox_skips_robust_errors_but_keeps_the_estimates():
    """make_model's Cox (backtest and scoring) fits without the sandwich estimator:
    the same coefficients as the clustered-robust fit, at a fraction of the cost."""
    rng = np.random.default_rng(12)
    n = 3000
    x = rng.normal(size=n)
    t = rng.exponential(1 / (0.01 * np.exp(0.5 * x)))
    c = rng.uniform(20, 300, n)
    rows = _as_landmark_rows(pd.DataFrame({"x": x, "t": np.minimum(t, c),
                                           "e": (t <= c).astype(int)}), "t", "e")
    rows[S.ACCOUNT_ID] = [f"a{i // 3}" for i in range(n)]      # 3 rows per account
    fast = make_model("cox")
    assert fast.robust is False
    fast.features = ["x"]
    fast.fit(rows)
    robust = CoxModel(features=["x"]).fit(rows)
    np.testing.assert_allclose(fast.fitter_.params_.to_numpy(),
                               robust.fitter_.params_.to_numpy(), rtol=1e-8)
    assert robust.fitter_.robust and not fast.fitter_.robust


@pytest.mark.parametrize("data", ["rossi", "tied"])
def test_the_vectorised_schoenfeld_residuals_equal_lifelines_and_so_does_the_ph_test(data):
    """The PH check's scaled Schoenfeld residuals (cumulative sums) equal lifelines'
    row-by-row ones, row for row and in lifelines' order, on the published Rossi data
    and on data with heavy ties (Efron's tie correction, events and censorings at the
    same time), with a shuffled, non-default index; the test statistics follow."""
    from lifelines import CoxPHFitter
    from lifelines.datasets import load_rossi
    from lifelines.statistics import proportional_hazard_test

    if data == "rossi":
        df, t, e = load_rossi(), "week", "arrest"
    else:
        rng = np.random.default_rng(5)
        n = 2500
        df = pd.DataFrame(rng.normal(size=(n, 3)), columns=["a", "b", "c"])
        df["flag"] = rng.integers(0, 2, n)
        df["t"] = np.minimum(np.ceil(rng.exponential(20 / np.exp(0.5 * df["a"]))), 40)
        df["e"] = (rng.random(n) < 0.7) & (df["t"] < 40)
        df.index = rng.permutation(n) * 3 + 7
        t, e = "t", "e"
    fitter = CoxPHFitter(penalizer=0.01).fit(df, t, e)
    ours = scaled_schoenfeld(fitter, df)
    ref = fitter.compute_residuals(df, "scaled_schoenfeld")
    assert ours.index.equals(ref.index) and list(ours.columns) == list(ref.columns)
    np.testing.assert_allclose(ours.to_numpy(), ref.to_numpy(), rtol=1e-9, atol=1e-9)
    fast = proportional_hazard_test(fitter, df, time_transform="rank",
                                    precomputed_residuals=ours).summary
    slow = proportional_hazard_test(fitter, df, time_transform="rank").summary
    np.testing.assert_allclose(fast[["test_statistic", "p"]].to_numpy(),
                               slow[["test_statistic", "p"]].to_numpy(), rtol=1e-9)
    stratified = CoxPHFitter().fit(df, t, e, strata=["fin" if data == "rossi" else "flag"])
    assert scaled_schoenfeld(stratified, df) is None      # lifelines computes those


def test_the_ph_check_on_large_data_runs_on_whole_accounts_and_still_finds_a_broken_term():
    """Past ph_test_max_rows the PH test uses a seeded sample of whole accounts. A term class whose hazard has a
    different shape (monthly: constant; fixed term: rising) must still be stratified."""
    rng = np.random.default_rng(21)
    n = 6000
    monthly = rng.binomial(1, 0.5, n)
    x = rng.normal(size=n)
    t = np.where(monthly == 1, rng.exponential(80 / np.exp(0.4 * x)),
                 rng.weibull(3.0, n) * 200 / np.exp(0.4 * x / 3))
    c = rng.uniform(20, 300, n)
    rows = _as_landmark_rows(pd.DataFrame({"x": x, "t": np.minimum(t, c),
                                           "e": (t <= c).astype(int)}), "t", "e")
    rows[S.TERM_MONTHS] = np.where(monthly == 1, 1, 12)
    rows[S.ACCOUNT_ID] = [f"a{i // 4}" for i in range(n)]      # 4 rows per account
    sample = account_sample(rows, 2000)
    assert sample.equals(account_sample(rows, 2000))          # deterministic
    per_account = rows.groupby(S.ACCOUNT_ID).size()
    got = sample.groupby(S.ACCOUNT_ID).size()
    assert (got == per_account.reindex(got.index)).all()         # whole accounts only
    assert 1900 <= len(sample) <= 2000
    assert account_sample(rows, n) is rows
    model = CoxModel(features=["x"], ph_test_max_rows=2000).fit(rows)
    assert 1900 <= model.ph_test_rows_ <= 2000
    assert model.strata_ == ["term_class"]
    assert len(model.fitter_.summary) == 1                       # fitted on every row


def test_the_champion_is_renewal_aware_when_the_concordance_difference_is_noise():
    """Seen on a 1,500-account simulated SaaS: AFT led hazard_xgb by 0.002 in Uno C with
    a better 90-day calibration, and its P(before renewal) put 10% on an account
    renewing in 12 days with a 45% 90-day risk. Within the tie a renewal-aware model
    wins; beyond it, concordance wins whatever the kind."""
    summary = pd.DataFrame({
        "uno_c": [0.8046, 0.7827, 0.8042, 0.8065, 0.79],
        "calibration_error_90d": [0.0195, 0.0241, 0.0177, 0.0140, np.nan],
        "ibs": [0.0543, 0.0571, 0.0539, 0.0539, np.nan]},
        index=["hazard_xgb", "hazard_logit", "cox", "aft", "logistic_90d"])
    assert choose_champion(summary) == "hazard_xgb"
    summary.loc["aft", "uno_c"] = 0.8046 + 0.006                   # beyond the tie
    assert choose_champion(summary) == "aft"
    summary.loc["hazard_logit", "uno_c"] = 0.8100                  # two aware, tied
    summary.loc["hazard_logit", "calibration_error_90d"] = 0.010
    assert choose_champion(summary) == "hazard_logit"
    only = summary.drop(index=["hazard_xgb", "hazard_logit"])
    only.loc["cox", "uno_c"] = only.loc["aft", "uno_c"]            # no aware model: calibration
    assert choose_champion(only) == "aft"


def test_the_aft_model_recovers_a_planted_acceleration_and_prefers_the_true_family():
    rng = np.random.default_rng(5)
    n, beta = 3000, 0.5
    x = rng.normal(size=n)
    t = np.exp(4 + beta * x + 0.6 * rng.normal(size=n))          # log-normal truth
    c = rng.uniform(10, 400, n)
    rows = _as_landmark_rows(pd.DataFrame({"x": x, "t": np.minimum(t, c),
                                           "e": (t <= c).astype(int)}), "t", "e")
    model = AFTModel(features=["x"], penalizer=0.0, standardise=False).fit(rows)
    assert model.distribution_ == "lognormal"
    s = model.fitter_.summary.loc[("mu_", "x")]
    assert abs(s["coef"] - beta) < 3 * s["se(coef)"]


# ---------------------------------------------------------------- the calendar
def test_survival_from_monthly_hazards_is_the_product_and_steps_at_the_renewal():
    h = np.array([[0.1, 0.2, 0.3], [0.1, 0.2, 0.3]])
    off = np.full((2, 3), np.nan)
    off[1, 1] = 10.0                                   # renewal 10 days into month 2
    m = MONTH_DAYS
    s = survival_from_hazards(h, off, [0, m, 2 * m, m + 9, m + 10])
    assert s[0, 0] == 1.0
    assert s[0, 1] == pytest.approx(0.9)
    assert s[0, 2] == pytest.approx(0.9 * 0.8)
    assert s[0, 3] == pytest.approx(0.9 * 0.8 ** (9 / m))      # spread evenly
    assert s[1, 3] == pytest.approx(0.9)                       # before the renewal: no loss
    assert s[1, 4] == pytest.approx(0.9 * 0.8)                 # at the renewal: the month's mass


def test_the_calendar_advances_days_to_renewal_and_resets_to_the_term():
    snap = pd.DataFrame({S.TERM_MONTHS: [12, 1], "days_to_renewal": [20.0, 5.0],
                         "tenure_days": [100.0, 100.0]})
    later = calendar_inputs(snap, 30.0)
    assert later["days_to_renewal"].iloc[0] == pytest.approx(20 - 30 + 12 * MONTH_DAYS)
    assert later["days_to_renewal"].iloc[1] == pytest.approx(5 - 30 + MONTH_DAYS)
    assert (later["tenure_days"] == 130).all()
    offsets = renewal_offsets(snap, 13)
    assert offsets[0, 0] == pytest.approx(20) and np.isnan(offsets[0, 1:12]).all()
    assert offsets[0, 12] == pytest.approx(20 + 12 * MONTH_DAYS - 12 * MONTH_DAYS)
    assert (~np.isnan(offsets[1])).all()                # a monthly account renews every month


def test_the_design_array_is_the_calendar_design_value_for_value_on_any_rows():
    """The fast design (the hazards' fits, projections and explanations) against its
    definition, the calendar-moved inputs cast to float:
    integer, boolean, nullable and missing inputs, moving calendar columns, row subsets,
    float32; a wrong cast or a column taken from the wrong rows would differ."""
    snap = pd.DataFrame({S.TERM_MONTHS: [12, 1, 24, 1], "days_to_renewal": [20.0, 5.0, -3.0, 40.0],
                         "tenure_days": [100, 35, 700, 2], "usage__x": [1.5, np.nan, 3.25, 0.1],
                         "flag__any_30d": [True, False, True, False],
                         "seats": pd.array([3, None, 7, 2**25 + 1], dtype="Int64"),
                         "renewal_in_month": 0.0, "is_monthly": 0.0},
                        index=[10, 11, 12, 13])
    cols = ["usage__x", "flag__any_30d", "seats", "days_to_renewal", "tenure_days",
            "renewal_in_month", "is_monthly"]
    for elapsed in (0.0, 30.0, 400.0):
        want = calendar_inputs(snap, elapsed)[cols].astype(float).to_numpy()
        frame = calendar_design(snap, cols, elapsed)
        np.testing.assert_array_equal(frame.to_numpy(), want)
        assert frame.index.equals(snap.index) and list(frame.columns) == cols
        np.testing.assert_array_equal(design_array(snap, cols, elapsed), want)
        np.testing.assert_array_equal(design_array(snap, cols, elapsed, take=np.array([2, 0])),
                                      want[[2, 0]])
        np.testing.assert_array_equal(design_array(snap, cols, elapsed, dtype=np.float32),
                                      want.astype(np.float32))
        # a projected month's design moved from the design at 0 days (array or frame)
        at0 = np.ascontiguousarray(design_array(snap, cols, 0.0, dtype=np.float32))
        moved = moved_design(at0, snap, cols, elapsed)
        assert moved.dtype == np.float32 and moved.flags["C_CONTIGUOUS"]
        np.testing.assert_array_equal(moved, want.astype(np.float32))
        np.testing.assert_array_equal(at0, design_array(snap, cols, 0.0, dtype=np.float32))
        np.testing.assert_array_equal(
            moved_design(pd.DataFrame(design_array(snap, cols), columns=cols), snap, cols,
                         elapsed).to_numpy(), want)


@pytest.mark.parametrize("kind", ["hazard_xgb", "hazard_logit"])
def test_a_hazards_survival_curve_reused_across_calls_equals_fresh_predictions(kind):
    rows, _ = _stale_feature_rows(3000, 0.3, seed=5)
    model = make_model(kind).fit(rows)
    snap = rows.iloc[:50]
    curve = model.survival_curve(snap)
    for times in ([90.0], [0.0, 400.0, 200.0], [30.0, 700.0]):
        np.testing.assert_array_equal(curve(times), model.predict_survival(snap, times))
    fresh = model.predict_survival(snap, [700.0])
    hz = model.monthly_hazards(snap, int(700 // MONTH_DAYS) + 1)
    np.testing.assert_array_equal(fresh, survival_from_hazards(
        hz, renewal_offsets(snap, hz.shape[1]), [700.0]))


def _stale_feature_rows(n: int, drift: float, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Landmark rows whose true monthly hazard k months later is
    sigmoid(-3.5 + x + drift * k): the feature measured at the landmark goes stale."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    months = 8
    month_of_churn = np.full(n, months)                     # censored after 8 months
    for k in range(months - 1, -1, -1):
        h = 1 / (1 + np.exp(-(-3.5 + x + drift * k)))
        month_of_churn = np.where(rng.random(n) < h, k, month_of_churn)
    # the earliest month whose draw fired (draws are independent per month)
    t = np.where(month_of_churn < months,
                 (month_of_churn + rng.uniform(0.05, 0.95, n)) * MONTH_DAYS,
                 months * MONTH_DAYS)
    rows = pd.DataFrame({S.ACCOUNT_ID: [f"a{i}" for i in range(n)], "usage__x": x,
                         S.TERM_MONTHS: 12.0, "days_to_renewal": 400.0,
                         "tenure_days": 500.0, F.DURATION: np.ceil(t).astype(int),
                         F.EVENT: (month_of_churn < months).astype(int),
                         F.LANDMARK: pd.Timestamp("2025-01-01")})
    return rows, x


def test_months_ahead_offsets_recover_a_planted_staleness_drift():
    """A hazard learnt one month ahead under-predicts later months when features go
    stale; the cross-fitted offsets recover the planted drift (0.3 per month on the
    log-odds) within a few standard errors of an intercept fitted on that month's
    events (SE about 1/sqrt(events)), and the projected 90-day probability matches the
    rows' true one while the raw projection falls short."""
    drift = 0.3
    rows, x = _stale_feature_rows(40_000, drift, seed=5)
    model = HazardLogit(C=10.0).fit(rows)
    t, e = rows[F.DURATION].to_numpy(), rows[F.EVENT].to_numpy().astype(bool)
    for k in (1, 2, 3, 4):
        events_k = (e & (t >= k * MONTH_DAYS) & (t < (k + 1) * MONTH_DAYS)).sum()
        tol = 4 * np.sqrt(1 / events_k + 1 / e[t < MONTH_DAYS].sum())
        assert model.month_offset(k) == pytest.approx(drift * k, abs=tol), k
    h = np.column_stack([1 / (1 + np.exp(-(-3.5 + x + drift * k))) for k in range(3)])
    true_90 = 1 - np.prod(1 - h, axis=1)          # 90 days ~ 3 projected months (2.96)
    snap = rows.drop(columns=[F.DURATION, F.EVENT])
    p90 = 1 - model.predict_survival(snap, [3 * MONTH_DAYS])[:, 0]
    se = np.sqrt(true_90.mean() * (1 - true_90.mean()) / len(x))
    assert abs(p90.mean() - true_90.mean()) < 4 * se + 0.002
    raw = HazardLogit(C=10.0)
    raw.recalibrate = False
    p90_raw = 1 - raw.fit(rows).predict_survival(snap, [3 * MONTH_DAYS])[:, 0]
    assert raw.month_offset(2) == 0.0
    assert p90_raw.mean() < true_90.mean() - 4 * se   # the raw projection falls short


def test_the_next_month_hazard_is_the_fitted_models_own():
    """Offsets start at 0 for the next month: risk_score (what SHAP explains) and the
    first month's hazard agree exactly."""
    rows, _ = _stale_feature_rows(8_000, 0.3, seed=6)
    model = HazardLogit(C=10.0).fit(rows)
    snap = rows.drop(columns=[F.DURATION, F.EVENT]).head(50)
    assert model.month_offset(0) == 0.0
    np.testing.assert_allclose(model.monthly_hazards(snap, 1)[:, 0],
                               1 / (1 + np.exp(-model.risk_score(snap))))


@pytest.mark.slow
def test_probabilities_are_monotone_in_horizon_and_within_0_1(sim_data):
    _, _, _, _, scores = trained(sim_data)
    p = scores[["p_churn_30d", "p_churn_90d", "p_churn_180d"]].to_numpy()
    assert ((p >= 0) & (p <= 1)).all()
    assert (np.diff(p, axis=1) >= -1e-12).all()
    assert list(scores.columns) == SCORE_COLUMNS
    assert scores["risk_rank"].is_unique and scores["risk_rank"].min() == 1
    top = scores.loc[scores["risk_rank"] == 1, "p_churn_90d"].iloc[0]
    assert top == scores["p_churn_90d"].max()
    assert np.allclose(scores["expected_arr_lost_90d"], scores["p_churn_90d"] * scores["arr"])
    assert (scores["expected_remaining_days"] <= MAX_DAYS).all()
    med = scores["median_remaining_days"].dropna()
    assert ((med >= 0) & (med <= MAX_DAYS)).all()


@pytest.mark.slow
def test_p_before_renewal_is_p_within_days_to_renewal_and_renewal_closeness_raises_risk(
        sim_data):
    model, _, _, snapshot, scores = trained(sim_data)
    sample = snapshot.iloc[:200].reset_index(drop=True)
    dtr = sample["days_to_renewal"].to_numpy(float)
    within = 1 - model.predict_survival_at(sample, dtr)
    assert np.allclose(scores["p_churn_before_renewal"].iloc[:200], within)
    annual = snapshot[snapshot[S.TERM_MONTHS] == 12].head(100).reset_index(drop=True)
    near, far = annual.copy(), annual.copy()
    near["days_to_renewal"], far["days_to_renewal"] = 20, 300
    p_near = model.predict_horizons(near)["p_churn_90d"].to_numpy()
    p_far = model.predict_horizons(far)["p_churn_90d"].to_numpy()
    assert (p_near > p_far).mean() > 0.9
    assert p_near.mean() > 3 * p_far.mean()
    # 300 days out, the next renewal is beyond 90 days: P(before renewal) >= P(90 d)
    hz = model.predict_horizons(far)
    assert (hz["p_churn_before_renewal"] >= hz["p_churn_90d"] - 1e-12).all()


# ---------------------------------------------------------------- contributions
@pytest.mark.slow
@pytest.mark.parametrize("kind", SURVIVAL_KINDS)
def test_contributions_add_up_exactly_to_the_risk_score(sim_data, kind):
    _, _, _, snapshot, _ = trained(sim_data)
    model = trained(sim_data)[0]
    if model.kind != kind:
        from churnlab.data.warehouse import open_warehouse

        with open_warehouse(sim_data) as wh:
            dates = monthly_dates("2025-01-01", "2025-06-01")
            rows = training_rows(make_landmarks(wh, dates), "2025-10-01")
        model = make_model(kind, n_estimators=40).fit(rows)
    phi, base = model.contributions(snapshot)
    assert list(phi.columns) == model.feature_names_
    assert phi.index.equals(snapshot.index)
    risk = model.risk_score(snapshot)
    # xgboost adds its tree outputs in float32 (eps 1.2e-7): over a couple of hundred
    # contributions the sum can drift a few units in the sixth digit
    np.testing.assert_allclose(phi.sum(axis=1).to_numpy() + base, risk, rtol=2e-5, atol=2e-5)


# ---------------------------------------------------------------- artifacts
@pytest.mark.slow
def test_a_saved_model_reloads_and_scores_bit_identically(sim_data):
    model, card, model_dir, snapshot, scores = trained(sim_data)
    again = load_model(model_dir)                     # via champion.json
    assert again.card["model_id"] == card["model_id"]
    pd.testing.assert_frame_equal(score_accounts(again, snapshot, scores["as_of"].iloc[0]),
                                  scores, check_exact=True)
    assert set(card) >= {"model_id", "kind", "training_window", "features",
                         "backtest_summary", "library_versions", "data_fingerprint"}
    assert again.feature_names_ == card["features"]


def test_loading_a_folder_without_a_model_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="model.joblib"):
        load_model(tmp_path)


def test_bad_landmark_rows_are_refused_with_the_column_named():
    rows = pd.DataFrame({F.LANDMARK: ["2024-01-01"] * 2, F.DURATION: [-1, 5],
                         F.EVENT: [1, 0], "x": [0.0, 1.0]})
    with pytest.raises(SurvivalInputError, match=F.DURATION):
        CoxModel(features=["x"]).fit(rows)
    with pytest.raises(SurvivalInputError, match="no churn event"):
        CoxModel(features=["x"]).fit(rows.assign(**{F.DURATION: 3, F.EVENT: 0}))
    with pytest.raises(ValueError, match="unknown model kind"):
        make_model("forest")


def _rounds_world(n_dates: int, n: int, signal: bool, seed: int = 0):
    """Person-month rows over ``n_dates`` monthly dates: noise features, and (with
    ``signal``) a non-linear hazard in x1 that takes many trees to learn."""
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(rng.normal(size=(n_dates * n, 4)), columns=["x1", "x2", "x3", "x4"])
    when = np.repeat(pd.date_range("2025-01-01", periods=n_dates, freq="MS").to_numpy(), n)
    logit = -2.5 + (2.0 * np.sin(2.5 * x["x1"]) + x["x2"] ** 2 - 1 if signal else 0)
    y = (rng.random(len(x)) < 1 / (1 + np.exp(-logit))).astype(int)
    return x, y, when


def test_early_stopping_holds_out_the_last_months_and_adapts_the_rounds_to_the_data():
    from churnlab.models.hazard import HazardXGB

    x, y, when = _rounds_world(9, 1500, signal=False)
    m = HazardXGB(n_estimators=300, n_jobs=1, monotone=False, early_stopping=30)
    held = m._validation_rows(y, when)
    assert set(when[held]) == set(np.unique(when)[-3:]) and not held[~np.isin(
        when, np.unique(when)[-3:])].any()
    m._fit_hazard(x, y, when)
    noise_rounds = m.n_trees_
    # pure noise: the held-out log-loss stops improving early
    assert noise_rounds < 100
    xs, ys, ws = _rounds_world(9, 1500, signal=True)
    s = HazardXGB(n_estimators=300, n_jobs=1, monotone=False, early_stopping=30)
    s._fit_hazard(xs, ys, ws)
    assert s.n_trees_ > noise_rounds + 50
    # the cross-fitted halves reuse the count; off, or too few held-out churns: the cap
    assert s._refit_params() == {"n_estimators": s.n_trees_, "learning_rate": 0.05,
                                 "early_stopping": 0}
    off = HazardXGB(n_estimators=40, n_jobs=1, monotone=False)      # the default: off
    off._fit_hazard(xs, ys, ws)
    assert off.n_trees_ == 40
    thin = HazardXGB(n_estimators=40, n_jobs=1, monotone=False, early_stopping=30)
    few = np.where(np.isin(ws, np.unique(ws)[-3:]), 0, ys)
    few[np.flatnonzero(np.isin(ws, np.unique(ws)[-3:]))[:5]] = 1
    assert thin._validation_rows(few, ws) is None
    thin._fit_hazard(xs, few, ws)
    assert thin.n_trees_ == 40


@pytest.mark.parametrize("kind", SURVIVAL_KINDS)
def test_survival_at_each_rows_own_time_in_blocks_equals_the_whole_matrix(kind):
    """S(t_i) at each row's own time, computed a block of distinct times at a time (so
    that hundreds of renewal days never make one rows x times matrix), or row by row from
    the projected hazards (the hazard models), equals picking from the whole matrix,
    value for value, with and without a reused curve; fractional times included (15.21875
    days is half a month: numpy takes a square root for a power of 0.5)."""
    rows, _ = _stale_feature_rows(3000, 0.3, seed=5)
    rng = np.random.default_rng(2)
    rows["days_to_renewal"] = rng.integers(1, 700, len(rows)).astype(float)
    rows["usage__y"] = rng.normal(size=len(rows))
    model = make_model(kind).fit(rows)
    snap = rows.iloc[:500].reset_index(drop=True)
    t = np.r_[rng.integers(0, 900, 447), rng.uniform(0, 900, 47), 15.21875, 30.4375, 0.0,
              0.0, 899.0, 899.5].astype(float)
    uniq = np.unique(t)
    assert len(uniq) > 3 * 32                       # several blocks
    whole = model.predict_survival(snap, uniq)[np.arange(len(snap)),
                                               np.searchsorted(uniq, t)]
    np.testing.assert_array_equal(model.predict_survival_at(snap, t), whole)
    curve = model.survival_curve(snap)
    np.testing.assert_array_equal(model.predict_survival_at(snap, t, curve, block=7), whole)
    if kind.startswith("hazard"):        # an unknown time: an unknown S, not an error
        t[[3, 9]] = np.nan
        got = model.predict_survival_at(snap, t)
        assert np.isnan(got[[3, 9]]).all()
        keep = np.isfinite(t)
        np.testing.assert_array_equal(got[keep], whole[keep])


@pytest.mark.parametrize("kind", ["hazard_xgb", "hazard_logit"])
def test_the_offsets_projection_moves_one_design_per_half_value_for_value(kind):
    """The months-ahead offsets project each held-out half k months ahead from one design
    of the half at 0 days (rows taken, calendar columns moved): the same design, and so
    the same margins, as building each month's design from the landmark rows."""
    rows, _ = _stale_feature_rows(3000, 0.3, seed=7)
    rng = np.random.default_rng(3)
    rows["days_to_renewal"] = rng.integers(1, 400, len(rows)).astype(float)
    rows[S.TERM_MONTHS] = rng.choice([1, 12], len(rows))
    model = make_model(kind).fit(rows)
    mine = np.flatnonzero(rng.random(len(rows)) < 0.5)
    base = model._design_matrix(rows, take=mine)
    t = rows[F.DURATION].to_numpy(float)
    for k in (0, 1, 5):
        lo = k * MONTH_DAYS
        held = mine[t[mine] >= lo]
        want = model._design_matrix(rows, lo, held)
        got = moved_design(_take_rows(base, np.searchsorted(mine, held)), rows,
                           model._columns(), lo, take=held, copy=False)
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
        np.testing.assert_array_equal(model._margin(got), model._margin(want))
    assert model.month_offset(1) != 0       # the offsets were estimated on these rows


def test_the_boosted_hazard_does_not_depend_on_its_thread_count():
    """The backtest's workers give xgboost their share of the cores (one thread each on
    two cores) while a fit in the main process uses two: the trees, scores and offsets
    must not depend on it, or the screen and the finalists would disagree."""
    rows, _ = _stale_feature_rows(4000, 0.3, seed=9)
    rng = np.random.default_rng(4)
    rows["usage__y"] = rng.normal(size=len(rows))
    rows["usage__z"] = np.where(rng.random(len(rows)) < 0.3, np.nan, rng.gamma(2, 3, len(rows)))
    one = make_model("hazard_xgb", n_jobs=1).fit(rows)
    two = make_model("hazard_xgb", n_jobs=2).fit(rows)
    assert one.booster_.get_params()["n_jobs"] == 1 and two.booster_.get_params()["n_jobs"] == 2
    np.testing.assert_array_equal(one.risk_score(rows), two.risk_score(rows))
    np.testing.assert_array_equal(one.month_offsets_, two.month_offsets_)


def test_the_boosted_hazards_rounds_follow_the_books_size_and_the_halves_take_the_models(
        monkeypatch):
    """Rounds and learning rate left unset: a fit below ``LARGE_BOOK`` person-months
    boosts 150 rounds at 0.05 (the same trees as asking for them), one at or above it
    100 rounds at 0.075. The cross-fitted halves (each on half the person-months, below
    the line here) take the fitted model's values, so the offsets equal those of a model
    given 100 rounds at 0.075 explicitly; explicit values always win."""
    from churnlab.models.hazard import HazardXGB

    rows, _ = _stale_feature_rows(3000, 0.3, seed=11)
    small = make_model("hazard_xgb", n_jobs=1).fit(rows)
    n = small.n_person_months_
    assert n < HazardXGB.LARGE_BOOK
    assert (small.n_trees_, small.learning_rate_) == (150, 0.05)
    asked = make_model("hazard_xgb", n_jobs=1, n_estimators=150, learning_rate=0.05).fit(rows)
    np.testing.assert_array_equal(small.risk_score(rows), asked.risk_score(rows))
    np.testing.assert_array_equal(small.month_offsets_, asked.month_offsets_)

    monkeypatch.setattr(HazardXGB, "LARGE_BOOK", n)     # this book is now "large"
    large = make_model("hazard_xgb", n_jobs=1).fit(rows)
    assert (large.n_trees_, large.learning_rate_) == (100, 0.075)
    assert large._refit_params() == {"n_estimators": 100, "learning_rate": 0.075,
                                     "early_stopping": 0}
    monkeypatch.setattr(HazardXGB, "LARGE_BOOK", 10 * n)
    fast = make_model("hazard_xgb", n_jobs=1, n_estimators=100, learning_rate=0.075).fit(rows)
    np.testing.assert_array_equal(large.risk_score(rows), fast.risk_score(rows))
    np.testing.assert_array_equal(large.month_offsets_, fast.month_offsets_)
    assert not np.array_equal(large.risk_score(rows), small.risk_score(rows))
    mixed = make_model("hazard_xgb", n_jobs=1, n_estimators=40).fit(rows)
    assert (mixed.n_trees_, mixed.learning_rate_) == (40, 0.05)


@pytest.mark.parametrize("kind", SURVIVAL_KINDS + tuple(k for k in BASELINE_KINDS
                                                         if k != "health"))
def test_a_fit_reads_its_rows_in_place_and_leaves_them_as_they_were(kind):
    """Models fit on their rows re-indexed 0..n-1 without a copy (a large book's window
    is 640 MB): the caller's frame, index and values, is left as it was, and the model is
    the one fitted on a re-indexed copy, score for score. (The health baseline fits the
    health score, which needs a signal map's families: tests/test_health.py.)"""
    rows, _ = _stale_feature_rows(3000, 0.3, seed=13)
    rng = np.random.default_rng(6)
    rows["days_to_renewal"] = rng.integers(1, 700, len(rows)).astype(float)
    rows["usage__y"] = np.where(rng.random(len(rows)) < 0.2, np.nan, rng.normal(size=len(rows)))
    rows["tenure_days"] = rng.integers(30, 2000, len(rows)).astype(float)
    rows = rows.sample(frac=1.0, random_state=3)            # a shuffled, non-default index
    rows = rows[rng.random(len(rows)) < 0.9]
    before = rows.copy(deep=True)
    view = positional(rows)
    assert view.index.equals(pd.RangeIndex(len(rows)))
    assert np.shares_memory(view["usage__x"].to_numpy(), rows["usage__x"].to_numpy())
    model = make_model(kind).fit(rows)
    pd.testing.assert_frame_equal(rows, before)
    copied = make_model(kind).fit(rows.reset_index(drop=True))
    snap = before.iloc[:400]
    np.testing.assert_array_equal(model.risk_score(snap), copied.risk_score(snap))
