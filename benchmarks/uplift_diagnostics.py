"""Why does ranking by uplift not beat ranking by risk in the simulated worlds?

Three measurements per seed of the growth-effects world (the same worlds, split and
learner as benchmarks/uplift_vs_risk.py):

1. **Can the root cause be seen?** The pooled learner's effect modifiers are one score
   per root cause (the mean standardised level of the signals the signal map points at
   it). Per true root cause (the simulator's truth), the mean of each score; and how
   often the highest score names the true cause, against always naming the commonest.
2. **Would knowing it help?** The learner refitted with the true root cause as a
   categorical effect modifier (an oracle no real book has): how often its recommended
   play is the truly best one, and uplift vs risk ranking with it.
3. **The ranking ceiling** (also in uplift_vs_risk): every account given its truly best
   play, ranked by the true cut x ARR against the true risk x ARR.

    .venv/bin/python benchmarks/uplift_diagnostics.py --seeds 20 --accounts 5000

Writes benchmarks/RESULTS_uplift_diagnostics_<accounts>.md.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from churnlab.actions.experiments import ARM
from churnlab.actions.uplift import MODIFIER_COLUMNS, fit_uplift, split_accounts
from churnlab.features.snapshot import feature_columns
from churnlab.fmt import markdown_table
from churnlab.sim.truth import targeting_against_truth
from churnlab.storage import write_text

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from uplift_vs_risk import seed_args, true_causes, world_rows  # noqa: E402

TRUE_CAUSE = "true_root_cause"


def one_seed(seed: int, accounts: int, months: int) -> tuple[dict, pd.DataFrame]:
    sim, rows, signal_map = world_rows(seed, accounts, months)
    rows = rows.copy()
    rows[TRUE_CAUSE] = pd.Series(true_causes(sim, rows)).fillna("none").to_numpy()
    features = feature_columns(rows.drop(columns=[TRUE_CAUSE]))
    train, test = split_accounts(rows, 0.3, seed)
    out = {"seed": seed, "enrolled": len(rows)}
    for name, modifiers in (("signals", MODIFIER_COLUMNS),
                            ("true cause", (*MODIFIER_COLUMNS, TRUE_CAUSE))):
        model = fit_uplift(train, features, 180, signal_map, seed=seed, modifiers=modifiers)
        if model is None:
            raise SystemExit(f"seed {seed}: too few randomised accounts ({len(rows)} enrolled) "
                             "for an uplift model; try more accounts")
        held = test[test[ARM].isin(model.arms)]
        r = targeting_against_truth(pd.concat([held, model.predict(held)], axis=1),
                                    sim.truth_interventions)
        out[f"hit rate, {name}"] = r["best_play_hit_rate"]
        out[f"uplift - risk, {name}"] = r["arr_kept_uplift"] - r["arr_kept_risk"]
        if name == "signals":       # the shipped learner's cause scores, over every row
            scores = model.cause_scores(rows, fit=True)
    # the ceiling uses the truth only (the same for both learners)
    out["ceiling, %"] = 100 * (r["arr_kept_oracle"] / r["arr_kept_oracle_risk_ranking"] - 1)
    named = scores.idxmax(axis=1)
    out["highest score names the cause"] = float((named == rows[TRUE_CAUSE]).mean())
    out["commonest cause's share"] = float(rows[TRUE_CAUSE].value_counts(normalize=True)
                                           .iloc[0])
    return out, scores.groupby(rows[TRUE_CAUSE].to_numpy()).mean()


def main() -> None:
    a = seed_args()
    t0 = time.perf_counter()
    per_seed, means = [], []
    for i, seed in enumerate(range(a.first_seed, a.first_seed + a.seeds)):
        row, m = one_seed(seed, a.accounts, a.months)
        per_seed.append(row)
        means.append(m)
        print(f"seed {seed} done ({i + 1}/{a.seeds}, {time.perf_counter() - t0:.0f}s)",
              flush=True)
    df = pd.DataFrame(per_seed)
    sep = pd.concat(means).groupby(level=0).mean().round(2)
    summary = df.drop(columns="seed").agg(["mean", "std"]).T
    summary["95% CI half-width"] = 1.96 * summary["std"] / np.sqrt(len(df))
    md = ["# Uplift diagnostics: can the simulated root cause be seen, and would it help?", "",
          f"`.venv/bin/python benchmarks/uplift_diagnostics.py --seeds {a.seeds} --first-seed "
          f"{a.first_seed} --accounts {a.accounts}` ({time.perf_counter() - t0:.0f} s).", "",
          "Mean over seeds (uplift - risk: ARR kept on held-out accounts, measured with the "
          "planted effects; ceiling: true best play ranked by true cut against by true "
          "risk).", "",
          markdown_table(summary.round(3).reset_index().rename(columns={"index": ""})), "",
          "Mean root-cause score (rows: the true root cause; columns: the learner's score "
          "for each cause, in standard deviations):", "",
          markdown_table(sep.reset_index().rename(columns={"index": "true cause"})), "",
          "Per seed:", "", markdown_table(df.round(3)), ""]
    write_text(HERE / f"RESULTS_uplift_diagnostics_{a.accounts}.md", "\n".join(md))
    print("\n".join(md[:12]))


if __name__ == "__main__":
    main()
