"""Restoring a database file from a backup without ever losing the database it replaces, and
finishing a restore that a crash interrupted.

The steps, under the database's use lock held exclusively (no store has the file open):

1. the backup, with its ``-wal`` or ``-journal``, is copied byte for byte to a private
   temporary (the source itself is only ever read) and opened there through SQLite, which brings
   in the commits of its ``-wal`` or rolls back an interrupted write; the copy is verified and
   migrated, and its own ``-wal`` folded back into it;
2. the finished copy is renamed ``.<name>.kube9-restored`` (ready);
3. the current database is made self-contained (its ``-wal`` folded into it, in rollback-journal
   mode like a backup) and renamed ``<name>.pre-restore-<UTC time>`` (``-2``, ``-3``... when
   that name is taken);
4. the ready copy is renamed to the database's name.

A crash during 1 leaves a stale temporary that the next backup or restore removes; between 2
and 3 a ready copy that the next restore removes (the database is still the previous one);
between 3 and 4 no file under the database's name but the ready copy, which the next read-write
open renames into place, completing the restore."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from kube9_store.backends.sqlite_files import shm_path, verify_database_file, wal_path
from kube9_store.backends.sqlite_lock import UseLock
from kube9_store.backends.sqlite_temporaries import (
    Temporary,
    clean_stale,
    create_private_file,
    fsync_directory,
)
from kube9_store.errors import DatabaseUnavailableError, SchemaError, ValidationError

READY_MARK = ".kube9-restored"
KEEP_MARK = ".pre-restore-"
KEEP_TIME = "%Y%m%dT%H%M%SZ"
#: The source's files SQLite needs to read its committed content whole.
SOURCE_SIDE_SUFFIXES = ("-wal", "-journal")
CHUNK = 1 << 20
SQLITE_NOTADB = 26


def ready_path(db: Path) -> Path:
    """Where a verified copy waits for the swap."""
    return db.with_name(f".{db.name}{READY_MARK}")


def finish_interrupted(db: Path) -> bool:
    """Complete a restore interrupted between setting the previous database aside and putting
    the new one in place; True when one was completed."""
    ready = ready_path(db)
    if db.exists() or not ready.exists():
        return False
    os.rename(ready, db)
    fsync_directory(db.parent)
    return True


def restore_file(
    source: Path,
    db: Path,
    *,
    head_version: int,
    prepare: Callable[[Path], None],
    wait: float,
) -> Path | None:
    """Put a verified copy of ``source`` in place of ``db``; ``prepare`` readies the copy (it
    migrates it) before the swap. Returns where the previous database was kept (None when there
    was none)."""
    if db.exists() and os.path.samefile(source, db):
        raise ValidationError.single("backup_path", f"{source} is the database itself")
    lock = UseLock(db)
    lock.acquire(
        exclusive=True,
        wait=wait,
        busy=f"{db} is open in a store (of this or another process); close every store "
        "(stop the operator) before restoring",
    )
    try:
        finish_interrupted(db)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(ready_path(db))  # a copy a crash left before the swap began
        clean_stale(db.parent)
        with Temporary(db) as tmp:
            copy_database(source, tmp.path)
            recover(tmp.path, shown=source)
            verify_database_file(tmp.path, head_version=head_version, shown=source)
            prepare(tmp.path)
            verify_database_file(tmp.path, head_version=head_version, shown=source, full=False)
            tmp.rename(ready_path(db))
        fsync_directory(db.parent)
        try:
            keep = set_aside(db, wait=wait) if db.exists() else None
        except BaseException:
            os.unlink(ready_path(db))
            raise
        os.rename(ready_path(db), db)
        fsync_directory(db.parent)
        return keep
    finally:
        lock.release()


def copy_database(source: Path, dest: Path) -> None:
    """Copy ``source`` and the side files that hold part of its content (its ``-wal``, a hot
    ``-journal``) byte for byte to ``dest`` (which exists, empty) and beside it."""
    _copy(source, dest, create=False)
    for suffix in SOURCE_SIDE_SUFFIXES:
        side = source.with_name(source.name + suffix)
        if side.is_file() and side.stat().st_size > 0:
            _copy(side, dest.with_name(dest.name + suffix), create=True)


def _copy(source: Path, dest: Path, *, create: bool) -> None:
    out = create_private_file(dest) if create else os.open(dest, os.O_WRONLY | os.O_CLOEXEC)
    try:
        with open(source, "rb") as src:
            while chunk := src.read(CHUNK):
                view = memoryview(chunk)
                while view:
                    view = view[os.write(out, view) :]
        os.fsync(out)
    finally:
        os.close(out)


def recover(path: Path, *, shown: Path) -> None:
    """Open a private copy read-write through SQLite and close it: the commits of its ``-wal``
    are checkpointed into it and an interrupted write rolled back, leaving one file."""
    try:
        con = sqlite3.connect(path, isolation_level=None)
        try:
            con.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise SchemaError(f"{shown} is not a usable SQLite database: {exc}") from exc


def set_aside(db: Path, *, wait: float) -> Path:
    """Make the current database one self-contained file (its -wal folded in, switched to a
    rollback journal like a backup, so it can be copied and read without side files) and
    rename it to a kept name that no file has; returns that name."""
    wal = wal_path(db)
    try:
        con = sqlite3.connect(db, isolation_level=None, timeout=wait)
        try:
            mode = con.execute("PRAGMA journal_mode = DELETE").fetchone()[0]
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        if getattr(exc, "sqlite_errorcode", None) != SQLITE_NOTADB:
            raise DatabaseUnavailableError(
                f"cannot make {db} self-contained before keeping it ({exc}); is another "
                "program using it? Nothing was changed"
            ) from exc
        mode = "delete"  # not a database: nothing of ours to fold in; kept exactly as it is
    if str(mode).lower() != "delete" or (wal.exists() and wal.stat().st_size > 0):
        raise DatabaseUnavailableError(
            f"cannot fold {wal} into {db} before keeping it; is another program using the "
            "database? Nothing was changed"
        )
    for side in (wal, shm_path(db)):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(side)
    keep = keep_name(db)
    os.rename(db, keep)
    return keep


def keep_name(db: Path) -> Path:
    """``<name>.pre-restore-<UTC time>``, or with ``-2``, ``-3``... when that is taken."""
    stamp = time.strftime(KEEP_TIME, time.gmtime())
    n = 1
    while True:
        suffix = "" if n == 1 else f"-{n}"
        candidate = db.with_name(f"{db.name}{KEEP_MARK}{stamp}{suffix}")
        taken = [candidate, wal_path(candidate), shm_path(candidate)]
        if not any(p.exists() for p in taken):
            return candidate
        n += 1
