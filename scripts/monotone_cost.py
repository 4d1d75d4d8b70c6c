"""The cost, in backtest concordance, of constraining the gradient-boosted hazard to the
signal map's declared directions (xgboost monotone constraints), on the demo's landmarks
with the demo champion's origins and lookback.

    make demo && .venv/bin/python scripts/monotone_cost.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

from churnlab.data.signal_map import load_signal_map
from churnlab.evaluation.backtest import run_backtest

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    landmarks = pd.read_parquet(ROOT / "data/processed/demo/landmarks.parquet")
    champion = json.loads((ROOT / "models/demo/champion.json").read_text())
    card = json.loads((ROOT / "models/demo" / champion["path"] / "card.json").read_text())
    smap = load_signal_map(ROOT / "data/raw/demo/signal_map.yaml")
    origins = [pd.Timestamp(o) for o in card["origins"]]
    rows = []
    for monotone in (False, True):
        bt = run_backtest(landmarks, origins, ("hazard_xgb",), card["lookback_months"],
                          signal_map=smap, random_state=card["random_state"],
                          monotone=monotone, **card["options"])
        s = bt.summary().loc["hazard_xgb"]
        rows.append({"monotone": monotone, "uno_c": round(float(s["uno_c"]), 4),
                     "harrell_c": round(float(s["harrell_c"]), 4),
                     "auc_90": round(float(s["auc_90"]), 4)})
    table = pd.DataFrame(rows)
    print(table.to_string(index=False))
    print(f"cost in Uno C: {table.uno_c.iloc[0] - table.uno_c.iloc[1]:+.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
