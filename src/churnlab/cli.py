"""The ``churnlab`` command: the same steps as the notebooks, headless.

Every command that reads customer data validates it first and refuses bad data
(exit code 1 with the validation report); usage errors exit 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import pandas as pd

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


class RefusedInput(Exception):
    """The input failed validation; the report has been printed."""


def _date(text: str) -> pd.Timestamp:
    try:
        return pd.Timestamp(pd.to_datetime(text, format="%Y-%m-%d"))
    except (ValueError, TypeError) as exc:
        raise argparse.ArgumentTypeError(f"not a date in YYYY-MM-DD form: {text!r}") from exc


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer: {text!r}")
    return value


def _open_valid(args) -> "object":
    """Open the warehouse at --data and validate it; exit 1 on errors."""
    from churnlab.validate import InvalidDataError, require_valid
    from churnlab.warehouse import open_warehouse

    wh = open_warehouse(args.data, signal_map=getattr(args, "signal_map", None))
    try:
        report = require_valid(wh)
    except InvalidDataError as exc:
        wh.close()
        print(str(exc), file=sys.stderr)
        raise RefusedInput(str(exc)) from exc
    for warning in report.warnings:
        logging.getLogger("churnlab").warning("%s.%s: %s (%d rows)", warning.table,
                                              warning.column, warning.message, warning.n_rows)
    return wh


def cmd_simulate(args) -> int:
    from churnlab.simulate import simulate_saas, summarise_simulation, write_simulation

    t0 = time.perf_counter()
    sim = simulate_saas(n_accounts=args.accounts, n_months=args.months, seed=args.seed,
                        start=args.start.date().isoformat(), progress=not args.quiet)
    out = write_simulation(sim, args.out)
    summary = summarise_simulation(sim)
    print(f"simulated {args.accounts} accounts x {args.months} months (seed {args.seed}) "
          f"in {time.perf_counter() - t0:.1f}s -> {out}")
    for key, value in summary.items():
        print(f"  {key}: {value}")
    return EXIT_OK


def cmd_validate(args) -> int:
    from churnlab.validate import validate
    from churnlab.warehouse import open_warehouse

    with open_warehouse(args.data, signal_map=args.signal_map) as wh:
        report = validate(wh, as_of=args.as_of)
    print(report.render())
    return EXIT_OK if report.ok else EXIT_INVALID


def cmd_features(args) -> int:
    from churnlab.features import make_snapshot
    from churnlab.storage import write_frame

    with _open_valid(args) as wh:
        snapshot = make_snapshot(wh, args.as_of)
    if snapshot.empty:
        print(f"no account is active at {args.as_of.date()}: nothing written", file=sys.stderr)
        return EXIT_INVALID
    write_frame(snapshot, args.out)
    print(f"{len(snapshot)} active accounts x {snapshot.shape[1]} columns at "
          f"{args.as_of.date()} -> {args.out}")
    return EXIT_OK


def cmd_landmarks(args) -> int:
    from churnlab.features import make_landmarks, monthly_dates
    from churnlab.storage import write_frame

    with _open_valid(args) as wh:
        dates = monthly_dates(args.start, args.end)
        landmarks = make_landmarks(wh, dates, progress=not args.quiet)
    write_frame(landmarks, args.out)
    print(f"{len(landmarks)} landmark rows ({len(dates)} monthly dates, "
          f"{int(landmarks['churned'].sum())} churn events) -> {args.out}")
    return EXIT_OK


def cmd_signals(args) -> int:
    from churnlab.signals import analyse_signals, summarise_signals
    from churnlab.storage import write_frame

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
    return EXIT_OK


def cmd_demo(args) -> int:
    """The main job on the embedded demo: simulate (or reuse) the demo SaaS, validate it,
    build features and landmarks, train (or reuse) the champion, and render the latest
    complete month's report with its CSM packs."""
    import json

    from churnlab import lifecycle
    from churnlab.features import make_landmarks, make_snapshot, monthly_dates
    from churnlab.report import latest_complete_month, render_report
    from churnlab.simulate import simulate_saas, summarise_simulation, write_simulation
    from churnlab.storage import write_frame, write_json
    from churnlab.survival import CHAMPION_FILE, load_model, train_champion

    raw, processed = args.raw, args.processed
    wanted = {"n_accounts": args.accounts, "n_months": args.months, "seed": args.seed,
              "start": args.start.date().isoformat()}
    params_file = raw / "truth" / "params.json"
    reuse = params_file.exists() and all(
        json.loads(params_file.read_text()).get(k) == v for k, v in wanted.items())
    t0 = time.perf_counter()
    if reuse:
        print(f"[1/6] reusing the demo SaaS in {raw} (same size and seed)")
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
        card = load_model(model_dir).card if (model_dir / CHAMPION_FILE).is_file() else {}
        if card.get("as_of") == str(as_of.date()) and card.get("data_fingerprint") == fingerprint:
            print(f"[5/6] reusing the champion {card['model_id']} in {model_dir}")
        else:
            print(f"[5/6] backtesting the time-to-churn models; the champion is trained at "
                  f"{as_of.date()} -> {model_dir}")
            _, card = train_champion(wh, as_of, model_dir, progress=not args.quiet,
                                     landmarks=landmarks)
        summary = {r["model"]: r for r in card["backtest_summary"]}
        print(f"      champion {card['model_id']}: backtest concordance "
              f"{summary[card['kind']]['uno_c']:.3f} (health score "
              f"{summary.get('health', {}).get('uno_c', float('nan')):.3f})")
    print(f"[6/6] rendering the {month} report and the CSM packs")
    target = render_report(str(month), raw, out=args.reports, model=model_dir, force=True,
                           progress=not args.quiet)
    print(f"done in {time.perf_counter() - t0:.0f}s.")
    print(f"Open the report: {target / 'report.html'}")
    print(f"CSM packs: {target / 'packs'}  tasks: {target / 'tasks.csv'}  "
          f"accounts: {target / 'accounts.csv'}")
    return EXIT_OK


def cmd_train(args) -> int:
    from churnlab.lifecycle import observation_end
    from churnlab.survival import train_champion

    with _open_valid(args) as wh:
        end = observation_end(wh)
        if args.as_of > end:
            print(f"churnlab train: --as-of {args.as_of.date()} is after the data's end "
                  f"{end.date()}", file=sys.stderr)
            return EXIT_USAGE
        t0 = time.perf_counter()
        options = {"n_estimators": args.n_estimators} if args.n_estimators else {}
        try:
            model, card = train_champion(wh, args.as_of, args.model_dir,
                                         progress=not args.quiet, n_origins=args.origins,
                                         lookback_months=args.lookback_months,
                                         random_state=args.seed, **options)
        except ValueError as exc:
            print(f"churnlab train: {exc}", file=sys.stderr)
            return EXIT_USAGE
    summary = pd.DataFrame(card["backtest_summary"]).set_index("model")
    print(f"champion {card['model_id']} ({time.perf_counter() - t0:.0f}s) -> {args.model_dir}")
    print(summary.round(3).to_string())
    return EXIT_OK


def cmd_score(args) -> int:
    from churnlab.features import make_snapshot
    from churnlab.storage import write_frame
    from churnlab.survival import load_model, score_accounts

    try:
        model = load_model(args.model)
    except FileNotFoundError as exc:
        print(f"churnlab score: {exc}", file=sys.stderr)
        return EXIT_USAGE
    with _open_valid(args) as wh:
        snapshot = make_snapshot(wh, args.as_of)
    if snapshot.empty:
        print(f"no account is active at {args.as_of.date()}: nothing written", file=sys.stderr)
        return EXIT_INVALID
    scores = score_accounts(model, snapshot, args.as_of)
    write_frame(scores, args.out)
    print(f"{len(scores)} accounts scored with {model.card['model_id']}: expected ARR lost "
          f"in 90 days ${scores['expected_arr_lost_90d'].sum():,.0f} -> {args.out}")
    return EXIT_OK


def cmd_report(args) -> int:
    """Render the monthly risk report (papermill) into OUT/YYYY-MM/."""
    from churnlab.report import ReportInputError, render_report

    model_dir = args.model_dir or (Path("models") / Path(args.data).stem)
    try:
        target = render_report(args.month, args.data, out=args.out, model=args.model,
                               model_dir=None if args.model else model_dir, force=args.force,
                               horizon_days=args.horizon, segment=args.segment or "",
                               top_n=args.top_n, progress=not args.quiet,
                               signal_map=args.signal_map)
    except ReportInputError as exc:
        print(f"churnlab report: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except FileNotFoundError as exc:
        print(f"churnlab report: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # papermill's execution error names the failing cell
        if type(exc).__name__ != "PapermillExecutionError":
            raise
        print(f"churnlab report: the report notebook failed ({exc.ename}: {exc.evalue}); "
              "nothing was written", file=sys.stderr)
        return EXIT_INVALID
    print(f"report for {args.month}: {target / 'report.html'}")
    print(f"CSM packs: {target / 'packs'}   tasks: {target / 'tasks.csv'}")
    return EXIT_OK


def cmd_explain(args) -> int:
    """Explain and triage every active account; write the account table, tasks and
    the per-CSM packs."""
    from churnlab.packs import write_explain_outputs
    from churnlab.survival import load_model
    from churnlab.triage import TriageInputError, triage_book

    previous = None
    if args.previous:
        previous = (pd.read_parquet(args.previous) if args.previous.suffix == ".parquet"
                    else pd.read_csv(args.previous))
    t0 = time.perf_counter()
    with _open_valid(args) as wh:           # the input is validated before anything else
        try:
            model = load_model(args.model)
        except FileNotFoundError as exc:
            print(f"churnlab explain: {exc}", file=sys.stderr)
            return EXIT_USAGE
        try:
            book = triage_book(wh, model, args.as_of, top_n=args.top_n,
                               progress=not args.quiet)
        except TriageInputError as exc:
            print(f"churnlab explain: {exc}", file=sys.stderr)
            return EXIT_INVALID
    paths = write_explain_outputs(book, args.out, previous)
    tri = book.triage
    print(f"{len(tri)} accounts explained and triaged with {book.model_id} in "
          f"{time.perf_counter() - t0:.0f}s: {int((tri['tier'] == 'red').sum())} red, "
          f"expected ARR saved ${tri['expected_arr_saved'].sum():,.0f}, "
          f"{len(book.tasks)} tasks, {len(paths['packs'])} CSM packs -> {args.out}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="churnlab", description="Find and save B2B SaaS customers who are about to churn.")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="command", required=True)

    def data_args(p):
        p.add_argument("--data", required=True, type=Path,
                       help="folder of Parquet/CSV tables, or a DuckDB file")
        p.add_argument("--signal-map", type=Path, default=None,
                       help="signal map YAML (default: signal_map.yaml beside the data)")

    p = sub.add_parser("simulate", help="write a synthetic SaaS (inputs + truth/)")
    p.add_argument("--accounts", type=_positive_int, default=5000)
    p.add_argument("--months", type=_positive_int, default=36)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--start", type=_date, default=_date("2023-11-01"))
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("demo", help="the main job on the embedded synthetic demo")
    p.add_argument("--raw", type=Path, default=Path("data/raw/demo"))
    p.add_argument("--processed", type=Path, default=Path("data/processed/demo"))
    p.add_argument("--accounts", type=_positive_int, default=5000)
    p.add_argument("--months", type=_positive_int, default=36)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--start", type=_date, default=_date("2023-11-01"))
    p.add_argument("--landmark-months", type=_positive_int, default=24,
                   help="monthly landmark snapshots before the data end")
    p.add_argument("--model-dir", type=Path, default=Path("models/demo"))
    p.add_argument("--reports", type=Path, default=Path("reports"))
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("validate", help="check inputs against the data contract")
    data_args(p)
    p.add_argument("--as-of", type=_date, default=None,
                   help="extract date: rows dated after it are errors (default: today)")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("features", help="point-in-time features at an as-of date")
    data_args(p)
    p.add_argument("--as-of", type=_date, required=True)
    p.add_argument("--out", type=Path, required=True, help=".parquet, .csv or .json")
    p.set_defaults(func=cmd_features)

    p = sub.add_parser("signals", help="leading signals of last year's churners")
    data_args(p)
    p.add_argument("--as-of", type=_date, default=None, help="default: the data's end")
    p.add_argument("--lookback-months", type=_positive_int, default=12)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, required=True, help="per signal and window (.parquet/.csv)")
    p.add_argument("--summary-out", type=Path, default=None, help="one ranked row per signal")
    p.add_argument("--top", type=int, default=10, help="summary lines to print")
    p.set_defaults(func=cmd_signals)

    p = sub.add_parser("landmarks", help="monthly feature snapshots with survival labels")
    data_args(p)
    p.add_argument("--start", type=_date, required=True)
    p.add_argument("--end", type=_date, required=True)
    p.add_argument("--out", type=Path, required=True, help=".parquet or .csv")
    p.set_defaults(func=cmd_landmarks)
    p = sub.add_parser("train", help="backtest the time-to-churn models, persist the champion")
    data_args(p)
    p.add_argument("--as-of", type=_date, required=True, help="training date (no data after it)")
    p.add_argument("--model-dir", type=Path, required=True)
    p.add_argument("--origins", type=_positive_int, default=3, help="backtest origins")
    p.add_argument("--lookback-months", type=_positive_int, default=12)
    p.add_argument("--n-estimators", type=_positive_int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("score", help="score active accounts with a saved model")
    data_args(p)
    p.add_argument("--as-of", type=_date, required=True)
    p.add_argument("--model", type=Path, required=True, help="model folder or model dir")
    p.add_argument("--out", type=Path, required=True, help=".parquet, .csv or .json")
    p.set_defaults(func=cmd_score)
    p = sub.add_parser("report", help="render the monthly risk report (papermill)")
    data_args(p)
    p.add_argument("--month", required=True, help="YYYY-MM, a month complete in the data")
    p.add_argument("--model", type=Path, default=None,
                   help="trained model folder (or model dir); default: train or reuse one")
    p.add_argument("--model-dir", type=Path, default=None,
                   help="where to train/reuse the champion without --model "
                        "(default: models/<data name>)")
    p.add_argument("--out", type=Path, default=Path("reports"))
    p.add_argument("--force", action="store_true",
                   help="replace an existing report for the month (atomically)")
    p.add_argument("--horizon", type=int, default=90, choices=(30, 90, 180))
    p.add_argument("--segment", default="", help="only this segment")
    p.add_argument("--top-n", type=_positive_int, default=15)
    p.set_defaults(func=cmd_report)
    p = sub.add_parser("explain", help="explain and triage the book; tasks and per-CSM packs")
    data_args(p)
    p.add_argument("--as-of", type=_date, required=True)
    p.add_argument("--model", type=Path, required=True, help="model folder or model dir")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--top-n", type=_positive_int, default=3, help="drivers per account")
    p.add_argument("--previous", type=Path, default=None,
                   help="an earlier accounts.parquet/.csv, for the tier change")
    p.set_defaults(func=cmd_explain)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from churnlab.schema import SignalMapError
    from churnlab.warehouse import DataSourceError

    try:
        return args.func(args)
    except RefusedInput:
        return EXIT_INVALID
    except (DataSourceError, SignalMapError, FileExistsError) as exc:
        print(f"churnlab {args.command}: {exc}", file=sys.stderr)
        return EXIT_INVALID


if __name__ == "__main__":
    sys.exit(main())
