"""Where training's memory goes: resident memory sampled every 0.2 s while
``train_champion`` runs (this process and the backtest's workers, summed), reported as the peak between consecutive log lines (each line
marks a step: landmarks, each backtest fit, the champion's refit, saving).

    .venv/bin/python scripts/train_memory.py --data /tmp/w50k --as-of 2026-11-01
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import threading
import time

import pandas as pd

from churnlab.data.warehouse import open_warehouse
from churnlab.evaluation.champion import train_champion

samples: list[tuple[float, float]] = []
marks: list[tuple[float, str]] = []


def rss_mb() -> float:
    """Resident memory of this process and its children (the backtest's worker
    processes), summed: an upper bound, as pages the workers share are counted twice."""
    import psutil

    me = psutil.Process()
    total = 0
    for p in [me, *me.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:        # a worker that has just exited
            pass
    return total / 2**20


class Marker(logging.Handler):
    def emit(self, record):
        marks.append((time.perf_counter(), record.getMessage()[:110]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--as-of", required=True)
    args = parser.parse_args()
    logging.getLogger("churnlab").setLevel(logging.INFO)
    logging.getLogger("churnlab").addHandler(Marker())
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            samples.append((time.perf_counter(), rss_mb()))
            time.sleep(0.2)

    t0 = time.perf_counter()
    marks.append((t0, "start"))
    threading.Thread(target=sample, daemon=True).start()
    with open_warehouse(args.data) as wh:
        marks.append((time.perf_counter(), "warehouse open"))
        train_champion(wh, pd.Timestamp(args.as_of), tempfile.mkdtemp())
    marks.append((time.perf_counter(), "end"))
    stop.set()
    print("| from (s) | to (s) | peak RSS (MB) | step that ended the span |")
    print("|---:|---:|---:|---|")
    for (a, _), (b, msg) in zip(marks, marks[1:]):
        peak = max((m for t, m in samples if a <= t <= b), default=float("nan"))
        print(f"| {a - t0:.0f} | {b - t0:.0f} | {peak:,.0f} | {msg} |")
    print(f"overall peak {max(m for _, m in samples):,.0f} MB")


if __name__ == "__main__":
    main()
