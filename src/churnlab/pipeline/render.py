"""The monthly risk report: what it computes, how it is rendered, where it lands.

What a month means
------------------
The report for month ``YYYY-MM`` is written after that month closes: it uses the data
up to the month's last day, so its **as-of date** is the first day of the next month
(the report for 2026-10 is as of 2026-11-01) and its forecasts look forward from there.
"Last month" is the same computation one month earlier (as of 2026-10-01): the tier
movements compare the two dates, and *last month's forecast vs what happened* compares
the probability, made at 2026-10-01, that each active account would leave during
October with whether it did leave (no active subscription on 2026-11-01).

The forecast on record is the previous report's ``accounts.parquet`` when that report
exists in the output folder. Otherwise it is re-created honestly: the current model
scores the 2026-10-01 snapshot. The model cannot have learnt October's outcomes,
because a churn is only confirmed (and so only used as a training label) 30 days
(the grace period) after the subscription ends, and the model was trained at or before
2026-11-01; a model trained after the report's as-of date is refused.

Rendering
---------
The template ``churnlab/templates/monthly_risk_report.py`` (a jupytext percent script
shipped inside the package, :data:`churnlab.catalog.REPORT_TEMPLATE`) is executed by
papermill with a ``parameters`` cell of literals (:data:`PARAMETERS`). The data are
opened and validated once, the model loaded once and the month computed once, in the
calling process (:func:`churnlab.pipeline.month.compute_month`); the notebook receives
the computed month as a file (``month_file``) and only presents it. Opened on its own
(``month_file`` empty) the notebook computes the month from ``data_dir`` and
``model_path`` itself. The
executed notebook is converted to a self-contained HTML page by :func:`notebook_html`:
no code, no parameters cell, no stream output (progress, warnings), images embedded as
base64, inline CSS with a print layout, and no script or stylesheet fetched from
anywhere. A failed cell fails the command and nothing is written.

Output folder (written atomically: built in a temporary folder beside it, then moved)::

    reports/YYYY-MM/
        report.html       for leadership
        report.ipynb      the executed notebook, for analysts
        accounts.parquet / accounts.csv / accounts.json   one row per active account
        tasks.csv         CRM-importable tasks
        packs/            one HTML + CSV + JSON per CSM
        summary.json      the headline figures
        manifest.json     parameters, data fingerprint, model card, versions, git, files
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import logging
import subprocess
import time
from pathlib import Path

import joblib

from churnlab.actions.risk_language import DEFAULT_CUTS, RiskCuts
from churnlab.catalog import REPORT_TEMPLATE
from churnlab.data.validation import require_valid
from churnlab.data.warehouse import open_warehouse
from churnlab.errors import InputError, OutputExistsError, RenderError
from churnlab.models.registry import load_model, package_versions
from churnlab.pipeline.month import compute_month
from churnlab.pipeline.months import HORIZONS, check_month, month_dates, parse_month
from churnlab.pipeline.train import load_or_train
from churnlab.present.html import notebook_html
from churnlab.present.notebook import NotebookCellError, run_notebook
from churnlab.storage import atomic_dir, folder_lock, write_json

log = logging.getLogger(__name__)

# The template's parameters and their meaning (papermill's inspection must return these).
PARAMETERS = {
    "month": "report month YYYY-MM (as of the first day of the next month)",
    "data_dir": "input data: folder of Parquet/CSV tables, or a DuckDB file",
    "model_path": "trained model folder, or a model dir holding champion.json",
    "month_file": "the month computed by churnlab report ('' = compute it here)",
    "out_dir": "folder the report's data files and CSM packs are written to",
    "previous_dir": "last month's report folder ('' when none): its forecast is on record",
    "horizon_days": "forecast horizon for ARR at risk: 30, 90 or 180",
    "segment": "only this segment ('' = all)",
    "top_n": "rows in the top at-risk accounts table",
}
MONTH_FILE = ".month.joblib"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _git_revision() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def resolve_model(wh, as_of, model_path=None, model_dir=None, progress: bool = False,
                  **train_options):
    """The model to use, loaded once: ``model_path`` when given; otherwise the champion
    of ``model_dir`` under the one reuse rule of :func:`churnlab.pipeline.train.
    load_or_train` (trained anew when it does not hold). Returns ``(model, folder)``."""
    if model_path:
        return load_model(model_path), Path(model_path)
    if model_dir is None:
        raise InputError("give a model (--model) or a model folder to train into")
    return (load_or_train(wh, as_of, model_dir, progress=progress, **train_options),
            Path(model_dir))


def saved_features(model, wh):
    """The landmark rows saved with ``model`` (its training features) when they were
    computed from these very inputs (same data fingerprint, signal map included), else
    None: a report reuses them for the dates it needs (last month's snapshot, the
    expansion model's monthly dates) instead of reading the events again."""
    path = getattr(model, "features_file_", None)
    if path is None or model.card.get("data_fingerprint") != wh.fingerprint():
        return None
    log.info("      reusing the features saved with the model where they hold a date (%s)",
             path)
    return path


def render_report(month: str, data, out="reports", model=None, model_dir=None,
                  force: bool = False, horizon_days: int = 90, segment: str = "",
                  top_n: int = 15, progress: bool = False, signal_map=None,
                  cuts: RiskCuts = DEFAULT_CUTS, history=None, **train_options) -> Path:
    """Render ``out/YYYY-MM/`` (see the module doc). An existing month is refused unless
    ``force``, which replaces it atomically; any failure leaves nothing behind.
    ``history``: feature rows already built from the same data (the landmark dataset),
    reused where they hold a date the month needs (:func:`compute_month`); by default
    the landmark rows saved with the model, when built from the same inputs
    (:func:`saved_features`)."""
    logging.getLogger("papermill").setLevel(logging.WARNING)   # its INFO lines are noise here
    t0 = time.perf_counter()
    period = parse_month(month)
    if int(horizon_days) not in HORIZONS:
        raise InputError(f"horizon must be one of {HORIZONS} days, not {horizon_days}")
    out = Path(out)
    target = out / str(period)
    with folder_lock(target, f"churnlab report for {period}"):
        if target.exists() and any(target.iterdir()) and not force:
            raise OutputExistsError(f"{target} already holds the {period} report: pass "
                                    "--force to replace it (atomically)")
        data = Path(data).resolve()
        prev_as_of, as_of = month_dates(period)
        previous = out / str(period - 1)
        previous_dir = previous.resolve() if (previous / "accounts.parquet").is_file() else None
        log.info("[1/4] validating %s", data)
        with open_warehouse(data, signal_map=signal_map) as wh:
            require_valid(wh)
            check_month(wh, period)
            log.info("[2/4] model for %s (as of %s)", period, as_of.date())
            fitted, model_path = resolve_model(wh, as_of, model, model_dir, progress,
                                               **train_options)
            if history is None:
                history = saved_features(fitted, wh)
            log.info("[3/4] scoring, explaining and triaging the book at %s", as_of.date())
            r = compute_month(wh, period, fitted, horizon_days=horizon_days, segment=segment,
                              top_n=top_n, previous_dir=previous_dir, progress=progress,
                              cuts=cuts, history=history)
            fingerprint = wh.fingerprint()
        card = fitted.card
        params = {"month": str(period), "data_dir": str(data),
                  "model_path": str(Path(model_path).resolve()), "month_file": "", "out_dir": "",
                  "previous_dir": str(previous_dir or ""), "horizon_days": int(horizon_days),
                  "segment": segment or "", "top_n": int(top_n)}
        with atomic_dir(target, overwrite=force) as tmp:
            month_file = tmp / MONTH_FILE
            joblib.dump(r, month_file)
            params.update(out_dir=str(tmp.resolve()), month_file=str(month_file.resolve()))
            log.info("[4/4] presenting the month (papermill) and writing the HTML")
            try:
                nb_path = run_notebook(REPORT_TEMPLATE, tmp / "report.ipynb", params,
                                       progress=progress)
            except NotebookCellError as exc:
                raise RenderError(f"the report notebook failed in cell {exc.exec_count}: "
                                  f"{exc.ename}: {exc.evalue}") from exc
            finally:
                month_file.unlink(missing_ok=True)
            title = f"Churn risk report · {period}" + (f" · {segment}" if segment else "")
            footer = (f"churnlab · data {fingerprint[:12]} · model {card.get('model_id')} · "
                      f"as of {as_of.date()}")
            page = notebook_html(nb_path, title, footer)
            (tmp / "report.html").write_text(page, encoding="utf-8")
            manifest_params = dict(params, out_dir=str(target.resolve()), month_file="")
            files = {str(p.relative_to(tmp)): _sha256(p) for p in sorted(tmp.rglob("*"))
                     if p.is_file()}
            write_json({"month": str(period), "as_of": str(as_of.date()),
                        "previous_as_of": str(prev_as_of.date()), "parameters": manifest_params,
                        "data": str(data), "data_fingerprint": fingerprint,
                        "model_id": card.get("model_id"), "model_card": card,
                        "library_versions": {**package_versions(), **_report_versions()},
                        "git_revision": _git_revision(), "files": files}, tmp / "manifest.json")
    log.info("done in %.0fs -> %s", time.perf_counter() - t0, target / "report.html")
    return target


def _report_versions() -> dict:
    out = {}
    for pkg in ("papermill", "nbformat", "shap", "matplotlib", "duckdb", "pyarrow"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    return out
