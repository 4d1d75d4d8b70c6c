"""One backtest fit (fit, then score and judge on the origin's rows) at an earlier revision
against the working tree's, each in its own process, alternated (this VM's speed drifts
over minutes): seconds, the peak resident memory while it runs (sampled every 0.05 s), and whether the two agree (the judged
metrics, the scored rows and the months-ahead offsets, exactly).

    .venv/bin/python scripts/fit_ab.py --landmarks /tmp/w50k_lm.parquet --rev HEAD \\
        --origin 2026-04-01 --kinds hazard_xgb hazard_logit --repeat 2

``--landmarks``: a landmark table (``landmarks.parquet`` beside a trained model holds
one); the fold is the default backtest's (12 months before the origin, 30 days' grace).
"""

from __future__ import annotations

import argparse
import os
import pickle
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def worker(landmarks: str, origin: str, kind: str, out: str) -> None:
    """In a fresh process: one fit and judgement, pickled to ``out``."""
    import psutil

    from churnlab.evaluation import backtest as B
    from churnlab.features import snapshot as F

    lm = pd.read_parquet(landmarks)
    o = pd.Timestamp(origin)
    when = pd.to_datetime(lm[F.LANDMARK])
    train = B.training_rows(lm[when >= o - pd.DateOffset(months=12)], o, 30)
    test = lm[when == o].reset_index(drop=True)
    del lm, when
    me = psutil.Process()
    base = me.memory_info().rss / 2**20
    peak = [base]
    done = threading.Event()

    def sample():
        while not done.wait(0.05):
            peak[0] = max(peak[0], me.memory_info().rss / 2**20)

    threading.Thread(target=sample, daemon=True).start()
    t0 = time.perf_counter()
    metrics, scored, failure, message = B._fit_and_judge(kind, o, train, test, 0, None, {})
    seconds = time.perf_counter() - t0
    done.set()
    peak = peak[0]
    with open(out, "wb") as f:
        pickle.dump({"metrics": metrics, "scored": scored, "failure": failure,
                     "message": message, "seconds": seconds, "peak_mb": peak,
                     "before_fit_mb": base}, f)


def run(src: Path, args, kind: str) -> dict:
    out = tempfile.mktemp(suffix=".pkl")
    env = {**os.environ, "PYTHONPATH": str(src)}
    subprocess.run([sys.executable, __file__, "--worker", args.landmarks, args.origin, kind,
                    out], check=True, env=env)
    with open(out, "rb") as f:
        return pickle.load(f)


def same(a: dict, b: dict) -> str:
    if a["failure"] or b["failure"]:
        return f"failure: {a['failure']} / {b['failure']}"
    ma, mb = pd.Series(a["metrics"]), pd.Series(b["metrics"])
    if not ma.equals(mb):
        d = (pd.to_numeric(ma, errors="coerce") - pd.to_numeric(mb, errors="coerce")).abs()
        return f"metrics differ (max {d.max():.3g})"
    try:
        pd.testing.assert_frame_equal(a["scored"], b["scored"], check_exact=True)
    except AssertionError as e:
        return "scored rows differ: " + str(e).splitlines()[0]
    return "identical metrics and scored rows"


def main() -> None:
    if sys.argv[1:2] == ["--worker"]:
        worker(*sys.argv[2:6])
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--landmarks", required=True)
    ap.add_argument("--rev", required=True)
    ap.add_argument("--origin", default="2026-04-01")
    ap.add_argument("--kinds", nargs="+", default=["hazard_xgb"])
    ap.add_argument("--repeat", type=int, default=1)
    a = ap.parse_args()
    tree = Path(tempfile.mkdtemp()) / "then"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), a.rev],
                   check=True, capture_output=True)
    try:
        for kind in a.kinds:
            for i in range(a.repeat):
                old, new = run(tree / "src", a, kind), run(ROOT / "src", a, kind)
                for name, r in ((a.rev, old), ("working tree", new)):
                    print(f"{kind} {name:>12}: {r['seconds']:5.1f} s, peak "
                          f"{r['peak_mb']:,.0f} MB during it ({r['before_fit_mb']:,.0f} "
                          f"before) | {r['message']}", flush=True)
                if i == 0:
                    print(f"{kind}: {same(old, new)}", flush=True)
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                       check=False, capture_output=True)


if __name__ == "__main__":
    main()
