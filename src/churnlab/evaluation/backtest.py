"""The rolling-origin backtest: train before each origin, score at it, judge after."""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from churnlab.data import contract as S
from churnlab.errors import DataError, InputError
from churnlab.evaluation.metrics import evaluate_scores
from churnlab.features import snapshot as F
from churnlab.features.landmark_rows import landmark_rows
from churnlab.memory import release_memory
from churnlab.models.baselines import make_model
from churnlab.models.survival_base import (
    BASELINE_KINDS,
    RENEWAL_AWARE_KINDS,
    SURVIVAL_KINDS,
    training_rows,
)

log = logging.getLogger(__name__)


class HistoryTooShortError(DataError):
    """The data's history is shorter than any backtest needs."""


# ------------------------------------------------------------------ backtest
@dataclass
class Backtest:
    """Rolling-origin backtest: metrics per model and origin, and the scored rows."""

    metrics: pd.DataFrame      # model, origin, metrics...
    scores: pd.DataFrame       # origin, account_id, model, risk, p90, duration, churned, arr
    folds: pd.DataFrame        # origin, train_first, train_last, last_label_date, rows
    failures: pd.DataFrame = field(     # model, origin, error: fits that failed (left out)
        default_factory=lambda: pd.DataFrame(columns=["model", "origin", "error"]))

    @property
    def failed_models(self) -> list[str]:
        return sorted(set(self.failures["model"])) if len(self.failures) else []

    def summary(self) -> pd.DataFrame:
        cols = ["harrell_c", "uno_c", "auc_90", "auc_180", "ibs", "ibs_km",
                "calibration_error_90d", "top_decile_lift", "churned_arr_top10"]
        return self.metrics.groupby("model", sort=False)[cols].mean()


def default_origins(as_of, n_origins: int = 3, step_months: int = 2,
                    follow_up_days: int = 180, grace_days: int = S.GRACE_DAYS):
    """Monthly origins whose ``follow_up_days`` (+ grace) are observed by ``as_of``."""
    last = pd.Timestamp(as_of) - pd.Timedelta(days=follow_up_days + grace_days)
    last = last.to_period("M").to_timestamp()
    return [last - pd.DateOffset(months=step_months * i) for i in range(n_origins)][::-1]


# past this many accounts the backtest screens every model on a seeded sample of them and
# backtests only the finalists on every account: see benchmarks/RESULTS_train_budget.md
BACKTEST_ACCOUNTS = 5_000
SCREEN_MARGIN = 0.01    # survival models within this of the screen's best Uno C go on
MIN_LOOKBACK_MONTHS = 3       # the shortest training window a backtest origin may have
FOLLOW_UPS = (180, 90)        # days after an origin that must be observed, longest first


@dataclass
class BacktestPlan:
    """Where the backtest stands in time: its origins, the training window before each,
    the follow-up after it, and whether the defaults were shortened for a short history
    (``note`` says how, in words)."""

    origins: list
    lookback_months: int
    follow_up_days: int
    adapted: bool = False
    note: str = ""

    def to_dict(self) -> dict:
        return {"origins": [str(o.date()) for o in self.origins],
                "lookback_months": self.lookback_months,
                "follow_up_days": self.follow_up_days, "adapted": self.adapted,
                "note": self.note}


def _months_between(a: pd.Timestamp, b: pd.Timestamp) -> int:
    return (b.year - a.year) * 12 + (b.month - a.month)


def plan_backtest(as_of, data_start, n_origins: int = 3, step_months: int = 2,
                  lookback_months: int = 12, grace_days: int = S.GRACE_DAYS) -> BacktestPlan:
    """The defaults when the history allows them; otherwise fewer origins, a shorter
    training window (down to :data:`MIN_LOOKBACK_MONTHS`) and then a 90-day follow-up,
    in that order. Raises :class:`DataError` naming the data's span, the minimum and
    the options that would work when even that does not fit."""
    as_of, start = pd.Timestamp(as_of), pd.Timestamp(data_start)
    first_usable = (start.to_period("M") + 1).to_timestamp()     # a month of history
    for follow_up in FOLLOW_UPS:
        for n in range(n_origins, 0, -1):
            origins = default_origins(as_of, n, step_months, follow_up, grace_days)
            room = _months_between(first_usable, min(origins))
            lookback = min(lookback_months, room)
            if lookback >= MIN_LOOKBACK_MONTHS:
                plan = BacktestPlan(origins, lookback, follow_up)
                changes = []
                if n < n_origins:
                    changes.append(f"{n} origin{'s' if n > 1 else ''} instead of {n_origins}")
                if lookback < lookback_months:
                    changes.append(f"{lookback} months of training before each instead of "
                                   f"{lookback_months}")
                if follow_up < FOLLOW_UPS[0]:
                    changes.append(f"a {follow_up}-day follow-up instead of {FOLLOW_UPS[0]}")
                if changes:
                    plan.adapted = True
                    plan.note = (f"the data's history ({start.date()} to {as_of.date()}) is "
                                 f"too short for the default backtest: " + ", ".join(changes))
                return plan
    months = _months_between(start, as_of)
    need = MIN_LOOKBACK_MONTHS + 1 + int(np.ceil((FOLLOW_UPS[-1] + grace_days) / 30.4)) + 1
    raise HistoryTooShortError(
        f"the data cover {start.date()} to {as_of.date()} ({months} months): a backtest needs "
        f"about {need} months ({MIN_LOOKBACK_MONTHS} months of training, "
        f"{FOLLOW_UPS[-1]} days of follow-up and the {grace_days}-day grace period after "
        f"an origin). Train without validation (churnlab train --no-backtest), or give "
        f"--origins/--lookback-months that fit, or use a later --as-of")


def training_sample(landmarks, max_accounts: int | None,
                    seed: int = 0) -> np.ndarray | None:
    """The account ids the backtest trains on: None (every account) when the landmarks
    hold at most ``max_accounts`` accounts (or no cap), else a seeded random sample of
    ``max_accounts`` of them, the same at every origin. Deterministic for the same data."""
    ids = landmark_rows(landmarks).account_ids()
    if not max_accounts or len(ids) <= max_accounts:
        return None
    return np.random.default_rng(seed).choice(ids, size=int(max_accounts), replace=False)


def run_backtest(landmarks, origins, models=SURVIVAL_KINDS + BASELINE_KINDS,
                 lookback_months: int = 12, grace_days: int = S.GRACE_DAYS,
                 signal_map=None, random_state: int = 0, progress: bool = False,
                 max_train_accounts: int | None = None, jobs: int | None = None,
                 **options) -> Backtest:
    """For each origin: train every model on landmarks before it (labels censored as
    observable at the origin, :func:`training_rows`), score the landmark rows *at* the
    origin (features before it), and judge them on outcomes seen at the landmarks'
    observation end. ``landmarks``: a DataFrame or a
    :class:`~churnlab.features.landmark_rows.ParquetLandmarks` (each origin's rows are
    then read from disk when its fits start).

    ``max_train_accounts``: past this many accounts, every model is trained on the rows
    of the same seeded sample of that many accounts (:func:`training_sample`) and still
    judged on *every* account at the origin. Model choice compares the models at equal
    data; the champion is then refitted on all rows, so the backtest's figures are a
    slightly conservative estimate of it (``folds`` records ``train_accounts``).

    ``jobs``: the fits run in this many worker processes (default :func:`default_jobs`);
    one when an origin's training rows are too large to copy into each worker
    (:data:`PARALLEL_MAX_BYTES`). The figures agree either way up to floating-point
    summation order (a worker's linear algebra runs on fewer threads)."""
    rows, mrows, frows, failures = [], [], [], []
    landmarks = landmark_rows(landmarks)
    sample = training_sample(landmarks, max_train_accounts, random_state)
    if sample is not None:
        log.info("backtest: training on a sample of %d accounts (of %d); judged on all",
                 len(sample), len(landmarks.account_ids()))
    origins = list(dict.fromkeys(pd.Timestamp(o) for o in origins))

    def fold(origin):
        """The origin's training rows (before it) and scored rows (at it), read from the
        landmarks one window at a time."""
        first = origin - pd.DateOffset(months=lookback_months)
        train = training_rows(landmarks.between(first, origin - pd.Timedelta(1, "ns"),
                                                accounts=sample), origin, grace_days)
        test = landmarks.between(origin, origin)
        if test.empty:
            raise InputError(f"no landmark rows at origin {origin.date()}: origins must "
                             "be landmark dates")
        frows.append(_fold_row(origin, train, test))
        return train, test

    folds = {origins[0]: fold(origins[0])}
    jobs = _jobs(jobs, folds[origins[0]][0].memory_usage(index=False).sum())
    n_fits = len(origins) * len(models)
    if jobs > 1:
        log.info("backtest: %d fits in %d processes", n_fits, jobs)

        def tasks():        # an origin's rows are read when its first fit is handed out
            for o in origins:
                train, test = folds.pop(o) if o in folds else fold(o)
                for kind in models:
                    yield kind, o, train, test
        done = _in_processes(tasks(), jobs, random_state, signal_map, options)
    else:       # one origin's rows at a time: a large book's folds do not all fit at once
        def serial():
            for o in origins:
                train, test = folds.pop(o) if o in folds else fold(o)
                for kind in models:
                    yield _fit_and_judge(kind, o, train, test, random_state, signal_map,
                                         options)
                    release_memory()    # a large fit's transients, before the next
                del train, test
                release_memory()
        done = serial()
    if progress:
        from tqdm.auto import tqdm
        done = tqdm(done, total=n_fits, desc="backtest", unit="fit")
    for m, scored, failure, message in done:
        if failure is not None:
            log.warning(message)
            failures.append(failure)
            continue
        log.info(message)
        mrows.append(m)
        rows.append(scored)
    if not rows:
        raise DataError("every model failed in the backtest: " + "; ".join(
            f"{f['model']} at {f['origin'].date()}: {f['error']}" for f in failures))
    return Backtest(pd.DataFrame(mrows), pd.concat(rows, ignore_index=True),
                    pd.DataFrame(frows),
                    pd.DataFrame(failures, columns=["model", "origin", "error"]))


# the fits of a backtest run in worker processes (each takes a copy of its origin's rows)
# while an origin's training rows hold at most this many bytes (pandas' shallow count: the
# numeric columns, which are nearly all of it); past it (the finalists of a large book) one
# process, so that memory does not double
PARALLEL_MAX_BYTES = 400 * 2**20


def default_jobs() -> int:
    """Worker processes for the backtest: ``$CHURNLAB_JOBS``, else the machine's cores,
    at most 4 (each worker holds a copy of its origin's rows; more than 2 is unmeasured)."""
    env = os.environ.get("CHURNLAB_JOBS", "").strip()
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            raise InputError(f"CHURNLAB_JOBS={env!r}: expected a whole number of processes")
    return max(1, min(4, os.cpu_count() or 1))


def _jobs(jobs: int | None, train_bytes: int) -> int:
    jobs = default_jobs() if jobs is None else max(1, int(jobs))
    return jobs if train_bytes <= PARALLEL_MAX_BYTES else 1


AHEAD = 3       # fits handed out per worker before the first result is waited for


def _in_processes(tasks, jobs: int, random_state, signal_map, options):
    """The tasks' results in order, computed by ``jobs`` worker processes (loky: fresh
    interpreters, safe with xgboost's and DuckDB's threads). Each worker's BLAS/OpenMP
    pools and xgboost's threads get its share of the cores (unless ``options`` set
    ``n_jobs``): more threads than cores make OpenMP's waiting threads spin on cores the
    other worker needs; xgboost's trees do not depend on its thread count (tested). The
    workers are stopped at the end: they hold no memory while training goes on."""
    from joblib.externals.loky import get_reusable_executor

    share = str(max(1, (os.cpu_count() or 1) // jobs))
    options = {"n_jobs": int(share), **options}
    executor = get_reusable_executor(max_workers=jobs, env={
        v: share for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")})
    pending: deque = deque()
    try:
        for t in tasks:     # a few fits ahead of the results: one or two origins' rows held
            pending.append(executor.submit(_in_worker, *t, random_state, signal_map, options))
            if len(pending) >= AHEAD * jobs:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        executor.shutdown(wait=True)


def _in_worker(*args):
    """:func:`_fit_and_judge` in a worker, then the freed heap handed back to the system.
    Without the trim a worker's resident memory stays at its largest fit's, loky takes
    that for a leak (over 300 MB above its start) and replaces the worker: a fresh
    interpreter that imports everything again, and a "worker stopped" warning."""
    try:
        return _fit_and_judge(*args)
    finally:
        release_memory()        # without glibc nothing is trimmed: the worker may be replaced


def _fold_row(origin, train: pd.DataFrame, test: pd.DataFrame) -> dict:
    landmark = pd.to_datetime(train[F.LANDMARK])
    return {"origin": origin, "train_first": landmark.min(), "train_last": landmark.max(),
            "last_label_date": (landmark + pd.to_timedelta(train[F.DURATION], "D")).max(),
            "last_churn_date": pd.to_datetime(train[F.CHURN_DATE]).max(), "rows": len(train),
            "train_accounts": int(train[S.ACCOUNT_ID].nunique()),
            "events": int(train[F.EVENT].sum()), "test_rows": len(test)}


def _fit_and_judge(kind: str, origin, train: pd.DataFrame, test: pd.DataFrame,
                   random_state: int, signal_map, options: dict):
    """One model at one origin: ``(metrics, scored rows, None, log line)``, or
    ``(None, None, failure, warning)`` when it fails (one model's failure never stops
    the others). Runs in a worker process when the backtest is parallel."""
    try:
        t0 = time.perf_counter()
        model = make_model(kind, random_state, signal_map, **options).fit(train)
        t_fit = time.perf_counter() - t0
        risk = model.risk_score(test)
        p90, surv_fn, p_renewal = None, None, None
        if model.has_survival:
            surv_fn = model.survival_curve(test)    # one projection for every call
            p90 = 1 - surv_fn([90.0])[:, 0]
            p_renewal = 1 - model.predict_survival_at(
                test, np.maximum(test["days_to_renewal"].to_numpy(float), 0), surv_fn)
            risk = p90      # survival models are ranked by P(churn within 90 days)
        if not np.isfinite(np.asarray(risk, float)).all():
            raise FloatingPointError("non-finite risk scores")
        m = evaluate_scores(test, risk, train, surv_fn, p90, p_renewal=p_renewal)
    except MemoryError:
        raise
    except Exception as exc:        # noqa: BLE001 - recorded, shown on the card
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        return None, None, {"model": kind, "origin": origin, "error": reason}, (
            f"backtest: {kind} failed at origin {origin.date()} ({reason}); left out of the "
            "champion choice")
    # where the time goes (logged, not on the card: reruns must give identical files)
    message = (f"backtest: {kind} at {origin.date()}: fit {t_fit:.1f} s, score and judge "
               f"{time.perf_counter() - t0 - t_fit:.1f} s on {len(train)} rows")
    scored = pd.DataFrame({"origin": origin, "model": kind, S.ACCOUNT_ID: test[S.ACCOUNT_ID],
                           "risk": risk, "p90": p90 if p90 is not None else np.nan,
                           "p_renewal": p_renewal if p_renewal is not None else np.nan,
                           F.DURATION: test[F.DURATION], F.EVENT: test[F.EVENT],
                           S.ARR: test[S.ARR], "term_months": test[S.TERM_MONTHS]})
    return {"model": kind, "origin": origin, **m}, scored, None, message


def screened_backtest(landmarks, origins, models=SURVIVAL_KINDS + BASELINE_KINDS,
                      lookback_months: int = 12, grace_days: int = S.GRACE_DAYS,
                      signal_map=None, random_state: int = 0, progress: bool = False,
                      max_train_accounts: int | None = BACKTEST_ACCOUNTS,
                      margin: float = SCREEN_MARGIN, jobs: int | None = None,
                      **options) -> tuple[Backtest, dict | None]:
    """:func:`run_backtest` on every account when the book has at most
    ``max_train_accounts`` accounts. Past that, in two stages: a *screen* trains every
    model on a seeded sample of ``max_train_accounts`` accounts (judged on every account
    at each origin), then the *finalists*, the survival models whose screened mean Uno C
    is within ``margin`` of the best and the best renewal-aware one (a small sample
    favours models with few parameters; the champion rule prefers renewal-aware ones),
    are backtested again on every account. The
    finalists' rows come from the full run, so the champion's figures are what a full
    backtest gives; the other models' rows are the screen's (trained on less data, a
    little pessimistic) and ``metrics['train_accounts']`` says which is which.

    Returns ``(backtest, screen)``; ``screen`` is None without a sample, else
    ``{"accounts": sample size, "of": accounts in the landmarks, "finalists": [...]}``."""
    common = dict(lookback_months=lookback_months, grace_days=grace_days,
                  signal_map=signal_map, random_state=random_state, progress=progress,
                  jobs=jobs)
    landmarks = landmark_rows(landmarks)
    if training_sample(landmarks, max_train_accounts, random_state) is None:
        return _with_accounts(run_backtest(landmarks, origins, models, **common, **options)), None
    screen = _with_accounts(run_backtest(landmarks, origins, models,
                                         max_train_accounts=max_train_accounts,
                                         **common, **options))
    summary = screen.summary()
    survival = summary.loc[[k for k in summary.index if k in SURVIVAL_KINDS], "uno_c"]
    aware = survival[survival.index.isin(RENEWAL_AWARE_KINDS)]
    finalists = [k for k in models if k in survival.index and
                 (survival[k] >= survival.max() - margin or
                  (len(aware) and k == aware.idxmax()))]
    screen_info = {"accounts": int(max_train_accounts),
                   "of": len(landmarks.account_ids()), "finalists": finalists}
    if not finalists:       # no survival model passed the screen: the champion fit says so
        return screen, screen_info
    log.info("backtest: screened %d models on %d accounts; finalists on every account: %s",
             len(models), max_train_accounts, ", ".join(finalists))
    full = _with_accounts(run_backtest(landmarks, origins, tuple(finalists), **common,
                                       **options))
    keep = ~screen.metrics["model"].isin(finalists)
    metrics = pd.concat([full.metrics, screen.metrics[keep]], ignore_index=True)
    order = {k: i for i, k in enumerate(models)}
    metrics = metrics.sort_values(["origin", "model"], key=lambda c: c.map(order)
                                  if c.name == "model" else c, kind="stable")
    scores = pd.concat([full.scores, screen.scores[~screen.scores["model"].isin(finalists)]],
                       ignore_index=True)
    folds = full.folds.assign(screen_train_accounts=screen.folds["train_accounts"].to_numpy())
    failures = pd.concat([f for f in (full.failures, screen.failures[
        ~screen.failures["model"].isin(finalists)]) if len(f)] or [full.failures],
        ignore_index=True)
    return Backtest(metrics.reset_index(drop=True), scores, folds, failures), screen_info


def _with_accounts(bt: Backtest) -> Backtest:
    """``metrics['train_accounts']``: the accounts each model trained on at its origin."""
    if len(bt.metrics) and len(bt.folds):
        per = bt.folds.set_index("origin")["train_accounts"]
        bt.metrics["train_accounts"] = bt.metrics["origin"].map(per).astype(int)
    return bt
