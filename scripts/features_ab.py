"""The point-in-time features of an earlier revision against the working tree's, on the
same dates of the same data, alternated (this VM's speed drifts over minutes): seconds per
run and whether the frames agree (1e-12 relative: DuckDB's parallel float sums can differ
in the last bit between two runs of the same query).

    .venv/bin/python scripts/features_ab.py --data /tmp/w50k --rev 6348fed \\
        --start 2026-01-01 --end 2026-06-01 --repeat 2
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from churnlab.data.warehouse import open_warehouse
from churnlab.features import snapshot as current
from churnlab.features.landmarks import monthly_dates


def at_revision(rev: str):
    """``churnlab.features.snapshot`` as it was at ``rev`` (imported beside the current one)."""
    text = subprocess.run(["git", "show", f"{rev}:src/churnlab/features/snapshot.py"],
                          check=True, capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "snapshot_then.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("churnlab.features.snapshot_then", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--rev", required=True)
    ap.add_argument("--start", required=True)
    ap.add_argument("--end", required=True)
    ap.add_argument("--repeat", type=int, default=2)
    a = ap.parse_args()
    then = at_revision(a.rev)
    dates = monthly_dates(a.start, a.end)
    with open_warehouse(a.data) as wh:
        old, new = then.make_snapshots(wh, dates), current.make_snapshots(wh, dates)
        pd.testing.assert_frame_equal(old, new, check_exact=False, rtol=1e-12)
        print(f"{len(dates)} dates, {len(new):,} rows: frames agree (1e-12)")
        for _ in range(a.repeat):
            for name, module in ((a.rev, then), ("working tree", current)):
                t0 = time.perf_counter()
                module.make_snapshots(wh, dates)
                print(f"{name:>12}: {time.perf_counter() - t0:5.1f} s", flush=True)


if __name__ == "__main__":
    main()
