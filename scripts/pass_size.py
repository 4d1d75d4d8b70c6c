"""How the landmark passes' size trades time for memory: ``write_landmarks`` (what
``churnlab train`` runs) at each ``--rows`` cap on the aggregate rows one pass may hold
(``features.snapshot.MAX_ROWS_PER_PASS``), each in a fresh process, with its wall time,
its peak resident memory and whether the files are equal.

    .venv/bin/python scripts/pass_size.py --data /tmp/w50k --start 2024-12-01 \\
        --end 2026-10-01 --rows 1500000 6000000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import json, resource, sys, time
import pandas as pd
from churnlab.data.warehouse import open_warehouse
from churnlab.features.landmarks import monthly_dates, write_landmarks
data, start, end, rows, out = sys.argv[1:6]
dates = monthly_dates(start, end)
t0 = time.perf_counter()
with open_warehouse(data) as wh:
    write_landmarks(wh, dates, out, obs_end=dates[-1] + pd.DateOffset(months=1),
                    max_rows_per_pass=int(rows))
print(json.dumps({"seconds": time.perf_counter() - t0,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def compare(a, b) -> str:
    """'identical', or the largest relative difference of a numeric column (DuckDB's
    parallel float sums are not bit-reproducible) when the rest is identical."""
    import numpy as np
    import pandas as pd

    x, y = pd.read_parquet(a), pd.read_parquet(b)
    if x.equals(y):
        return "identical"
    if list(x.columns) != list(y.columns) or len(x) != len(y):
        return "different columns or rows"
    worst, col = 0.0, None
    for c in x.columns:
        if x[c].equals(y[c]):
            continue
        if not (pd.api.types.is_float_dtype(x[c]) and pd.api.types.is_float_dtype(y[c])):
            return f"column {c} differs"
        u, v = x[c].to_numpy(float), y[c].to_numpy(float)
        if not np.array_equal(np.isnan(u), np.isnan(v)):
            return f"column {c}: missing values differ"
        ok = ~np.isnan(u)
        rel = np.max(np.abs(u[ok] - v[ok]) / np.maximum(np.abs(v[ok]), 1e-300))
        worst, col = (rel, c) if rel > worst else (worst, col)
    return f"equal but for float rounding (largest relative difference {worst:.1e}, {col})"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--start", required=True)
    ap.add_argument("--end", required=True)
    ap.add_argument("--rows", type=int, nargs="+", required=True)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for rows in a.rows:
            out = Path(tmp) / f"lm_{rows}.parquet"
            res = subprocess.run([sys.executable, "-c", CHILD, a.data, a.start, a.end,
                                  str(rows), str(out)], capture_output=True, text=True,
                                 check=True)
            r = json.loads(res.stdout.strip().splitlines()[-1])
            same = "" if not files else f", against the first: {compare(out, files[0])}"
            files.append(out)
            print(f"max_rows_per_pass {rows:>10,}: {r['seconds']:6.1f} s, "
                  f"peak {r['peak_mb']:,.0f} MB{same}", flush=True)


if __name__ == "__main__":
    main()
