"""The CLI's commands: each reads its parsed arguments and calls the pipeline."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import pandas as pd

from churnlab.actions.experiments import Guards
from churnlab.actions.risk_language import RiskCuts
from churnlab.catalog import Catalog
from churnlab.data import lifecycle
from churnlab.data.checks import InvalidDataError
from churnlab.data.contract import SIGNAL_MAP_FILE
from churnlab.data.lifecycle import observation_end
from churnlab.data.signal_map import default_signal_map_path
from churnlab.data.spark import attach_spark
from churnlab.data.validation import require_valid, validate
from churnlab.data.warehouse import open_warehouse
from churnlab.errors import DataError, InputError
from churnlab.evaluation.champion import train_champion
from churnlab.features.landmarks import make_landmarks, monthly_dates
from churnlab.features.snapshot import make_snapshot
from churnlab.models.registry import load_model
from churnlab.models.scoring import score_accounts
from churnlab.pipeline.book import book
from churnlab.pipeline.experiments import plan_next, run_experiments
from churnlab.pipeline.months import latest_complete_month
from churnlab.pipeline.render import render_report
from churnlab.pipeline.train import find_reusable, load_or_train
from churnlab.present.experiments import plot_arm_curves, plot_arm_effects, readout_markdown
from churnlab.present.outputs import write_explain_outputs
from churnlab.signals.analysis import analyse_signals
from churnlab.signals.summary import summarise_signals
from churnlab.sim.generate import simulate_saas, write_simulation
from churnlab.sim.params import SimulationParams
from churnlab.sim.profiles import (
    SHORT_MONTHS,
    simulate_profile,
    summarise_profile,
    write_profile,
)
from churnlab.sim.truth import summarise_simulation
from churnlab.storage import atomic_dir, write_frame, write_json, write_text


class RefusedInput(DataError):
    """The input failed validation; the report has been printed."""


def _open_valid(args) -> "object":
    """Open the warehouse at --data and validate it; exit 1 on errors."""

    wh = open_warehouse(args.data, signal_map=getattr(args, "signal_map", None))
    try:
        report = require_valid(wh)
        if getattr(args, "engine", "duckdb") == "spark":
            attach_spark(wh)
    except InvalidDataError as exc:
        wh.close()
        print(str(exc), file=sys.stderr)
        raise RefusedInput(str(exc)) from exc
    for w in report.warnings:
        where = f"{w.table}.{w.column}" if w.column else w.table
        rows = f" ({w.n_rows} rows)" if w.n_rows else ""
        logging.getLogger("churnlab").warning("%s: %s%s", where, w.message, rows)
    return wh


def cmd_simulate(args) -> int:

    t0 = time.perf_counter()
    months = SHORT_MONTHS if args.short else args.months
    if args.profile != "demo":
        world = simulate_profile(args.profile, args.accounts, months, args.seed,
                                 args.start.date().isoformat())
        out = write_profile(world, args.out, args.format)
        print(f"simulated the {args.profile} profile: {args.accounts} accounts x {months} "
              f"months (seed {args.seed}) in {time.perf_counter() - t0:.1f}s -> {out}")
        for key, value in summarise_profile(world).items():
            print(f"  {key}: {value}")
        return 0
    if args.format != "parquet":
        raise InputError("the demo profile writes Parquet only")
    args.months = months
    params = (SimulationParams.futility_effects() if args.futility
              else SimulationParams.growth_effects() if args.growth_effects else None)
    sim = simulate_saas(n_accounts=args.accounts, n_months=args.months, seed=args.seed,
                        start=args.start.date().isoformat(), progress=not args.quiet,
                        params=params)
    out = write_simulation(sim, args.out)
    summary = summarise_simulation(sim)
    print(f"simulated {args.accounts} accounts x {args.months} months (seed {args.seed}) "
          f"in {time.perf_counter() - t0:.1f}s -> {out}")
    for key, value in summary.items():
        print(f"  {key}: {value}")
    return 0


def cmd_validate(args) -> int:

    with open_warehouse(args.data, signal_map=args.signal_map) as wh:
        report = validate(wh, as_of=args.as_of)
    print(report.render())
    return 0 if report.ok else 1


def cmd_features(args) -> int:

    with _open_valid(args) as wh:
        snapshot = make_snapshot(wh, args.as_of)
    if snapshot.empty:
        print(f"no account is active at {args.as_of.date()}: nothing written", file=sys.stderr)
        return 1
    write_frame(snapshot, args.out)
    print(f"{len(snapshot)} active accounts x {snapshot.shape[1]} columns at "
          f"{args.as_of.date()} -> {args.out}")
    return 0


def cmd_landmarks(args) -> int:

    with _open_valid(args) as wh:
        dates = monthly_dates(args.start, args.end)
        landmarks = make_landmarks(wh, dates, progress=not args.quiet)
    write_frame(landmarks, args.out)
    print(f"{len(landmarks)} landmark rows ({len(dates)} monthly dates, "
          f"{int(landmarks['churned'].sum())} churn events) -> {args.out}")
    return 0


def cmd_signals(args) -> int:

    with _open_valid(args) as wh:
        table = analyse_signals(wh, as_of=args.as_of, lookback_months=args.lookback_months,
                                seed=args.seed)
    summary = summarise_signals(table)
    write_frame(table, args.out)
    if args.summary_out:
        write_frame(summary, args.summary_out)
    print(f"{len(table)} signal x window tests -> {args.out}")
    column = next((c for c in ("sentence", "summary") if c in summary.columns), None)
    if column:
        for line in summary[column].head(args.top):
            print(f"  - {line}")
    return 0


def cmd_demo(args) -> int:
    """The main job on the embedded demo: simulate (or reuse) the demo SaaS, validate it,
    build features and landmarks, train (or reuse) the champion, and render the latest
    complete month's report with its CSM packs."""
    import json


    raw, processed = args.raw, args.processed
    wanted = {"n_accounts": args.accounts, "n_months": args.months, "seed": args.seed,
              "start": args.start.date().isoformat()}
    params_file = raw / "truth" / "params.json"
    reuse = params_file.exists() and all(
        json.loads(params_file.read_text()).get(k) == v for k, v in wanted.items())
    t0 = time.perf_counter()
    if reuse:
        print(f"[1/6] reusing the demo SaaS in {raw} (same size and seed)")
        shipped = default_signal_map_path().read_text()
        if (raw / SIGNAL_MAP_FILE).read_text() != shipped:   # the demo's map is churnlab's
            write_text(raw / SIGNAL_MAP_FILE, shipped)
            print("      its signal map was refreshed to the one this churnlab ships")
    else:
        print(f"[1/6] simulating {args.accounts} accounts x {args.months} months "
              f"(seed {args.seed}) -> {raw}")
        sim = simulate_saas(**wanted, progress=not args.quiet)
        write_simulation(sim, raw)
        for key, value in summarise_simulation(sim).items():
            print(f"      {key}: {value}")
    print("[2/6] validating against the data contract")
    args.data, args.signal_map = raw, None
    with _open_valid(args) as wh:
        rows = {t: wh.con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in wh.tables}
        print("      valid: " + ", ".join(f"{t} {n:,} rows" for t, n in rows.items()))
        as_of = lifecycle.observation_end(wh)
        print(f"[3/6] point-in-time features at {as_of.date()} (the day after the data ends)")
        snapshot = make_snapshot(wh, as_of)
        features_path = write_frame(snapshot, processed / f"features_{as_of.date()}.parquet")
        print(f"      {len(snapshot):,} active accounts, ARR ${snapshot['arr'].sum():,.0f}, "
              f"{snapshot.shape[1]} columns -> {features_path}")
        dates = monthly_dates(as_of - pd.DateOffset(months=args.landmark_months),
                              as_of - pd.DateOffset(months=1))
        fingerprint = wh.fingerprint()
        manifest = processed / "manifest.json"
        landmarks_path = processed / "landmarks.parquet"
        old = json.loads(manifest.read_text()) if manifest.is_file() else {}
        if (landmarks_path.is_file() and old.get("fingerprint") == fingerprint
                and old.get("landmarks") == [str(d.date()) for d in dates]):
            print(f"[4/6] reusing the landmark dataset in {landmarks_path} (same data)")
            landmarks = pd.read_parquet(landmarks_path)
        else:
            print(f"[4/6] landmark dataset: {len(dates)} monthly snapshots with survival labels")
            landmarks = make_landmarks(wh, dates, progress=not args.quiet)
            write_frame(landmarks, landmarks_path)
            write_json({"as_of": as_of.date(), "data": str(raw), "fingerprint": fingerprint,
                        "landmarks": [d.date() for d in dates], **wanted}, manifest)
        print(f"      {len(landmarks):,} rows, {int(landmarks['churned'].sum()):,} churn events "
              f"-> {landmarks_path}")
        month = latest_complete_month(wh)
        model_dir = args.model_dir
        champion = find_reusable(wh, as_of, model_dir)
        if champion is not None:
            print(f"[5/6] reusing the champion {champion.card['model_id']} in {model_dir}")
        else:
            print(f"[5/6] backtesting the time-to-churn models; the champion is trained at "
                  f"{as_of.date()} -> {model_dir}")
            champion = load_or_train(wh, as_of, model_dir, progress=not args.quiet,
                                     landmarks=landmarks)
        card = champion.card
        summary = {r["model"]: r for r in card["backtest_summary"]}
        print(f"      champion {card['model_id']}: backtest concordance "
              f"{summary[card['kind']]['uno_c']:.3f} (health score "
              f"{summary.get('health', {}).get('uno_c', float('nan')):.3f})")
    print(f"[6/6] rendering the {month} report and the CSM packs")
    target = render_report(str(month), raw, out=args.reports, model=model_dir, force=True,
                           progress=not args.quiet, history=landmarks)
    print(f"done in {time.perf_counter() - t0:.0f}s.")
    print(f"Open the report: {target / 'report.html'}")
    print(f"CSM packs: {target / 'packs'}  tasks: {target / 'tasks.csv'}  "
          f"accounts: {target / 'accounts.csv'}")
    return 0


def cmd_train(args) -> int:

    with _open_valid(args) as wh:
        end = observation_end(wh)
        if args.as_of > end:
            raise InputError(f"--as-of {args.as_of.date()} is after the data's end "
                             f"{end.date()}")
        t0 = time.perf_counter()
        options = {"n_estimators": args.n_estimators} if args.n_estimators else {}
        if args.early_stopping:
            options["early_stopping"] = args.early_stopping
        model, card = train_champion(wh, args.as_of, args.model_dir,
                                     progress=not args.quiet, n_origins=args.origins,
                                     lookback_months=args.lookback_months,
                                     random_state=args.seed,
                                     backtest_accounts=max(0, args.backtest_accounts),
                                     backtest=not args.no_backtest, **options)
    print(f"champion {card['model_id']} ({time.perf_counter() - t0:.0f}s) -> {args.model_dir}")
    if not card["validated"]:
        print("not validated: trained without a backtest (--no-backtest)")
        return 0
    plan = card["backtest_plan"]
    if plan["adapted"]:
        print(f"backtest shortened: {plan['note']}")
    if card.get("backtest_screen"):
        sc = card["backtest_screen"]
        print(f"backtest screened on {sc['accounts']:,} of {sc['of']:,} accounts; finalists "
              f"on every account: {', '.join(sc['finalists'])}")
    print(pd.DataFrame(card["backtest_summary"]).set_index("model").round(3).to_string())
    for kind, why in card["failed_models"].items():
        print(f"left out: {kind} ({why})")
    return 0


def cmd_score(args) -> int:

    model = load_model(args.model)
    with _open_valid(args) as wh:
        snapshot = make_snapshot(wh, args.as_of)
    if snapshot.empty:
        raise DataError(f"no account is active at {args.as_of.date()}: nothing written")
    scores = score_accounts(model, snapshot, args.as_of)
    write_frame(scores, args.out)
    print(f"{len(scores)} accounts scored with {model.card['model_id']}: expected ARR lost "
          f"in 90 days ${scores['expected_arr_lost_90d'].sum():,.0f} -> {args.out}")
    return 0


def cmd_report(args) -> int:
    """Render the monthly risk report (papermill) into OUT/YYYY-MM/."""

    model_dir = args.model_dir or Catalog.here().models(Path(args.data).stem)
    target = render_report(args.month, args.data, out=args.out, model=args.model,
                           model_dir=None if args.model else model_dir, force=args.force,
                           horizon_days=args.horizon, segment=args.segment or "",
                           top_n=args.top_n, progress=not args.quiet,
                           signal_map=args.signal_map,
                           cuts=RiskCuts(red=args.red_from, yellow=args.yellow_from))
    print(f"report for {args.month}: {target / 'report.html'}")
    print(f"CSM packs: {target / 'packs'}   tasks: {target / 'tasks.csv'}   CRM import: "
          f"{target / 'crm_tasks.csv'}")
    return 0


def cmd_explain(args) -> int:
    """Explain and triage every active account; write the account table, tasks and
    the per-CSM packs."""

    previous = None
    if args.previous:
        previous = (pd.read_parquet(args.previous) if args.previous.suffix == ".parquet"
                    else pd.read_csv(args.previous))
    t0 = time.perf_counter()
    with _open_valid(args) as wh:           # the input is validated before anything else
        model = load_model(args.model)
        b = book(wh, model, args.as_of, drivers=args.top_n, progress=not args.quiet,
                 cuts=RiskCuts(red=args.red_from, yellow=args.yellow_from))
    paths = write_explain_outputs(b, args.out, previous)
    tri = b.triage
    print(f"{len(tri)} accounts explained and triaged with {b.model_id} in "
          f"{time.perf_counter() - t0:.0f}s: {int((tri['tier'] == 'red').sum())} red, "
          f"expected ARR saved ${tri['expected_arr_saved'].sum():,.0f}, "
          f"{len(b.tasks)} tasks, {len(paths['packs'])} CSM packs -> {args.out}")
    return 0




def cmd_experiments(args) -> int:
    """Read out the save experiments and size the next test; write the tables, the
    curves, the effect chart and readout.md to one folder (replaced whole)."""

    if not 0 < args.effect < 1:
        raise InputError(f"--effect must be a fall in churn risk between 0 and 1, got "
                         f"{args.effect}")
    model = load_model(args.model) if args.model else None
    guards = Guards(readout_days=args.horizon, min_per_arm=args.min_per_arm)
    with _open_valid(args) as wh:
        r = run_experiments(wh, args.as_of, model, guards)
    plan = plan_next(r, args.effect)
    with atomic_dir(args.out, overwrite=True) as tmp:
        write_text(tmp / "readout.md", readout_markdown(r, plan))
        for name, frame in (("arms", r.arms), ("summary", r.summary),
                            ("enrolment", r.enrolment)):
            write_frame(frame, tmp / f"{name}.csv")
        for name, fig in (("curves", plot_arm_curves(r)), ("effects", plot_arm_effects(r))):
            fig.savefig(tmp / f"{name}.png", dpi=110)
    print(r.verdict)
    for note in r.notes:
        print(f"  - {note}")
    if plan is not None:
        print(plan.sentence())
    print(f"-> {args.out}")
    return 0
