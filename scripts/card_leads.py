"""What the model card's lead over the behaviour-free baselines costs: times
``evaluation.champion.baseline_leads`` (paired account-bootstrap concordance differences,
100 resamples) on a saved champion's backtest and prints the leads, which must equal the
card's. Run it with ``PYTHONPATH=<worktree>/src`` to time an older revision on the same
backtest.

    .venv/bin/python scripts/card_leads.py --model /tmp/m50k9 --runs 2
"""

from __future__ import annotations

import argparse
import time

from churnlab.evaluation.champion import baseline_leads
from churnlab.models.registry import load_model


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, help="a model folder (champion.json)")
    ap.add_argument("--runs", type=int, default=1)
    a = ap.parse_args()
    model = load_model(a.model)
    for _ in range(a.runs):
        t0 = time.perf_counter()
        leads = baseline_leads(model.backtest_, model.card["kind"])
        print(f"{time.perf_counter() - t0:.1f} s: {leads}", flush=True)
    print(f"the card: {model.card['lead_over_baselines']}")


if __name__ == "__main__":
    main()
