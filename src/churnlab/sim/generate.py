"""A synthetic B2B SaaS with ground truth: the demo world churnlab is built and tested on.

:func:`simulate_saas` returns a :class:`SimulatedSaaS`: the four input tables of the data
contract (:mod:`churnlab.data.contract`) plus truth tables that the pipeline never reads and
the tests and evaluations do. :func:`write_simulation` writes both to a folder;
:func:`summarise_simulation` measures the calibration numbers (annual logo churn by
segment, the oracle's concordance). The mechanism is documented in
``docs/simulator.md``; in short:

* every account has a latent health (logit scale) = a base level + an AR(1) drift +
  decaying shocks (champion leaves, budget cut, product gap, ...), each shock with a
  root-cause class;
* low health raises the hazard of entering an *evaluating* (at-risk) state; annual
  contracts can only enter it in a window before a renewal. On entry a churn date is
  planned at a contract boundary 60-120 days ahead, and at that date the account churns
  with probability ``q`` (from its health, lowered by save playbooks) or renews;
* a small no-warning hazard (acquired, out of business) ends accounts almost silently;
* observable events of every signal family are emitted from the latent state with
  noise, the evaluating ones relative to the planned churn date.

The simulation is vectorised across accounts and loops over time steps (weeks, split
at month starts), so 50k accounts x 36 months take minutes. It is deterministic by
seed: the latent world and the observation noise draw from separate
:class:`numpy.random.Generator` streams spawned from ``seed``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import yaml

from churnlab.data import contract as S
from churnlab.data.signal_map import SignalMap, default_signal_map_path, load_signal_map
from churnlab.errors import InputError
from churnlab.sim.build import build
from churnlab.sim.effects import SIGNAL_EFFECTS
from churnlab.sim.params import (
    PARAMS_FILE,
    SIGNAL_EFFECTS_FILE,
    TRUTH_DIR,
    SimulatedSaaS,
    SimulationParams,
)
from churnlab.sim.world import World
from churnlab.storage import atomic_dir


# ------------------------------------------------------------------ public API
def _check_arguments(n_accounts: int, n_months: int, start) -> pd.Timestamp:
    if int(n_accounts) < 10:
        raise InputError(f"n_accounts must be at least 10, got {n_accounts}")
    if int(n_months) < 3:
        raise InputError(f"n_months must be at least 3, got {n_months}")
    try:
        return pd.Timestamp(start).normalize()
    except (ValueError, TypeError) as exc:
        raise InputError(f"start is not a date: {start!r}") from exc


def _check_signal_map(smap: SignalMap) -> None:
    """The generator emits exactly the event types of the default signal map."""
    mapped, emitted = set(smap.signals), set(SIGNAL_EFFECTS)
    if mapped != emitted:
        raise InputError("the simulator and the default signal map disagree: "
                         f"not simulated {sorted(mapped - emitted)}, "
                         f"not in the map {sorted(emitted - mapped)}")


def simulate_saas(n_accounts: int = 5000, n_months: int = 36, seed: int = 42,
                  start: str = "2023-11-01", progress: bool = False,
                  params: SimulationParams | None = None) -> SimulatedSaaS:
    """Simulate a B2B SaaS with ground truth.

    Parameters
    ----------
    n_accounts : accounts in total: an initial book (``params.initial_share``, signed
        0.5-5 years before ``start``) plus accounts acquired during the window.
    n_months : length of the data window; the data end is ``start + n_months`` months.
    seed : the seed of every random draw; the same seed gives identical tables.
    start : first day of the data window (``YYYY-MM-DD``).
    progress : show a progress bar over the time steps.
    params : the mechanism's tunables (default :class:`SimulationParams`).

    Returns
    -------
    SimulatedSaaS : the input tables, the truth tables, the planted signal effects and
    the parameters.
    """
    start_ts = _check_arguments(n_accounts, n_months, start)
    params = params or SimulationParams()
    smap = load_signal_map(default_signal_map_path())
    _check_signal_map(smap)
    world = World(int(n_accounts), int(n_months), int(seed), start_ts, params,
                   [spec.event_type for spec in smap])
    world.run(progress=progress)
    sim = build(world, int(n_months), int(seed), {s.event_type: s.kind for s in smap})
    for name, entry in sim.signal_effects.items():
        entry["family"] = smap[name].family
    return sim


def write_simulation(sim: SimulatedSaaS, out_dir) -> Path:
    """Write the simulation to ``out_dir`` atomically (a temporary folder, then a rename).

    Layout: ``{accounts,subscriptions,events,interventions}.parquet`` and
    ``signal_map.yaml`` (the inputs churnlab reads), and ``truth/`` with
    ``accounts``, ``shocks``, ``account_months``, ``evaluations`` and ``interventions``
    Parquet files, ``signal_effects.yaml`` and ``params.json``. An existing folder is
    replaced only when it holds an earlier simulation (``truth/params.json``); any
    other non-empty folder raises ``FileExistsError``.
    """
    out = Path(out_dir)
    replace = out.is_dir() and (out / TRUTH_DIR / PARAMS_FILE).is_file()
    with atomic_dir(out, overwrite=replace) as tmp:
        for name, df in sim.input_tables().items():
            df.to_parquet(tmp / f"{name}.parquet", index=False)
        shutil.copyfile(default_signal_map_path(), tmp / S.SIGNAL_MAP_FILE)
        truth = tmp / TRUTH_DIR
        truth.mkdir()
        for name, df in sim.truth_tables().items():
            df.to_parquet(truth / f"{name}.parquet", index=False)
        with (truth / SIGNAL_EFFECTS_FILE).open("w") as fh:
            yaml.safe_dump({"version": 1, "event_types": sim.signal_effects}, fh,
                           sort_keys=False, allow_unicode=True)
        (truth / PARAMS_FILE).write_text(json.dumps(sim.params, indent=2, sort_keys=True)
                                         + "\n")
    return out
