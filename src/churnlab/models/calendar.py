"""The contract calendar of a projection: the inputs that move with time (days to
renewal, tenure, the derived renewal flags), the design matrices built from them, and
S(t) from monthly hazards with the churn mass on the renewal day inside a renewal month.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnlab.data import contract as S

MONTH_DAYS = 30.4375        # the average month; projections step by it


def calendar_columns(snapshot: pd.DataFrame, elapsed_days: float = 0.0) -> dict:
    """The inputs that move on the contract calendar, ``elapsed_days`` after the
    snapshot: days to renewal decrease and reset to the term at a renewal, tenure grows
    (both left as they are at 0 days), and the derived ``renewal_in_month`` /
    ``is_monthly``. Arrays in the snapshot's row order."""
    out = {}
    dtr = snapshot["days_to_renewal"].to_numpy(float)
    if elapsed_days:
        term_days = np.maximum(snapshot[S.TERM_MONTHS].to_numpy(float), 1) * MONTH_DAYS
        dtr = dtr - elapsed_days
        k = np.ceil(np.maximum(-dtr, 0) / term_days + 1e-12) * (dtr <= 0)
        dtr = dtr + k * term_days
        out["days_to_renewal"] = dtr
        out["tenure_days"] = snapshot["tenure_days"].to_numpy(float) + elapsed_days
    out["renewal_in_month"] = (dtr <= MONTH_DAYS).astype(float)
    out["is_monthly"] = (snapshot[S.TERM_MONTHS].to_numpy(float) <= 1).astype(float)
    return out


def calendar_inputs(snapshot: pd.DataFrame, elapsed_days: float = 0.0) -> pd.DataFrame:
    """Model inputs of the snapshot ``elapsed_days`` later on its contract calendar
    (:func:`calendar_columns`), every other column held."""
    x = snapshot.copy()
    for c, v in calendar_columns(snapshot, elapsed_days).items():
        x[c] = v
    return x


def calendar_design(snapshot: pd.DataFrame, columns, elapsed_days: float = 0.0
                    ) -> pd.DataFrame:
    """``calendar_inputs(snapshot, elapsed_days)[columns].astype(float)``, value for
    value, on the snapshot's index (:func:`design_array` as a frame)."""
    return pd.DataFrame(design_array(snapshot, columns, elapsed_days),
                        index=snapshot.index, columns=list(columns))


def design_array(snapshot: pd.DataFrame, columns, elapsed_days: float = 0.0, take=None,
                 dtype=np.float64) -> np.ndarray:
    """``calendar_inputs(snapshot, elapsed_days)[columns].astype(float)`` as a
    Fortran-ordered array of ``dtype``, restricted to the row positions ``take`` (all
    rows when None), value for value (each column goes through float64 first, as
    ``astype(float)`` does), without copying the snapshot's other columns or rows: the
    hazard models build one design per projected month, and one per fit from a few
    hundred thousand landmark rows."""
    columns = list(columns)
    moving = calendar_columns(snapshot, elapsed_days)
    n = len(snapshot) if take is None else len(take)
    out = np.empty((n, len(columns)), dtype=dtype, order="F")
    for j, c in enumerate(columns):
        v = moving[c] if c in moving else snapshot[c].to_numpy(dtype=float, na_value=np.nan)
        out[:, j] = v if take is None else v[take]
    return out


def moved_design(base, snapshot: pd.DataFrame, columns, elapsed_days: float, take=None,
                 copy: bool = True):
    """The design ``elapsed_days`` after the snapshot from ``base``, its design at the
    snapshot (an array or a frame of ``columns``, for the snapshot rows at positions
    ``take``, all when None): the calendar's columns moved, value for value what
    :func:`design_array` builds from scratch, in a copy (in ``base`` itself when ``copy``
    is False). A month's projection then converts a handful of columns, not hundreds."""
    columns = list(columns)
    out = base.copy() if copy else base
    for c, v in calendar_columns(snapshot, elapsed_days).items():
        if c in columns:
            v = v if take is None else v[take]
            if isinstance(out, pd.DataFrame):
                out[c] = v
            else:
                out[:, columns.index(c)] = v
    return out


def renewal_offsets(snapshot: pd.DataFrame, n_months: int) -> np.ndarray:
    """(n, n_months) day offset of a renewal inside each projected month (NaN if none)."""
    term_days = np.maximum(snapshot[S.TERM_MONTHS].to_numpy(float), 1) * MONTH_DAYS
    dtr = snapshot["days_to_renewal"].to_numpy(float)
    out = np.full((len(snapshot), n_months), np.nan)
    for k in range(n_months):
        lo = k * MONTH_DAYS
        # first renewal at or after lo: dtr + j*term
        j = np.ceil(np.maximum(lo - dtr, 0) / term_days)
        r = dtr + j * term_days
        inside = (r >= lo) & (r < lo + MONTH_DAYS)
        out[inside, k] = r[inside] - lo
    return out


def survival_from_hazards(hazard: np.ndarray, offsets: np.ndarray, times) -> np.ndarray:
    """S(t) for monthly hazards (n, K): mass at the renewal day inside a renewal month,
    spread evenly otherwise. Returns (n, len(times)), non-increasing in t."""
    hazard, cum = _cumulative(hazard)
    out = np.empty((len(hazard), len(times)))
    for i, t in enumerate(np.asarray(times, float)):
        k = min(int(t // MONTH_DAYS), hazard.shape[1] - 1)
        within = min(t - k * MONTH_DAYS, MONTH_DAYS)
        out[:, i] = _within_month(cum[:, k], hazard[:, k], offsets[:, k], within)
    return out


def survival_at_rows(hazard: np.ndarray, offsets: np.ndarray, times_per_row) -> np.ndarray:
    """S(t_i) for row i at its own time t_i, value for value what
    :func:`survival_from_hazards` gives in row i at t_i, without a rows x times matrix."""
    hazard, cum = _cumulative(hazard)
    t = np.asarray(times_per_row, float)
    known = np.isfinite(t)          # an unknown time has an unknown S (NaN)
    t = np.where(known, t, 0.0)
    k = np.minimum((t // MONTH_DAYS).astype(int), hazard.shape[1] - 1)
    within = np.minimum(t - k * MONTH_DAYS, MONTH_DAYS)
    rows = np.arange(len(t))
    out = _within_month(cum[rows, k], hazard[rows, k], offsets[rows, k], within)
    return np.where(known, out, np.nan)


def _cumulative(hazard: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The clipped hazards and S at the start of each month (n, K + 1)."""
    hazard = np.clip(hazard, 0.0, 1.0 - 1e-12)
    cum = np.concatenate([np.ones((len(hazard), 1)), np.cumprod(1 - hazard, axis=1)], axis=1)
    return hazard, cum


def _within_month(s0, h, off, within):
    """S ``within`` days into a month that starts at ``s0`` with hazard ``h``: the mass
    at the renewal day ``off`` when the month holds one, spread evenly otherwise."""
    even = s0 * (1 - h) ** (within / MONTH_DAYS)
    step = np.where(within >= off, s0 * (1 - h), s0)
    return np.where(np.isnan(off), even, step)


# ------------------------------------------------------------------ models
