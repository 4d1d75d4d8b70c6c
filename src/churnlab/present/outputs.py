"""Output files of the book and the month (flat tables, packs, tasks)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from churnlab.actions.tasks import crm_tasks, next_steps
from churnlab.data import contract as S
from churnlab.pipeline.month import MonthlyRisk
from churnlab.present.packs import as_list, write_csm_packs
from churnlab.present.report_text import headline
from churnlab.storage import write_frame, write_json


# ------------------------------------------------------------------ outputs
def _flat(df: pd.DataFrame) -> pd.DataFrame:
    """Lists as ' | '-joined text (CSV)."""
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == object and out[c].map(
                lambda v: isinstance(v, (list, tuple, np.ndarray))).any():
            out[c] = out[c].map(lambda v: " | ".join(map(str, v))
                                if isinstance(v, (list, tuple, np.ndarray)) else v)
    return out


def write_outputs(r: MonthlyRisk, out_dir) -> dict:
    """The report's data files and CSM packs into ``out_dir`` (the report folder being
    built). Returns the headline figures."""

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    acc = r.accounts.copy()
    for c in acc.columns:       # only an object column can hold arrays
        if acc[c].dtype == object and acc[c].map(lambda v: isinstance(v, np.ndarray)).any():
            acc[c] = acc[c].map(lambda v: list(v) if isinstance(v, np.ndarray) else v)
    write_frame(acc, out / "accounts.parquet")
    flat = _flat(acc)
    write_frame(flat, out / "accounts.csv")
    write_frame(flat, out / "accounts.json")
    write_frame(r.tasks, out / "tasks.csv")
    previous = pd.DataFrame({S.ACCOUNT_ID: r.accounts[S.ACCOUNT_ID],
                             "tier": r.accounts["tier_last_month"].replace("new", None)})
    note = f"Tiers: {r.cuts.words()}."
    write_csm_packs(r.accounts, out / "packs", r.as_of, previous=previous.dropna(),
                    tier_note=note, tasks=r.tasks, recaps=r.recaps)
    steps = next_steps(r.accounts, r.tasks, r.as_of)
    write_frame(crm_tasks(steps, r.accounts), out / "crm_tasks.csv")
    h = headline(r)
    write_json(h, out / "summary.json")
    return h


def flat_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy with list/dict cells turned into text (lists joined by `` | ``), for CSV."""
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == object and out[c].map(lambda v: isinstance(v, (list, tuple, dict,
                                                                          np.ndarray))).any():
            out[c] = [" | ".join(as_list(v)) if not isinstance(v, dict) else json.dumps(v)
                      for v in out[c]]
    return out


def write_explain_outputs(book, out_dir, previous: pd.DataFrame | None = None) -> dict:
    """Write a :class:`churnlab.pipeline.book.Book` to ``out_dir``: ``accounts.parquet``
    and ``accounts.csv`` (the triage table with the family SHAP columns),
    ``tasks.csv`` (the alert tasks), ``crm_tasks.csv`` (one next step per account to
    work, in CRM import columns), ``importance.csv`` (learned vs default family weights)
    and ``packs/`` (one HTML/CSV/JSON per CSM). Every file is written atomically.
    Returns name -> path."""

    out_dir = Path(out_dir)
    fam_cols = [c for c in book.explanations.columns
                if c.startswith(("family__", "pshare__")) or c in ("risk_score", "base_value",
                                                                    "p_next_month")]
    table = book.triage.merge(book.explanations[[S.ACCOUNT_ID] + fam_cols], on=S.ACCOUNT_ID,
                              how="left")
    parquet = table.copy()
    parquet["root_cause_votes"] = [json.dumps(v) for v in parquet["root_cause_votes"]]
    paths = {
        "accounts_parquet": write_frame(parquet, out_dir / "accounts.parquet"),
        "accounts_csv": write_frame(flat_frame(table), out_dir / "accounts.csv"),
        "tasks": write_frame(book.tasks, out_dir / "tasks.csv"),
        "importance": write_frame(book.importance, out_dir / "importance.csv"),
        "crm_tasks": write_frame(crm_tasks(next_steps(book.triage, book.tasks, book.as_of),
                                           book.triage), out_dir / "crm_tasks.csv"),
    }
    paths["packs"] = write_csm_packs(book.triage, out_dir / "packs", book.as_of, previous,
                                     tasks=book.tasks, recaps=book.recaps)
    return paths
