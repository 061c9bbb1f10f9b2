"""Everything PostgreSQL-specific: engine settings, read-only sessions, driver-level write
transactions, the migration lock, and sizes. Used through the same API and revision chain as
SQLite (psycopg 3)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL

#: Key of the session-level advisory lock that serializes migrations of one schema.
MIGRATION_LOCK = "kube9_store migrations"


def create_pg_engine(url: URL, *, read_only: bool = False, busy_timeout: float = 5.0) -> Engine:
    """A pooled engine; every session waits at most ``busy_timeout`` for a row or table lock
    and, when ``read_only``, refuses to write."""
    engine = create_engine(url)
    lock_timeout_ms = int(busy_timeout * 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: object) -> None:
        with dbapi_connection.cursor() as cur:
            cur.execute(f"SET lock_timeout = {lock_timeout_ms:d}")
            if read_only:
                cur.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        dbapi_connection.commit()

    return engine


def begin_write(dbapi_connection: Any) -> None:
    """psycopg opens the transaction with the first statement."""


def begin_read(dbapi_connection: Any) -> None:
    """A single statement needs no explicit transaction: autocommit saves the BEGIN and the
    COMMIT or ROLLBACK round trips (set while idle, it costs none itself)."""
    dbapi_connection.autocommit = True


def end_read(dbapi_connection: Any) -> None:
    dbapi_connection.autocommit = False


def commit(dbapi_connection: Any) -> None:
    dbapi_connection.commit()


def rollback(dbapi_connection: Any) -> None:
    dbapi_connection.rollback()


@contextmanager
def migration_lock(engine: Engine) -> Iterator[None]:
    """Hold a session advisory lock (per schema) while migrating, so concurrent openers of a
    new database migrate it once."""
    with engine.connect() as conn:
        key = "SELECT hashtext(current_schema() || :name)"
        conn.execute(text(f"SELECT pg_advisory_lock(({key}))"), {"name": MIGRATION_LOCK})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text(f"SELECT pg_advisory_unlock(({key}))"), {"name": MIGRATION_LOCK})
            conn.commit()


def relation_bytes(engine: Engine) -> int:
    """Bytes used by the store's tables and their indexes in the current schema."""
    sql = text(
        "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = current_schema() AND c.relkind = 'r'"
        " AND c.relname IN ('events', 'event_counts', 'schema_version', 'alembic_version')"
    )
    with engine.connect() as conn:
        return int(conn.execute(sql).scalar_one())
