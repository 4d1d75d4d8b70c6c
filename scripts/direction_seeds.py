"""Adjusted directions against the planted truth over seeds of one simulator profile.

    .venv/bin/python scripts/direction_seeds.py consumer 3000 1 2 3
    .venv/bin/python scripts/direction_seeds.py random-churn 2000 1 2 3 4 5 6

Prints, per seed (24 months of history), how many event types' adjusted direction equals
the truth, how many lift tests are significant, and the event types that disagree.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from churnlab.data.lifecycle import observation_end
from churnlab.data.warehouse import open_warehouse
from churnlab.signals.analysis import analyse_signals
from churnlab.sim.profiles import simulate_profile, write_profile


def main(argv: list[str]) -> int:
    profile, n_accounts, seeds = argv[0], int(argv[1]), [int(s) for s in argv[2:]]
    for seed in seeds:
        world = simulate_profile(profile, n_accounts, 24, seed)
        with tempfile.TemporaryDirectory() as tmp:
            data = write_profile(world, Path(tmp) / "data")
            with open_warehouse(data) as wh:
                table = analyse_signals(wh, as_of=observation_end(wh))
        found = table.drop_duplicates("event_type").set_index("event_type")["adj_direction"]
        truth = {k: v["direction"] for k, v in world.signal_effects.items()}
        wrong = [(k, found[k], v) for k, v in truth.items() if found[k] != v]
        print(f"{profile} seed {seed}: agree {len(truth) - len(wrong)}/{len(truth)}, "
              f"significant lift tests {int(table['significant'].sum())}/{len(table)}, "
              f"disagree {wrong}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
