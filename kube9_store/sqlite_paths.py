"""The files SQLite keeps beside a database, and the URI that reads one without writing
anything beside it: plain facts of the SQLite backend (:mod:`kube9_store.backends.sqlite_files`
and :mod:`kube9_store.backends.sqlite_lock` build on them), importable without SQLAlchemy for
the CLI's lean read path."""

from __future__ import annotations

from pathlib import Path

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


def read_write_uri(path: Path) -> str:
    """The URI of a read-only connection that sees writers (through the -wal)."""
    return f"{path.absolute().as_uri()}?mode=ro"


def read_only_uri(path: Path) -> str:
    """The URI that reads ``path`` without writing anything beside it. A file with no side
    files is read as immutable (a read-only connection to a WAL database would otherwise create
    a -wal and -shm and leave them); one in use is read through its -wal."""
    uri = read_write_uri(path)
    return uri + "&immutable=1" if quiescent(path) else uri
