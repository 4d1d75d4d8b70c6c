"""The expansion comparison against the simulator's planted QBR effect: the same seed
simulated with and without the effect, and the crude and stratified ratios of each.

    .venv/bin/python scripts/expansion_check.py --seed 42
"""

from __future__ import annotations

import argparse
import tempfile

from churnlab.data.warehouse import open_warehouse
from churnlab.pipeline.expansion import run_expansion
from churnlab.sim.generate import simulate_saas, write_simulation
from churnlab.sim.params import SimulationParams


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--accounts", type=int, default=5000)
    a = ap.parse_args()
    for name, effects in (("without the QBR effect", {}), ("with it (x1.8)", None)):
        params = (SimulationParams.growth_effects() if effects is None else
                  SimulationParams.growth_effects(milestone_expansion_effects=effects))
        sim = simulate_saas(a.accounts, 36, seed=a.seed, params=params)
        with tempfile.TemporaryDirectory() as tmp:
            write_simulation(sim, tmp)
            with open_warehouse(tmp) as wh:
                e = run_expansion(wh)
        r = e.comparison.set_index("milestone").loc["qbr_held"]
        print(f"{name}: {e.summary().split(';')[0]}; qbr_held crude ratio "
              f"{r['crude_ratio']:.2f}, stratified {r['adjusted_ratio']:.2f} "
              f"({r['adjusted_lo']:.2f}-{r['adjusted_hi']:.2f}); propensity AUC "
              f"{e.propensity_auc:.2f}")


if __name__ == "__main__":
    main()
