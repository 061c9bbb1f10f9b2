"""Everything SQLite-specific about opening a database: PRAGMAs, real transactions, file checks,
and the cross-process lock that keeps two processes from migrating one file at once."""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL
from sqlalchemy.pool import QueuePool, StaticPool

from kube9_store.errors import DatabaseUnavailableError, SchemaError

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]

#: Execution option naming the statement that opens a transaction on this engine.
BEGIN_OPTION = "kube9_begin"
FILE_MODE = 0o600
DIR_MODE = 0o700


def create_sqlite_engine(
    url: URL,
    *,
    read_only: bool = False,
    synchronous: Synchronous = "NORMAL",
    busy_timeout: float = 5.0,
) -> Engine:
    """An engine whose every connection has the spec's PRAGMAs and emits a real BEGIN."""
    path = _file_of(url)
    kwargs: dict[str, Any] = {}
    if path is None:
        kwargs = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
    elif read_only:
        uri = f"{path.absolute().as_uri()}?mode=ro"
        kwargs = {
            "poolclass": QueuePool,
            "creator": lambda: sqlite3.connect(uri, uri=True, check_same_thread=False),
        }
    engine = create_engine(url, **kwargs)
    install_pragmas(
        engine,
        read_only=read_only,
        synchronous=synchronous,
        busy_timeout_ms=int(busy_timeout * 1000),
        wal=path is not None,
    )
    return engine


def install_pragmas(
    engine: Engine,
    *,
    read_only: bool,
    synchronous: Synchronous,
    busy_timeout_ms: int,
    wal: bool,
) -> None:
    """SQLAlchemy's recipe for non-legacy transactions, plus the spec's PRAGMAs.

    PRAGMAs run on connect, before any BEGIN: journal_mode cannot change inside a transaction
    and foreign_keys is a silent no-op there.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {busy_timeout_ms:d}")
            if wal and not read_only:
                cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute(f"PRAGMA synchronous = {synchronous}")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA cache_size = -10000")
            # Every insert fires the count triggers, so SQLite keeps a statement journal per
            # row; in memory it costs a third of what a temporary file does.
            cursor.execute("PRAGMA temp_store = MEMORY")
            if read_only:
                cursor.execute("PRAGMA query_only = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        statement = conn.get_execution_options().get(BEGIN_OPTION, "BEGIN")
        if statement:  # None: a single-statement read, left in autocommit
            conn.exec_driver_sql(statement)


def reader(engine: Engine) -> Engine:
    """The same engine for single-statement reads: no BEGIN, the statement is its own
    snapshot (saves two round trips per query)."""
    return engine.execution_options(**{BEGIN_OPTION: None})


def writer(engine: Engine) -> Engine:
    """The same engine, but its transactions take the write lock up front (BEGIN IMMEDIATE), so
    a writer waits in the busy handler instead of failing when a reader's snapshot goes stale."""
    return engine.execution_options(**{BEGIN_OPTION: "BEGIN IMMEDIATE"})


def begin_write(dbapi_connection: Any) -> None:
    """Open a write transaction on a driver connection, taking the write lock up front."""
    dbapi_connection.execute("BEGIN IMMEDIATE")


def begin_read(dbapi_connection: Any) -> None:
    """Connections run in autocommit between explicit BEGINs (isolation_level=None): a single
    statement needs nothing more."""


def end_read(dbapi_connection: Any) -> None:
    pass


def commit(dbapi_connection: Any) -> None:
    dbapi_connection.execute("COMMIT")


def rollback(dbapi_connection: Any) -> None:
    if dbapi_connection.in_transaction:
        dbapi_connection.execute("ROLLBACK")


def _file_of(url: URL) -> Path | None:
    from kube9_store.config import sqlite_file

    return sqlite_file(url)


def check_existing(path: Path, *, empty_ok: bool = False) -> None:
    """Refuse what cannot be a database before SQLite touches it, naming what was found.

    Only stat() is used: opening and closing a descriptor of a database that this process has
    open through SQLite would drop SQLite's POSIX locks on it.
    """
    if path.is_dir():
        raise DatabaseUnavailableError(f"{path} is a directory, expected a SQLite database file")
    if not empty_ok and path.exists() and path.stat().st_size == 0:
        raise SchemaError(
            f"{path} is an empty file (0 bytes), expected a SQLite database; "
            "remove it to let kube9_store create a new database there"
        )


def create_file(path: Path) -> None:
    """Create a new, empty database file readable only by its owner (0600)."""
    try:
        path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except OSError as exc:
        raise DatabaseUnavailableError(f"cannot create database {path}: {exc}") from exc


@contextmanager
def migration_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive flock on the database's directory so one process migrates at a time.

    The directory, not the database: closing any descriptor of the database file would release
    the POSIX locks SQLite holds on it in this process.
    """
    directory = path.parent
    try:
        directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise DatabaseUnavailableError(f"cannot open directory {directory}: {exc}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def is_not_a_database(exc: BaseException) -> bool:
    """True when SQLite said the file is not a database (SQLITE_NOTADB)."""
    orig = getattr(exc, "orig", exc)
    return isinstance(orig, sqlite3.DatabaseError) and (
        getattr(orig, "sqlite_errorname", "") == "SQLITE_NOTADB"
        or "file is not a database" in str(orig)
    )


SPEC_TABLES = ("schema_version", "events")


def describe(conn: Connection, tables: Sequence[str] = SPEC_TABLES) -> dict[str, Any]:
    """The structure SQLite reports for ``tables``: table_info, index_list and index_xinfo.

    Indexes are keyed by name (index_list's ``seq`` depends only on creation order).
    """
    out: dict[str, Any] = {}
    for table in tables:
        columns = [tuple(r) for r in conn.exec_driver_sql(f"PRAGMA table_info('{table}')")]
        indexes: dict[str, Any] = {}
        for _seq, name, unique, origin, partial in conn.exec_driver_sql(
            f"PRAGMA index_list('{table}')"
        ):
            xinfo = [tuple(r) for r in conn.exec_driver_sql(f"PRAGMA index_xinfo('{name}')")]
            indexes[name] = {"unique": unique, "origin": origin, "partial": partial, "xinfo": xinfo}
        out[table] = {"columns": columns, "indexes": indexes}
    return out


def difference(found: dict[str, Any], expected: dict[str, Any]) -> str:
    """A short human account of how two ``describe`` results differ."""
    notes: list[str] = []
    for table in sorted(expected.keys() | found.keys()):
        f, e = found.get(table), expected.get(table)
        if f is None or not f["columns"]:
            notes.append(f"table {table} is missing")
            continue
        if e is None:
            notes.append(f"unexpected table {table}")
            continue
        if f["columns"] != e["columns"]:
            notes.append(f"{table} columns are {f['columns']}, expected {e['columns']}")
        for name in sorted(e["indexes"].keys() - f["indexes"].keys()):
            notes.append(f"index {name} is missing")
        for name in sorted(f["indexes"].keys() - e["indexes"].keys()):
            notes.append(f"unexpected index {name}")
        for name in sorted(e["indexes"].keys() & f["indexes"].keys()):
            if e["indexes"][name] != f["indexes"][name]:
                notes.append(f"index {name} differs")
    return "; ".join(notes) or "no difference"
