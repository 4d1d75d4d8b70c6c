"""Landmark datasets: point-in-time snapshots at many as-of dates with survival labels."""

from __future__ import annotations

import logging
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from churnlab.data import contract as S
from churnlab.data import lifecycle
from churnlab.errors import InputError
from churnlab.features.landmark_rows import (
    DateGroupWriter,
    ParquetLandmarks,
    SchemaMismatch,
    write_by_date,
)
from churnlab.features.snapshot import (
    CHURN_DATE,
    DURATION,
    EVENT,
    LANDMARK,
    WINDOWS,
    make_snapshots,
    snapshot_passes,
)

log = logging.getLogger(__name__)


def monthly_dates(start, end) -> list[pd.Timestamp]:
    """First days of the months in ``[start, end]``."""
    first = pd.Timestamp(start).to_period("M").to_timestamp()
    if first < pd.Timestamp(start):
        first = first + pd.offsets.MonthBegin(1)
    return list(pd.date_range(first, pd.Timestamp(end), freq="MS"))


def attach_labels(snapshot: pd.DataFrame, outcomes: pd.DataFrame,
                  obs_end) -> pd.DataFrame:
    """Add survival labels to a snapshot: days from the landmark to churn (event=1)
    or to ``obs_end`` (censored, event=0), from :func:`lifecycle.churn_outcomes`.

    The labels are worked out on the (landmark, account) keys alone and then set on the
    rows, so a large landmark table is not copied by a merge."""
    obs_end = pd.Timestamp(obs_end)
    keys = snapshot[[LANDMARK, S.ACCOUNT_ID]].reset_index(drop=True)
    keys["_row"] = np.arange(len(keys))
    spans = outcomes[[S.ACCOUNT_ID, "span_start", "span_end", "churned", "churn_date"]]
    merged = keys.merge(spans, on=S.ACCOUNT_ID, how="inner")
    t = pd.to_datetime(merged[LANDMARK])
    in_span = (merged["span_start"] <= t) & (merged["span_end"].isna() | (merged["span_end"] > t))
    merged, t = merged[in_span], t[in_span]
    churned = merged["churned"].fillna(False).astype(bool)
    end = pd.to_datetime(merged["churn_date"].where(churned, obs_end))
    rows = merged["_row"].to_numpy()
    if len(rows) == len(snapshot) and (rows == np.arange(len(rows))).all():
        out = snapshot.reset_index(drop=True)       # every row in a span, in order
    else:
        out = snapshot.iloc[rows].reset_index(drop=True)
    out[EVENT] = churned.astype(int).to_numpy()
    out[CHURN_DATE] = pd.to_datetime(merged["churn_date"].where(churned)).to_numpy()
    out[DURATION] = (end - t).dt.days.astype(int).to_numpy()
    order = np.lexsort((out[S.ACCOUNT_ID].to_numpy(), out[LANDMARK].to_numpy()))
    if (np.diff(order) < 0).any():
        out = out.iloc[order].reset_index(drop=True)
    return out


def make_landmarks(wh, as_of_dates: Iterable, windows: Sequence[int] = WINDOWS,
                   grace_days: int = S.GRACE_DAYS, obs_end=None,
                   progress: bool = False) -> pd.DataFrame:
    """Stack snapshots at several as-of dates and label them for survival models.

    Each row: landmark date, account, features at the landmark, ``duration_days`` to
    churn or censoring, ``churned`` (1/0). Labels are seen from ``obs_end`` (default:
    the data's end); use :func:`censor_at` to see them as they were at an earlier date.
    """
    dates, outcomes, obs_end = _plan(wh, as_of_dates, grace_days, obs_end, progress)
    return attach_labels(make_snapshots(wh, dates, windows, grace_days), outcomes, obs_end)


def write_landmarks(wh, as_of_dates: Iterable, path, windows: Sequence[int] = WINDOWS,
                    grace_days: int = S.GRACE_DAYS, obs_end=None, progress: bool = False,
                    max_rows_per_pass: int | None = None) -> ParquetLandmarks:
    """:func:`make_landmarks` written to Parquet one pass over the events at a time (one
    row group per date, as :func:`write_by_date` writes the whole table), so that a
    large book's landmark table is never whole in memory. Returns the file's reader.
    Should a later pass's values not fit the first pass's column types, the table is
    built whole and written at once instead: the same file either way."""
    dates, outcomes, obs_end = _plan(wh, as_of_dates, grace_days, obs_end, progress)
    passes = snapshot_passes(wh, dates, windows, grace_days, max_rows_per_pass)
    first = attach_labels(next(passes), outcomes, obs_end)
    try:
        with DateGroupWriter(path, first) as writer:
            writer.write(first)
            del first
            for part in passes:
                writer.write(attach_labels(part, outcomes, obs_end))
    except SchemaMismatch as exc:
        log.warning("landmarks: %s; building the table whole", exc)
        write_by_date(make_landmarks(wh, dates, windows, grace_days, obs_end), path)
    return ParquetLandmarks(path)


def _plan(wh, as_of_dates, grace_days, obs_end, progress):
    """The sorted landmark dates (each before the data's end), the churn outcomes and
    the observation end the labels are seen from."""
    obs_end = lifecycle.observation_end(wh) if obs_end is None else pd.Timestamp(obs_end)
    outcomes = lifecycle.churn_outcomes(wh, grace_days, obs_end)
    dates = sorted({pd.Timestamp(d) for d in as_of_dates})
    if not dates:
        raise InputError("no landmark dates given")
    late = [d for d in dates if d >= obs_end]
    if late:
        raise InputError(f"landmark {late[0].date()} is not before the data's end {obs_end.date()}")
    if progress:
        log.info("landmarks: %d dates from %s to %s",
                 len(dates), dates[0].date(), dates[-1].date())
    return dates, outcomes, obs_end


def censor_at(landmarks: pd.DataFrame, cutoff, grace_days: int = S.GRACE_DAYS) -> pd.DataFrame:
    """Labels as they were observable at ``cutoff``: landmarks on or after it are
    dropped; a churn is kept only if confirmed (churn date + grace) by the cutoff,
    otherwise the row is censored at the cutoff."""
    cutoff = pd.Timestamp(cutoff)
    out = landmarks[pd.to_datetime(landmarks[LANDMARK]) < cutoff].copy()
    t = pd.to_datetime(out[LANDMARK])
    churn = pd.to_datetime(out[CHURN_DATE])
    seen = out[EVENT].astype(bool) & (churn + pd.Timedelta(days=grace_days) <= cutoff)
    horizon = (cutoff - t).dt.days
    out[EVENT] = seen.astype(int)
    out[DURATION] = np.where(seen, out[DURATION], np.minimum(out[DURATION], horizon)).astype(int)
    out[CHURN_DATE] = churn.where(seen)
    return out.reset_index(drop=True)
