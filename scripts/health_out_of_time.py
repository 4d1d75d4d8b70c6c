"""Out-of-time evaluation of the health score on a dataset (default: the demo).

Usage: .venv/bin/python scripts/health_out_of_time.py [DATA_DIR]
Prints learned vs default concordance/AUC, paired bootstrap differences, weights with
intervals, and the share of next-period churned ARR flagged red/yellow beforehand.
"""
import sys

import pandas as pd

from churnlab.catalog import Catalog
from churnlab.data.warehouse import open_warehouse
from churnlab.evaluation.health import evaluate_out_of_time

pd.set_option("display.width", 200); pd.set_option("display.max_columns", 20)
with open_warehouse(sys.argv[1] if len(sys.argv) > 1 else Catalog.here().raw()) as wh:
    ev = evaluate_out_of_time(wh, n_bootstrap=200, random_state=42)
print("score date", ev.score_date.date(), "outcomes to", ev.outcome_end.date())
print(ev.metrics.round(3).to_string())
print(ev.differences.round(3).to_string())
print(ev.weights.round(3).to_string())
print(ev.flagged.round(3).to_string())
