"""Evidence for issue 5 on the synthetic SaaS: learned family weights vs the articles'
defaults, how often the drivers name a planted shock's family, root-cause agreement
with the true shock classes, save-class calibration on past interventions, timings.

Reads ``truth/`` (evaluation only; the pipeline never does). Uses the champion at
``--model`` (a model folder or a model dir with champion.json); when there is none
there, trains one with :func:`churnlab.evaluation.champion.train_champion` into that folder.

    .venv/bin/python scripts/explain_evidence.py --data data/raw/demo --as-of 2026-11-01 \
        --model data/processed/demo/models \
        [--landmarks data/processed/demo/landmarks.parquet] [--out evidence.md]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from churnlab.actions.save_class import calibrate_save_classes
from churnlab.catalog import Catalog
from churnlab.features.landmarks import make_landmarks, monthly_dates
from churnlab.models.survival_base import calendar_inputs, person_months
from churnlab.pipeline.book import book as book_at
from churnlab.sim.truth import planted_shocks, root_cause_agreement, shock_hit_rate


def landmarks_or_none(path: Path):
    return pd.read_parquet(path) if path.is_file() else None


def flag_risk_lines(landmarks) -> list[str]:
    """Does a shock's own flag carry churn risk in the data? Next-month churn of
    landmark person-months in a renewal month, flagged in the 90 days before vs not: a
    faithful explainer can only name a shock's family when its flag predicts churn."""
    from churnlab.stats import wilson_interval

    if landmarks is None:
        return []
    pm, y = person_months(landmarks)
    renewal = calendar_inputs(pm)["renewal_in_month"].to_numpy() == 1
    out = ["Next-month churn in renewal months, with the shock's flag in the 90 days "
           "before vs without (landmark person-months):", "",
           "| flag | flagged: churn rate (n) | 95% interval | not flagged: churn rate (n) |",
           "|---|---:|---|---:|"]
    for flag in ("champion_left", "champion_role_changed", "new_leadership",
                 "merger_acquisition", "budget_cut_mentioned"):
        col = f"{flag}__any_90d"
        if col not in pm.columns:
            continue
        f = (pm[col].fillna(0).to_numpy() > 0) & renewal
        n = ~(pm[col].fillna(0).to_numpy() > 0) & renewal
        lo, hi = wilson_interval(np.array([y[f].sum()]), np.array([f.sum()]))
        out.append(f"| {flag} | {y[f].mean():.1%} ({f.sum():,}) | {lo[0]:.1%}-{hi[0]:.1%} | "
                   f"{y[n].mean():.1%} ({n.sum():,}) |")
    return out + [""]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Catalog.here().raw())
    ap.add_argument("--as-of", default="2026-11-01")
    ap.add_argument("--model", type=Path, default=Catalog.here().models())
    ap.add_argument("--landmarks", type=Path, default=Catalog.here().landmarks(),
                    help="monthly landmark snapshots (built when the file is missing)")
    ap.add_argument("--max-age-days", type=int, default=90, help="planted shocks this recent")
    ap.add_argument("--top-n", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None, help="also write the markdown here")
    args = ap.parse_args(argv)

    from churnlab.data.validation import require_valid
    from churnlab.data.warehouse import open_warehouse
    from churnlab.evaluation.champion import train_champion
    from churnlab.models.registry import load_model

    as_of = pd.Timestamp(args.as_of)
    truth = args.data / "truth"
    lines = [f"## Evidence on {args.data} as of {as_of.date()}", ""]
    timings = {}
    with open_warehouse(args.data) as wh:
        require_valid(wh)
        try:
            model = load_model(args.model)
        except FileNotFoundError:
            t = time.perf_counter()
            model, _ = train_champion(wh, as_of, args.model, progress=True)
            timings["train_champion"] = time.perf_counter() - t
        t = time.perf_counter()
        book = book_at(wh, model, as_of, drivers=args.top_n)
        timings["snapshot + score + explain + triage (book)"] = time.perf_counter() - t
        if args.landmarks.is_file():
            landmarks = pd.read_parquet(args.landmarks)
        else:
            t = time.perf_counter()
            landmarks = make_landmarks(wh, monthly_dates(as_of - pd.DateOffset(months=24),
                                                             as_of - pd.Timedelta(days=1)),
                                         progress=True)
            timings["landmarks"] = time.perf_counter() - t
        interventions = wh.query("SELECT * FROM interventions") if "interventions" in wh.tables \
            else None
        smap = wh.signal_map
    lines.append(f"Model `{book.model_id}` ({model.kind}); {len(book.triage):,} active accounts.")
    lines.append("")

    imp = book.importance
    lines += ["### Learned family weights (share of mean |SHAP|, risk scale) vs the articles'",
              "", "| family | mean abs SHAP | learned share | learned share (core five) | "
              "articles' default |", "|---|---:|---:|---:|---:|"]
    for r in imp.itertuples():
        core = "" if pd.isna(r.learned_share_core) else f"{r.learned_share_core:.1%}"
        dflt = "" if pd.isna(r.default_share) else f"{r.default_share:.1%}"
        lines.append(f"| {r.family} | {r.mean_abs_shap:.3f} | {r.learned_share:.1%} | {core} "
                     f"| {dflt} |")
    lines.append("")

    shocks = planted_shocks(truth, as_of, max_age_days=args.max_age_days)
    hits = shock_hit_rate(book.explanations, shocks)
    quiet = set(book.explanations["account_id"]) - set(
        planted_shocks(truth, as_of, min_effect=0.0, max_age_days=365)["account_id"])
    have = [set(f) for f in book.explanations.loc[
        book.explanations["account_id"].isin(quiet), "driver_families"]]
    shocked = shocks[shocks["account_id"].isin(book.explanations["account_id"])]
    chance = np.mean([np.mean([bool(h & set(fams)) for h in have])
                      for fams in shocked["families"]]) if len(have) and len(shocked) else np.nan
    lines += [f"### Top-{args.top_n} drivers vs planted shocks (strong shocks of the last "
              f"{args.max_age_days} days)", "",
              f"Chance level (same families among the drivers of {len(have):,} accounts with "
              f"no shock in the year): {chance:.1%}.", "",
              "| shock | accounts | drivers name its family | rate | 95% interval |",
              "|---|---:|---:|---:|---|"]
    for r in hits.itertuples():
        lines.append(f"| {r.shock_type} | {r.accounts} | {r.hits} | {r.rate:.0%} | "
                     f"{max(r.lo, 0):.0%}-{r.hi:.0%} |")
    lines.append("")
    lines += flag_risk_lines(landmarks_or_none(args.landmarks))

    agree = root_cause_agreement(book.triage, shocks)
    lines += ["### Root cause vs the planted shock's class", "",
              f"Agreement {agree['agree']} of {agree['accounts']} = {agree['rate']:.1%} "
              f"(95% {agree['lo']:.1%}-{agree['hi']:.1%}); chance from the two class mixes "
              f"{agree['chance']:.1%}.", "", "```", agree["confusion"].to_string(), "```", ""]

    if interventions is not None and len(interventions):
        t = time.perf_counter()
        table, rows = calibrate_save_classes(model, landmarks, interventions, smap)
        timings["calibrate_save_classes"] = time.perf_counter() - t
        lines += ["### Save classes on past interventions (class from the landmark before "
                  "the play started)", "",
                  f"{len(rows):,} interventions with an outcome matched to a landmark row.", "",
                  "| save class | arm | n | saved | observed rate | 95% interval | "
                  "DOMAIN range |", "|---|---|---:|---:|---:|---|---|"]
        for r in table.itertuples():
            lines.append(f"| {r.save_class} | {r.arm} | {r.n} | {r.saved} | {r.rate:.0%} | "
                         f"{r.lo:.0%}-{r.hi:.0%} | {r.prior_lo:.0%}-{r.prior_hi:.0%} |")
        lines.append("")

    tri = book.triage
    lines += ["### The queue", "",
              f"- tiers ({tri['tier_source'].iloc[0]}): "
              + ", ".join(f"{k} {v:,}" for k, v in tri["tier"].value_counts().items()),
              "- save classes: " + ", ".join(f"{k} {v:,}" for k, v in
                                            tri["save_class"].value_counts().items()),
              "- root causes: " + ", ".join(f"{k} {v:,}" for k, v in
                                           tri["root_cause"].value_counts().items()),
              f"- discounts: {int((tri['discount_max_pct'] > 0).sum()):,} accounts qualify, "
              f"{int(tri['needs_exec_approval'].sum())} need executive approval",
              f"- expected ARR saved: ${tri['expected_arr_saved'].sum():,.0f}; top 20 accounts "
              f"${tri['expected_arr_saved'].head(20).sum():,.0f}",
              "- tasks: " + ", ".join(f"{k} {v:,}" for k, v in
                                       book.tasks["source"].value_counts().items()), ""]
    lines += ["### Timings (this run)", ""] + [f"- {k}: {v:.1f} s" for k, v in timings.items()]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        from churnlab.storage import atomic_path

        with atomic_path(args.out) as tmp:
            tmp.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
