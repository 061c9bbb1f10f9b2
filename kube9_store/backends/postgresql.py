"""The PostgreSQL backend (psycopg 3): engine settings, read-only sessions, driver-level
transactions and autocommit, the advisory migration lock, SQLSTATE error codes, and sizes.
Maintenance that a server does itself (VACUUM, backups) is left to the server's tools."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Engine, Table, bindparam, create_engine, event, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import URL, Connection
from sqlalchemy.sql.dml import Insert

from kube9_store.backends.base import Backend, Direction
from kube9_store.config import ConnectionSettings
from kube9_store.errors import ErrorKind, ValidationError
from kube9_store.results import SizeInfo
from kube9_store.schema.sortkey import BY_TEXT_AT_HEAD

#: Key of the session-level advisory lock that serializes migrations of one schema.
MIGRATION_LOCK = "kube9_store migrations"
#: The primary key constraint of the events table.
EVENTS_KEY = "events_pkey"

#: SQLSTATE codes (whole, then by class: the first two characters) and what they mean.
_SQLSTATES: dict[str, ErrorKind] = {
    "42501": ErrorKind.UNAVAILABLE,  # insufficient_privilege: the role, not the statement
    "55P03": ErrorKind.BUSY,  # lock_not_available (lock_timeout)
    "40P01": ErrorKind.BUSY,  # deadlock_detected
    "40001": ErrorKind.BUSY,  # serialization_failure
    "25006": ErrorKind.READ_ONLY,  # read_only_sql_transaction
    "53100": ErrorKind.FULL,  # disk_full
    "XX001": ErrorKind.CORRUPT,  # data_corrupted
    "XX002": ErrorKind.CORRUPT,  # index_corrupted
}
_SQLSTATE_CLASSES: dict[str, ErrorKind] = {
    "08": ErrorKind.UNAVAILABLE,  # connection exception
    "57": ErrorKind.UNAVAILABLE,  # operator intervention (shutdown, cannot connect now)
    "53": ErrorKind.FULL,  # insufficient resources
    "23": ErrorKind.CONSTRAINT,  # integrity constraint violation
    "42": ErrorKind.PROGRAMMING,  # syntax error or access rule violation (no such column...)
}


T = TypeVar("T")


class PostgreSQLBackend(Backend):
    """A schema on a PostgreSQL server."""

    name = "postgresql"
    sort_key = BY_TEXT_AT_HEAD
    maintenance_hint = "use the server's own tools (pg_dump, VACUUM, amcheck)"

    def __init__(self, url: URL, settings: ConnectionSettings) -> None:
        if url.get_driver_name() != "psycopg":
            raise ValidationError.single(
                "db", "PostgreSQL URLs must use psycopg 3: postgresql+psycopg://user@host/db"
            )
        super().__init__(url, settings)

    # A server keeps its own files: nothing here is held, checked or left beside a file.
    def hold(self) -> None:
        """Nothing to hold: a restore of a server database is the server's own business."""

    def release(self, *, refused: bool = False) -> None:
        """Nothing was held (:meth:`hold`)."""

    def check_location(self, *, must_exist: bool) -> None:
        """The server judges its URL when connecting; a missing database is its error."""

    def read_as_found(self) -> None:
        """Reading leaves nothing beside a server's database to avoid."""

    def read(self, work: Callable[[Connection], T]) -> T:
        """``work`` in one REPEATABLE READ transaction: every statement sees the same snapshot,
        so a look at the schema's state while another process migrates sees one revision's
        ``alembic_version`` and ``schema_version`` together, never one of each."""
        with self.translated(f"cannot read {self.location}"), self.engine.connect() as conn:
            return work(conn.execution_options(isolation_level="REPEATABLE READ"))

    @classmethod
    def revision_ddl(cls, revision: str, direction: Direction) -> tuple[str, ...]:
        from kube9_store.backends.postgresql_revisions import DDL

        return DDL.get((revision, direction), ())

    def create_engine(self, *, read_only: bool) -> Engine:
        """A pooled engine; every session waits at most the busy timeout for a row or table
        lock and, when ``read_only``, refuses to write."""
        engine = create_engine(self.url, max_overflow=-1)
        lock_timeout_ms = self.settings.busy_timeout_ms

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: object) -> None:
            with dbapi_connection.cursor() as cur:
                cur.execute(f"SET lock_timeout = {lock_timeout_ms:d}")
                if read_only:
                    cur.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            dbapi_connection.commit()

        return engine

    @contextmanager
    def migration_lock(self) -> Iterator[None]:
        """A session advisory lock per schema."""
        with self.engine.connect() as conn:
            key = "SELECT hashtext(current_schema() || :name)"
            conn.execute(text(f"SELECT pg_advisory_lock(({key}))"), {"name": MIGRATION_LOCK})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text(f"SELECT pg_advisory_unlock(({key}))"), {"name": MIGRATION_LOCK})
                conn.commit()

    # -- bulk writes -------------------------------------------------------------------------

    def load_rows(self, con: Any, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        """COPY into a staging table, then one insert (see ``postgresql_bulk``)."""
        from kube9_store.backends import postgresql_bulk

        return postgresql_bulk.load_rows(con, rows)

    # -- driver-level transactions -----------------------------------------------------------

    def begin(self, con: Any) -> None:
        """psycopg opens the transaction with the first statement."""

    def commit(self, con: Any) -> None:
        con.commit()

    def exclude_writers(self, con: Any, table: Table) -> None:
        """SHARE ROW EXCLUSIVE conflicts with itself and with every row change (the count
        triggers' included), and lets readers through."""
        from psycopg import sql

        con.execute(
            sql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(sql.Identifier(table.name))
        )

    def rollback(self, con: Any) -> None:
        con.rollback()

    def in_transaction(self, con: Any) -> bool:
        import psycopg

        return bool(con.info.transaction_status != psycopg.pq.TransactionStatus.IDLE)

    def enter_autocommit(self, con: Any) -> None:
        """No BEGIN and no COMMIT or ROLLBACK round trips (set while idle, it costs none)."""
        con.autocommit = True

    def leave_autocommit(self, con: Any) -> None:
        con.autocommit = False

    # -- errors ------------------------------------------------------------------------------

    def insert_if_absent(self, table: Table) -> Insert:
        return pg_insert(table).on_conflict_do_nothing()

    chunked_statements = True

    def upsert(self, table: Table, key: Sequence[str]) -> Any:
        stmt = pg_insert(table).values({c.name: bindparam(c.name) for c in table.columns})
        others = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in key}
        return stmt.on_conflict_do_update(index_elements=list(key), set_=others)

    def try_exclusive_lock(self, key: int) -> Callable[[], None] | None:
        """A session advisory lock on a connection of its own (the server drops a dead
        holder's)."""
        conn = self.engine.connect()
        try:
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
            conn.commit()
        except BaseException:
            conn.close()
            raise
        if not got:
            conn.close()
            return None

        def release() -> None:
            with contextlib.suppress(Exception):
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
            with contextlib.suppress(Exception):
                conn.close()

        return release

    def _driver_errors(self) -> tuple[type[BaseException], ...]:
        import psycopg

        return (psycopg.Error,)

    def classify(self, exc: BaseException) -> ErrorKind:
        sqlstate = getattr(exc, "sqlstate", None)
        if not isinstance(sqlstate, str):
            import psycopg  # present whenever this backend runs

            if isinstance(exc, psycopg.ProgrammingError):  # its own checks (placeholders)
                return ErrorKind.PROGRAMMING
            return ErrorKind.UNAVAILABLE  # no answer from a server: could not connect
        if sqlstate == "23505":
            diag = getattr(exc, "diag", None)
            if getattr(diag, "constraint_name", None) == EVENTS_KEY:
                return ErrorKind.DUPLICATE_ID
        found = _SQLSTATES.get(sqlstate) or _SQLSTATE_CLASSES.get(sqlstate[:2])
        return found if found is not None else ErrorKind.UNAVAILABLE

    # -- sizes -------------------------------------------------------------------------------

    def size_info(self) -> SizeInfo:
        """The store's tables with their indexes and TOAST in the current schema."""
        sql = text(
            "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = current_schema() AND c.relkind = 'r'"
            " AND c.relname IN ('events', 'event_counts', 'schema_version', 'alembic_version')"
        )
        with self.translated("read size"), self.engine.connect() as conn:
            used = int(conn.execute(sql).scalar_one())
        return SizeInfo(database_bytes=used, wal_bytes=0, free_bytes=0)

    def used_bytes(self) -> int:
        """The events table with its indexes and TOAST, scaled by the share of the table that
        live rows fill: a server keeps the space of deleted rows for reuse instead of giving it
        back, so the relation sizes alone would never fall under a budget. Reads every row."""
        sql = text(
            "SELECT pg_total_relation_size('events'), pg_relation_size('events'),"
            " (SELECT COALESCE(SUM(pg_column_size(e.*)), 0) FROM events e)"
        )
        with self.translated("read size"), self.engine.connect() as conn:
            total, heap, live = (int(v) for v in conn.execute(sql).one())
        return round(total * min(1.0, live / heap)) if heap else 0
