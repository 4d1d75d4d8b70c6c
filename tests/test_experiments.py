"""Save experiments: the statistics against references, the read-out against the planted
play effects, the guards, a null experiment on a world unlike the demo, the command and
notebook 04."""

from __future__ import annotations

from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from _simdata import assert_paired_without_outputs, experiments_world, simulated_data, trained
from lifelines import KaplanMeierFitter
from lifelines.utils import restricted_mean_survival_time

from churnlab.actions.experiment_stats import (
    accounts_per_arm,
    adjusted_difference,
    holm,
    kaplan_meier,
)
from churnlab.actions.experiments import ARM, Guards, enrol, read_out
from churnlab.cli import main
from churnlab.data import contract as S
from churnlab.data.lifecycle import observation_end
from churnlab.data.warehouse import open_warehouse
from churnlab.pipeline.experiments import plan_next, run_experiments
from churnlab.present.notebook import run_notebook
from churnlab.sim.profiles import simulate_profile, write_profile
from churnlab.sim.truth import arm_effects_from_truth

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SCRIPT = NOTEBOOKS / "04_save_experiments.py"
Z = 1.959963984540054


# ------------------------------------------------------------------ worlds
@pytest.fixture(scope="module")
def demo_world(tmp_path_factory) -> Path:
    return experiments_world(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def demo_readout(demo_world):
    with open_warehouse(demo_world) as wh:
        return run_experiments(wh)


def _null_interventions(world, seed: int = 3, n: int = 600) -> pd.DataFrame:
    """Random assignment of ``n`` accounts to a control and two plays with no effect at
    all: on each account's first subscription, a day drawn inside it."""
    rng = np.random.default_rng(seed)
    subs = world.tables["subscriptions"] if hasattr(world, "tables") else world
    first = subs.sort_values(S.START_DATE).drop_duplicates(S.ACCOUNT_ID)
    first = first.sample(n=min(n, len(first)), random_state=seed)
    end = first[S.END_DATE].fillna(first[S.START_DATE] + pd.Timedelta(days=400))
    span = (end - first[S.START_DATE]).dt.days.clip(lower=2)
    started = first[S.START_DATE] + pd.to_timedelta(
        (rng.random(len(first)) * (span - 1)).astype(int), unit="D")
    arm = rng.choice(["control", "treatment", "treatment"], len(first))
    play = np.where(arm == "control", "nothing", rng.choice(["email_nudge", "call"],
                                                             len(first)))
    return pd.DataFrame({S.INTERVENTION_ID: [f"X{i}" for i in range(len(first))],
                         S.ACCOUNT_ID: first[S.ACCOUNT_ID].to_numpy(),
                         S.STARTED_AT: started.dt.normalize().to_numpy(),
                         S.PLAYBOOK: play, S.DISCOUNT_PCT: 0.0, S.ARM: arm,
                         S.OUTCOME: "pending"})


@pytest.fixture(scope="module")
def consumer_null(tmp_path_factory) -> Path:
    """The consumer profile (one plan, monthly only, early churn) with a randomised test
    of two plays that do nothing."""
    out = tmp_path_factory.getbasetemp() / "churnlab-exp-consumer"
    if not (out / S.SIGNAL_MAP_FILE).is_file():
        world = simulate_profile("consumer", 3000, 24, seed=5)
        write_profile(world, out)
        subs = pd.read_parquet(out / "subscriptions.parquet")
        _null_interventions(subs).to_parquet(out / "interventions.parquet", index=False)
    return out


# ------------------------------------------------------------------ statistics
def test_kaplan_meier_and_rmst_equal_lifelines_and_the_rmst_error_is_the_textbook_one():
    rng = np.random.default_rng(0)
    t = np.round(rng.exponential(200, 400))
    c = rng.uniform(30, 500, 400)
    time, event = np.minimum(t, c), t <= c
    km = kaplan_meier(time, event)
    ref = KaplanMeierFitter().fit(time, event)
    grid = [0, 10, 45.5, 90, 180, 365]
    assert np.allclose([km.survival_at(x) for x in grid],
                       ref.survival_function_at_times(grid).to_numpy(), atol=1e-12)
    assert km.rmst(180)[0] == pytest.approx(restricted_mean_survival_time(ref, 180), abs=1e-6)
    # without censoring the RMST is the mean of min(T, tau) and its variance var/n
    full = kaplan_meier(t, np.ones_like(t, dtype=bool))
    m, se = full.rmst(150)
    x = np.minimum(t, 150)
    assert m == pytest.approx(x.mean(), rel=1e-12)
    assert se ** 2 == pytest.approx(x.var() / len(x), rel=1e-9)
    r, se_r = full.risk_at(100)
    assert r == pytest.approx((t <= 100).mean())
    assert se_r == pytest.approx(np.sqrt(r * (1 - r) / len(t)), rel=1e-9)


def test_adjusted_difference_covers_at_its_nominal_rate_and_a_predictive_covariate_narrows_it():
    """300 seeded trials of 300 accounts, true effect -0.10 on a churn probability that
    depends on a pre-assignment score: the adjusted interval covers about 95% (binomial
    sd 1.3 points: 91-99% is three of them) and is narrower than the plain one."""
    rng = np.random.default_rng(7)
    covered, ratio = 0, []
    for _ in range(300):
        x = rng.normal(size=300)
        t = rng.random(300) < 0.5
        p = 1 / (1 + np.exp(-(1.5 * x))) - 0.10 * t
        y = rng.random(300) < np.clip(p, 0, 1)
        est, se, se_plain = adjusted_difference(y, t, x)
        covered += abs(est - (-0.10)) <= Z * se
        ratio.append(se / se_plain)
    assert 0.91 <= covered / 300 <= 0.99
    assert np.median(ratio) < 0.9            # the score explains a fair share of y
    # a covariate that predicts nothing barely moves the error
    x = rng.normal(size=2000)
    t = rng.random(2000) < 0.5
    y = rng.random(2000) < 0.4
    _, se, se_plain = adjusted_difference(y, t, x)
    assert se / se_plain == pytest.approx(1.0, abs=0.02)


def test_the_planner_gives_the_textbook_sample_size_and_holm_steps_down():
    # 50% vs 40%, two-sided 5%, 80% power: 385 per arm (no continuity correction)
    assert accounts_per_arm(0.5, 0.10) == 385
    assert accounts_per_arm(0.5, 0.10, variance_reduction=0.5) == 193
    assert accounts_per_arm(0.5, 0.10, comparisons=4) > 385
    with pytest.raises(ValueError):
        accounts_per_arm(0.5, -0.1)
    assert np.allclose(holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    assert np.isnan(holm([np.nan, 0.2])[0])


# ------------------------------------------------------------------ enrolment
def test_enrolment_takes_the_first_assignment_and_flags_a_second_arm_within_the_horizon():
    iv = pd.DataFrame({
        S.ACCOUNT_ID: ["A", "A", "B", "B", "C", "D"],
        S.STARTED_AT: pd.to_datetime(["2024-01-10", "2024-03-01", "2024-01-05",
                                      "2024-12-01", "2024-02-01", "2024-02-01"]),
        S.PLAYBOOK: ["call", "none", "call", "none", "call", "call"],
        S.ARM: ["treatment", "control", "treatment", "control", "treatment", "treatment"]})
    names = pd.Series(["call", "control", "call", "control", "call", "call"])
    spans = pd.DataFrame({
        S.ACCOUNT_ID: ["A", "B", "C", "D"],
        "span_start": pd.to_datetime(["2023-01-01", "2023-01-01", "2023-06-01",
                                      "2024-03-01"]),
        "span_end": pd.to_datetime(["2024-04-10", None, "2024-08-01", None]),
        "churned": [True, False, False, False],
        "churn_date": pd.to_datetime(["2024-04-10", None, None, None])})
    contracts = pd.DataFrame({S.ACCOUNT_ID: ["A", "B", "C"],
                              S.STARTED_AT: pd.to_datetime(["2024-01-10", "2024-01-05",
                                                            "2024-02-01"]),
                              S.ARR: [1000.0, 2000.0, 3000.0], "tenure_days": [374, 369, 245]})
    e = enrol(iv, spans, contracts, end="2024-06-30", readout_days=180, names=names)
    e = e.set_index(S.ACCOUNT_ID)
    assert list(e.index) == ["B", "A", "C"]       # D was not a customer on its start date
    assert e.loc["A", ARM] == "call" and bool(e.loc["A", "contaminated"])
    assert not e.loc["B", "contaminated"]         # its second arm came after 180 days
    assert bool(e.loc["A", "churned"]) and e.loc["A", "days"] == 91
    # C's span ends after the end of observation: censored at the end, not churned
    assert not e.loc["C", "churned"] and e.loc["C", "days"] == (
        pd.Timestamp("2024-06-30") - pd.Timestamp("2024-02-01")).days
    assert e.loc["B", "followed_days"] == (pd.Timestamp("2024-06-30")
                                           - pd.Timestamp("2024-01-05")).days


# ------------------------------------------------------------------ the demo world
def test_the_readout_agrees_with_the_planted_play_effects(demo_world, demo_readout):
    r = demo_readout
    assert r.randomised and len(r.summary) == 5
    truth = arm_effects_from_truth(demo_world / "truth", r.enrolment)
    m = r.arms.merge(truth, on=["arm", "horizon"])
    assert len(m) == 10
    se = (m["risk_diff_hi"] - m["risk_diff_lo"]) / (2 * Z)
    z = (m["risk_diff"] - m["true_risk_diff"]) / se
    assert (z.abs() < 4).all(), m[["arm", "horizon", "risk_diff", "true_risk_diff"]]
    se_m = (m["rmst_diff_hi"] - m["rmst_diff_lo"]) / (2 * Z)
    assert ((m["rmst_diff"] - m["true_rmst_diff"]).abs() < 4 * se_m).all()
    # every planted effect is a fall in churn; the estimates lean the same way
    assert (m["true_risk_diff"] < 0).all()
    assert (m.loc[m["horizon"] == 180, "risk_diff"] < 0).sum() >= 4
    at = r.arms[r.arms["horizon"] == 180]
    assert np.allclose(at["arr_kept_vs_control"], -at["risk_diff"] * at["arr_enrolled"])
    # a named winner passed every guard and the Holm-adjusted test
    if r.winner is not None:
        w = r.summary.set_index("arm").loc[r.winner]
        assert w["status"] == "less churn than control" and w["logrank_p_holm"] <= 0.05
        assert r.verdict.lower().startswith(r.winner.replace("_", " "))
    else:
        assert r.verdict.startswith("No ")


def test_guards_hold_back_a_winner_too_early_contaminated_or_unbalanced(demo_world,
                                                                         demo_readout):
    with open_warehouse(demo_world) as wh:
        early = run_experiments(wh, as_of=pd.Timestamp("2024-09-01"))
    assert early.winner is None
    assert early.summary["status"].str.startswith("too early").all()
    assert early.verdict.startswith("No winner can be named yet: too early")

    e = demo_readout.enrolment.copy()
    arm = e[ARM].unique()[1]
    rng = np.random.default_rng(0)
    hit = (e[ARM] == arm) & (rng.random(len(e)) < 0.2)
    contaminated = read_out(e.assign(contaminated=e["contaminated"] | hit), True)
    assert contaminated.summary.set_index("arm").loc[arm, "status"].startswith("contaminated")
    assert contaminated.winner != arm

    # the plays go to the biggest accounts: randomisation is broken
    biased = e.assign(**{ARM: np.where(e[S.ARR] >= e[S.ARR].quantile(0.6), "big_play",
                                       "control")})
    unbalanced = read_out(biased, True)
    assert unbalanced.summary["status"].iloc[0].startswith("unbalanced")
    assert unbalanced.winner is None
    # under real randomisation the same check stays quiet
    assert not demo_readout.summary["status"].str.startswith("unbalanced").any()


def test_plays_without_a_control_arm_get_descriptive_numbers_only(demo_readout):
    e = demo_readout.enrolment
    treated = e[e[ARM] != "control"]
    r = read_out(treated, False)
    assert not r.randomised and r.winner is None
    assert "not randomised" in r.verdict and "cannot say" in r.verdict
    assert set(r.arms["arm"]) == set(treated[ARM])
    assert "risk_diff" not in r.arms


def test_the_planner_sizes_the_next_test_from_the_control_and_the_inflow(demo_readout):
    plan = plan_next(demo_readout, effect=0.10)
    c = demo_readout.arms.loc[demo_readout.arms["horizon"] == 180, "churn_risk_control"]
    assert plan.p_control == pytest.approx(c.iloc[0])
    assert plan.per_arm == accounts_per_arm(c.iloc[0], 0.10, variance_reduction=0)
    e = demo_readout.enrolment
    recent = e[e[S.STARTED_AT] > e[S.STARTED_AT].max() - pd.DateOffset(months=6)]
    assert plan.inflow_per_month == pytest.approx(len(recent) / 6)
    assert plan.months_to_enrol == pytest.approx(2 * plan.per_arm / plan.inflow_per_month)
    assert f"{plan.per_arm} accounts per arm" in plan.sentence()


# ------------------------------------------------------------------ unlike the demo
def test_a_null_experiment_on_a_consumer_world_names_no_winner(consumer_null):
    with open_warehouse(consumer_null) as wh:
        r = run_experiments(wh)
    assert r.randomised and set(r.summary["arm"]) == {"call", "email_nudge"}
    se = (r.arms["risk_diff_hi"] - r.arms["risk_diff_lo"]) / (2 * Z)
    assert (r.arms["risk_diff"].abs() < 4 * se).all()     # truth: no effect
    assert r.winner is None
    assert r.verdict.startswith("No play keeps clearly more customers")
    assert "no model given" in " ".join(r.notes)


def test_the_command_reads_out_a_world_without_interventions_in_one_line(tmp_path, capsys):
    data = tmp_path / "usage"
    write_profile(simulate_profile("usage-only", 300, 12, seed=2), data)
    out = tmp_path / "exp"
    assert main(["-q", "experiments", "--data", str(data), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "no interventions table" in said
    text = (out / "readout.md").read_text()
    assert "no interventions table" in text and "|" not in text
    assert (out / "curves.png").stat().st_size > 0


@pytest.mark.slow
def test_the_command_writes_the_readout_and_replaces_its_folder(demo_world, demo_readout,
                                                                tmp_path):
    out = tmp_path / "exp"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    assert main(["-q", "experiments", "--data", str(demo_world), "--out", str(out)]) == 0
    assert not (out / "stale.txt").exists()
    text = (out / "readout.md").read_text()
    assert demo_readout.verdict in text
    assert "## The next test" in text
    arms = pd.read_csv(out / "arms.csv")
    pd.testing.assert_frame_equal(arms[["arm", "horizon", "n"]],
                                  demo_readout.arms[["arm", "horizon", "n"]])
    assert np.allclose(arms["risk_diff"], demo_readout.arms["risk_diff"], atol=1e-12)
    assert main(["-q", "experiments", "--data", str(demo_world), "--out", str(out),
                 "--effect", "1.5"]) == 2


# ------------------------------------------------------------------ notebook 04
def test_the_script_and_the_committed_notebook_04_are_the_same_cells_without_outputs():
    assert_paired_without_outputs(SCRIPT)


@pytest.mark.slow
def test_notebook_04_runs_with_a_model_and_quotes_the_readout(tmp_path_factory, tmp_path):
    data = str(simulated_data(tmp_path_factory.getbasetemp() / "churnlab-sim"))
    _, _, model_dir, _, _ = trained(data)
    out = run_notebook(SCRIPT, tmp_path / "04.ipynb",
                       dict(data_dir=data, model_path=str(model_dir), min_per_arm=10,
                            truth_dir=f"{data}/truth"))
    nb = nbformat.read(out, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    assert len([o for o in outputs if "image/png" in o.get("data", {})]) >= 2
    text = "\n".join(o["data"]["text/markdown"] for o in outputs
                     if "text/markdown" in o.get("data", {}))
    model = trained(data)[0]             # the same model, cached in this process
    with open_warehouse(data) as wh:
        r = run_experiments(wh, observation_end(wh), model, Guards(min_per_arm=10))
    assert r.verdict in text
    assert "pre_assignment_risk" in r.enrolment and r.enrolment["pre_assignment_risk"].notna(
    ).mean() > 0.9
    assert "accounts per arm" in text


@pytest.mark.parametrize("world", ["demo_world", "consumer_null"])
def test_contracts_at_assignment_are_read_only_for_the_plays_accounts_and_days(world, request):
    """The contract at each play's start, read for those (account, day) pairs only (all
    active accounts at every start day is ~20 GB at 50,000 accounts), equals the same
    rows of the unrestricted query."""
    from churnlab.data.lifecycle import active_at_dates_sql
    from churnlab.pipeline.experiments import _contracts

    with open_warehouse(request.getfixturevalue(world)) as wh:
        iv = wh.query(f"SELECT {S.ACCOUNT_ID}, {S.STARTED_AT} FROM {S.INTERVENTIONS}")
        day = pd.to_datetime(iv[S.STARTED_AT]).dt.normalize()
        got = _contracts(wh, day.unique())
        every = wh.query(active_at_dates_sql(sorted(day.unique()), name=S.STARTED_AT))
    key = [S.ACCOUNT_ID, S.STARTED_AT]
    pairs = iv.assign(**{S.STARTED_AT: day})[key].drop_duplicates()
    every[S.STARTED_AT] = pd.to_datetime(every[S.STARTED_AT])
    want = every.merge(pairs, on=key)[got.columns]
    got = got.assign(**{S.STARTED_AT: pd.to_datetime(got[S.STARTED_AT])})
    assert len(every) > 3 * len(got) > 0
    pd.testing.assert_frame_equal(got.sort_values(key).reset_index(drop=True),
                                  want.sort_values(key).reset_index(drop=True),
                                  check_dtype=False)


@pytest.mark.parametrize("world", ["demo_world", "consumer_null"])
def test_snapshots_of_the_enrolled_accounts_equal_their_rows_of_the_whole_book(world, request):
    """Assignment snapshots read only the enrolled accounts' events; each row must be the
    one the whole book's snapshot has (string ids on the demo, integer ids on the
    consumer world), an unknown id adds nothing and no id gives no row."""
    from churnlab.features.snapshot import make_snapshots

    with open_warehouse(request.getfixturevalue(world)) as wh:
        iv = wh.query(f"SELECT {S.ACCOUNT_ID}, {S.STARTED_AT} FROM {S.INTERVENTIONS}")
        dates = sorted(pd.to_datetime(iv[S.STARTED_AT]).dt.to_period("M")
                       .dt.to_timestamp().unique())[-3:]
        whole = make_snapshots(wh, dates)
        ids = list(iv[S.ACCOUNT_ID].unique())
        part = make_snapshots(wh, dates, accounts=ids + ids[:3])
        none = make_snapshots(wh, dates, accounts=[])
    want = whole[whole[S.ACCOUNT_ID].isin(ids)].reset_index(drop=True)
    assert 0 < len(part) < len(whole)
    pd.testing.assert_frame_equal(part, want)
    assert none.empty and list(none.columns) == list(whole.columns)
