"""Adjusted directions against the planted truth over seeds of one simulator profile.

    .venv/bin/python scripts/direction_seeds.py consumer 3000 1 2 3
    .venv/bin/python scripts/direction_seeds.py random-churn 2000 1 2 3 4 5 6

Prints, per seed, how many event types' adjusted direction equals the truth, how many lift
tests are significant, and the event types that disagree.
"""
import pathlib
import sys
import tempfile

from churnlab.data.lifecycle import observation_end
from churnlab.data.warehouse import open_warehouse
from churnlab.signals.analysis import analyse_signals
from churnlab.sim.profiles import simulate_profile, write_profile

prof, n = sys.argv[1], int(sys.argv[2])
for seed in map(int, sys.argv[3:]):
    w = simulate_profile(prof, n, 24, seed)
    d = write_profile(w, pathlib.Path(tempfile.mkdtemp()) / "d")
    with open_warehouse(d) as wh:
        t = analyse_signals(wh, as_of=observation_end(wh), hazard=True)
    a = t.drop_duplicates("event_type").set_index("event_type")
    truth = {k: v["direction"] for k, v in w.signal_effects.items()}
    agree = sum(a.loc[k, "adj_direction"] == v for k, v in truth.items())
    bad = [(k, a.loc[k, "adj_direction"], v) for k, v in truth.items() if a.loc[k, "adj_direction"] != v]
    print(prof, seed, f"agree {agree}/{len(truth)}", "raw significant", int(t.significant.sum()), bad, flush=True)
