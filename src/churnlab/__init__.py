"""churnlab: find and save B2B SaaS customers who are about to churn.

The public API (imported lazily, so ``import churnlab`` stays fast)::

    import churnlab as cl

    wh = cl.open("data/raw/demo")                 # Parquet/CSV folder or DuckDB file
    cl.validate(wh).ok                            # the data contract, row by row
    X = cl.snapshot(wh, "2026-11-01")             # point-in-time features at T
    model = cl.train(wh, "2026-11-01", "models/demo")   # backtest + champion (or reuse)
    model = cl.load("models/demo")
    scores = cl.score(model, X, "2026-11-01")     # P(churn), lifetime, ARR at risk
    b = cl.book(wh, model, "2026-11-01")          # score + explain + triage the book
    cl.render("2026-10", "data/raw/demo", model="models/demo")   # reports/2026-10/
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_API = {
    "open": ("churnlab.data.warehouse", "open_warehouse"),
    "validate": ("churnlab.data.validation", "validate"),
    "require_valid": ("churnlab.data.validation", "require_valid"),
    "snapshot": ("churnlab.features.snapshot", "make_snapshot"),
    "landmarks": ("churnlab.features.landmarks", "make_landmarks"),
    "train": ("churnlab.pipeline.train", "load_or_train"),
    "load": ("churnlab.models.registry", "load_model"),
    "score": ("churnlab.models.scoring", "score_accounts"),
    "book": ("churnlab.pipeline.book", "book"),
    "month": ("churnlab.pipeline.month", "compute_month"),
    "render": ("churnlab.pipeline.render", "render_report"),
    "ChurnlabError": ("churnlab.errors", "ChurnlabError"),
}
__all__ = sorted(_API)


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module 'churnlab' has no attribute {name!r}")
    module, attr = _API[name]
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__():
    return sorted(list(globals()) + __all__)
