"""What an option of the boosted hazard costs and buys: the finalist backtest of
``hazard_xgb`` on every account (the champion's own backtest: same origins, window and
rows as ``train``), once per option set, with the fit time per origin and the mean
Harrell / Uno concordance, 90-day AUC and integrated Brier score over the origins.

``--bins 256 128 64`` compares xgboost's histogram bins per input (``max_bin``);
``--configs`` compares any option sets of :class:`churnlab.models.hazard.HazardXGB`
that ``make_model`` passes on, each written ``key=value,key=value``. ``--paired`` adds
each option set's Harrell C (90 days) minus the first's on the same rows, with its paired
account-bootstrap standard error (``evaluation.metrics.concordance_differences``):

    .venv/bin/python scripts/xgb_options.py \\
        --landmarks /tmp/m50k6/hazard_xgb-2026-11-01-49b445b0/landmarks.parquet \\
        --signal-map /tmp/w50k/signal_map.yaml \\
        --origins 2025-12-01 2026-02-01 2026-04-01 \\
        --configs n_estimators=150,learning_rate=0.05 n_estimators=100,learning_rate=0.075
"""

from __future__ import annotations

import argparse
import logging
import re
import time

import pandas as pd

from churnlab.data.signal_map import load_signal_map
from churnlab.evaluation.backtest import run_backtest
from churnlab.evaluation.metrics import concordance_differences
from churnlab.features.landmark_rows import ParquetLandmarks


class _FitTimes(logging.Handler):
    """Collects the backtest's "fit N s" log lines."""

    def __init__(self):
        super().__init__()
        self.fits: list[float] = []

    def emit(self, record):
        m = re.search(r"fit ([0-9.]+) s", record.getMessage())
        if m:
            self.fits.append(float(m.group(1)))


def _options(text: str) -> dict:
    """``"n_estimators=100,learning_rate=0.075"`` -> ``{"n_estimators": 100, ...}``."""
    out = {}
    for part in filter(None, text.split(",")):
        key, _, value = part.partition("=")
        out[key.strip()] = float(value) if "." in value else int(value)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--landmarks", required=True)
    ap.add_argument("--signal-map", required=True, help="the data's signal map (the "
                    "monotone constraints come from it, as in train)")
    ap.add_argument("--origins", nargs="+", required=True)
    ap.add_argument("--bins", nargs="+", type=int, default=[])
    ap.add_argument("--configs", nargs="+", default=[])
    ap.add_argument("--paired", action="store_true", help="differences from the first "
                    "option set, with paired bootstrap standard errors (200 resamples)")
    a = ap.parse_args()
    configs = [f"max_bin={b}" for b in a.bins] + a.configs or ["max_bin=256"]
    handler = _FitTimes()
    logger = logging.getLogger("churnlab")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    print("| options | fit s per origin | wall s | Harrell C | Uno C | AUC 90 | IBS |")
    print("|---|---|---:|---:|---:|---:|---:|")
    scores = []
    for text in configs:
        handler.fits.clear()
        t0 = time.perf_counter()
        bt = run_backtest(ParquetLandmarks(a.landmarks), a.origins, models=("hazard_xgb",),
                          signal_map=load_signal_map(a.signal_map), jobs=1,
                          **_options(text))
        wall = time.perf_counter() - t0
        m = bt.metrics.mean(numeric_only=True)
        fits = ", ".join(f"{f:.1f}" for f in handler.fits)
        print(f"| {text} | {fits} | {wall:.1f} | {m['harrell_c']:.4f} | {m['uno_c']:.4f} | "
              f"{m['auc_90']:.4f} | {m['ibs']:.4f} |", flush=True)
        scores.append(bt.scores.assign(model=text))
    if a.paired and len(configs) > 1:
        d = concordance_differences(pd.concat(scores, ignore_index=True), configs[0],
                                    configs[1:], n_bootstrap=200)
        print(f"\nHarrell C minus {configs[0]}'s (paired bootstrap SE):")
        for text in configs[1:]:
            print(f"- {text}: {-d[text]['difference']:+.4f} (SE {d[text]['se']:.4f})")


if __name__ == "__main__":
    main()
