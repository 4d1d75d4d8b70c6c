"""The one place that owns output paths and formats: atomic writes.

A reader never sees a half-written file: outputs are written to a temporary name in
the destination folder and moved into place with an atomic rename. Temporary names
carry the writer's process id, so a later run removes what a killed run left behind;
outputs get the permissions of the user's umask (a colleague or a web server can read a
report on a shared drive); a folder that a failed write created is removed again.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import pandas as pd

from churnlab.errors import InputError

FRAME_FORMATS = (".parquet", ".csv", ".json")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:         # someone else's live process
        return True
    return True


def _make_parent(folder: Path) -> Path | None:
    """Create ``folder`` (and parents); return the topmost folder created, or None."""
    top = None
    for p in [folder, *folder.parents]:
        if p.exists():
            break
        top = p
    folder.mkdir(parents=True, exist_ok=True)
    return top


def _remove_if_empty(top: Path | None, folder: Path) -> None:
    if top is None:
        return
    for p in [folder, *folder.parents]:
        try:
            p.rmdir()
        except OSError:
            return
        if p == top:
            return


def clean_stale(path: Path) -> list[Path]:
    """Remove the temporary files and folders beside ``path`` that a killed churnlab
    process left (their name holds its process id and it no longer runs)."""
    removed = []
    for p in path.parent.glob(f".{path.name}.*.tmp"):
        parts = p.name[len(path.name) + 2:].split(".")
        if parts and parts[0].isdigit() and not _alive(int(parts[0])):
            shutil.rmtree(p) if p.is_dir() else p.unlink()
            removed.append(p)
    return removed


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``,
    on error delete it and leave any existing ``path`` untouched."""
    path = Path(path)
    created = _make_parent(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp",
                               dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())
    ok = False
    try:
        yield tmp_path
        os.replace(tmp_path, path)
        ok = True
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
        if not ok:
            _remove_if_empty(created, path.parent)


@contextlib.contextmanager
def atomic_dir(path: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success it replaces ``path``.

    Raises ``FileExistsError`` if ``path`` exists and is not empty unless
    ``overwrite``; the old folder is removed only after the new one is complete.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"{path} exists and is a file, not a folder")
    if path.exists() and any(path.iterdir()) and not overwrite:
        raise FileExistsError(f"{path} exists and is not empty (use --overwrite to replace it)")
    created = _make_parent(path.parent)
    clean_stale(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp",
                                dir=path.parent))
    os.chmod(tmp, 0o777 & ~_umask())
    ok = False
    try:
        yield tmp
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            if old.exists():
                shutil.rmtree(old)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp, path)
        ok = True
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
        if not ok:
            _remove_if_empty(created, path.parent)


@contextlib.contextmanager
def folder_lock(path: str | Path, what: str) -> Iterator[Path]:
    """Hold ``.<name>.lock`` beside ``path`` (created atomically) while a run writes
    ``path``; a second run stops with the holder's process id. A lock whose process no
    longer runs is stale and taken over."""
    path = Path(path)
    created = _make_parent(path.parent)
    lock = path.parent / f".{path.name}.lock"
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666 & ~_umask())
        except FileExistsError:
            try:
                pid = int(lock.read_text().strip() or 0)
            except (OSError, ValueError):
                pid = 0
            if pid and _alive(pid) and pid != os.getpid():
                _remove_if_empty(created, path.parent)
                raise InputError(f"another {what} is running (pid {pid}); wait for it or "
                                 f"remove {lock} if it is not") from None
            lock.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{os.getpid()}\n")
        break
    else:
        raise InputError(f"could not take the lock {lock}")
    try:
        yield lock
    finally:
        lock.unlink(missing_ok=True)
        _remove_if_empty(created, path.parent)


def write_frame(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a DataFrame atomically; the format follows the suffix."""
    path = Path(path)
    if path.suffix not in FRAME_FORMATS:
        raise InputError(f"unsupported output format {path.suffix!r}: use one of "
                         f"{', '.join(FRAME_FORMATS)}")
    with atomic_path(path) as tmp:
        if path.suffix == ".parquet":
            df.to_parquet(tmp, index=False)
        elif path.suffix == ".csv":
            df.to_csv(tmp, index=False)
        else:
            df.to_json(tmp, orient="records", date_format="iso", indent=1)
    return path


def write_json(obj, path: str | Path) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    """Write a text file atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)
