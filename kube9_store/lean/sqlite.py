"""SQLite files without SQLAlchemy: the files SQLite keeps beside a database, the URI that
reads one without writing anything beside it, its sizes and its integrity checks (on a driver
connection). :mod:`kube9_store.backends.sqlite_files` and :mod:`kube9_store.backends.sqlite_lock`
build on these, and so does the CLI's lean read path."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the result records are imported by what returns one (dataclasses cost)
    from kube9_store.results import IntegrityResult, SizeInfo, VolumeInfo

#: Reads one integer PRAGMA (``page_count``, ``page_size``, ``freelist_count``) by name.
Pragma = Callable[[str], int]

#: SQLite's primary result codes of a damaged file: SQLITE_CORRUPT, SQLITE_NOTADB.
DAMAGED = frozenset({11, 26})

#: The use lock's file beside the database (see :mod:`kube9_store.backends.sqlite_lock`).
LOCK_SUFFIX = ".lock"


def wal_path(path: Path) -> Path:
    return path.with_name(path.name + "-wal")


def shm_path(path: Path) -> Path:
    return path.with_name(path.name + "-shm")


def journal_path(path: Path) -> Path:
    return path.with_name(path.name + "-journal")


def lock_path(db: Path) -> Path:
    return db.with_name(db.name + LOCK_SUFFIX)


def quiescent(path: Path) -> bool:
    """No -wal, -shm or -journal beside the file: its whole content is in the file, and no
    connection has it open."""
    return not any(p.exists() for p in (wal_path(path), shm_path(path), journal_path(path)))


def fingerprint(path: Path) -> tuple[int, int, int] | None:
    """(inode, size, modification time in ns) of the file: what an immutable reader assumes
    stays the same (None when it is gone)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


def in_wal_mode(path: Path) -> bool:
    """The file's header says WAL (bytes 18 and 19 are 2): a read-only connection to it would
    create a -wal and -shm beside it."""
    try:
        with open(path, "rb") as f:
            header = f.read(20)
    except OSError:
        return False
    return len(header) == 20 and header[18] == 2 and header[19] == 2


def read_only_uri(path: Path) -> str:
    """The URI that reads ``path`` without writing anything beside it. A WAL file with no
    side files is read as immutable (a read-only connection to it would otherwise create a
    -wal and -shm and leave them); one in use is read through its -wal. A file in rollback
    mode is read with ordinary locks (it gets no side file from a reader, and a writer that
    starts meanwhile is waited for instead of read half-written)."""
    uri = f"{path.absolute().as_uri()}?mode=ro"
    return uri + "&immutable=1" if quiescent(path) and in_wal_mode(path) else uri


def reader_uri(path: Path) -> str:
    """The URI of a read-only store's connections: ``mode=ro``; on a directory nobody can
    write (a read-only filesystem, where SQLite cannot make the -shm a WAL reader needs, and
    no writer can exist), immutable when no WAL content is waiting to be read."""
    uri = f"{path.absolute().as_uri()}?mode=ro"
    if os.access(path.parent, os.W_OK):
        return uri
    try:
        wal = wal_path(path).stat().st_size
    except FileNotFoundError:
        wal = 0
    return uri + "&immutable=1" if wal == 0 else uri


def settle_side_files(path: Path) -> None:
    """Remove the -wal and -shm a read-only store's connections made beside an idle WAL
    database: a read-write connection that only reads, closed, deletes them when it is the
    last one (SQLite checks under its own lock; with another connection open they stay)."""
    if not os.access(path.parent, os.W_OK) or not path.exists():
        return
    try:
        con = sqlite3.connect(f"{path.absolute().as_uri()}?mode=rw", uri=True, timeout=0.1)
        try:
            con.execute("PRAGMA query_only = ON")
            con.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        finally:
            con.close()
    except sqlite3.Error:
        return  # busy or unreadable: the files stay, as a live reader's would


def sizes_of(pragma: Pragma, path: Path | None) -> SizeInfo:
    """The file's pages (page_count x page_size), the -wal beside it, and its free pages."""
    from kube9_store.results import SizeInfo

    page = pragma("page_size")
    wal = 0
    if path is not None:
        with contextlib.suppress(FileNotFoundError):
            wal = wal_path(path).stat().st_size
    return SizeInfo(
        database_bytes=pragma("page_count") * page,
        wal_bytes=wal,
        free_bytes=pragma("freelist_count") * page,
    )


def used_bytes_of(pragma: Pragma) -> int:
    """The pages that hold data: the file less its free pages."""
    return (pragma("page_count") - pragma("freelist_count")) * pragma("page_size")


def volume(path: Path) -> VolumeInfo:
    """The filesystem holding ``path`` (or its nearest existing parent)."""
    import shutil

    from kube9_store.results import VolumeInfo

    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    usage = shutil.disk_usage(existing)
    return VolumeInfo(path=path, total_bytes=usage.total, free_bytes=usage.free)


def integrity_of(con: Any, *, full: bool) -> IntegrityResult:
    """quick_check (daily) or integrity_check (weekly) on a driver connection; the full check
    also compares the trigger-maintained counts with the events. A check that stops on a page
    too damaged to walk (SQLite's "malformed" or "not a database") found a problem: that is
    its result, not an error."""
    from kube9_store.results import IntegrityResult

    pragma = "integrity_check" if full else "quick_check"
    try:
        rows = [str(r[0]) for r in con.execute(f"PRAGMA {pragma}")]
    except sqlite3.DatabaseError as exc:
        if getattr(exc, "sqlite_errorcode", 0) & 0xFF not in DAMAGED:
            raise
        return IntegrityResult(ok=False, problems=[f"{pragma} stopped: {exc}"], full=full)
    problems = [] if rows == ["ok"] else rows
    if full and not problems:
        problems.extend(_count_mismatches(con))
    return IntegrityResult(ok=not problems, problems=problems, full=full)


def _count_mismatches(con: Any) -> list[str]:
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "event_counts" not in tables:
        return []
    actual = dict(
        ((t, s), n)
        for t, s, n in con.execute(
            "SELECT event_type, severity, COUNT(*) FROM events GROUP BY event_type, severity"
        )
    )
    kept = {
        (t, s): n
        for t, s, n in con.execute("SELECT event_type, severity, n FROM event_counts WHERE n != 0")
    }
    if actual == kept:
        return []
    return [
        f"event_counts disagrees with events: counted {kept}, actual {actual};"
        " `kube9-store db recount` rebuilds it"
    ]
