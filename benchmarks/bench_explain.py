"""Time and peak memory of explanations + triage + per-CSM packs at 5k and 50k accounts.

The step measured is what ``churnlab explain`` does after the snapshot is built:
SHAP values and sentences (:func:`explain_accounts`), learned family weights
(:func:`global_importance`), scoring (:func:`survival.score_accounts`, needed by
triage), triage and tasks, and writing the packs. Input: the demo's point-in-time
snapshot (data/processed/demo/features_2026-11-01.parquet, 2,916 active accounts) and
a champion trained on the demo; a size above the snapshot's is the snapshot replicated
with new account ids and CSM owners (the cost depends on rows x features, not on who
the accounts are; training a 50k model only to time its explanations would take an
hour of the shared machine). Each size runs in its own process; peak resident memory
is that process's (``wait4``; it includes reading the model and the snapshot).

    nice -n 10 .venv/bin/python benchmarks/bench_explain.py [--sizes 5000 50000] \
        [--model data/processed/demo/models] [--snapshot data/processed/demo/features_2026-11-01.parquet]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from churnlab.actions.tasks import make_tasks
from churnlab.actions.triage import triage_accounts
from churnlab.data import contract as S
from churnlab.data.signal_map import default_signal_map_path, load_signal_map
from churnlab.explain.accounts import explain_accounts, global_importance
from churnlab.explain.attribution import shap_values
from churnlab.present.packs import write_csm_packs

HERE = Path(__file__).parent
ROOT = HERE.parent


def one_size(n: int, model_path: str, snapshot_path: str, out: str) -> dict:
    """Run the steps on ``n`` accounts in this process; return the timings."""
    import numpy as np
    import pandas as pd

    from churnlab.models.registry import load_model
    from churnlab.models.scoring import score_accounts

    model = load_model(model_path)
    base = pd.read_parquet(snapshot_path)
    smap = load_signal_map(default_signal_map_path())
    reps = int(np.ceil(n / len(base)))
    parts = []
    for k in range(reps):
        part = base.copy()
        part[S.ACCOUNT_ID] = part[S.ACCOUNT_ID] + (f"-{k}" if k else "")
        if k:
            part[S.CSM_OWNER] = part[S.CSM_OWNER] + f"-{k % 10}"
        parts.append(part)
    snap = pd.concat(parts, ignore_index=True).iloc[:n].reset_index(drop=True)
    as_of = pd.Timestamp(snap["landmark"].iloc[0])
    times = {}
    t0 = time.perf_counter()
    scores = score_accounts(model, snap, as_of)
    times["score"] = time.perf_counter() - t0
    t = time.perf_counter()
    expl = explain_accounts(model, snap, smap, top_n=3)
    times["explain_accounts"] = time.perf_counter() - t
    t = time.perf_counter()
    phi, _ = shap_values(model, snap)
    global_importance(model, snap, smap, phi=phi)
    times["global_importance"] = time.perf_counter() - t
    t = time.perf_counter()
    tri = triage_accounts(scores, expl, snap, signal_map=smap, phi=phi)
    make_tasks(tri, as_of)
    times["triage_and_tasks"] = time.perf_counter() - t
    t = time.perf_counter()
    paths = write_csm_packs(tri, Path(out) / "packs", as_of)
    times["packs"] = time.perf_counter() - t
    times["total"] = time.perf_counter() - t0
    return {"accounts": n, "owners": len(paths), **times}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[5000, 50000])
    ap.add_argument("--model", default=str(ROOT / "data/processed/demo/models"))
    ap.add_argument("--snapshot", default=str(ROOT / "data/processed/demo/features_2026-11-01.parquet"))
    ap.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(one_size(args.child, args.model, args.snapshot, args.out)))
        return
    rows = []
    for n in args.sizes:
        with tempfile.TemporaryDirectory(prefix="bench-explain-") as tmp:
            cmd = [sys.executable, __file__, "--child", str(n), "--model", args.model,
                   "--snapshot", args.snapshot, "--out", tmp]
            t0 = time.perf_counter()
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - t0
            if os.waitstatus_to_exitcode(status) != 0:
                raise SystemExit(f"failed: {' '.join(cmd)}")
            row = json.loads(proc.stdout.read().strip().splitlines()[-1])
            row.update(process_wall=wall, peak_rss_mb=usage.ru_maxrss / 1024,
                       load=" / ".join(f"{x:.1f}" for x in os.getloadavg()))
            rows.append(row)
            print(json.dumps(row), flush=True)
    now = dt.datetime.now(dt.timezone.utc)
    lines = [f"\n### {now:%Y-%m-%d %H:%M} UTC on {platform.node()} ({os.cpu_count()} cores, "
             f"Python {platform.python_version()}), model {Path(args.model).name}\n",
             "| accounts | CSM packs | score (s) | explain_accounts (s) | global_importance (s) "
             "| triage + tasks (s) | packs (s) | total (s) | process wall (s) | peak RSS (MB) "
             "| load avg |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['accounts']:,} | {r['owners']} | {r['score']:.1f} | "
                     f"{r['explain_accounts']:.1f} | {r['global_importance']:.1f} | "
                     f"{r['triage_and_tasks']:.1f} | {r['packs']:.1f} | {r['total']:.1f} | "
                     f"{r['process_wall']:.1f} | {r['peak_rss_mb']:.0f} | {r['load']} |")
    path = HERE / "RESULTS_explain.md"
    if not path.exists():
        path.write_text("# Explanation, triage and pack benchmark results\n\n"
                        "Written by `benchmarks/bench_explain.py` (see its docstring for "
                        "what is timed and how sizes above the demo snapshot are built).\n")
    with path.open("a") as fh:
        fh.write("\n".join(lines) + "\n")
    print(f"appended to {path}")


if __name__ == "__main__":
    main()
