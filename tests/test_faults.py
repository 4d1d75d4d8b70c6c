"""Fault injection: ``churnlab report`` killed (SIGKILL, the whole process group) at two
points, then rerun. No partial month folder is ever visible, the rerun removes what the
killed run left, and its outputs are byte-identical to an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
from _simdata import simulated_data, trained

from churnlab.data.warehouse import open_warehouse
from churnlab.features.snapshot import make_snapshot
from churnlab.models.registry import load_model
from churnlab.pipeline.render import render_report

SAME_FILES = ("accounts.csv", "accounts.json", "accounts.parquet", "summary.json", "tasks.csv",
              "report.html")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    sim = str(simulated_data(tmp_path_factory.getbasetemp() / "churnlab-sim"))
    _, card, model_dir, *_ = trained(sim)
    month = str(pd.Timestamp(card["as_of"]).to_period("M") - 1)
    target = render_report(month, sim, out=tmp_path_factory.mktemp("reference"),
                           model=model_dir)
    return sim, model_dir, month, target


def _report(sim, model_dir, month, out) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "churnlab.cli", "-q", "report", "--month",
                             month, "--data", sim, "--model", str(model_dir), "--out",
                             str(out)], start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def _kill_when(proc: subprocess.Popen, ready, timeout: float = 300) -> None:
    t0 = time.monotonic()
    while not ready():
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.monotonic() - t0 < timeout, "the kill point never came"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


@pytest.mark.slow
@pytest.mark.parametrize("point", ["while computing the month", "while rendering"])
def test_a_killed_report_leaves_nothing_visible_and_the_rerun_is_identical(reference,
                                                                           tmp_path, point):
    sim, model_dir, month, ref = reference
    out = tmp_path / "reports"
    proc = _report(sim, model_dir, month, out)
    if point == "while rendering":                      # the month's temporary folder
        _kill_when(proc, lambda: out.is_dir() and any(out.glob(f".{month}.*.tmp")))
    else:                                               # the lock: validating, computing
        _kill_when(proc, lambda: (out / f".{month}.lock").exists())
    assert not (out / month).exists()                   # nothing partial is visible
    rerun = _report(sim, model_dir, month, out)
    assert rerun.wait(timeout=600) == 0, rerun.stderr.read().decode()[-2000:]
    debris = [p.name for p in out.iterdir() if p.name.startswith(".")]
    assert debris == []                                 # lock and temporary folder gone
    for name in SAME_FILES:
        assert (out / month / name).read_bytes() == (ref / name).read_bytes(), name
    packs = sorted(str(p.relative_to(ref / "packs")) for p in (ref / "packs").rglob("*")
                   if p.is_file())
    assert packs == sorted(str(p.relative_to(out / month / "packs"))
                           for p in (out / month / "packs").rglob("*") if p.is_file())
    for name in packs:              # the packs, their CRM tasks and the value recaps
        assert (out / month / "packs" / name).read_bytes() == \
            (ref / "packs" / name).read_bytes(), name


@pytest.fixture(scope="module")
def small_world(tmp_path_factory):
    from churnlab.data.lifecycle import observation_end
    from churnlab.sim.generate import simulate_saas, write_simulation

    out = tmp_path_factory.mktemp("faults") / "saas"
    write_simulation(simulate_saas(300, 14, seed=2), out)
    with open_warehouse(out) as wh:
        return out, str(observation_end(wh).date())


def _train(data, as_of, model_dir) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "churnlab.cli", "-q", "train", "--data",
                             str(data), "--as-of", as_of, "--model-dir", str(model_dir),
                             "--n-estimators", "20", "--origins", "1"],
                            start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


@pytest.mark.slow
def test_a_killed_train_leaves_no_champion_and_the_rerun_is_identical(small_world, tmp_path):
    data, as_of = small_world
    ref = tmp_path / "reference"
    assert _train(data, as_of, ref).wait(timeout=600) == 0
    models = tmp_path / "models"
    proc = _train(data, as_of, models)
    started = time.monotonic()
    _kill_when(proc, lambda: time.monotonic() - started > 4)      # inside the backtest
    assert not (models / "champion.json").exists()
    visible = [p for p in models.glob("*") if not p.name.startswith(".")]
    assert visible == []                                # no visible, half-written model
    rerun = _train(data, as_of, models)
    assert rerun.wait(timeout=600) == 0, rerun.stderr.read().decode()[-2000:]
    assert [p.name for p in models.iterdir() if p.name.startswith(".")] == []
    assert (models / "champion.json").read_bytes() == (ref / "champion.json").read_bytes()
    (folder,) = [p for p in ref.iterdir() if p.is_dir()]
    for f in sorted(folder.iterdir()):
        if f.suffix != ".joblib":           # a pickle's bytes may differ: compare the model
            assert (models / folder.name / f.name).read_bytes() == f.read_bytes(), f.name
    with open_warehouse(data) as wh:
        snap = make_snapshot(wh, as_of)
    a, b = load_model(ref), load_model(models)
    pd.testing.assert_frame_equal(a.predict_horizons(snap), b.predict_horizons(snap))
