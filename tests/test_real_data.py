"""Training on data shaped unlike the demo: inputs no model can learn from are dropped
and listed, and a model that fails is left out of the champion choice, not fatal."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _simdata import sim_as_of, simulated_data
from conftest import write_tables

from churnlab.data import contract as S
from churnlab.data.warehouse import open_warehouse
from churnlab.errors import DataError
from churnlab.evaluation import backtest as backtest_mod
from churnlab.evaluation.champion import train_champion
from churnlab.models.survival_base import uninformative_inputs


def test_constant_and_duplicated_inputs_are_named_with_their_reason():
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0], "same": [5.0, 5.0, 5.0], "copy": [1.0, 2.0, 3.0],
                       "empty": [np.nan] * 3, "b": [3.0, 2.0, 1.0]})
    assert uninformative_inputs(df, list(df.columns)) == {
        "same": "constant", "copy": "same values as a", "empty": "constant"}


@pytest.fixture(scope="module")
def one_plan_monthly(tmp_path_factory):
    """The shared simulated world, rewritten as a product with one plan, one price and
    monthly terms only (every contract column constant)."""
    base = tmp_path_factory.getbasetemp()
    src = simulated_data(base / "churnlab-sim")
    tables = {t: pd.read_parquet(src / f"{t}.parquet") for t in (S.ACCOUNTS, S.SUBSCRIPTIONS,
                                                                  S.EVENTS)}
    subs = tables[S.SUBSCRIPTIONS]
    subs[S.PLAN], subs[S.TERM_MONTHS], subs[S.MRR] = "standard", 1, 99.0
    for col in (S.DISCOUNT_PCT, S.SEATS, "arr"):
        if col in subs.columns:
            subs.drop(columns=col, inplace=True)
    out = write_tables(tables, base / "one-plan-monthly")
    (out / "signal_map.yaml").write_text((src / "signal_map.yaml").read_text())
    return out, sim_as_of(str(src))


@pytest.mark.slow
def test_one_plan_one_price_monthly_only_trains_and_names_what_it_dropped(one_plan_monthly,
                                                                          tmp_path):
    data, as_of = one_plan_monthly
    with open_warehouse(data) as wh:
        model, card = train_champion(wh, as_of, tmp_path / "m", n_origins=2,
                                     n_estimators=60)
    dropped = card["dropped_inputs"]
    assert dropped.get(S.ARR) == "constant" and dropped.get(S.TERM_MONTHS) == "constant"
    assert not set(dropped) & set(card["features"])
    assert card["failed_models"] == {}                    # Cox no longer sees a constant
    assert set(card["backtest_summary"][0]) >= {"model", "uno_c"}


@pytest.mark.slow
def test_a_failing_model_is_left_out_and_all_failing_stops_with_one_message(
        one_plan_monthly, tmp_path, monkeypatch):
    data, as_of = one_plan_monthly
    real = backtest_mod.make_model

    def flaky(kind, *a, **k):
        if kind == "cox":
            raise ArithmeticError("delta contains nan value(s). Convergence halted")
        return real(kind, *a, **k)

    monkeypatch.setattr(backtest_mod, "make_model", flaky)
    with open_warehouse(data) as wh:
        _, card = train_champion(wh, as_of, tmp_path / "m", n_origins=1, n_estimators=30,
                                 models=("cox", "hazard_logit", "logistic_90d"))
        assert card["kind"] == "hazard_logit"
        assert "Convergence halted" in card["failed_models"]["cox"]
        monkeypatch.setattr(backtest_mod, "make_model",
                            lambda kind, *a, **k: flaky("cox"))
        with pytest.raises(DataError, match="every model failed in the backtest: cox"):
            train_champion(wh, as_of, tmp_path / "m2", n_origins=1,
                           models=("cox", "hazard_logit"))


def test_the_backtest_plan_keeps_the_defaults_when_the_history_allows_them():
    from churnlab.evaluation.backtest import default_origins, plan_backtest

    plan = plan_backtest("2026-11-01", "2023-11-01")
    assert not plan.adapted and plan.lookback_months == 12 and plan.follow_up_days == 180
    assert plan.origins == default_origins("2026-11-01", 3, 2)


def test_a_short_history_gets_fewer_shorter_origins_and_says_so():
    from churnlab.evaluation.backtest import MIN_LOOKBACK_MONTHS, plan_backtest

    plan = plan_backtest("2025-11-01", "2024-11-01")          # 12 months of history
    assert plan.adapted and "too short for the default backtest" in plan.note
    first_training = min(plan.origins) - pd.DateOffset(months=plan.lookback_months)
    assert first_training >= pd.Timestamp("2024-12-01")     # never before the data begin
    assert plan.lookback_months >= MIN_LOOKBACK_MONTHS
    assert max(plan.origins) + pd.Timedelta(days=plan.follow_up_days + 30) <= \
        pd.Timestamp("2025-11-01")                          # the follow-up is observed


def test_too_short_a_history_names_the_span_the_minimum_and_the_options():
    from churnlab.evaluation.backtest import plan_backtest

    with pytest.raises(DataError, match=r"2025-06-01 to 2025-11-01 \(5 months\).*"
                                        r"--no-backtest.*--lookback-months"):
        plan_backtest("2025-11-01", "2025-06-01")


@pytest.fixture(scope="module")
def short_history(tmp_path_factory):
    """A world with 10 months of history (the defaults need about 21)."""
    from churnlab.sim.generate import simulate_saas, write_simulation

    out = tmp_path_factory.mktemp("short") / "saas"
    write_simulation(simulate_saas(300, 10, seed=5), out)
    return out


@pytest.mark.slow
def test_a_short_history_trains_with_an_adapted_backtest_or_none(short_history, tmp_path,
                                                                   capsys):
    from churnlab.cli import EXIT_OK, main
    from churnlab.data.lifecycle import observation_end

    with open_warehouse(short_history) as wh:
        as_of = observation_end(wh)
    code = main(["-q", "train", "--data", str(short_history), "--as-of", str(as_of.date()),
                 "--model-dir", str(tmp_path / "m"), "--n-estimators", "30"])
    out = capsys.readouterr().out                         # 10 months: 2 origins, 3 months
    assert code == EXIT_OK                                  # of training, 90-day follow-up
    assert "backtest shortened" in out and "2 origins instead of 3" in out
    assert main(["-q", "train", "--data", str(short_history), "--as-of", str(as_of.date()),
                 "--model-dir", str(tmp_path / "n"), "--n-estimators", "30",
                 "--no-backtest"]) == EXIT_OK
    assert "not validated" in capsys.readouterr().out
