"""Reusing landmark rows computed before (a saved model's ``landmarks.parquet``) instead
of aggregating the events again, where they are provably the same rows."""

from __future__ import annotations

import logging

import pandas as pd

from churnlab.data import contract as S

log = logging.getLogger(__name__)

# label columns of a landmark dataset (re-exported by :mod:`churnlab.features.snapshot`)
LANDMARK = "landmark"
DURATION = "duration_days"
EVENT = "churned"
CHURN_DATE = "churn_date"

LABELS = (EVENT, CHURN_DATE, DURATION)


def reuse_rows(known, contract: pd.DataFrame, dates: list, accounts=None) -> tuple[list, list]:
    """The rows of ``known`` (a frame, or a Parquet file read one date at a time, so
    that a large file never sits in memory whole) at each date of ``dates`` where they
    are exactly the contract's active accounts (of ``accounts``) with the same contract
    values (else the date is left to compute), its own label columns dropped; and the
    dates left. An unreadable file leaves every date to compute."""
    if isinstance(known, pd.DataFrame):
        if accounts is not None and S.ACCOUNT_ID in known.columns:
            known = known[known[S.ACCOUNT_ID].isin(accounts)]
        when = pd.to_datetime(known[LANDMARK]) if LANDMARK in known.columns else None
        rows_at = lambda d: known if when is None else known.loc[(when == d).to_numpy()]  # noqa: E731
    else:
        only = [(S.ACCOUNT_ID, "in", list(accounts))] if accounts is not None else []
        rows_at = lambda d: pd.read_parquet(known, filters=[(LANDMARK, "==", d)] + only)  # noqa: E731
    reused, left = [], []
    for d in dates:
        try:
            have = rows_at(d)
        except (OSError, ValueError) as exc:
            log.warning("not reusing %s (%s)", known, exc)
            return [], dates
        if LANDMARK not in have.columns or not set(contract.columns) <= set(have.columns):
            return [], dates
        have = have[[c for c in have.columns if c not in LABELS]]
        have = have.assign(**{LANDMARK: pd.to_datetime(have[LANDMARK])}).sort_values(
            S.ACCOUNT_ID, kind="stable").reset_index(drop=True)
        want = contract[contract[LANDMARK] == d].reset_index(drop=True)
        if len(have) == len(want) > 0 and all(_same(have[c], want[c]) for c in want.columns):
            reused.append(have)
        else:
            left.append(d)
    return reused, left


def _same(a: pd.Series, b: pd.Series) -> bool:
    """Equal values, missing where missing (a column read back from Parquet may differ
    in dtype only, e.g. timestamp resolution)."""
    try:
        return a.equals(b) or a.astype(b.dtype).equals(b)
    except (TypeError, ValueError):
        return False
