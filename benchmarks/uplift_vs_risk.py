"""Does targeting by the plays' uplift keep more ARR than targeting by risk?

For each seed: simulate the demo world with the growth effects planted (play effects that
vary by segment: ``SimulationParams.growth_effects()``; ``--world futility`` also scales
them by engagement), read out its save experiments, fit the pooled uplift learner on 70%
of the enrolled accounts and rank the held-out 30% two ways (uplift x ARR and
risk-without-a-play x ARR); the CS team works the top half, each account getting the
model's recommended play; the ARR kept is measured with the planted effects
(``sim.truth.targeting_against_truth``). Also the queues a team without an uplift model
would run, ranked by risk x ARR: everyone given the play with the lowest churn rate in
the training accounts, or the playbook rules' play for the root cause (as the signals
point at it, and as it truly is). Writes benchmarks/results/uplift_vs_risk_<accounts>.csv
and benchmarks/RESULTS_uplift_<accounts>.md.

    .venv/bin/python benchmarks/uplift_vs_risk.py --seeds 20
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from churnlab.actions.experiments import ARM
from churnlab.actions.playbooks import PLAYBOOKS as RULES
from churnlab.actions.root_cause import UNCLEAR
from churnlab.actions.uplift import CONTROL, UpliftModel, cause_columns
from churnlab.data import contract as S
from churnlab.data.warehouse import open_warehouse
from churnlab.fmt import markdown_table
from churnlab.pipeline.experiments import run_experiments
from churnlab.pipeline.uplift import Y, uplift_rows, validate_uplift
from churnlab.sim.generate import simulate_saas, write_simulation
from churnlab.sim.params import SimulationParams
from churnlab.sim.truth import targeting_against_truth
from churnlab.storage import write_frame, write_text

HERE = Path(__file__).resolve().parent


WORLDS = {"growth": SimulationParams.growth_effects,
          "futility": SimulationParams.futility_effects}


def world_rows(seed: int, accounts: int, months: int, world: str = "growth",
               diagnosis: float | None = None):
    """A growth-effects world (``futility``: with Ascarza's futility planted too), its
    enrolled accounts with outcomes and its signal map. ``diagnosis``: the interventions
    record the CSM's diagnosed cause, the true one with this probability (else another
    cause at random)."""
    sim = simulate_saas(accounts, months, seed=seed, params=WORLDS[world]())
    if diagnosis is not None:
        sim.interventions = diagnose(sim, diagnosis, seed)
    with tempfile.TemporaryDirectory() as tmp:
        write_simulation(sim, tmp)
        with open_warehouse(tmp) as wh:
            rows = uplift_rows(wh, run_experiments(wh))
            signal_map = wh.signal_map
    return sim, rows, signal_map


def diagnose(sim, accuracy: float, seed: int) -> pd.DataFrame:
    """The interventions with a ``diagnosed_cause``: the true root cause with probability
    ``accuracy``, else one of the other three at random (seeded)."""
    rng = np.random.default_rng([seed, 7])
    true = sim.interventions[[S.INTERVENTION_ID]].merge(
        sim.truth_interventions[[S.INTERVENTION_ID, "root_cause"]], how="left")["root_cause"]
    causes = list(S.ROOT_CAUSES)
    other = [rng.choice([c for c in causes if c != t]) for t in true]
    right = rng.random(len(true)) < accuracy
    return sim.interventions.assign(**{S.DIAGNOSED_CAUSE: np.where(right, true, other)})


def one_seed(seed: int, accounts: int, months: int, world: str = "growth",
             diagnosis: float | None = None) -> dict:
    sim, rows, signal_map = world_rows(seed, accounts, months, world, diagnosis)
    v = validate_uplift(rows, seed=seed, n_boot=200, signal_map=signal_map)
    out = {"seed": seed, "accounts_with_outcome": len(rows), "status": v.status,
           "qini": v.qini, "qini_lo": v.qini_lo, "qini_hi": v.qini_hi}
    if v.test is not None:
        train = rows[~rows.index.isin(v.test.index)]
        rates = train[train[ARM] != CONTROL].groupby(ARM)[Y].mean()
        out["average_play"] = rates.idxmin()
        out.update(targeting_against_truth(v.test, sim.truth_interventions,
                                           average_play=out["average_play"],
                                           risk_plays=rule_plays(sim, train, v.test,
                                                                 signal_map)))
    return out


def true_causes(sim, rows: pd.DataFrame) -> np.ndarray:
    """The planted root cause of each row's assignment (account_id, started_at); None
    where the truth has no intervention for it."""
    t = sim.truth_interventions[[S.ACCOUNT_ID, S.STARTED_AT, "root_cause"]].copy()
    t[S.STARTED_AT] = pd.to_datetime(t[S.STARTED_AT])
    keys = rows[[S.ACCOUNT_ID, S.STARTED_AT]].assign(
        **{S.STARTED_AT: pd.to_datetime(rows[S.STARTED_AT])})
    return keys.merge(t, on=[S.ACCOUNT_ID, S.STARTED_AT], how="left")["root_cause"].to_numpy()


def rule_plays(sim, train: pd.DataFrame, test: pd.DataFrame, signal_map) -> dict:
    """The risk queue's plays by the playbook rules (DOMAIN.md: the first playbook for
    the root cause, ``actions.playbooks.PLAYBOOKS``), for two diagnoses of the cause: the
    one the signals point at (the learner's root-cause scores, highest wins; a proxy for
    the triage's, which reads the churn model's drivers) and the true one (a perfect
    diagnosis, which no team has)."""
    first = lambda causes: [RULES.get(c, RULES[UNCLEAR])[0] for c in causes]  # noqa: E731
    out = {"rule_true_cause": first(true_causes(sim, test))}
    if S.DIAGNOSED_CAUSE in test and test[S.DIAGNOSED_CAUSE].notna().any():
        out["rule_diagnosed_cause"] = first(test[S.DIAGNOSED_CAUSE])
    scorer = UpliftModel([], [], {}, causes=cause_columns(train.columns, signal_map))
    if scorer.causes:
        scorer.cause_scores(train, fit=True)
        out["rule_signal_cause"] = first(scorer.cause_scores(test).idxmax(axis=1))
    return out


def seed_args() -> argparse.Namespace:
    """--seeds, --first-seed, --accounts, --months, --world (shared with
    uplift_diagnostics)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--first-seed", type=int, default=201)
    ap.add_argument("--accounts", type=int, default=5000)
    ap.add_argument("--months", type=int, default=36)
    ap.add_argument("--world", choices=sorted(WORLDS), default="growth",
                    help="growth: play effects by root cause and segment, proportional to "
                         "risk; futility: the same, times the account's engagement")
    ap.add_argument("--diagnosis", type=float, default=None, metavar="ACCURACY",
                    help="the interventions record the CSM's diagnosed cause, right with "
                         "this probability (the learner and a rule queue use it)")
    return ap.parse_args()


def rule_rows(df: pd.DataFrame) -> dict:
    """Summary rows of the risk queue given the playbook rules' plays."""
    out = {}
    for name, label in (("rule_signal_cause", "the rule's play for the cause the signals "
                         "point at"),
                        ("rule_diagnosed_cause", "the rule's play for the diagnosed cause"),
                        ("rule_true_cause", "the rule's play for the true cause")):
        col = f"arr_kept_risk_{name}"
        if col not in df:
            continue
        d = df["arr_kept_uplift"] - df[col]
        se = d.std(ddof=1) / np.sqrt(len(d))
        out[f"ARR kept, risk ranking + {label}"] = df[col].mean()
        out[f"uplift - risk with {label} (mean)"] = d.mean()
        out[f"uplift - risk with {label} (95% CI lo)"] = d.mean() - 1.96 * se
        out[f"uplift - risk with {label} (95% CI hi)"] = d.mean() + 1.96 * se
        out[f"seeds uplift > risk with {label}"] = int((d > 0).sum())
    return out


def main() -> None:
    a = seed_args()
    t0 = time.perf_counter()
    rows = []
    for i, seed in enumerate(range(a.first_seed, a.first_seed + a.seeds)):
        rows.append(one_seed(seed, a.accounts, a.months, a.world, a.diagnosis))
        print(f"seed {seed} done ({i + 1}/{a.seeds}, {time.perf_counter() - t0:.0f}s)",
              flush=True)
    df = pd.DataFrame(rows)
    tag = "_".join([*([a.world] if a.world != "growth" else []),
                    *([f"dx{round(100 * a.diagnosis)}"] if a.diagnosis is not None else []),
                    str(a.accounts)])
    write_frame(df, HERE / "results" / f"uplift_vs_risk_{tag}.csv")
    if "arr_kept_uplift" not in df:
        raise SystemExit(f"no world of {a.accounts} accounts had enough randomised accounts "
                         "for an uplift model (statuses: "
                         f"{', '.join(sorted(df['status'].unique()))}); try more accounts")
    df = df.dropna(subset=["arr_kept_uplift"])
    d = df["arr_kept_uplift"] - df["arr_kept_risk"]
    se = d.std(ddof=1) / np.sqrt(len(d))
    d2 = df["arr_kept_uplift"] - df["arr_kept_risk_average_play"]
    se2 = d2.std(ddof=1) / np.sqrt(len(d2))
    # what perfect knowledge of every account's effect would gain by ranking alone
    ceiling = df["arr_kept_oracle"] / df["arr_kept_oracle_risk_ranking"] - 1
    summary = pd.DataFrame([{
        "seeds": len(df), "accounts": a.accounts,
        "mean enrolled with outcome": df["accounts_with_outcome"].mean(),
        "ARR kept, uplift ranking": df["arr_kept_uplift"].mean(),
        "ARR kept, risk ranking": df["arr_kept_risk"].mean(),
        "ARR kept, random half": df["arr_kept_random"].mean(),
        "ARR kept, oracle": df["arr_kept_oracle"].mean(),
        "uplift - risk (mean)": d.mean(), "uplift - risk (95% CI lo)": d.mean() - 1.96 * se,
        "uplift - risk (95% CI hi)": d.mean() + 1.96 * se,
        "seeds uplift > risk": int((d > 0).sum()),
        "ARR kept, risk ranking + best average play": df["arr_kept_risk_average_play"].mean(),
        "uplift - risk with average play (mean)": d2.mean(),
        "uplift - risk with average play (95% CI lo)": d2.mean() - 1.96 * se2,
        "uplift - risk with average play (95% CI hi)": d2.mean() + 1.96 * se2,
        "seeds uplift > risk with average play": int((d2 > 0).sum()),
        **rule_rows(df),
        "recommended play truly best": df["best_play_hit_rate"].mean(),
        "ceiling: true best play ranked by true uplift (oracle)": df["arr_kept_oracle"].mean(),
        "ceiling: true best play ranked by true risk": df["arr_kept_oracle_risk_ranking"].mean(),
        "ceiling: true best play ranked by ARR alone": df["arr_kept_oracle_arr_ranking"].mean(),
        "ceiling: oracle over true-risk ranking, % (mean)": 100 * ceiling.mean(),
        "ceiling: oracle over true-risk ranking, % (max seed)": 100 * ceiling.max(),
        "validated (Qini 90% CI > 0)": int((df["status"] == "validated").sum())}])
    md = ["# Uplift vs risk targeting, measured against the planted play effects", "",
          f"`.venv/bin/python benchmarks/uplift_vs_risk.py --seeds {a.seeds} --first-seed "
          f"{a.first_seed} --accounts {a.accounts}"
          + ("" if a.world == "growth" else f" --world {a.world}")
          + ("" if a.diagnosis is None else f" --diagnosis {a.diagnosis}")
          + f"` ({time.perf_counter() - t0:.0f} s). "
          "Held-out 30% of each world's enrolled accounts; the top half by each ranking "
          "is worked with the model's recommended play; ARR kept = planted cut of the "
          "churn probability x ARR, summed (per world, then averaged over worlds).", "",
          markdown_table(summary.T.reset_index().set_axis(["", "value"], axis=1)), "",
          "The ceiling rows give every account its truly best play and change only the "
          "ranking: by the true cut x ARR (the most any uplift model could keep), by the "
          "true churn risk x ARR, by ARR alone. Their gap bounds what ranking by uplift "
          "can gain over ranking by risk in these worlds, however good the model.", "",
          "Per seed:", "", markdown_table(df.round(4)), ""]
    write_text(HERE / f"RESULTS_uplift_{tag}.md", "\n".join(md))
    print("\n".join(md[:6]))


if __name__ == "__main__":
    main()
