"""Small parts of the simulated world: calendar, event log, helpers."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pyarrow as pa

log = logging.getLogger(__name__)

# ------------------------------------------------------------------ helpers
def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def health_score(h):
    """Latent health on the 0-100 scale of a health score."""
    return 100.0 * sigmoid(h)


def make_ids(prefix: str, n: int, width: int = 6) -> np.ndarray:
    width = max(width, len(str(n)))
    return np.array([f"{prefix}{i:0{width}d}" for i in range(1, n + 1)], dtype=object)


def arrow_strings(codes: np.ndarray, labels) -> pd.Series:
    """``labels[codes]`` as a pyarrow-backed string column, without Python objects."""
    arr = pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)),
                                         pa.array(list(labels), pa.string()))
    return pd.Series(pd.arrays.ArrowStringArray(arr.cast(pa.large_string())))


def choice(rng: np.random.Generator, probs, size: int) -> np.ndarray:
    """Indices drawn with the given probabilities (vectorised)."""
    cum = np.cumsum(np.asarray(probs, dtype=float))
    return np.minimum(np.searchsorted(cum / cum[-1], rng.random(size), side="right"),
                      len(cum) - 1)


class Calendar:
    """Day offsets from the data start, contract boundaries and simulation steps.

    Contract anniversaries fall on one day of month (1-28) per account, so the k-th
    boundary of a subscription starting on month ``mi`` is ``day(mi + k * term, dom)``.
    Month indices are relative to the month of ``start``.
    """

    def __init__(self, start: pd.Timestamp, n_months: int, months_before: int,
                 months_after: int, burn_in_days: int):
        self.start = start
        self.end = start + pd.DateOffset(months=n_months)
        self.n_days = int((self.end - start).days)
        self.mi0 = months_before
        base = start.to_period("M")
        firsts = pd.PeriodIndex([base + int(k) for k in range(-months_before,
                                                              n_months + months_after + 1)])
        self.month_first = np.asarray(
            (firsts.to_timestamp() - start).days, dtype=np.int64)
        self.month_numbers = firsts.month.to_numpy()
        # month starts inside the data window (the truth's account-month grid)
        inside = (self.month_first >= 0) & (self.month_first < self.n_days)
        self.window_month_starts = self.month_first[inside]
        # steps: weekly in the burn-in, then split at Mondays and month starts
        first_monday = (7 - start.weekday()) % 7
        self.week_starts = np.arange(first_monday, self.n_days - 6, 7, dtype=np.int64)
        cuts = set(range(-burn_in_days, 0, 7)) | {0, self.n_days}
        cuts |= set(int(d) for d in self.week_starts) | set(
            int(d) for d in self.window_month_starts)
        cuts |= set(int(d) + 7 for d in self.week_starts)
        cuts = np.array(sorted(c for c in cuts if -burn_in_days <= c <= self.n_days))
        self.steps = list(zip(cuts[:-1].tolist(), cuts[1:].tolist()))
        # seasonality of activity by day: holidays and a summer dip
        days = np.arange(-burn_in_days - 400, self.n_days + 40)
        dates = start + pd.to_timedelta(days, unit="D")
        season = np.ones(len(days))
        holidays = ((dates.month == 12) & (dates.day >= 20)) | ((dates.month == 1)
                                                                & (dates.day <= 2))
        season[holidays] = 0.55
        season[dates.month == 8] = 0.85
        self._season, self._season_0 = season, int(-days[0])

    def day(self, mi, dom):
        return self.month_first[np.asarray(mi) + self.mi0] + np.asarray(dom) - 1

    def month_of(self, day):
        return np.searchsorted(self.month_first, day, side="right") - 1 - self.mi0

    def next_anniversary(self, day, dom):
        """First day >= ``day`` that falls on day-of-month ``dom``."""
        mi = self.month_of(day)
        cand = self.day(mi, dom)
        return np.where(cand >= day, cand, self.day(mi + 1, dom)), np.where(
            cand >= day, mi, mi + 1)

    def season(self, day: int) -> float:
        return float(self._season[int(day) + self._season_0])

    def timestamps(self, seconds: np.ndarray) -> np.ndarray:
        return (np.datetime64(self.start.to_datetime64(), "ns")
                + seconds.astype(np.int64) * np.int64(1_000_000_000))


class EventLog:
    """Events collected as numpy chunks: account index, seconds since start, type, value."""

    def __init__(self, event_types: list[str]):
        self.codes = {t: i for i, t in enumerate(event_types)}
        self.event_types = event_types
        self.acc: list[np.ndarray] = []
        self.sec: list[np.ndarray] = []
        self.typ: list[np.ndarray] = []
        self.val: list[np.ndarray] = []

    def add(self, event_type: str, acc, sec, value=1.0) -> None:
        acc = np.asarray(acc)
        if acc.size == 0:
            return
        self.acc.append(acc.astype(np.int32))
        self.sec.append(np.asarray(sec, dtype=np.int64))
        self.typ.append(np.full(acc.size, self.codes[event_type], dtype=np.int16))
        self.val.append(np.broadcast_to(np.asarray(value, dtype=np.float64), acc.shape).copy())

    def arrays(self, rank: np.ndarray):
        """All events sorted by (rank of account, time); empties the log."""
        if not self.acc:
            return (np.zeros(0, np.int32), np.zeros(0, np.int64), np.zeros(0, np.int16),
                    np.zeros(0))
        acc, sec = np.concatenate(self.acc), np.concatenate(self.sec)
        self.acc = self.sec = []
        order = np.argsort(rank[acc] * (1 << 34) + sec, kind="stable")
        acc, sec = acc[order], sec[order]
        typ = np.concatenate(self.typ)[order]
        self.typ = []
        val = np.concatenate(self.val)[order]
        self.val = []
        return acc, sec, typ, val
