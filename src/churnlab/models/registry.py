"""Saving and loading models with their card and backtest tables."""

from __future__ import annotations

import json
import pickle
import shutil
import warnings
from pathlib import Path

import pandas as pd

from churnlab.errors import ModelError, ModelNotFoundError
from churnlab.evaluation.backtest import Backtest
from churnlab.features.landmark_rows import FrameLandmarks, ParquetLandmarks, write_by_date
from churnlab.models.survival_base import (
    BACKTEST_TABLES,
    CARD_FILE,
    CHAMPION_FILE,
    FEATURES_FILE,
    MODEL_FILE,
    SurvivalModel,
)
from churnlab.storage import atomic_dir


# ------------------------------------------------------------------ training & artifacts
def package_versions() -> dict:
    import importlib.metadata as md

    out = {}
    for pkg in ("churnlab", "numpy", "pandas", "scikit-learn", "xgboost", "lifelines",
                "scikit-survival"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    return out


def save_model(model: SurvivalModel, folder, landmarks=None) -> Path:
    """Write model.joblib + card.json atomically into ``folder`` (and, when the model
    carries its backtest, ``backtest_{metrics,scores,folds}.parquet``; with
    ``landmarks``, the landmark rows it was trained on as :data:`FEATURES_FILE`, which a
    report on the same data reuses instead of computing those dates' features again: a
    DataFrame, or a :class:`ParquetLandmarks` whose file is copied)."""
    import joblib

    with atomic_dir(folder, overwrite=True) as tmp:
        if isinstance(landmarks, FrameLandmarks):
            landmarks = landmarks.frame
        if isinstance(landmarks, ParquetLandmarks):
            shutil.copyfile(landmarks.path, tmp / FEATURES_FILE)
        elif landmarks is not None:
            write_by_date(landmarks, tmp / FEATURES_FILE)
        bt = getattr(model, "backtest_", None)
        if bt is not None:
            del model.backtest_
        joblib.dump(model, tmp / MODEL_FILE)
        if bt is not None:
            model.backtest_ = bt
        (tmp / CARD_FILE).write_text(json.dumps(model.card_, indent=2, sort_keys=True,
                                                default=str) + "\n")
        if bt is not None:          # the backtest's tables travel with the model
            for name in BACKTEST_TABLES:
                getattr(bt, name).to_parquet(tmp / f"backtest_{name}.parquet", index=False)
    return Path(folder)


def load_model(path) -> SurvivalModel:
    """Load a model folder, or the champion named by ``path/champion.json``; warns when
    installed library versions differ from the card's. The saved backtest (if any)
    comes back as ``model.backtest_``, the saved landmark rows' path (or None) as
    ``model.features_file_``."""
    import joblib

    path = Path(path)
    if (path / CHAMPION_FILE).is_file():
        path = path / json.loads((path / CHAMPION_FILE).read_text())["path"]
    if not (path / MODEL_FILE).is_file():
        raise ModelNotFoundError(f"{path}: no {MODEL_FILE} (nor {CHAMPION_FILE}) here")
    try:
        model = joblib.load(path / MODEL_FILE)
    except (ImportError, AttributeError, EOFError, pickle.UnpicklingError) as exc:
        raise ModelError(f"{path / MODEL_FILE} cannot be read ({type(exc).__name__}: {exc}); "
                         "it was saved by another version of churnlab or is damaged: train "
                         "the model again (churnlab train)") from exc
    model.card_ = json.loads((path / CARD_FILE).read_text())
    model.features_file_ = path / FEATURES_FILE if (path / FEATURES_FILE).is_file() else None
    if all((path / f"backtest_{name}.parquet").is_file() for name in BACKTEST_TABLES):
        model.backtest_ = Backtest(*(pd.read_parquet(path / f"backtest_{name}.parquet")
                                     for name in BACKTEST_TABLES))
    now = package_versions()
    diff = {k: (v, now.get(k)) for k, v in model.card_.get("library_versions", {}).items()
            if k != "churnlab" and now.get(k) != v}
    if diff:
        warnings.warn(f"model {model.card_['model_id']} was saved with other library "
                      f"versions (saved, installed): {diff}", stacklevel=2)
    return model
