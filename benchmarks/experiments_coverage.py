"""Do the save-experiment read-out's 95% intervals cover the planted play effects?

For each seed: simulate the demo world (5,000 accounts, 36 months), write it, read the
experiments out of it as a user would (``run_experiments``, no model: the unadjusted
intervals), and compare every arm's interval with the planted effect on the same
enrolled accounts (``sim.truth.true_arm_effects``). Writes one row per seed x arm x
horizon to benchmarks/results/experiments_coverage.csv and the coverage table to
benchmarks/RESULTS_experiments.md.

    .venv/bin/python benchmarks/experiments_coverage.py --seeds 20
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from churnlab.data.warehouse import open_warehouse
from churnlab.fmt import markdown_table
from churnlab.pipeline.experiments import run_experiments
from churnlab.sim.generate import simulate_saas, write_simulation
from churnlab.sim.truth import true_arm_effects
from churnlab.storage import write_frame, write_text

HERE = Path(__file__).resolve().parent
INTERVALS = {"risk difference (Kaplan-Meier)": ("risk_diff", "true_risk_diff"),
             "RMST difference": ("rmst_diff", "true_rmst_diff"),
             "risk difference, complete follow-up (Neyman)": ("adj_diff", "true_risk_diff")}


def one_seed(seed: int, accounts: int, months: int) -> pd.DataFrame:
    sim = simulate_saas(accounts, months, seed=seed)
    with tempfile.TemporaryDirectory() as tmp:
        write_simulation(sim, tmp)
        with open_warehouse(tmp) as wh:
            r = run_experiments(wh)
    truth = true_arm_effects(sim.truth_interventions, sim.params, r.enrolment)
    out = r.arms.merge(truth, on=["arm", "horizon"])
    out["seed"] = seed
    return out


def coverage_table(rows: pd.DataFrame) -> pd.DataFrame:
    lines = []
    for label, (est, true) in INTERVALS.items():
        for h, g in rows.groupby("horizon"):
            inside = (g[f"{est}_lo"] <= g[true]) & (g[true] <= g[f"{est}_hi"])
            se = (g[f"{est}_hi"] - g[f"{est}_lo"]) / (2 * 1.959964)
            z = (g[est] - g[true]) / se
            k, n = int(inside.sum()), len(g)
            lo, hi = _wilson(k, n)
            lines.append({"interval": label, "horizon": h, "intervals": n,
                          "covered": k, "coverage": k / n, "coverage_lo": lo,
                          "coverage_hi": hi, "mean_error": float((g[est] - g[true]).mean()),
                          "sd_of_z": float(z.std(ddof=1))})
    return pd.DataFrame(lines)


def _wilson(k, n, z=1.959964):
    p = k / n
    c = (p + z * z / (2 * n)) / (1 + z * z / n)
    w = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return c - w, c + w


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--first-seed", type=int, default=101)
    ap.add_argument("--accounts", type=int, default=5000)
    ap.add_argument("--months", type=int, default=36)
    a = ap.parse_args()
    t0 = time.perf_counter()
    parts = []
    for i, seed in enumerate(range(a.first_seed, a.first_seed + a.seeds)):
        parts.append(one_seed(seed, a.accounts, a.months))
        print(f"seed {seed} done ({i + 1}/{a.seeds}, {time.perf_counter() - t0:.0f}s)",
              flush=True)
    rows = pd.concat(parts, ignore_index=True)
    write_frame(rows, HERE / "results" / "experiments_coverage.csv")
    table = coverage_table(rows)
    md = ["# Save experiments: coverage of the read-out's 95% intervals", "",
          f"`.venv/bin/python benchmarks/experiments_coverage.py --seeds {a.seeds} "
          f"--first-seed {a.first_seed} --accounts {a.accounts}` "
          f"({time.perf_counter() - t0:.0f} s). Each seed is a demo world; every treated "
          "arm is compared with control; the truth is the planted effect on the same "
          "enrolled accounts (`true_arm_effects`). coverage_lo/hi: Wilson 95% interval of "
          "the coverage itself. sd_of_z: the spread of (estimate - truth) / se, 1 when the "
          "standard errors are right.", "",
          markdown_table(table), ""]
    write_text(HERE / "RESULTS_experiments.md", "\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
