"""EventStore: record, get, query, count and acknowledge events.

Threading model: one store per process, shared by any number of threads. Each call checks a
connection out of the engine's pool for its own duration, so threads never share a connection.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Self, TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Row,
    bindparam,
    func,
    insert,
    select,
    tuple_,
    update,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL

from kube9_store import snapshots
from kube9_store.backends import sqlite_maintenance as maintenance
from kube9_store.backends.sqlite import Synchronous
from kube9_store.backends.sqlite_maintenance import BackupResult, IntegrityResult, SizeInfo
from kube9_store.config import DbLocation, resolve_url, sqlite_file
from kube9_store.database import open_engine
from kube9_store.engine import write_engine
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
from kube9_store.ids import random_suffix
from kube9_store.models import Event, EventFilter, NewEvent, dump_metadata
from kube9_store.retention import (
    VACUUM_FREE_SHARE,
    RetentionPolicy,
    RetentionResult,
    apply_retention,
)
from kube9_store.schema import HEAD_VERSION, event_counts, events
from kube9_store.timestamps import format_timestamp, utcnow

log = logging.getLogger(__name__)

T = TypeVar("T")

#: How many fresh ids an insert tries before giving up on a colliding generated id.
ID_ATTEMPTS = 8
#: How often a write that still meets SQLITE_BUSY after the busy timeout is retried.
BUSY_RETRIES = 5
BUSY_BACKOFF_S = 0.05

_NEWEST_FIRST = (events.c.created_at.desc(), events.c.id.desc())
_INSERT = insert(events)
_GET = select(events).where(events.c.id == bindparam("event_id"))
_ACK = (
    update(events)
    .where(events.c.id == bindparam("event_id"))
    .values(acknowledged=bindparam("value"))
)
_COUNT_COLUMNS = frozenset({"event_type", "severity"})


@dataclass(frozen=True)
class Page:
    """One page of a keyset-paginated query; ``next_cursor`` is None on the last page."""

    events: list[Event]
    next_cursor: str | None


def encode_cursor(event: Event) -> str:
    """An opaque cursor pointing just after ``event`` in newest-first order."""
    raw = json.dumps([event.created_at, event.id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created_at, event_id = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if isinstance(created_at, str) and isinstance(event_id, str):
            return created_at, event_id
    except (ValueError, TypeError, binascii.Error, UnicodeError):
        pass
    raise ValidationError.single("cursor", "is not a cursor returned by a previous page")


def _row_to_event(row: Row[Any]) -> Event:
    m = row.metadata
    return Event.model_construct(
        id=row.id,
        event_type=row.event_type,
        severity=row.severity,
        title=row.title,
        description=row.description,
        object_kind=row.object_kind,
        object_namespace=row.object_namespace,
        object_name=row.object_name,
        metadata=json.loads(m) if m is not None else None,
        created_at=row.created_at,
        acknowledged=bool(row.acknowledged),
    )


def _id_for(created_at: str) -> str:
    """A fresh id whose time part is the event's own time (ids sort like events)."""
    c = created_at
    return f"evt_{c[0:4]}{c[5:7]}{c[8:10]}_{c[11:13]}{c[14:16]}{c[17:19]}_{random_suffix()}"


def _is_id_conflict(exc: sa_exc.IntegrityError) -> bool:
    text = str(exc.orig).lower()
    return ("unique" in text and "events.id" in text) or "events_pkey" in text


def _is_busy(exc: sa_exc.OperationalError) -> bool:
    return "database is locked" in str(exc.orig).lower()


def _check_limit(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValidationError.single(name, f"must be an integer >= {minimum}, got {value!r}")
    return value


def where_clauses(flt: EventFilter | None) -> list[ColumnElement[bool]]:
    """The WHERE terms of a filter, all as bound parameters."""
    if flt is None:
        return []
    c = events.c
    out: list[ColumnElement[bool]] = []
    if flt.event_type:
        out.append(
            c.event_type == flt.event_type[0]
            if len(flt.event_type) == 1
            else c.event_type.in_(flt.event_type)
        )
    if flt.severity:
        out.append(
            c.severity == flt.severity[0]
            if len(flt.severity) == 1
            else c.severity.in_(flt.severity)
        )
    if flt.since is not None:
        out.append(c.created_at >= flt.since)
    if flt.until is not None:
        out.append(c.created_at < flt.until)
    if flt.object_kind is not None:
        out.append(c.object_kind == flt.object_kind)
    if flt.object_namespace is not None:
        out.append(c.object_namespace == flt.object_namespace)
    if flt.object_name is not None:
        out.append(c.object_name == flt.object_name)
    if flt.acknowledged is not None:
        out.append(c.acknowledged == int(flt.acknowledged))
    return out


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
    ) -> None:
        self.engine = engine
        self.url = url
        self.read_only = read_only
        self.clock = clock
        self.retention = retention if retention is not None else RetentionPolicy()
        self.path = sqlite_file(url)
        self._writer = write_engine(engine)

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
        extra_version_locations: Sequence[str] = (),
    ) -> Self:
        """Open (creating and migrating when needed) the database at ``db``: a path or a
        SQLAlchemy URL; None means $KUBE9_DB_URL, else $DB_PATH/kube9.db, else /data/kube9.db.

        ``read_only`` never creates, migrates or writes; ``migrate=False`` refuses a database
        that is behind instead of upgrading it. ``synchronous="FULL"`` trades insert speed for
        durability across power loss. ``retention`` defaults to the environment
        ($EVENT_RETENTION_INFO_WARNING_DAYS, $EVENT_RETENTION_ERROR_CRITICAL_DAYS), else the
        spec's 7 and 30 days.
        """
        if synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValidationError.single(
                "synchronous", f"must be OFF, NORMAL, FULL or EXTRA, got {synchronous!r}"
            )
        if (
            isinstance(busy_timeout, bool)
            or not isinstance(busy_timeout, int | float)
            or (busy_timeout < 0)
        ):
            raise ValidationError.single("busy_timeout", "must be a number of seconds >= 0")
        url = resolve_url(db)
        policy = retention if retention is not None else RetentionPolicy.from_env()
        engine = open_engine(
            url,
            read_only=read_only,
            migrate=migrate,
            synchronous=synchronous,
            busy_timeout=busy_timeout,
            extra_version_locations=extra_version_locations,
        )
        return cls(engine, url=url, read_only=read_only, clock=clock, retention=policy)

    def close(self) -> None:
        """Release every pooled connection (the WAL is checkpointed by the last one)."""
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "read-only" if self.read_only else "read-write"
        return f"EventStore({self.url.render_as_string()!r}, {mode})"

    # -- writing -----------------------------------------------------------------------------

    def write(self, action: str, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in one write transaction, retrying a bounded number of times (with
        backoff) when the database stays locked past the busy timeout."""
        if self.read_only:
            raise ReadOnlyError(f"{action}: this store was opened read-only")
        delay = BUSY_BACKOFF_S
        for attempt in range(BUSY_RETRIES + 1):
            try:
                with self._writer.begin() as conn:
                    return work(conn)
            except sa_exc.OperationalError as exc:
                if not _is_busy(exc) or attempt == BUSY_RETRIES:
                    if _is_busy(exc):
                        raise DatabaseLockedError(
                            f"{action}: the database stayed locked through {BUSY_RETRIES} "
                            "retries after the busy timeout"
                        ) from exc
                    raise translate(exc, action) from exc
                log.warning("%s: database busy, retry %d in %.2fs", action, attempt + 1, delay)
                time.sleep(delay)
                delay *= 2
            except (sa_exc.IntegrityError, DuplicateEventError, ValidationError):
                raise
            except sa_exc.SQLAlchemyError as exc:
                raise translate(exc, action) from exc
        raise AssertionError("unreachable")

    def _to_row(self, event: NewEvent) -> dict[str, Any]:
        created_at = event.created_at or format_timestamp(self.clock())
        return {
            "id": event.id or _id_for(created_at),
            "event_type": event.event_type,
            "severity": event.severity,
            "title": event.title,
            "description": event.description,
            "object_kind": event.object_kind,
            "object_namespace": event.object_namespace,
            "object_name": event.object_name,
            "metadata": dump_metadata(event.metadata),
            "created_at": created_at,
            "acknowledged": 0,
        }

    def record(self, event: NewEvent | Mapping[str, Any]) -> Event:
        """Validate, redact and store one event in its own transaction; return it as stored."""
        new = NewEvent.parse(event)
        row = self._to_row(new)
        for _attempt in range(ID_ATTEMPTS):
            try:
                self.write("record event", lambda conn: conn.execute(_INSERT, row))
                return _event_from_row_dict(row, new)
            except sa_exc.IntegrityError as exc:
                if not _is_id_conflict(exc):
                    raise translate(exc, "record event") from exc
                if new.id is not None:
                    raise DuplicateEventError(new.id) from exc
                log.info("generated id %s collided; retrying with a fresh one", row["id"])
                row["id"] = _id_for(row["created_at"])
        raise DuplicateEventError(row["id"])

    def record_many(
        self, batch: Iterable[NewEvent | Mapping[str, Any]], *, skip_existing: bool = False
    ) -> list[Event]:
        """Store a batch in one transaction: every event or none of them.

        ``skip_existing`` makes re-recording idempotent: events whose explicit id is already
        stored (or repeated in the batch) are left out, and only the new ones are returned.
        """
        news: list[NewEvent] = []
        problems: list[FieldProblem] = []
        for i, item in enumerate(batch):
            try:
                news.append(NewEvent.parse(item))
            except ValidationError as exc:
                problems.extend(FieldProblem(f"[{i}].{p.field}", p.rule) for p in exc.problems)
        if problems:
            raise ValidationError(problems)
        if skip_existing:
            news = self._drop_known(news)
        if not news:
            return []
        rows = [self._to_row(n) for n in news]
        explicit = {n.id for n in news if n.id is not None}
        if len(explicit) != sum(1 for n in news if n.id is not None):
            seen: set[str] = set()
            for n in news:
                if n.id in seen:
                    raise DuplicateEventError(n.id)
                if n.id is not None:
                    seen.add(n.id)
        for _attempt in range(ID_ATTEMPTS):
            self._renew_batch_duplicates(rows, news)
            try:
                self.write("record events", lambda conn: conn.execute(_INSERT, rows))
                return [_event_from_row_dict(r, n) for r, n in zip(rows, news, strict=True)]
            except sa_exc.IntegrityError as exc:
                if not _is_id_conflict(exc):
                    raise translate(exc, "record events") from exc
                taken = self._existing_ids([r["id"] for r in rows])
                clash = taken & explicit
                if clash:
                    raise DuplicateEventError(sorted(clash)[0]) from exc
                for r in rows:
                    if r["id"] in taken:
                        r["id"] = _id_for(r["created_at"])
        raise DuplicateEventError(rows[0]["id"])

    def _drop_known(self, news: list[NewEvent]) -> list[NewEvent]:
        known = self._existing_ids([n.id for n in news if n.id is not None])
        kept: list[NewEvent] = []
        for n in news:
            if n.id is None or n.id not in known:
                kept.append(n)
                if n.id is not None:
                    known.add(n.id)
        return kept

    @staticmethod
    def _renew_batch_duplicates(rows: list[dict[str, Any]], news: list[NewEvent]) -> None:
        seen: set[str] = {n.id for n in news if n.id is not None}
        for r, n in zip(rows, news, strict=True):
            if n.id is None:
                while r["id"] in seen:
                    r["id"] = _id_for(r["created_at"])
                seen.add(r["id"])

    def _existing_ids(self, ids: list[str]) -> set[str]:
        found: set[str] = set()
        with translated("check event ids"), self.engine.connect() as conn:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                found.update(
                    conn.execute(select(events.c.id).where(events.c.id.in_(chunk))).scalars()
                )
        return found

    def acknowledge(self, event_id: str, acknowledged: bool = True) -> bool:
        """Mark an event (un)acknowledged; False when no event has that id."""
        if not isinstance(event_id, str):
            raise ValidationError.single("event_id", "must be a string")
        result = self.write(
            "acknowledge event",
            lambda conn: conn.execute(_ACK, {"event_id": event_id, "value": int(acknowledged)}),
        )
        return bool(result.rowcount)

    # -- reading -----------------------------------------------------------------------------

    def get(self, event_id: str) -> Event | None:
        """The event with this id, or None."""
        if not isinstance(event_id, str):
            raise ValidationError.single(
                "event_id", f"must be a string, got {type(event_id).__name__}"
            )
        with translated("get event"), self.engine.connect() as conn:
            row = conn.execute(_GET, {"event_id": event_id}).first()
        return _row_to_event(row) if row is not None else None

    def query(
        self,
        flt: EventFilter | Mapping[str, Any] | None = None,
        limit: int | None = 50,
        offset: int = 0,
        *,
        cursor: str | None = None,
    ) -> list[Event]:
        """Matching events, newest first (ties broken by id, descending), one page.

        ``cursor`` (from :meth:`page` or :func:`encode_cursor`) starts just after that event:
        keyset pagination, as fast 1000 pages deep as on the first.
        """
        f = EventFilter.parse(flt) if flt is not None else None
        conds = where_clauses(f)
        if limit is not None:
            _check_limit("limit", limit, 1)
        _check_limit("offset", offset, 0)
        if cursor is not None:
            if not isinstance(cursor, str):
                raise ValidationError.single("cursor", "must be a string")
            created_at, after_id = decode_cursor(cursor)
            conds.append(tuple_(events.c.created_at, events.c.id) < tuple_(created_at, after_id))
        stmt = select(events).where(*conds).order_by(*_NEWEST_FIRST).limit(limit)
        if offset:
            stmt = stmt.offset(offset)
        with translated("query events"), self.engine.connect() as conn:
            return [_row_to_event(r) for r in conn.execute(stmt)]

    def page(
        self,
        flt: EventFilter | Mapping[str, Any] | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """One keyset page and the cursor of the next (None when this is the last)."""
        _check_limit("limit", limit, 1)
        rows = self.query(flt, limit + 1, cursor=cursor)
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(rows, encode_cursor(rows[-1]) if more else None)

    def count(self, flt: EventFilter | Mapping[str, Any] | None = None) -> int:
        """How many events match; filters on type and severity alone are answered from the
        trigger-maintained counts without touching the events."""
        f = EventFilter.parse(flt) if flt is not None else None
        set_fields = f.model_dump(exclude_none=True).keys() if f is not None else set()
        if set_fields <= _COUNT_COLUMNS:
            stmt = select(func.coalesce(func.sum(event_counts.c.n), 0))
            if f is not None and f.event_type:
                stmt = stmt.where(event_counts.c.event_type.in_(f.event_type))
            if f is not None and f.severity:
                stmt = stmt.where(event_counts.c.severity.in_(f.severity))
        else:
            stmt = select(func.count()).select_from(events).where(*where_clauses(f))
        with translated("count events"), self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    def _counts_by(self, column: str) -> dict[str, int]:
        col = event_counts.c[column]
        total = func.sum(event_counts.c.n)
        stmt = select(col, total).group_by(col).having(total > 0).order_by(col)
        with translated("count events"), self.engine.connect() as conn:
            return {key: int(n) for key, n in conn.execute(stmt)}

    def count_by_type(self) -> dict[str, int]:
        """Events per event_type (types with none are left out)."""
        return self._counts_by("event_type")

    def count_by_severity(self) -> dict[str, int]:
        """Events per severity (severities with none are left out)."""
        return self._counts_by("severity")

    def _scalar(self, stmt: Any, params: Mapping[str, Any] | None = None) -> int:
        with translated("read events"), self.engine.connect() as conn:
            return int(conn.execute(stmt, dict(params or {})).scalar_one())

    # -- retention and maintenance -----------------------------------------------------------

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
        file is vacuumed (None disables that); the planner statistics are refreshed either way.
        """
        result = apply_retention(
            self, policy or self.retention, now=now, batch_size=batch_size, dry_run=dry_run
        )
        if not dry_run and self.path is not None and result.deleted:
            with translated("maintain after retention"):
                with self.engine.connect() as conn:
                    share = maintenance.free_share(conn)
                if vacuum_free_share is not None and share >= vacuum_free_share:
                    maintenance.vacuum(self.engine)
                    result.vacuumed = True
                else:
                    maintenance.optimize(self.engine)
        return result

    def _sqlite_only(self, action: str) -> None:
        if self.engine.dialect.name != "sqlite":
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
        """The database (page_count x page_size) and its -wal file, as separate figures."""
        self._sqlite_only("size_bytes")
        with translated("read size"), self.engine.connect() as conn:
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


def _event_from_row_dict(row: dict[str, Any], new: NewEvent) -> Event:
    return Event.model_construct(
        id=row["id"],
        event_type=row["event_type"],
        severity=row["severity"],
        title=row["title"],
        description=row["description"],
        object_kind=row["object_kind"],
        object_namespace=row["object_namespace"],
        object_name=row["object_name"],
        metadata=new.metadata,
        created_at=row["created_at"],
        acknowledged=False,
    )
