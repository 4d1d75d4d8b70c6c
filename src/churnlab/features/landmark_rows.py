"""Landmark rows a backtest reads a few dates at a time, from memory or from Parquet.

A 50,000-account book's training window is ~670,000 landmark rows of ~230 columns: 1.4 GB
in pandas. The backtest needs only one origin's window at a time (its training dates, its
scoring date) and the champion's refit only the last window, so training writes the
table to Parquet, one row group per landmark date, drops it from memory and reads each
window back when it is needed (:class:`ParquetLandmarks`). :class:`FrameLandmarks` gives
the same reads on a table already in memory (tests, notebooks); both return the rows in
the table's order with a fresh index, so a backtest is the same whichever holds them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from churnlab.data import contract as S
from churnlab.errors import DataError
from churnlab.features.snapshot import LANDMARK


class FrameLandmarks:
    """Landmark rows held in a DataFrame."""

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame
        self._when = pd.to_datetime(frame[LANDMARK]).to_numpy()

    def account_ids(self) -> np.ndarray:
        """The accounts with a landmark row, sorted."""
        return np.sort(pd.unique(self.frame[S.ACCOUNT_ID]))

    def dates(self) -> list[pd.Timestamp]:
        return [pd.Timestamp(d) for d in np.unique(self._when)]

    def between(self, first, last, accounts=None) -> pd.DataFrame:
        """The rows dated ``first <= landmark <= last`` (None: unbounded), of ``accounts``
        only when given, in table order with a fresh index."""
        keep = np.ones(len(self._when), dtype=bool)
        if first is not None:
            keep &= self._when >= np.datetime64(pd.Timestamp(first))
        if last is not None:
            keep &= self._when <= np.datetime64(pd.Timestamp(last))
        if accounts is not None:
            keep &= self.frame[S.ACCOUNT_ID].isin(accounts).to_numpy()
        return self.frame[keep].reset_index(drop=True)


class ParquetLandmarks:
    """Landmark rows in a Parquet file with one row group per landmark date (as
    :func:`write_by_date` writes them); each read decodes only the dates it needs."""

    def __init__(self, path):
        import pyarrow.parquet as pq

        self.path = Path(path)
        self._file = pq.ParquetFile(self.path)
        when = self._file.read(columns=[LANDMARK]).column(0).to_pandas()
        sizes = [self._file.metadata.row_group(i).num_rows
                 for i in range(self._file.num_row_groups)]
        starts = np.r_[0, np.cumsum(sizes)[:-1]].astype(int)
        self._group_date = [pd.Timestamp(when.iloc[s]) if n else None
                            for s, n in zip(starts, sizes)]
        for s, n, d in zip(starts, sizes, self._group_date):
            if n and (pd.to_datetime(when.iloc[s:s + n]) != d).any():
                raise DataError(f"{self.path}: a row group holds more than one landmark date")

    def account_ids(self) -> np.ndarray:
        ids = self._file.read(columns=[S.ACCOUNT_ID]).column(0).to_pandas()
        return np.sort(pd.unique(ids))

    def dates(self) -> list[pd.Timestamp]:
        return sorted({d for d in self._group_date if d is not None})

    def between(self, first, last, accounts=None) -> pd.DataFrame:
        """As :meth:`FrameLandmarks.between`, reading one date's row group at a time."""
        import pyarrow as pa
        import pyarrow.compute as pc

        lo = pd.Timestamp(first) if first is not None else None
        hi = pd.Timestamp(last) if last is not None else None
        wanted = pa.array(list(accounts)) if accounts is not None else None
        frames = []
        for i, d in enumerate(self._group_date):
            if d is None or (lo is not None and d < lo) or (hi is not None and d > hi):
                continue
            group = self._file.read_row_group(i)
            if wanted is not None:
                group = group.filter(pc.is_in(group.column(S.ACCOUNT_ID),
                                              value_set=wanted.cast(group.schema.field(
                                                  S.ACCOUNT_ID).type)))
            frames.append(group.to_pandas())
            del group
        if not frames:
            return self._file.schema_arrow.empty_table().to_pandas()
        return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def landmark_rows(rows) -> FrameLandmarks | ParquetLandmarks:
    """``rows`` as something a backtest reads windows from (a DataFrame is wrapped)."""
    return FrameLandmarks(rows) if isinstance(rows, pd.DataFrame) else rows


def write_by_date(rows: pd.DataFrame, path) -> None:
    """Landmark rows to Parquet with one row group per landmark date, so a reader that
    wants a few dates (:class:`ParquetLandmarks`, ``make_snapshots(known=path)``)
    decodes only those groups."""
    with DateGroupWriter(path, rows) as writer:
        writer.write(rows)


class DateGroupWriter:
    """Appends landmark rows to one Parquet file, one row group per landmark date, a
    part at a time (each part's dates after the previous part's). The column types are
    those of ``like`` (a frame with every column; where a column holds no value there,
    text), so that parts converted one at a time share a schema; a part whose values
    do not fit it raises :class:`SchemaMismatch`."""

    def __init__(self, path, like: pd.DataFrame):
        import pyarrow as pa

        schema = pa.Schema.from_pandas(like, preserve_index=False)
        for i, f in enumerate(schema):
            if pa.types.is_null(f.type):
                schema = schema.set(i, f.with_type(pa.string()))
        self.path, self.schema, self._writer = Path(path), schema, None

    def __enter__(self):
        import pyarrow.parquet as pq

        self._writer = pq.ParquetWriter(self.path, self.schema)
        return self

    def __exit__(self, *exc):
        self._writer.close()

    def write(self, rows: pd.DataFrame) -> None:
        import pyarrow as pa

        when = pd.to_datetime(rows[LANDMARK]).to_numpy()
        cuts = [0, *(np.flatnonzero(when[1:] != when[:-1]) + 1), len(rows)]
        for lo, hi in zip(cuts, cuts[1:]):
            if hi > lo or len(rows) == 0:
                try:
                    table = pa.Table.from_pandas(rows.iloc[lo:hi], schema=self.schema,
                                                 preserve_index=False)
                except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
                    raise SchemaMismatch(f"landmark rows at {pd.Timestamp(when[lo]).date() if hi > lo else '-'} do "
                                         f"not fit the first part's types: {exc}") from exc
                self._writer.write_table(table)


class SchemaMismatch(DataError):
    """A part of a landmark table does not fit the types of the first part."""
