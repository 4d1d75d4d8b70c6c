"""The premise of the futility world, measured on one simulated world: among the accounts
that entered a save play, the correlation between the churn probability before the play
and the best play's planted cut, with and without futility, and the share of lost causes
(best cut under 0.02).

    .venv/bin/python scripts/futility_premise.py --accounts 5000 --seed 201
"""

from __future__ import annotations

import argparse

import numpy as np

from churnlab.sim.generate import simulate_saas
from churnlab.sim.params import PLAYBOOKS, SimulationParams, effect_if

LOST_CAUSE = 0.02


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=5000)
    ap.add_argument("--months", type=int, default=36)
    ap.add_argument("--seed", type=int, default=201)
    a = ap.parse_args()
    for name, make in (("growth", SimulationParams.growth_effects),
                       ("futility", SimulationParams.futility_effects)):
        t = simulate_saas(a.accounts, a.months, seed=a.seed, params=make()).truth_interventions
        best = t[[effect_if(k) for k in PLAYBOOKS]].max(axis=1).to_numpy()
        corr = np.corrcoef(t["q_before"], best)[0, 1]
        print(f"{name}: {len(t)} plays; corr(churn probability, best cut) {corr:+.2f}; "
              f"lost causes (best cut < {LOST_CAUSE}) {np.mean(best < LOST_CAUSE):.0%}")


if __name__ == "__main__":
    main()
