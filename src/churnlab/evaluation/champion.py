"""Champion choice and training: backtest, choose, refit, save with a model card."""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from pathlib import Path

import pandas as pd

from churnlab.data import contract as S
from churnlab.data import lifecycle
from churnlab.errors import DataError, InputError
from churnlab.evaluation.backtest import (
    BACKTEST_ACCOUNTS,
    FOLLOW_UPS,
    BacktestPlan,
    plan_backtest,
    screened_backtest,
)
from churnlab.evaluation.metrics import concordance_differences
from churnlab.features import snapshot as F
from churnlab.features.landmark_rows import FrameLandmarks
from churnlab.features.landmarks import censor_at, monthly_dates, write_landmarks
from churnlab.memory import release_memory
from churnlab.models import survival_base
from churnlab.models.baselines import make_model
from churnlab.models.registry import package_versions, save_model
from churnlab.models.survival_base import (
    BASELINE_KINDS,
    CHAMPION_FILE,
    FEATURES_FILE,
    RENEWAL_AWARE_KINDS,
    SURVIVAL_KINDS,
    training_rows,
)
from churnlab.storage import write_json

log = logging.getLogger(__name__)

DEFAULT_LOOKBACK_MONTHS = 12
UNVALIDATED_KIND = "hazard_xgb"   # fitted by --no-backtest (renewal-aware, the usual champion)


def choose_champion(summary: pd.DataFrame, tie: float = 0.005) -> str:
    """The survival model with the highest mean Uno C; models within ``tie`` of it
    (about one paired bootstrap SE of a concordance difference on a few thousand rows:
    a difference that small is noise) are tied. Among tied models the renewal-aware
    ones (:data:`RENEWAL_AWARE_KINDS`: their P(churn before renewal) counts the renewal
    month's risk on the renewal date, where Cox and AFT spread it over continuous time
    and understate it for an account renewing in a few days) are preferred, then the
    best-calibrated 90-day probability (what CSMs and leadership read), then the lower
    integrated Brier score."""
    cands = summary.loc[[k for k in summary.index if k in SURVIVAL_KINDS]]
    near = cands[cands["uno_c"] >= cands["uno_c"].max() - tie]
    aware = near[near.index.isin(RENEWAL_AWARE_KINDS)]
    if len(aware):
        near = aware
    order = near.sort_values(["calibration_error_90d", "ibs"], na_position="last")
    return str(order.index[0])


def baseline_leads(bt, champion: str, baselines=("calendar", "tenure")) -> dict:
    """The champion's backtest concordance (Harrell, 90 days) minus each behaviour-free
    baseline's, on the same accounts and origins, with a paired bootstrap standard error:
    what behaviour adds over the contract calendar (within noise when it carries no
    signal)."""
    have = set(bt.scores["model"]) if len(bt.scores) else set()
    bases = [b for b in baselines if b in have and champion in have and b != champion]
    d = concordance_differences(bt.scores, champion, bases, n_bootstrap=100)
    return {b: {k: round(v, 4) for k, v in d[b].items()} for b in bases}


def champion_order(summary: pd.DataFrame) -> list[str]:
    """The survival models of ``summary`` from best to worst by :func:`choose_champion`
    (the next best is tried when the best fails its final fit)."""
    rest, order = summary.loc[[k for k in summary.index if k in SURVIVAL_KINDS]], []
    while len(rest):
        order.append(choose_champion(rest))
        rest = rest.drop(index=order[-1])
    return order


def _months(a: pd.Timestamp, b: pd.Timestamp) -> int:
    return (b.year - a.year) * 12 + (b.month - a.month)


def train_champion(wh, as_of, model_dir, progress: bool = False, origins=None,
                   n_origins: int = 3, step_months: int = 2, lookback_months: int | None = None,
                   models=SURVIVAL_KINDS + BASELINE_KINDS, landmarks: pd.DataFrame | None = None,
                   random_state: int = 0, grace_days: int = S.GRACE_DAYS,
                   backtest: bool = True, backtest_accounts: int | None = BACKTEST_ACCOUNTS,
                   **options):
    """Backtest, choose the champion, refit it on every label observable at ``as_of``
    and persist it.

    Parameters
    ----------
    wh : open, validated warehouse. as_of : training date (nothing after it is used).
    model_dir : folder; the model goes to ``model_dir/<model_id>/`` (model.joblib +
        card.json) and ``model_dir/champion.json`` names it.
    origins : backtest origins (default: :func:`plan_backtest`, ``n_origins`` every
        ``step_months`` with 180 days of follow-up before ``as_of``, fewer and shorter
        when the history is short; the card's ``backtest_plan`` says what was used).
    lookback_months : training window before each origin and before ``as_of`` (default
        12, shorter when the history is short).
    models : kinds to backtest (the champion is chosen among SURVIVAL_KINDS).
    landmarks : precomputed landmarks covering the window with labels seen at
        ``as_of`` (built here otherwise).
    backtest_accounts : past this many accounts the backtest screens every model on a
        seeded sample of that many and backtests the finalists on every account
        (:func:`screened_backtest`; None or 0: every model on every account). The card's
        ``backtest_screen`` says what was done; the final fit always uses every account.
    backtest : False fits :data:`UNVALIDATED_KIND` on what there is without a backtest;
        the card says ``"validated": false`` and every output that uses it says so.
    options : model options (``n_estimators``, ``max_depth``, ``n_features``...).

    Returns
    -------
    (model, card)
    """
    as_of = pd.Timestamp(as_of)
    plan = None
    if not backtest:
        start = (lifecycle.observation_start(wh).to_period("M") + 1).to_timestamp()
        lookback_months = max(1, min(lookback_months or DEFAULT_LOOKBACK_MONTHS,
                                     _months(start, as_of)))
        origins = []
    elif origins:
        plan = BacktestPlan([pd.Timestamp(o) for o in origins],
                            lookback_months or DEFAULT_LOOKBACK_MONTHS, FOLLOW_UPS[0])
    else:
        plan = plan_backtest(as_of, lifecycle.observation_start(wh), n_origins, step_months,
                             lookback_months or DEFAULT_LOOKBACK_MONTHS, grace_days)
    if plan is not None:
        if plan.adapted:
            log.warning("backtest: %s", plan.note)
        origins, lookback_months = plan.origins, plan.lookback_months
    if any(o >= as_of for o in origins):
        raise InputError(f"backtest origins must be before as_of {as_of.date()}: {origins}")
    first = min(origins or [as_of]) - pd.DateOffset(months=lookback_months)
    with tempfile.TemporaryDirectory(prefix="churnlab-landmarks-") as tmp:
        if landmarks is None:
            # built, written to disk and dropped: the backtest and the refit read back
            # one window at a time (a 50k book's table is 1.4 GB in memory)
            landmarks = write_landmarks(wh, monthly_dates(first, as_of - pd.Timedelta(days=1)),
                                        Path(tmp) / FEATURES_FILE, grace_days=grace_days,
                                        obs_end=as_of, progress=progress)
            wh.release_cache()      # DuckDB's buffers from the feature passes
            release_memory()        # and the freed heap
        else:
            landmarks = FrameLandmarks(censor_at(landmarks, as_of, grace_days) if
                                       pd.to_datetime(landmarks[F.LANDMARK]).max() >= as_of
                                       else landmarks)
        return _backtest_and_refit(wh, as_of, model_dir, landmarks, origins, plan, models,
                                   lookback_months, grace_days, random_state, progress,
                                   backtest, backtest_accounts, options)


def _backtest_and_refit(wh, as_of, model_dir, landmarks, origins, plan, models,
                        lookback_months, grace_days, random_state, progress, backtest,
                        backtest_accounts, options):
    """The backtest, the champion's choice and refit, its card and its folder."""
    bt, summary, failed, order = None, pd.DataFrame(), {}, [UNVALIDATED_KIND]
    screen = None
    if backtest:
        bt, screen = screened_backtest(landmarks, origins, models, lookback_months,
                                       grace_days, wh.signal_map, random_state, progress,
                                       max_train_accounts=backtest_accounts or None, **options)
        summary = bt.summary()
        failed = {f["model"]: f["error"] for f in bt.failures.to_dict("records")}
        order = champion_order(summary.drop(index=[k for k in failed if k in summary.index]))
        release_memory()
    train = training_rows(landmarks.between(as_of - pd.DateOffset(months=lookback_months),
                                            None), as_of, grace_days)
    model = None
    for champion in order:
        log.info("refit: %s on %d rows (%d accounts)", champion, len(train),
                 train[S.ACCOUNT_ID].nunique())
        try:
            model = make_model(champion, random_state, wh.signal_map, **options).fit(train)
            break
        except MemoryError:
            raise
        except Exception as exc:        # noqa: BLE001 - the next best model is tried
            failed[champion] = f"final fit: {type(exc).__name__}: {exc}"
            log.warning("champion %s failed to fit at %s (%s); trying the next best",
                        champion, as_of.date(), exc)
    if model is None:
        raise DataError("no time-to-churn model could be trained: " + "; ".join(
            f"{k}: {e}" for k, e in failed.items()))
    fingerprint = wh.fingerprint()
    key = json.dumps({"kind": champion, "as_of": str(as_of.date()), "data": fingerprint,
                      "options": options, "seed": random_state, "lookback": lookback_months},
                     sort_keys=True, default=str)
    model_id = f"{champion}-{as_of.date().isoformat()}-{hashlib.sha1(key.encode()).hexdigest()[:8]}"
    card = {"model_id": model_id, "kind": champion, "as_of": str(as_of.date()),
            "training_window": [str(pd.to_datetime(train[F.LANDMARK]).min().date()),
                                str(pd.to_datetime(train[F.LANDMARK]).max().date())],
            "training_rows": int(len(train)), "training_events": int(train[F.EVENT].sum()),
            "features": list(model.feature_names_), "options": options,
            "dropped_inputs": dict(getattr(model, "dropped_inputs_", {})),
            "failed_models": failed,
            "random_state": random_state, "lookback_months": lookback_months,
            "origins": [str(o.date()) for o in origins],
            "validated": bool(backtest),
            "backtest_accounts": int(backtest_accounts or 0),
            "backtest_screen": screen,
            "backtest_plan": plan.to_dict() if plan is not None else None,
            "lead_over_baselines": baseline_leads(bt, champion) if backtest else {},
            "backtest_summary": json.loads(summary.reset_index().to_json(orient="records"))
            if backtest else [],
            "backtest": json.loads(bt.metrics.to_json(orient="records", date_format="iso"))
            if backtest else [],
            "library_versions": package_versions(), "data_fingerprint": fingerprint,
            "months_ahead_offsets": [round(float(a), 4) for a in
                                     getattr(model, "month_offsets_", [])],
            "boosting_rounds": getattr(model, "n_trees_", None),
            "learning_rate": getattr(model, "learning_rate_", None),
            "method": survival_base.__doc__.split("Approach")[1].split("Remaining lifetime")[0].strip()
                      if champion.startswith("hazard") else model.__doc__}
    model.card_ = card
    model.model_id_ = model_id
    model.backtest_ = bt                # saved beside the model (save_model)
    log.info("saving %s", model_id)
    save_model(model, Path(model_dir) / model_id, landmarks=landmarks)
    write_json({"model_id": model_id, "path": model_id}, Path(model_dir) / CHAMPION_FILE)
    return model, card
