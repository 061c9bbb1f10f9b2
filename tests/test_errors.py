"""Driver errors are classified by their codes, once per backend: each case provokes a real error
from the real database and checks the kind its backend gives it and the package error the store
raises."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url

from kube9_store import (
    DatabaseLockedError,
    DatabaseUnavailableError,
    DuplicateEventError,
    EventStore,
    ReadOnlyError,
    SchemaError,
    StorageFullError,
    UnsupportedOperationError,
)
from kube9_store.backends import backend_for
from kube9_store.config import ConnectionSettings, sqlite_url
from kube9_store.errors import ErrorKind
from tests.helpers import PG_URL, event_data

EVENT_ID = "evt_20251202_103045_a7f3b9"


def _raised(action: Callable[[], object]) -> BaseException:
    try:
        action()
    except Exception as exc:
        return exc
    raise AssertionError("no error was raised")


# -- SQLite: extended result codes ----------------------------------------------------------


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Path:
    path = tmp_path / "kube9.db"
    EventStore.open(path, metrics=False).close()
    return path


def _driver(path: Path, uri_query: str = "") -> sqlite3.Connection:
    if uri_query:
        return sqlite3.connect(f"{path.as_uri()}?{uri_query}", uri=True, isolation_level=None)
    return sqlite3.connect(path, isolation_level=None)


INSERT = (
    "INSERT INTO events (id, event_type, severity, title, created_at, acknowledged)"
    " VALUES (?, 'system', 'info', 't', '2025-12-02T10:30:45.000Z', 0)"
)


def test_sqlite_codes_map_to_kinds(sqlite_db: Path, tmp_path: Path) -> None:
    backend = backend_for(sqlite_url(sqlite_db))
    con = _driver(sqlite_db)
    con.execute(INSERT, (EVENT_ID,))

    duplicate = _raised(lambda: con.execute(INSERT, (EVENT_ID,)))
    assert backend.classify(duplicate) is ErrorKind.DUPLICATE_ID

    other_key = _raised(
        lambda: con.execute("INSERT INTO schema_version VALUES (1, '2025-12-02', 'again')")
    )
    assert backend.classify(other_key) is ErrorKind.CONSTRAINT

    holder = _driver(sqlite_db)
    holder.execute("BEGIN IMMEDIATE")
    con.execute("PRAGMA busy_timeout = 0")
    busy = _raised(lambda: con.execute(INSERT, ("evt_20251202_103045_bbbbbb",)))
    holder.execute("ROLLBACK")
    assert backend.classify(busy) is ErrorKind.BUSY

    ro = _driver(sqlite_db, "mode=ro")
    read_only = _raised(lambda: ro.execute(INSERT, ("evt_20251202_103045_cccccc",)))
    assert backend.classify(read_only) is ErrorKind.READ_ONLY

    con.execute("PRAGMA max_page_count = 1")
    full = _raised(
        lambda: con.executemany(INSERT, [(f"evt_20251202_103045_{i:06d}",) for i in range(5000)])
    )
    assert backend.classify(full) is ErrorKind.FULL

    junk = tmp_path / "junk.db"
    junk.write_bytes(b"x" * 4096)
    not_db = _raised(lambda: _driver(junk).execute("SELECT * FROM sqlite_master"))
    assert backend.classify(not_db) is ErrorKind.NOT_A_DATABASE

    cannot_open = _raised(lambda: _driver(tmp_path / "missing" / "x.db", "mode=ro"))
    assert backend.classify(cannot_open) is ErrorKind.UNAVAILABLE
    for c in (con, holder, ro):
        c.close()


def test_sqlite_store_raises_the_package_errors(sqlite_db: Path) -> None:
    with EventStore.open(sqlite_db, metrics=False, busy_timeout=0) as store:
        store.record(event_data(id=EVENT_ID))
        with pytest.raises(DuplicateEventError) as dup:
            store.record(event_data(id=EVENT_ID))
        assert dup.value.event_id == EVENT_ID

        holder = _driver(sqlite_db)
        holder.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(DatabaseLockedError):
                store.acknowledge(EVENT_ID)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert store.acknowledge(EVENT_ID)  # the lock is gone: the same call succeeds


def test_sqlite_full_disk_is_a_storage_full_error(tmp_path: Path) -> None:
    """A database that may not grow any more (max_page_count on the store's own connections)."""
    path = tmp_path / "kube9.db"
    with EventStore.open(path, metrics=False) as store:
        with store.engine.connect() as conn:
            pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()
        store.engine.dispose()

        from sqlalchemy import event as sa_event

        @sa_event.listens_for(store.engine, "connect")
        def _cap(dbapi_connection: Any, _record: object) -> None:
            dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")

        with pytest.raises(StorageFullError):
            store.record_many(
                [event_data(title=f"t{i}", description="x" * 900) for i in range(500)]
            )
        assert store.count() == 0  # the batch was refused whole


def test_sqlite_not_a_database_is_a_schema_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"not a database at all" * 400)
    with pytest.raises(SchemaError, match="not a SQLite database"):
        EventStore.open(path)


def test_read_only_store_refuses_writes(sqlite_db: Path) -> None:
    with (
        EventStore.open(sqlite_db, read_only=True, metrics=False) as store,
        pytest.raises(ReadOnlyError),
    ):
        store.record(event_data())


# -- PostgreSQL: SQLSTATE codes --------------------------------------------------------------


def test_postgresql_codes_map_to_kinds(pg_url: URL) -> None:
    import psycopg

    EventStore.open(pg_url, metrics=False).close()
    backend = backend_for(pg_url)
    with backend.engine.connect() as conn:
        raw: Any = conn.connection.driver_connection
        raw.autocommit = True
        raw.execute(INSERT.replace("?", "%s"), (EVENT_ID,))
        dup = _raised(lambda: raw.execute(INSERT.replace("?", "%s"), (EVENT_ID,)))
        assert backend.classify(dup) is ErrorKind.DUPLICATE_ID
        other = _raised(
            lambda: raw.execute("INSERT INTO schema_version VALUES (1, '2025-12-02', 'again')")
        )
        assert backend.classify(other) is ErrorKind.CONSTRAINT
    backend.dispose()

    holder = backend_for(pg_url)
    waiter = backend_for(pg_url, ConnectionSettings(busy_timeout=0.1))
    with holder.engine.connect() as conn:
        conn.execute(text("LOCK TABLE events IN ACCESS EXCLUSIVE MODE"))
        with waiter.engine.connect() as other_conn:
            lock = _raised(lambda: other_conn.execute(text("SELECT 1 FROM events")))
        conn.rollback()
    assert backend.kind_of(lock) is ErrorKind.BUSY
    holder.dispose()
    waiter.dispose()

    ro = backend_for(pg_url, ConnectionSettings(read_only=True))
    with ro.engine.connect() as conn:
        refused = _raised(
            lambda: conn.execute(text(INSERT.replace("?", "'evt_20251202_103045_dddddd'")))
        )
    assert ro.kind_of(refused) is ErrorKind.READ_ONLY
    ro.dispose()

    dead = backend_for(make_url(PG_URL).set(port=1))
    unreachable = _raised(lambda: dead.engine.connect())
    assert dead.kind_of(unreachable) is ErrorKind.UNAVAILABLE
    assert isinstance(dead.translate(unreachable, "connect"), DatabaseUnavailableError)
    assert psycopg.errors.LockNotAvailable.sqlstate == "55P03"


@pytest.mark.slow  # it waits out a lock timeout
def test_postgresql_lock_timeout_is_retried_then_locked(pg_url: URL) -> None:
    """A write blocked past lock_timeout is retried (not reported unavailable), and succeeds
    once the lock is released."""
    with EventStore.open(pg_url, metrics=False, busy_timeout=0.05) as store:
        store.record(event_data(id=EVENT_ID))
        holder = backend_for(pg_url)
        with holder.engine.connect() as conn:
            conn.execute(text("LOCK TABLE events IN ACCESS EXCLUSIVE MODE"))
            with pytest.raises(DatabaseLockedError):
                store.acknowledge(EVENT_ID)
            release = threading.Timer(0.1, conn.rollback)
            release.start()
            assert store.acknowledge(EVENT_ID)
            release.join()
        holder.dispose()


def test_maintenance_only_files_have_is_one_clear_error(pg_url: URL, tmp_path: Path) -> None:
    with EventStore.open(pg_url, metrics=False) as store:
        for call in (
            store.vacuum,
            lambda: store.integrity_check(),
            lambda: store.backup(tmp_path / "b.db"),
        ):
            with pytest.raises(UnsupportedOperationError, match="not available on postgresql"):
                call()


# -- a statement that cannot run as written is a defect, never an outage ------------------


def test_sqlite_programming_errors_are_internal_errors(sqlite_db: Path) -> None:
    from kube9_store.errors import InternalError

    backend = backend_for(sqlite_url(sqlite_db))
    con = _driver(sqlite_db)
    # the shape of a column declared in the schema but not bound: too few bindings
    miscounted = _raised(lambda: con.execute(INSERT, ()))
    no_column = _raised(lambda: con.execute("SELECT no_such_column FROM events"))
    con.close()
    for exc in (miscounted, no_column):
        assert backend.classify(exc) is ErrorKind.PROGRAMMING
        error = backend.translate(exc, "record")
        assert isinstance(error, InternalError) and not isinstance(error, DatabaseUnavailableError)
        assert str(error).startswith("record: ")
    backend.dispose()


def test_postgresql_programming_errors_are_internal_errors(pg_url: URL) -> None:
    from kube9_store.errors import InternalError

    EventStore.open(pg_url, metrics=False).close()
    backend = backend_for(pg_url)
    with backend.engine.connect() as conn:
        raw: Any = conn.connection.driver_connection
        raw.autocommit = True
        no_column = _raised(lambda: raw.execute("SELECT no_such_column FROM events"))
        miscounted = _raised(lambda: raw.execute(INSERT.replace("?", "%s"), ()))
    for exc in (no_column, miscounted):
        assert backend.classify(exc) is ErrorKind.PROGRAMMING
        assert isinstance(backend.translate(exc, "record"), InternalError)
    backend.dispose()
