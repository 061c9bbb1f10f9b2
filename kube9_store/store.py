"""EventStore: record, get, query, count and acknowledge events; retention and maintenance.

Threading model: one store per process, shared by any number of threads. Each call checks a
connection out of the engine's pool for its own duration, so threads never share a connection.
Record, get, acknowledge and the counts run on the pooled driver connection with statements
compiled once (see :mod:`kube9_store.statements`); filtered queries go through SQLAlchemy.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self, TypeVar

from sqlalchemy import Engine, func, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL

from kube9_store import snapshots

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
from kube9_store.backends import postgresql
from kube9_store.backends import sqlite_maintenance as maintenance
from kube9_store.backends.sqlite import Synchronous
from kube9_store.backends.sqlite_maintenance import BackupResult, IntegrityResult, SizeInfo
from kube9_store.config import DbLocation, resolve_url, sqlite_file
from kube9_store.database import open_engine
from kube9_store.engine import driver_transactions, is_sqlite, read_engine
from kube9_store.errors import (
    DatabaseLockedError,
    DuplicateEventError,
    FieldProblem,
    Kube9StoreError,
    ReadOnlyError,
    ValidationError,
    translate,
    translated,
)
from kube9_store.filters import (
    Page,
    Shape,
    check_count,
    counted_only,
    decode_cursor,
    encode_cursor,
    shape_and_values,
    statement_for,
)
from kube9_store.ids import event_id_at
from kube9_store.instrumentation import Hooks, NoMetrics, instrumented
from kube9_store.models import Event, EventFilter, NewEvent, stored_event
from kube9_store.retention import (
    VACUUM_FREE_SHARE,
    RetentionPolicy,
    RetentionResult,
    apply_retention,
)
from kube9_store.schema import EVENT_COLUMNS, HEAD_VERSION, event_counts, events
from kube9_store.statements import CompiledSQL, Statements
from kube9_store.timestamps import format_timestamp, utcnow

log = logging.getLogger(__name__)

T = TypeVar("T")

#: How many fresh ids an insert tries before giving up on a colliding generated id.
ID_ATTEMPTS = 8
#: How often a write that still meets SQLITE_BUSY after the busy timeout is retried.
BUSY_RETRIES = 5
BUSY_BACKOFF_S = 0.05
#: How many ids one existence check sends at once.
ID_CHUNK = 500


def _event_from_tuple(row: Sequence[Any]) -> Event:
    """A stored row (columns in table order) as an Event, without re-validating it."""
    metadata = row[8]
    return stored_event(
        {
            "id": row[0],
            "event_type": row[1],
            "severity": row[2],
            "title": row[3],
            "description": row[4],
            "object_kind": row[5],
            "object_namespace": row[6],
            "object_name": row[7],
            "metadata": json.loads(metadata) if metadata is not None else None,
            "created_at": row[9],
            "acknowledged": bool(row[10]),
        }
    )


def _is_id_conflict(exc: BaseException) -> bool:
    text = str(getattr(exc, "orig", exc)).lower()
    return ("unique" in text and "events.id" in text) or "events_pkey" in text


_BUSY = (
    "database is locked",  # SQLite, past the busy timeout
    "database table is locked",
    "lock timeout",  # PostgreSQL, past lock_timeout
    "deadlock detected",
    "could not serialize",
)


def _is_busy(exc: BaseException) -> bool:
    """A write that lost a race for a lock and may simply be tried again."""
    text = str(getattr(exc, "orig", exc)).lower()
    return any(marker in text for marker in _BUSY)


class EventStore:
    """The event database. Open with :meth:`open`; use as a context manager or call
    :meth:`close`."""

    def __init__(
        self,
        engine: Engine,
        *,
        url: URL,
        read_only: bool = False,
        clock: Callable[[], datetime] = utcnow,
        retention: RetentionPolicy | None = None,
        metrics: Hooks | None = None,
    ) -> None:
        self.engine = engine
        self.url = url
        self.read_only = read_only
        self.clock = clock
        self._retention = retention
        self.path = sqlite_file(url)
        self.sql = Statements(engine.dialect)
        self._reader = read_engine(engine)
        self._shapes: dict[Shape, CompiledSQL] = {}
        self._tx = driver_transactions(engine)
        dbapi = engine.dialect.loaded_dbapi
        self._integrity_error: type[Exception] = dbapi.IntegrityError
        self._operational_error: type[Exception] = dbapi.OperationalError
        self._driver_error: type[Exception] = dbapi.Error
        self.metrics: Hooks = metrics if metrics is not None else NoMetrics()
        self.metrics.track(self)

    # -- lifecycle ---------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        db: DbLocation | None = None,
        *,
        read_only: bool = False,
        migrate: bool = True,
        synchronous: Synchronous = "NORMAL",
        busy_timeout: float = 5.0,
        clock: Callable[[], datetime] = utcnow,
        retention: RetentionPolicy | None = None,
        registry: CollectorRegistry | None = None,
        metrics: bool = True,
        extra_version_locations: Sequence[str] = (),
    ) -> Self:
        """Open (creating and migrating when needed) the database at ``db``: a path or a
        SQLAlchemy URL; None means $KUBE9_DB_URL, else $DB_PATH/kube9.db, else /data/kube9.db.

        ``read_only`` never creates, migrates or writes; ``migrate=False`` refuses a database
        that is behind instead of upgrading it. ``synchronous="FULL"`` trades insert speed for
        durability across power loss. ``retention`` defaults to the environment
        ($EVENT_RETENTION_INFO_WARNING_DAYS, $EVENT_RETENTION_ERROR_CRITICAL_DAYS), else the
        spec's 7 and 30 days. Metrics go to ``registry`` (default: prometheus_client's global
        registry); ``metrics=False`` switches instrumentation off.
        """
        if synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValidationError.single(
                "synchronous", f"must be OFF, NORMAL, FULL or EXTRA, got {synchronous!r}"
            )
        if (
            isinstance(busy_timeout, bool)
            or not isinstance(busy_timeout, int | float)
            or busy_timeout < 0
        ):
            raise ValidationError.single("busy_timeout", "must be a number of seconds >= 0")
        url = resolve_url(db)
        engine = open_engine(
            url,
            read_only=read_only,
            migrate=migrate,
            synchronous=synchronous,
            busy_timeout=busy_timeout,
            extra_version_locations=extra_version_locations,
        )
        return cls(
            engine,
            url=url,
            read_only=read_only,
            clock=clock,
            retention=retention,
            metrics=_metrics_for(registry) if metrics else NoMetrics(),
        )

    def close(self) -> None:
        """Release every pooled connection (the last one checkpoints the WAL)."""
        self.metrics.untrack(self)
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def retention(self) -> RetentionPolicy:
        """The policy given at open, else the environment's, read when first needed (a bad
        variable fails retention, not every read)."""
        if self._retention is None:
            self._retention = RetentionPolicy.from_env()
        return self._retention

    @property
    def location(self) -> str:
        """The database file, or the URL (password hidden) for other backends."""
        return str(self.path) if self.path is not None else self.url.render_as_string()

    def __repr__(self) -> str:
        mode = "read-only" if self.read_only else "read-write"
        return f"EventStore({self.url.render_as_string()!r}, {mode})"

    # -- driver-level access -----------------------------------------------------------------

    def write(self, action: str, work: Callable[[Any], T], *, one_statement: bool = False) -> T:
        """Run ``work(driver_connection)`` in one write transaction. The busy timeout bounds
        each wait; a write still locked out after it is retried with backoff a bounded number
        of times, then fails with DatabaseLockedError. Integrity errors reach the caller.

        ``one_statement``: ``work`` runs a single statement, which is atomic by itself (its
        triggers included), so it runs in autocommit, without BEGIN and COMMIT round trips."""
        if self.read_only:
            raise ReadOnlyError(f"{action}: this store was opened read-only")
        delay = BUSY_BACKOFF_S
        for attempt in range(BUSY_RETRIES + 1):
            try:
                proxy = self.engine.raw_connection()
                try:
                    con = proxy.driver_connection
                    if one_statement:
                        self._tx.begin_read(con)  # autocommit
                        try:
                            return work(con)
                        finally:
                            self._tx.end_read(con)
                    self._tx.begin_write(con)
                    try:
                        result = work(con)
                        self._tx.commit(con)
                    except BaseException as exc:
                        if self.engine.dialect.is_disconnect(exc, con, None):  # type: ignore[arg-type]
                            proxy.invalidate()  # never reused; the write is not retried
                        else:
                            self._tx.rollback(con)
                        raise
                    return result
                finally:
                    proxy.close()
            except self._integrity_error:
                raise
            except (self._operational_error, sa_exc.OperationalError) as exc:
                if not _is_busy(exc):
                    raise translate(exc, action) from exc
                if attempt == BUSY_RETRIES:
                    raise DatabaseLockedError(
                        f"{action}: the database stayed locked through {BUSY_RETRIES} retries "
                        "after the busy timeout"
                    ) from exc
                log.warning("%s: database busy, retry %d in %.2fs", action, attempt + 1, delay)
                time.sleep(delay)
                delay *= 2
            except (self._driver_error, sa_exc.SQLAlchemyError) as exc:
                raise translate(exc, action) from exc
        raise AssertionError("unreachable")

    def _fetch(self, stmt: CompiledSQL, values: Mapping[str, Any], action: str) -> list[Any]:
        """Run one read statement on a pooled driver connection (no BEGIN: it is its own
        snapshot)."""
        for attempt in (1, 2):
            try:
                proxy = self.engine.raw_connection()
            except (sa_exc.SQLAlchemyError, self._driver_error) as exc:  # could not connect
                raise translate(exc, action) from exc
            con: Any = proxy.driver_connection
            try:
                self._tx.begin_read(con)
                try:
                    rows: list[Any] = con.execute(stmt.sql, stmt.params(values)).fetchall()
                finally:
                    self._tx.end_read(con)
                return rows
            except self._driver_error as exc:
                if attempt == 1 and self.engine.dialect.is_disconnect(exc, con, None):  # type: ignore[arg-type]
                    proxy.invalidate()  # a server restart: retry once on a new connection
                    continue
                raise translate(exc, action) from exc
            finally:
                proxy.close()
        raise AssertionError("unreachable")

    # -- writing -----------------------------------------------------------------------------

    def _to_row(self, event: NewEvent) -> dict[str, Any]:
        created_at = event.created_at or format_timestamp(self.clock())
        return {
            "id": event.id or event_id_at(created_at),
            "event_type": event.event_type,
            "severity": event.severity,
            "title": event.title,
            "description": event.description,
            "object_kind": event.object_kind,
            "object_namespace": event.object_namespace,
            "object_name": event.object_name,
            "metadata": event.metadata_json,
            "created_at": created_at,
            "acknowledged": 0,
        }

    @instrumented("insert")
    def record(self, event: NewEvent | Mapping[str, Any]) -> Event:
        """Validate, redact and store one event in its own transaction; return it as stored."""
        new = NewEvent.parse(event)
        row = self._to_row(new)
        insert = self.sql.insert
        for _attempt in range(ID_ATTEMPTS):
            try:
                self.write(
                    "record event",
                    lambda con: con.execute(insert.sql, insert.params(row)),
                    one_statement=True,
                )
                self.metrics.recorded(new.event_type, new.severity)
                return _event_from_row(row, new)
            except self._integrity_error as exc:
                if not _is_id_conflict(exc):
                    raise translate(exc, "record event") from exc
                if new.id is not None:
                    raise DuplicateEventError(new.id) from exc
                log.info("generated id %s collided; retrying with a fresh one", row["id"])
                row["id"] = event_id_at(row["created_at"])
        raise DuplicateEventError(row["id"])

    @instrumented("insert")
    def record_many(
        self, batch: Iterable[NewEvent | Mapping[str, Any]], *, skip_existing: bool = False
    ) -> list[Event]:
        """Store a batch in one transaction: every event or none of them.

        ``skip_existing`` makes re-recording idempotent: events whose explicit id is already
        stored (or repeated in the batch) are left out, and only the new ones are returned.
        """
        news = self._validate_batch(batch)
        if skip_existing:
            news = self._drop_known(news)
        else:
            _refuse_repeated_ids(news)
        if not news:
            return []
        rows = [self._to_row(n) for n in news]
        explicit = {n.id for n in news if n.id is not None}
        insert = self.sql.insert
        for _attempt in range(ID_ATTEMPTS):
            _renew_batch_duplicates(rows, news)
            try:
                self.write("record events", lambda con: _insert_rows(con, insert, rows))
                for (event_type, severity), n in Counter(
                    (n.event_type, n.severity) for n in news
                ).items():
                    self.metrics.recorded(event_type, severity, n)
                return [_event_from_row(r, n) for r, n in zip(rows, news, strict=True)]
            except self._integrity_error as exc:
                if not _is_id_conflict(exc):
                    raise translate(exc, "record events") from exc
                taken = self._existing_ids([r["id"] for r in rows])
                clash = taken & explicit
                if clash:
                    raise DuplicateEventError(sorted(clash)[0]) from exc
                for r in rows:
                    if r["id"] in taken:
                        r["id"] = event_id_at(r["created_at"])
        raise DuplicateEventError(rows[0]["id"])

    @staticmethod
    def _validate_batch(batch: Iterable[NewEvent | Mapping[str, Any]]) -> list[NewEvent]:
        news: list[NewEvent] = []
        problems: list[FieldProblem] = []
        for i, item in enumerate(batch):
            try:
                news.append(NewEvent.parse(item))
            except ValidationError as exc:
                problems.extend(FieldProblem(f"[{i}].{p.field}", p.rule) for p in exc.problems)
        if problems:
            raise ValidationError(problems)
        return news

    def _drop_known(self, news: list[NewEvent]) -> list[NewEvent]:
        known = self._existing_ids([n.id for n in news if n.id is not None])
        kept: list[NewEvent] = []
        for n in news:
            if n.id is None or n.id not in known:
                kept.append(n)
                if n.id is not None:
                    known.add(n.id)
        return kept

    def _existing_ids(self, ids: list[str]) -> set[str]:
        found: set[str] = set()
        with translated("check event ids"), self._reader.connect() as conn:
            for start in range(0, len(ids), ID_CHUNK):
                chunk = ids[start : start + ID_CHUNK]
                found.update(
                    conn.execute(select(events.c.id).where(events.c.id.in_(chunk))).scalars()
                )
        return found

    @instrumented("update")
    def acknowledge(self, event_id: str, acknowledged: bool = True) -> bool:
        """Mark an event (un)acknowledged; False when no event has that id."""
        if not isinstance(event_id, str):
            raise ValidationError.single("event_id", "must be a string")
        if not isinstance(acknowledged, bool):
            raise ValidationError.single("acknowledged", "must be True or False")
        ack = self.sql.acknowledge
        params = ack.params({"id": event_id, "ack": int(acknowledged)})
        changed = self.write(
            "acknowledge event",
            lambda con: con.execute(ack.sql, params).rowcount,
            one_statement=True,
        )
        return bool(changed)

    # -- reading -----------------------------------------------------------------------------

    @instrumented("select")
    def get(self, event_id: str) -> Event | None:
        """The event with this id, or None."""
        if not isinstance(event_id, str):
            raise ValidationError.single(
                "event_id", f"must be a string, got {type(event_id).__name__}"
            )
        rows = self._fetch(self.sql.get, {"id": event_id}, "get event")
        return _event_from_tuple(rows[0]) if rows else None

    @instrumented("select")
    def query(
        self,
        flt: EventFilter | Mapping[str, Any] | None = None,
        limit: int | None = 50,
        offset: int = 0,
        *,
        cursor: str | None = None,
    ) -> list[Event]:
        """Matching events, newest first (ties broken by id, descending), one page.

        ``limit=None`` returns every match. ``cursor`` (from :meth:`page`) starts just after
        that event: keyset pagination, as fast a thousand pages deep as on the first.
        """
        f = EventFilter.parse(flt) if flt is not None else None
        if limit is not None:
            check_count("limit", limit, 1)
        check_count("offset", offset, 0)
        key = decode_cursor(cursor) if cursor is not None else None
        shape, values = shape_and_values(f, cursor=key, limit=limit, offset=offset)
        rows = self._fetch(self._compiled(shape), values, "query events")
        return [_event_from_tuple(r) for r in rows]

    def _compiled(self, shape: Shape) -> CompiledSQL:
        """The statement for a query shape, compiled once per store."""
        compiled = self._shapes.get(shape)
        if compiled is None:
            compiled = CompiledSQL.of(statement_for(shape), self.engine.dialect)
            self._shapes[shape] = compiled
        return compiled

    def page(
        self,
        flt: EventFilter | Mapping[str, Any] | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """One keyset page and the cursor of the next (None when this is the last)."""
        check_count("limit", limit, 1)
        rows = self.query(flt, limit + 1, cursor=cursor)
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(rows, encode_cursor(rows[-1]) if more else None)

    @instrumented("select")
    def count(self, flt: EventFilter | Mapping[str, Any] | None = None) -> int:
        """How many events match. No filter, or one on type and severity alone, is answered
        from the trigger-maintained counts without reading the events."""
        f = EventFilter.parse(flt) if flt is not None else None
        if not counted_only(f):
            shape, values = shape_and_values(f, count=True)
            return int(self._fetch(self._compiled(shape), values, "count events")[0][0])
        if f is None or not (f.event_type or f.severity):
            return int(self._fetch(self.sql.count_all, {}, "count events")[0][0])
        stmt = select(func.coalesce(func.sum(event_counts.c.n), 0))
        if f.event_type:
            stmt = stmt.where(event_counts.c.event_type.in_(f.event_type))
        if f.severity:
            stmt = stmt.where(event_counts.c.severity.in_(f.severity))
        with translated("count events"), self._reader.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    @instrumented("select")
    def count_by_type(self) -> dict[str, int]:
        """Events per event_type (types with none are left out)."""
        return {k: int(n) for k, n in self._fetch(self.sql.count_by["event_type"], {}, "count")}

    @instrumented("select")
    def count_by_severity(self) -> dict[str, int]:
        """Events per severity (severities with none are left out)."""
        return {k: int(n) for k, n in self._fetch(self.sql.count_by["severity"], {}, "count")}

    def counts_by_type_and_severity(self) -> dict[tuple[str, str], int]:
        """Events per (event_type, severity), from the trigger-maintained counts."""
        rows = self._fetch(self.sql.count_pairs, {}, "count events")
        return {(t, s): int(n) for t, s, n in rows}

    def schema_version(self) -> int:
        """The schema version recorded in the spec's schema_version table."""
        return int(self._fetch(self.sql.schema_version, {}, "read schema version")[0][0])

    # -- retention and maintenance -----------------------------------------------------------

    @instrumented("delete")
    def apply_retention(
        self,
        now: datetime | None = None,
        *,
        policy: RetentionPolicy | None = None,
        batch_size: int = 1000,
        dry_run: bool = False,
        vacuum_free_share: float | None = VACUUM_FREE_SHARE,
    ) -> RetentionResult:
        """Delete events past the retention policy (``now`` defaults to the store's clock).

        After a run that leaves at least ``vacuum_free_share`` of the file's pages free, the
        file is vacuumed (None disables that).
        """
        result = apply_retention(
            self, policy or self.retention, now=now, batch_size=batch_size, dry_run=dry_run
        )
        self.metrics.retention_ran(result)
        if not dry_run and self.path is not None and result.deleted:
            with translated("maintain after retention"):
                with self.engine.connect() as conn:
                    share = maintenance.free_share(conn)
                if vacuum_free_share is not None and share >= vacuum_free_share:
                    maintenance.vacuum(self.engine)
                    result.vacuumed = True
        return result

    def recount(self) -> dict[str, int]:
        """Rebuild ``event_counts`` from the events in one transaction, for when something
        bypassed the triggers (a TRUNCATE, or INSERT OR REPLACE without recursive triggers).
        Returns the new counts by type."""
        clear, fill = self.sql.clear_counts, self.sql.fill_counts

        def rebuild(con: Any) -> None:
            con.execute(clear.sql, clear.params({}))
            con.execute(fill.sql, fill.params({}))

        self.write("recount events", rebuild)
        return self.count_by_type()

    def _sqlite_only(self, action: str) -> None:
        if not is_sqlite(self.engine):
            raise Kube9StoreError(
                f"{action} is for SQLite databases; on {self.engine.dialect.name} use the "
                "server's own tools (pg_dump, VACUUM, amcheck)"
            )

    def vacuum(self) -> SizeInfo:
        """Give the space of deleted events back to the filesystem; returns the new sizes."""
        self._sqlite_only("vacuum")
        if self.read_only:
            raise ReadOnlyError("vacuum: this store was opened read-only")
        with translated("vacuum"):
            maintenance.vacuum(self.engine)
        return self.size_bytes()

    def integrity_check(self, full: bool = False) -> IntegrityResult:
        """quick_check (``full=False``, daily) or integrity_check plus count check (weekly)."""
        self._sqlite_only("integrity_check")
        with translated("integrity check"):
            return maintenance.integrity_check(self.engine, full=full)

    def size_bytes(self) -> SizeInfo:
        """The database (page_count x page_size) and its -wal file, as separate figures; on
        PostgreSQL, the store's tables and indexes."""
        with translated("read size"):
            if not is_sqlite(self.engine):
                used = postgresql.relation_bytes(self.engine)
                return SizeInfo(database_bytes=used, wal_bytes=0, free_bytes=0)
            with self.engine.connect() as conn:
                return maintenance.size_info(conn, self.path)

    def backup(self, dest: str | os.PathLike[str]) -> BackupResult:
        """A consistent, verified online copy at ``dest`` (which must not exist yet)."""
        self._sqlite_only("backup")
        with translated("backup"):
            return maintenance.backup(self.engine, Path(dest), head_version=HEAD_VERSION)

    def backup_snapshot(
        self, directory: str | os.PathLike[str], *, keep_days: int = 7
    ) -> BackupResult:
        """A timestamped backup in ``directory``; snapshots older than ``keep_days`` go."""
        return snapshots.take_snapshot(self, Path(directory), keep_days=keep_days)

    @classmethod
    def restore(
        cls, backup_path: str | os.PathLike[str], db: DbLocation, **open_kwargs: Any
    ) -> Self:
        """Replace the database at ``db`` with a verified backup and open it (migrating it when
        behind). Stop every writer first. The previous database is kept beside it as
        ``<name>.pre-restore-<time>``; a failed restore puts it back."""
        return snapshots.restore(cls, Path(backup_path), resolve_url(db), **open_kwargs)


def _metrics_for(registry: CollectorRegistry | None) -> Hooks:
    from kube9_store.metrics import metrics_for

    return metrics_for(registry)


def _event_from_row(row: dict[str, Any], new: NewEvent) -> Event:
    """The Event just stored from ``row`` (metadata as validated, not re-parsed)."""
    values = {name: row[name] for name in EVENT_COLUMNS}
    values["metadata"] = new.metadata
    values["acknowledged"] = False
    return stored_event(values)


def _insert_rows(con: Any, insert: CompiledSQL, rows: list[dict[str, Any]]) -> None:
    """One executemany. Rows go in (event_type, severity) order, so the count triggers of
    concurrent batches lock counter rows in the same order (no deadlock on a server)."""
    ordered = sorted(rows, key=lambda r: (r["event_type"], r["severity"]))
    cur = con.cursor()
    try:
        cur.executemany(insert.sql, [insert.params(r) for r in ordered])
    finally:
        cur.close()


def _refuse_repeated_ids(news: list[NewEvent]) -> None:
    seen: set[str] = set()
    for n in news:
        if n.id is not None:
            if n.id in seen:
                raise DuplicateEventError(n.id)
            seen.add(n.id)


def _renew_batch_duplicates(rows: list[dict[str, Any]], news: list[NewEvent]) -> None:
    """Give generated ids that repeat within the batch fresh suffixes."""
    seen: set[str] = {n.id for n in news if n.id is not None}
    for r, n in zip(rows, news, strict=True):
        if n.id is None:
            while r["id"] in seen:
                r["id"] = event_id_at(r["created_at"])
            seen.add(r["id"])
