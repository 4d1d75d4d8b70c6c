"""Evidence for issue 4: the time-to-churn champion backtested out of time on a dataset
(default: the demo), against the simulator's oracle and the baselines.

Usage:
    .venv/bin/python scripts/survival_backtest.py [--data data/raw/demo] [--as-of 2026-11-01]
        [--origins 3] [--n-estimators N] [--seed 0] [--model-dir DIR] [--bootstrap 200]
    .venv/bin/python scripts/survival_backtest.py --month-check 2026-04-01 \
        --landmarks data/processed/demo/landmarks.parquet

Trains the champion exactly as ``churnlab train`` does (rolling-origin backtest of every
model, champion chosen by it, refit at the as-of date), scores every active account as
``churnlab score`` does, and prints: every model's metrics averaged over origins and per
origin; the oracle's (``truth/account_months.parquet``'s ``oracle_risk_90d``, evaluation
only) on the same rows; the paired concordance differences champion - oracle, champion -
health score and champion - 90-day logistic with account-bootstrap standard errors; the
champion's calibration error at 90 days beside the binomial standard error of a decile;
and the train and score wall times.

``--month-check ORIGIN --landmarks FILE`` instead fits the gradient-boosted hazard on the
12 months of landmarks before ORIGIN and compares, month by month after the origin, its
mean projected hazard with the observed churn rate of the accounts still at risk (the
diagnosis of the 90-day calibration in benchmarks/RESULTS_survival.md), then P(churn
before the next renewal) against what happened for the accounts whose renewal fell
inside the follow-up, by term class.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from churnlab.catalog import Catalog
from churnlab.data import contract as S
from churnlab.data.checks import InvalidDataError
from churnlab.data.lifecycle import observation_end
from churnlab.data.validation import require_valid
from churnlab.data.warehouse import open_warehouse
from churnlab.evaluation.champion import train_champion
from churnlab.evaluation.metrics import concordance_difference
from churnlab.features import snapshot as F
from churnlab.features.snapshot import make_snapshot
from churnlab.models.hazard import HazardXGB
from churnlab.models.scoring import score_accounts
from churnlab.models.survival_base import MONTH_DAYS, training_rows
from churnlab.present.survival_findings import backtest_table, pooled_calibration
from churnlab.sim.truth import oracle_metrics, oracle_scores


def month_check(landmarks: pd.DataFrame, origin, n_months: int = 3, seed: int = 0,
                lookback_months: int = 12) -> pd.DataFrame:
    """Projected monthly hazard vs observed churn of the accounts at risk, per month
    after ``origin`` (model trained on labels observable at the origin)."""
    origin = pd.Timestamp(origin)
    lm = pd.to_datetime(landmarks[F.LANDMARK])
    train = training_rows(landmarks[lm >= origin - pd.DateOffset(months=lookback_months)],
                             origin)
    test = landmarks[lm == origin].reset_index(drop=True)
    model = HazardXGB(random_state=seed).fit(train)
    hz = model.monthly_hazards(test, n_months)
    t, e = test[F.DURATION].to_numpy(float), test[F.EVENT].to_numpy().astype(bool)
    out = []
    for k in range(n_months):
        lo, hi = k * MONTH_DAYS, (k + 1) * MONTH_DAYS
        churn = e & (t >= lo) & (t < hi)
        rows = (t >= lo) & (churn | (t >= hi))
        out.append({"month": k + 1, "accounts_at_risk": int(rows.sum()),
                    "predicted_hazard": hz[rows, k].mean(), "observed": churn[rows].mean()})
    for h in (30, 61, 90, 180):
        y = e & (t <= h)
        known = y | (t >= h)
        p = 1 - model.predict_survival(test, [float(h)])[:, 0]
        out.append({"month": f"P(within {h} d)", "accounts_at_risk": int(known.sum()),
                    "predicted_hazard": p[known].mean(), "observed": y[known].mean()})
    return pd.DataFrame(out), renewal_check(model, test)


def renewal_check(model, test: pd.DataFrame) -> pd.DataFrame:
    """P(churn before the next renewal) vs what happened, for the accounts whose renewal
    fell inside the follow-up (churned on or before it, or seen past it), by term class."""
    dtr = np.maximum(test["days_to_renewal"].to_numpy(float), 0)
    t, e = test[F.DURATION].to_numpy(float), test[F.EVENT].to_numpy().astype(bool)
    y = e & (t <= dtr)
    known = y | (t >= dtr)
    p = 1 - model.predict_survival_at(test, dtr)
    term = np.where(test[S.TERM_MONTHS].to_numpy(float) <= 1, "monthly", "annual or longer")
    rows = []
    for name, m in [("all", known)] + [(c, known & (term == c))
                                       for c in ("monthly", "annual or longer")]:
        n = int(m.sum())
        se = np.sqrt(y[m].mean() * (1 - y[m].mean()) / n) if n else np.nan
        rows.append({"accounts": name, "renewal seen": n,
                     "median days to renewal": float(np.median(dtr[m])) if n else np.nan,
                     "predicted P(before renewal)": p[m].mean() if n else np.nan,
                     "observed": y[m].mean() if n else np.nan, "se": se})
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(Catalog.here().raw()))
    ap.add_argument("--as-of", default=None, help="default: the day after the data ends")
    ap.add_argument("--truth", default=None, help="default: DATA/truth")
    ap.add_argument("--origins", type=int, default=3)
    ap.add_argument("--n-estimators", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model-dir", default=None, help="default: a temporary folder")
    ap.add_argument("--bootstrap", type=int, default=200)
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    ap.add_argument("--month-check", default=None, metavar="ORIGIN")
    ap.add_argument("--landmarks", default=None, help="landmarks file for --month-check")
    args = ap.parse_args(argv)
    if args.month_check:
        if not args.landmarks:
            print("--month-check needs --landmarks FILE", file=sys.stderr)
            return 2
        table, renewal = month_check(pd.read_parquet(args.landmarks), args.month_check,
                                     seed=args.seed)
        print(table.round(4).to_string(index=False))
        print("\nP(churn before the next renewal), accounts whose renewal fell inside the "
              "follow-up:")
        print(renewal.round(4).to_string(index=False))
        return 0
    truth = Path(args.truth or Path(args.data) / "truth")
    if not (truth / "account_months.parquet").is_file():
        print(f"--truth {truth}: no account_months.parquet (the simulator's truth)",
              file=sys.stderr)
        return 2
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 30)
    with open_warehouse(args.data) as wh:
        try:
            require_valid(wh)
        except InvalidDataError as exc:
            print(str(exc), file=sys.stderr)
            return 1
        as_of = pd.Timestamp(args.as_of) if args.as_of else observation_end(wh)
        model_dir = Path(args.model_dir or tempfile.mkdtemp(prefix="churnlab-models-"))
        options = {"n_estimators": args.n_estimators} if args.n_estimators else {}
        t0 = time.perf_counter()
        model, card = train_champion(wh, as_of, model_dir, progress=not args.quiet,
                                        n_origins=args.origins, random_state=args.seed,
                                        **options)
        train_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        scores = score_accounts(model, make_snapshot(wh, as_of), as_of)
        score_s = time.perf_counter() - t0
    bt, champ = model.backtest_, card["kind"]
    oracle = oracle_metrics(bt, truth)
    both = pd.concat([bt.scores, oracle_scores(bt, truth)], ignore_index=True)

    print(f"data {args.data}, as-of {as_of.date()}, origins {', '.join(card['origins'])}, "
          f"seed {args.seed}, options {options or 'defaults'}")
    print(f"champion {card['model_id']} (trained on {card['training_rows']:,} landmark rows, "
          f"{card['training_events']:,} churns, window {' to '.join(card['training_window'])})")
    print("\n## Metrics averaged over origins (oracle on the same rows)")
    print(backtest_table(bt, oracle).round(4).to_string())
    print("\n## Per origin")
    print(backtest_table(bt, oracle, per_origin=True).round(4).to_string())
    print(f"\noracle coverage of the scored rows: "
          f"{', '.join(f'{c:.3f}' for c in oracle['coverage'])}")

    print("\n## Paired concordance differences (Harrell, 90 days; mean over origins; "
          f"account bootstrap SE, {args.bootstrap} replicates)")
    for a, b in ((champ, "oracle"), (champ, "health"), (champ, "logistic_90d")):
        d = concordance_difference(both, a, b, n_bootstrap=args.bootstrap,
                                      random_state=args.seed)
        print(f"{a} - {b}: {d['difference']:+.4f} (SE {d['se']:.4f}, "
              f"z = {d['difference'] / d['se']:+.1f})")

    cal = pooled_calibration(bt, champ)
    err = np.average((cal["predicted"] - cal["observed"]).abs(), weights=cal["n"])
    se = np.average(cal["se"], weights=cal["n"])
    per_origin = bt.metrics.loc[bt.metrics["model"] == champ, "calibration_error_90d"]
    print("\n## Calibration of the champion at 90 days (deciles of predicted probability)")
    print(cal.round(4).to_string(index=False))
    print(f"calibration error (mean |predicted - observed| per decile): pooled {err:.4f}, "
          f"per origin {', '.join(f'{v:.4f}' for v in per_origin)}; binomial SE of a "
          f"decile {se:.4f} (a calibrated model's expected error is about 0.8 SE = "
          f"{0.8 * se:.4f})")

    print("\n## Scores at the as-of date")
    print(f"{len(scores):,} active accounts; expected ARR lost within 90 days "
          f"${scores['expected_arr_lost_90d'].sum():,.0f} of ${scores['arr'].sum():,.0f}; "
          f"mean P(churn within 90 days) {scores['p_churn_90d'].mean():.4f}")
    print(f"\ntime: train {train_s:.1f} s (landmarks + backtest of "
          f"{bt.metrics['model'].nunique()} models x {len(card['origins'])} origins + refit), "
          f"score {score_s:.1f} s (snapshot + champion)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
