"""Training the champion, and the one rule for reusing a trained one.

A champion saved in a model folder is reused only when it answers the same question on
the same data: trained at the same as-of date, on data with the same fingerprint, with
the same number of backtest origins, the same options and the same seed, and saved with
its backtest. Anything else trains anew (backtest of every model, champion refit,
model card). ``churnlab demo``, ``churnlab report --model-dir`` and notebook 02 all go
through :func:`load_or_train`.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import pandas as pd

from churnlab.data import lifecycle
from churnlab.errors import ModelError
from churnlab.evaluation.backtest import BACKTEST_ACCOUNTS, HistoryTooShortError
from churnlab.evaluation.champion import train_champion
from churnlab.models.registry import load_model
from churnlab.models.survival_base import CHAMPION_FILE

log = logging.getLogger(__name__)


def reusable(model, as_of, fingerprint: str, n_origins: int = 3, options: dict | None = None,
             random_state: int = 0, backtest_accounts: int | None = BACKTEST_ACCOUNTS) -> bool:
    """True when ``model`` (loaded with its card) may stand for a new training run (a
    card from before the backtest's account sample counts as the default's)."""
    c = model.card
    return (c.get("as_of") == str(pd.Timestamp(as_of).date())
            and c.get("backtest_accounts", BACKTEST_ACCOUNTS) == int(backtest_accounts or 0)
            and c.get("data_fingerprint") == fingerprint
            and len(c.get("origins", [])) == n_origins
            and c.get("options", {}) == (options or {})
            and c.get("random_state") == random_state
            and getattr(model, "backtest_", None) is not None)


def find_reusable(wh, as_of, model_dir, n_origins: int = 3, n_estimators: int | None = None,
                  random_state: int = 0, backtest_accounts: int | None = BACKTEST_ACCOUNTS):
    """The champion saved in ``model_dir`` when :func:`reusable` for this request, else
    None."""
    options = {"n_estimators": int(n_estimators)} if n_estimators else {}
    if model_dir is None or not (Path(model_dir) / CHAMPION_FILE).is_file():
        return None
    try:
        model = load_model(model_dir)
    except ModelError as exc:
        log.warning("      not reusing %s: %s", model_dir, exc)
        return None
    return model if reusable(model, as_of, wh.fingerprint(), n_origins, options,
                             random_state, backtest_accounts) else None


def load_or_train(wh, as_of=None, model_dir=None, n_origins: int = 3,
                  n_estimators: int | None = None, random_state: int = 0,
                  progress: bool = False, backtest_accounts: int | None = BACKTEST_ACCOUNTS,
                  **kwargs):
    """The champion in ``model_dir`` when :func:`reusable`; otherwise a new one trained
    into ``model_dir`` (a temporary folder when None). Returns the loaded model (with
    ``card`` and ``backtest_``)."""
    as_of = lifecycle.observation_end(wh) if as_of is None else pd.Timestamp(as_of)
    options = {"n_estimators": int(n_estimators)} if n_estimators else {}
    model = find_reusable(wh, as_of, model_dir, n_origins, n_estimators, random_state,
                          backtest_accounts)
    if model is not None:
        log.info("      reusing the champion %s in %s", model.card["model_id"], model_dir)
        return model
    model_dir = Path(model_dir) if model_dir is not None else \
        Path(tempfile.mkdtemp(prefix="churnlab-models-"))
    log.info("      training the champion at %s (backtest of every model) -> %s",
             as_of.date(), model_dir)
    try:
        model, _ = train_champion(wh, as_of, model_dir, progress=progress,
                                  n_origins=n_origins, random_state=random_state,
                                  backtest_accounts=backtest_accounts, **options, **kwargs)
    except HistoryTooShortError as exc:
        log.warning("%s; training without a backtest: every output says 'not validated'", exc)
        model, _ = train_champion(wh, as_of, model_dir, progress=progress,
                                  random_state=random_state, backtest=False, **options,
                                  **kwargs)
    return model
