"""The ``churnlab`` command: the same steps as the notebooks, headless.

Every command that reads customer data validates it first and refuses bad data
(exit code 1 with the validation report); usage errors exit 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import pandas as pd

from churnlab.actions.risk_language import DEFAULT_CUTS
from churnlab.catalog import Catalog
from churnlab.commands import (
    RefusedInput,
    cmd_demo,
    cmd_experiments,
    cmd_explain,
    cmd_features,
    cmd_landmarks,
    cmd_report,
    cmd_score,
    cmd_signals,
    cmd_simulate,
    cmd_train,
    cmd_validate,
)
from churnlab.errors import ChurnlabError, DataError, InputError, ModelError, RenderError
from churnlab.evaluation.backtest import BACKTEST_ACCOUNTS
from churnlab.sim.profile_specs import PROFILES
from churnlab.sim.profiles import SHORT_MONTHS

EXIT_OK = 0
EXIT_INVALID = DataError.exit_code      # 1: the data cannot be used
EXIT_USAGE = InputError.exit_code       # 2: a wrong argument, option or path
EXIT_MODEL = ModelError.exit_code       # 3: no usable model
EXIT_RENDER = RenderError.exit_code     # 4: the report notebook failed
log = logging.getLogger("churnlab")
HOME = Catalog.here()        # the project tree the defaults point into (CHURNLAB_HOME or .)



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


class _Help(argparse.HelpFormatter):
    """Shows an option's default when it has one worth showing."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.default not in (None, False, "", argparse.SUPPRESS) and not action.required \
                and "default" not in text:
            text += " (default: %(default)s)"
        return text


EXAMPLES = {
    "simulate": "churnlab simulate --profile consumer --accounts 2000 --months 24 --seed 7 "
                "--out data/raw/consumer",
    "demo": "churnlab demo   (what `make demo` runs)",
    "validate": "churnlab validate --data data/raw/mine --as-of 2026-11-01",
    "features": "churnlab features --data data/raw/mine --as-of 2026-11-01 --out f.parquet",
    "signals": "churnlab signals --data data/raw/mine --out s.parquet --summary-out s.csv",
    "landmarks": ("churnlab landmarks --data data/raw/mine --start 2025-01-01 "
                  "--end 2026-10-01 --out landmarks.parquet"),
    "train": "churnlab train --data data/raw/mine --as-of 2026-11-01 --model-dir models/mine",
    "score": ("churnlab score --data data/raw/mine --as-of 2026-11-01 --model models/mine "
              "--out scores.parquet"),
    "report": "churnlab report --month 2026-10 --data data/raw/mine --model models/mine",
    "explain": ("churnlab explain --data data/raw/mine --as-of 2026-11-01 --model models/mine "
                "--out explain/"),
    "experiments": ("churnlab experiments --data data/raw/mine --model models/mine "
                    "--out experiments/"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="churnlab", description="Find and save B2B SaaS customers who are about to churn.",
        epilog="exit codes: 0 success; 1 the data cannot be used (the validation report is "
               "printed); 2 a wrong argument, option or path (also a folder that cannot be "
               "written); 3 no usable model (missing, or trained after the as-of date); 4 "
               "the report notebook failed. Errors print one line; --debug shows the "
               "traceback. `churnlab COMMAND --help` explains each option, with an example.")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress bars and no progress messages (warnings still shown)")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an error instead of one line")
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name, help_text, func):
        p = sub.add_parser(name, help=help_text, description=help_text,
                           epilog=f"example: {EXAMPLES[name]}",
                           formatter_class=_Help)
        p.set_defaults(func=func)
        return p

    def data_args(p):
        p.add_argument("--data", required=True, type=Path,
                       help="folder of Parquet/CSV tables, or a DuckDB file (data/README.md)")
        p.add_argument("--signal-map", type=Path, default=None,
                       help="signal map YAML (default: signal_map.yaml beside the data)")

    def world_args(p):
        p.add_argument("--accounts", type=_positive_int, default=5000, help="accounts")
        p.add_argument("--months", type=_positive_int, default=36, help="months of history")
        p.add_argument("--seed", type=int, default=42, help="random seed (same seed, same data)")
        p.add_argument("--start", type=_date, default=_date("2023-11-01"),
                       help="first day of the simulated history")

    p = command("simulate", "write a synthetic SaaS (inputs + truth/)", cmd_simulate)
    world_args(p)
    p.add_argument("--out", type=Path, required=True, help="folder to write")
    p.add_argument("--profile", choices=("demo", *PROFILES), default="demo",
                   help="the product simulated: demo (B2B SaaS with every signal family), "
                   "consumer (one plan, monthly, single user, early churn), usage-only "
                   "(22 usage counts, no other family, three billing terms) or random-churn "
                   "(behaviour carries no signal)")
    p.add_argument("--short", action="store_true",
                   help=f"only {SHORT_MONTHS} months of history (overrides --months)")
    p.add_argument("--format", choices=("parquet", "csv"), default="parquet",
                   help="file format of the input tables (profiles other than demo)")
    p.add_argument("--growth-effects", action="store_true",
                   help="demo profile: plant save-play effects that vary by segment and a "
                        "QBR effect on expansion (recorded in truth/params.json)")
    p.add_argument("--futility", action="store_true",
                   help="demo profile: the growth effects, each play's effect also scaled by "
                        "the account's engagement, so the accounts most at risk are the ones "
                        "the plays change least (Ascarza's retention futility)")

    p = command("demo", "the main job on the embedded synthetic demo: simulate, validate, "
                "features, landmarks, champion, latest month's report", cmd_demo)
    p.add_argument("--raw", type=Path, default=HOME.raw(), help="where the demo inputs go")
    p.add_argument("--processed", type=Path, default=HOME.processed(),
                   help="where features and landmarks go")
    world_args(p)
    p.add_argument("--landmark-months", type=_positive_int, default=24,
                   help="monthly landmark snapshots before the data end")
    p.add_argument("--model-dir", type=Path, default=HOME.models(), help="champion folder")
    p.add_argument("--reports", type=Path, default=HOME.reports, help="report folder")

    p = command("validate", "check inputs against the data contract (row-level report)",
                cmd_validate)
    data_args(p)
    p.add_argument("--as-of", type=_date, default=None,
                   help="extract date: rows dated after it are errors (default: today)")

    p = command("features", "point-in-time features at an as-of date", cmd_features)
    data_args(p)
    engine_args(p)
    p.add_argument("--as-of", type=_date, required=True,
                   help="YYYY-MM-DD; only data before it is used")
    p.add_argument("--out", type=Path, required=True, help=".parquet, .csv or .json")

    p = command("signals", "leading signals of last year's churners", cmd_signals)
    data_args(p)
    p.add_argument("--as-of", type=_date, default=None, help="YYYY-MM-DD (default: the data's end)")
    p.add_argument("--lookback-months", type=_positive_int, default=12,
                   help="months before the as-of date whose churners are studied")
    p.add_argument("--seed", type=int, default=0, help="seed of the stayers' reference dates")
    p.add_argument("--out", type=Path, required=True, help="per signal and window (.parquet/.csv)")
    p.add_argument("--summary-out", type=Path, default=None, help="one ranked row per signal")
    p.add_argument("--top", type=int, default=10, help="summary lines to print")

    p = command("landmarks", "monthly feature snapshots with survival labels", cmd_landmarks)
    data_args(p)
    engine_args(p)
    p.add_argument("--start", type=_date, required=True, help="first landmark date")
    p.add_argument("--end", type=_date, required=True, help="last landmark date")
    p.add_argument("--out", type=Path, required=True, help=".parquet or .csv")

    p = command("train", "backtest the time-to-churn models, persist the champion", cmd_train)
    data_args(p)
    engine_args(p)
    p.add_argument("--as-of", type=_date, required=True, help="training date (no data after it)")
    p.add_argument("--model-dir", type=Path, required=True,
                   help="folder for the champion (model, card, backtest tables)")
    p.add_argument("--origins", type=_positive_int, default=3,
                   help="backtest origins, two months apart (fewer when the history is short)")
    p.add_argument("--lookback-months", type=_positive_int, default=None,
                   help="months of landmarks each model trains on (default: 12, shorter when "
                        "the history is short)")
    p.add_argument("--no-backtest", action="store_true",
                   help="fit the champion on what there is without a backtest; every output "
                        "that uses it says 'not validated'")
    p.add_argument("--n-estimators", type=_positive_int, default=None,
                   help="trees of the gradient-boosted hazard (default: by the book's size, "
                        "150 at a learning rate of 0.05 below 100,000 person-months, 100 at "
                        "0.075 from there)")
    p.add_argument("--early-stopping", type=_positive_int, default=None, metavar="ROUNDS",
                   help="choose the gradient-boosted hazard's trees (at most --n-estimators) "
                        "by early stopping on the last 3 landmark months: stop after ROUNDS "
                        "rounds without a better held-out log-loss (off by default: see "
                        "benchmarks/RESULTS_train_budget.md)")
    p.add_argument("--backtest-accounts", type=int, default=BACKTEST_ACCOUNTS, metavar="N",
                   help=f"past N accounts the backtest screens every model on a seeded sample "
                        f"of N and backtests the finalists on every account (the champion is "
                        f"refitted on all); 0: every model on every account (default: "
                        f"{BACKTEST_ACCOUNTS:,})")
    p.add_argument("--seed", type=int, default=0, help="random seed of every model")

    p = command("score", "score active accounts with a saved model", cmd_score)
    data_args(p)
    engine_args(p)
    p.add_argument("--as-of", type=_date, required=True, help="YYYY-MM-DD to score at")
    p.add_argument("--model", type=Path, required=True, help="model folder or model dir")
    p.add_argument("--out", type=Path, required=True, help=".parquet, .csv or .json")

    p = command("report", "render the monthly risk report (papermill)", cmd_report)
    data_args(p)
    p.add_argument("--month", required=True, help="YYYY-MM, a month complete in the data")
    p.add_argument("--model", type=Path, default=None,
                   help="trained model folder (or model dir); None: train or reuse one")
    p.add_argument("--model-dir", type=Path, default=None,
                   help="where to train/reuse the champion without --model "
                        "(default: models/<data name>)")
    p.add_argument("--out", type=Path, default=HOME.reports, help="the month goes to OUT/YYYY-MM")
    p.add_argument("--force", action="store_true",
                   help="replace an existing report for the month (atomically)")
    p.add_argument("--horizon", type=int, default=90, choices=(30, 90, 180),
                   help="days ahead for the ARR at risk")
    p.add_argument("--segment", default="", help="only this segment ('' = all)")
    p.add_argument("--top-n", type=_positive_int, default=15,
                   help="rows of the top at-risk accounts table")
    tier_args(p)

    p = command("explain", "explain and triage the book; tasks and per-CSM packs", cmd_explain)
    data_args(p)
    p.add_argument("--as-of", type=_date, required=True, help="YYYY-MM-DD to explain at")
    p.add_argument("--model", type=Path, required=True, help="model folder or model dir")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--top-n", type=_positive_int, default=3,
                   help="risk drivers and protective factors per account")
    p.add_argument("--previous", type=Path, default=None,
                   help="an earlier accounts.parquet/.csv, for the tier change")
    tier_args(p)

    p = command("experiments", "read out the save experiments (randomised plays against "
                "control) and size the next test", cmd_experiments)
    data_args(p)
    p.add_argument("--as-of", type=_date, default=None,
                   help="read-out date (default: the data's end); plays started in the "
                        "grace period before it are not read yet")
    p.add_argument("--model", type=Path, default=None,
                   help="model folder: adjusts the differences for each account's risk "
                        "before its play started (narrower intervals when it predicts)")
    p.add_argument("--out", type=Path, required=True, help="output folder (replaced whole)")
    p.add_argument("--horizon", type=int, default=180, choices=(90, 180, 365),
                   help="days after assignment at which a winner is read out")
    p.add_argument("--min-per-arm", type=_positive_int, default=30,
                   help="accounts each arm needs, followed for the horizon, to be read")
    p.add_argument("--effect", type=float, default=0.10,
                   help="fall in churn risk (0-1) the next test should detect")
    return parser


def engine_args(p) -> None:
    """The engine of the event-scale work (docs/spark.md)."""
    p.add_argument("--engine", choices=("duckdb", "spark"), default="duckdb",
                   help="where features and landmarks are computed: embedded DuckDB, or Spark "
                        "(pip install 'churnlab[spark]', Java 17; Parquet inputs; local[*] "
                        "unless SPARK_MASTER names a cluster)")


def tier_args(p) -> None:
    """The tier cut-offs of the one risk language (docs/risk_language.md)."""
    p.add_argument("--red-from", type=float, default=DEFAULT_CUTS.red,
                   help="red tier from this chance of churning by the next renewal (at "
                        "least 90 days ahead); health below 60")
    p.add_argument("--yellow-from", type=float, default=DEFAULT_CUTS.yellow,
                   help="yellow tier from this chance (health 60-79); below it green "
                        "(health 80-100)")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(quiet=args.quiet)
    try:
        return args.func(args)
    except RefusedInput:
        return EXIT_INVALID                 # the validation report is already printed
    except ChurnlabError as exc:
        if args.debug:
            raise
        print(f"churnlab {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:                  # a path the user named cannot be used
        if args.debug:
            raise
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"churnlab {args.command}: {exc.strerror or exc}{where}: check the path and "
              "its permissions", file=sys.stderr)
        return EXIT_USAGE


def configure_logging(quiet: bool = False) -> None:
    """churnlab's one channel for progress and messages: log lines on stderr (INFO, or
    WARNING and above with ``-q``); tqdm bars follow the same switch (``progress``)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger("churnlab")
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING if quiet else logging.INFO)
    root.propagate = False


if __name__ == "__main__":
    sys.exit(main())
