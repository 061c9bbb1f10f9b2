"""EventStore: record, get, query, count and acknowledge events; retention and maintenance.

Threading model: one store per process, shared by any number of threads. Each call checks a
connection out of the engine's pool for its own duration, so threads never share a connection.
Statements run through the store's :class:`~kube9_store.executor.Executor`; what differs by
database kind is the store's :class:`~kube9_store.backends.Backend`.
"""

from __future__ import annotations

import inspect
import logging
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Self, overload

from sqlalchemy import Engine, bindparam, select, update
from sqlalchemy.engine import URL

from kube9_store import checks, snapshots
from kube9_store.backends import Backend, backend_for
from kube9_store.config import ConnectionSettings, DbLocation, Synchronous, resolve_url
from kube9_store.errors import (
    DuplicateEventError,
    EventNotFoundError,
    NotEnoughSpaceError,
    SourceMissingError,
    ValidationError,
)
from kube9_store.executor import Executor
from kube9_store.filters import (
    Page,
    Shape,
    check_count,
    counted_only,
    counted_statement,
    decode_cursor,
    encode_cursor,
    shape_and_values,
    statement_for,
)
from kube9_store.ids import event_id_at
from kube9_store.instrumentation import Hooks, NoMetrics, instrumented
from kube9_store.models import Event, EventFilter, NewEvent, parse_batch
from kube9_store.opening import open_database
from kube9_store.redaction import report as report_redactions
from kube9_store.results import (
    BackupResult,
    IntegrityResult,
    RetentionResult,
    SizeInfo,
    VolumeInfo,
)
from kube9_store.retention import (
    VACUUM_FREE_SHARE,
    RetentionPolicy,
    apply_retention,
    enforce_budget,
)
from kube9_store.rows import (
    event_from_new,
    event_from_tuple,
    first_of_each_id,
    insert_rows,
    insert_rows_if_absent,
    new_row,
    refuse_repeated_ids,
    renew_repeated_ids,
)
from kube9_store.schema import HEAD_VERSION, events
from kube9_store.statements import CompiledSQL, Statements
from kube9_store.timestamps import format_timestamp, utcnow

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

log = logging.getLogger(__name__)

#: How many fresh ids an insert tries before giving up on a colliding generated id.
ID_ATTEMPTS = 8
#: How many ids one existence check sends at once.
ID_CHUNK = 500


class EventStore:
    """The event database. Open with :meth:`open`; use as a context manager or call
    :meth:`close`."""

    def __init__(
        self,
        backend: Backend,
        *,
        clock: Callable[[], datetime] = utcnow,
        retention: RetentionPolicy | None = None,
        metrics: Hooks | None = None,
    ) -> None:
        self.backend = backend
        self.clock = clock
        self._retention = retention
        self._run = Executor(backend)
        self.sql = Statements(backend.engine.dialect, backend.sort_key, backend=backend)
        self._shapes: dict[Shape, CompiledSQL] = {}
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
        settings = ConnectionSettings(
            read_only=read_only, synchronous=synchronous, busy_timeout=busy_timeout
        )
        if not isinstance(migrate, bool):
            raise ValidationError.single("migrate", "must be True or False")
        if not callable(clock):
            raise ValidationError.single("clock", "must be a function returning a datetime")
        if retention is not None and not isinstance(retention, RetentionPolicy):
            raise ValidationError.single("retention", "must be a RetentionPolicy or None")
        if not isinstance(extra_version_locations, list | tuple) or not all(
            isinstance(p, str) and p for p in extra_version_locations
        ):
            raise ValidationError.single(
                "extra_version_locations", "must be a list of directory paths"
            )
        backend = backend_for(resolve_url(db), settings)
        backend.hold()
        try:
            open_database(backend, migrate=migrate, extra_version_locations=extra_version_locations)
            return cls(
                backend,
                clock=clock,
                retention=retention,
                metrics=_metrics_for(registry) if metrics else NoMetrics(),
            )
        except BaseException:
            backend.release(refused=True)
            raise

    def close(self) -> None:
        """Close every connection (the last one checkpoints the WAL) and let go of the
        database; every later call raises StoreClosedError. Closing twice is harmless."""
        self.metrics.untrack(self)
        self._run.close()
        self.backend.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, for reads of your own (the store's writes keep its rules)."""
        return self.backend.engine

    @property
    def url(self) -> URL:
        return self.backend.url

    @property
    def read_only(self) -> bool:
        return self.backend.settings.read_only

    @property
    def location(self) -> str:
        """The database file, or the URL (password hidden) for other backends."""
        return self.backend.location

    @property
    def retention(self) -> RetentionPolicy:
        """The policy given at open, else the environment's, read when first needed (a bad
        variable fails retention, not every read)."""
        if self._retention is None:
            self._retention = RetentionPolicy.from_env()
        return self._retention

    def __repr__(self) -> str:
        mode = "read-only" if self.read_only else "read-write"
        return f"EventStore({self.location!r}, {mode})"

    # -- writing -----------------------------------------------------------------------------

    @instrumented("insert")
    def record(self, event: NewEvent | Mapping[str, Any]) -> Event:
        """Validate, redact and store one event in its own transaction; return it as stored."""
        new = NewEvent.parse(event)
        row = new_row(new, format_timestamp(self.clock()))
        insert = self.sql.insert
        for _attempt in range(ID_ATTEMPTS):
            try:
                self._run.write(
                    "record event",
                    lambda con: con.execute(insert.sql, insert.params(row)),
                    one_statement=True,
                )
                self.metrics.recorded(new.event_type, new.severity)
                if new.redactions:
                    report_redactions([(row["id"], new.redactions)])
                return event_from_new(row, new)
            except DuplicateEventError as exc:
                if new.id is not None:
                    raise DuplicateEventError(new.id) from exc
                log.info("generated id %s collided; retrying with a fresh one", row["id"])
                row["id"] = event_id_at(row["created_at"])
        raise DuplicateEventError(row["id"])

    @overload
    def record_many(
        self,
        batch: Iterable[NewEvent | Mapping[str, Any]],
        *,
        skip_existing: bool = False,
        return_events: Literal[True] = True,
    ) -> list[Event]: ...

    @overload
    def record_many(
        self,
        batch: Iterable[NewEvent | Mapping[str, Any]],
        *,
        skip_existing: bool = False,
        return_events: Literal[False],
    ) -> list[str]: ...

    def record_many(
        self,
        batch: Iterable[NewEvent | Mapping[str, Any]],
        *,
        skip_existing: bool = False,
        return_events: bool = True,
    ) -> list[Event] | list[str]:
        """Store a batch in one transaction: every event or none of them.

        ``skip_existing`` makes re-recording idempotent, also when several writers record the
        same events at once: events whose explicit id is already stored (or repeated in the
        batch) are left out by the insert itself, and only the ones stored are returned.
        ``return_events=False`` returns the stored ids instead of the events (for producers
        that keep nothing else: it saves building an Event per row).
        """
        return self._record_many(batch, skip_existing, return_events)

    @instrumented("insert")
    def _record_many(
        self,
        batch: Iterable[NewEvent | Mapping[str, Any]],
        skip_existing: bool,
        return_events: bool,
    ) -> list[Event] | list[str]:
        news = parse_batch(batch)
        if skip_existing:
            news = first_of_each_id(news)
        else:
            refuse_repeated_ids(news)
        if not news:
            return []
        now = format_timestamp(self.clock())
        rows = [new_row(n, now) for n in news]
        explicit = {n.id for n in news if n.id is not None}
        insert, if_absent = self.sql.insert, self.sql.insert_if_absent
        for _attempt in range(ID_ATTEMPTS):
            renew_repeated_ids(rows, news)
            try:
                if skip_existing:
                    inserted = self._run.write(
                        "record events",
                        lambda con: insert_rows_if_absent(con, insert, if_absent, rows, explicit),
                    )
                    kept = [(r, n) for r, n in zip(rows, news, strict=True) if r["id"] in inserted]
                else:
                    self._run.write("record events", lambda con: insert_rows(con, insert, rows))
                    kept = list(zip(rows, news, strict=True))
                for (event_type, severity), n in Counter(
                    (n.event_type, n.severity) for _r, n in kept
                ).items():
                    self.metrics.recorded(event_type, severity, n)
                report_redactions((r["id"], n.redactions) for r, n in kept)
                if not return_events:
                    return [r["id"] for r, _n in kept]
                return [event_from_new(r, n) for r, n in kept]
            except DuplicateEventError as exc:
                taken = self._existing_ids([r["id"] for r in rows])
                clash = taken & explicit
                if clash and not skip_existing:
                    raise DuplicateEventError(sorted(clash)[0]) from exc
                for r in rows:
                    if r["id"] in taken and r["id"] not in explicit:
                        r["id"] = event_id_at(r["created_at"])
        raise DuplicateEventError(rows[0]["id"])

    def _existing_ids(self, ids: list[str]) -> set[str]:
        found: set[str] = set()
        with self._run.reading("check event ids") as conn:
            for start in range(0, len(ids), ID_CHUNK):
                chunk = ids[start : start + ID_CHUNK]
                found.update(
                    conn.execute(select(events.c.id).where(events.c.id.in_(chunk))).scalars()
                )
        return found

    @instrumented("update")
    def acknowledge(
        self, event_id: str, acknowledged: bool = True, *, missing_ok: bool = True
    ) -> bool:
        """Mark an event (un)acknowledged; False when no event has that id (or, with
        ``missing_ok=False``, EventNotFoundError)."""
        checks.text("event_id", event_id)
        if not isinstance(acknowledged, bool):
            raise ValidationError.single("acknowledged", "must be True or False")
        ack = self.sql.acknowledge
        params = ack.params({"id": event_id, "ack": int(acknowledged)})
        changed = self._run.write(
            "acknowledge event",
            lambda con: con.execute(ack.sql, params).rowcount,
            one_statement=True,
        )
        if not changed and not missing_ok:
            raise EventNotFoundError(event_id)
        return bool(changed)

    @instrumented("update")
    def acknowledge_many(self, event_ids: Iterable[str], acknowledged: bool = True) -> int:
        """Mark every event whose id is given (un)acknowledged in one transaction (one
        statement per 500 ids); returns how many of the ids are stored events."""
        if isinstance(event_ids, str | bytes) or not isinstance(event_ids, Iterable):
            raise ValidationError.single("event_ids", "must be a collection of event ids")
        ids = list(dict.fromkeys(event_ids))
        for i, event_id in enumerate(ids):
            if not isinstance(event_id, str):
                raise ValidationError.single(f"event_ids[{i}]", "must be a string")
            if not event_id.isascii():
                try:
                    event_id.encode("utf-8")
                except UnicodeEncodeError:
                    raise ValidationError.single(
                        f"event_ids[{i}]", "must be valid Unicode (it holds a lone surrogate)"
                    ) from None
        if not isinstance(acknowledged, bool):
            raise ValidationError.single("acknowledged", "must be True or False")
        if not ids:
            return 0
        chunks = [ids[start : start + ID_CHUNK] for start in range(0, len(ids), ID_CHUNK)]
        compiled = {
            n: CompiledSQL.of(
                update(events)
                .where(events.c.id.in_([bindparam(f"id_{i}") for i in range(n)]))
                .values(acknowledged=bindparam("ack")),
                self.engine.dialect,
            )
            for n in {len(chunk) for chunk in chunks}
        }

        def work(con: Any) -> int:
            changed = 0
            for chunk in chunks:
                stmt = compiled[len(chunk)]
                values: dict[str, Any] = {f"id_{i}": v for i, v in enumerate(chunk)}
                values["ack"] = int(acknowledged)
                changed += con.execute(stmt.sql, stmt.params(values)).rowcount
            return changed

        return self._run.write("acknowledge events", work, one_statement=len(chunks) == 1)

    @instrumented("update")
    def acknowledge_matching(
        self, flt: EventFilter | Mapping[str, Any], acknowledged: bool = True
    ) -> int:
        """Mark every event matching ``flt`` (un)acknowledged in one statement; returns how
        many matched. An empty filter matches every event."""
        f = EventFilter.parse(flt)
        if not isinstance(acknowledged, bool):
            raise ValidationError.single("acknowledged", "must be True or False")
        shape, values = shape_and_values(f)
        stmt = update(events).values(acknowledged=bindparam("ack"))
        where = statement_for(shape, self.backend.sort_key).whereclause
        if where is not None:
            stmt = stmt.where(where)
        compiled = CompiledSQL.of(stmt, self.engine.dialect)
        params = compiled.params({**values, "ack": int(acknowledged)})
        return int(
            self._run.write(
                "acknowledge events",
                lambda con: con.execute(compiled.sql, params).rowcount,
                one_statement=True,
            )
        )

    # -- reading -----------------------------------------------------------------------------

    @instrumented("select")
    def get(self, event_id: str) -> Event | None:
        """The event with this id, or None."""
        checks.text("event_id", event_id)
        rows = self._run.fetch(self.sql.get, {"id": event_id}, "get event")
        return event_from_tuple(rows[0]) if rows else None

    @instrumented("select")
    def query(
        self,
        flt: EventFilter | Mapping[str, Any] | None = None,
        limit: int | None = 50,
        offset: int = 0,
        *,
        cursor: str | None = None,
    ) -> list[Event]:
        """Matching events, newest first, one page (equal instants: newest stored first on
        SQLite, by id descending on PostgreSQL): at most ``limit`` events, 50 unless given.

        ``limit=None`` returns every match at once; :meth:`iter` walks every match a page at a
        time. ``cursor`` (from :meth:`page`) starts just after that event: keyset pagination,
        as fast a thousand pages deep as on the first.
        """
        f = EventFilter.parse(flt) if flt is not None else None
        if limit is not None:
            check_count("limit", limit, 1)
        check_count("offset", offset, 0)
        key = decode_cursor(cursor) if cursor is not None else None
        shape, values = shape_and_values(f, cursor=key, limit=limit, offset=offset)
        rows = self._run.fetch(self._compiled(shape), values, "query events")
        return [event_from_tuple(r) for r in rows]

    def _compiled(self, shape: Shape) -> CompiledSQL:
        """The statement for a query shape, compiled once per store."""
        compiled = self._shapes.get(shape)
        if compiled is None:
            compiled = CompiledSQL.of(
                statement_for(shape, self.backend.sort_key), self.engine.dialect
            )
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

    def iter(
        self, flt: EventFilter | Mapping[str, Any] | None = None, *, page_size: int = 500
    ) -> Iterator[Event]:
        """Every matching event, newest first, fetched ``page_size`` at a time with keyset
        paging, so memory stays bounded however many match. Events recorded meanwhile that
        are newer than those already read are not visited."""
        checks.whole_number("page_size", page_size, 1, checks.MAX_INT64 - 1)
        f = EventFilter.parse(flt) if flt is not None else None
        return self._pages(f, page_size)

    def _pages(self, flt: EventFilter | None, page_size: int) -> Iterator[Event]:
        cursor: str | None = None
        while True:
            page = self.page(flt, page_size, cursor)
            yield from page.events
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    @instrumented("select")
    def count(self, flt: EventFilter | Mapping[str, Any] | None = None) -> int:
        """How many events match. No filter, or one on type and severity alone, is answered
        from the trigger-maintained counts without reading the events."""
        f = EventFilter.parse(flt) if flt is not None else None
        if not counted_only(f):
            shape, values = shape_and_values(f, count=True)
            return int(self._run.fetch(self._compiled(shape), values, "count events")[0][0])
        if f is None or not (f.event_type or f.severity):
            return int(self._run.fetch(self.sql.count_all, {}, "count events")[0][0])
        with self._run.reading("count events") as conn:
            return int(conn.execute(counted_statement(f)).scalar_one())

    @instrumented("select")
    def count_by_type(self) -> dict[str, int]:
        """Events per event_type (types with none are left out)."""
        rows = self._run.fetch(self.sql.count_by["event_type"], {}, "count")
        return {k: int(n) for k, n in rows}

    @instrumented("select")
    def count_by_severity(self) -> dict[str, int]:
        """Events per severity (severities with none are left out)."""
        rows = self._run.fetch(self.sql.count_by["severity"], {}, "count")
        return {k: int(n) for k, n in rows}

    def counts_by_type_and_severity(self) -> dict[tuple[str, str], int]:
        """Events per (event_type, severity), from the trigger-maintained counts."""
        rows = self._run.fetch(self.sql.count_pairs, {}, "count events")
        return {(t, s): int(n) for t, s, n in rows}

    def schema_version(self) -> int:
        """The schema version recorded in the spec's schema_version table."""
        return int(self._run.fetch(self.sql.schema_version, {}, "read schema version")[0][0])

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
        """Delete events past the retention policy (``now`` defaults to the store's clock), then,
        when the policy has a size budget and the used space exceeds it, the oldest events
        (info and warning first) down to the budget's low watermark.

        After a run that leaves at least ``vacuum_free_share`` of the file's pages free, the
        file is vacuumed (None disables that; servers reclaim space by themselves); when the
        filesystems lack the room VACUUM needs, it is skipped with a warning and
        ``result.vacuum_skipped`` says why.
        """
        if vacuum_free_share is not None:
            checks.share("vacuum_free_share", vacuum_free_share)
        if policy is not None and not isinstance(policy, RetentionPolicy):
            raise ValidationError.single("policy", "must be a RetentionPolicy or None")
        if not isinstance(dry_run, bool):
            raise ValidationError.single("dry_run", "must be True or False")
        batch, count = self.sql.retention_batch, self.sql.retention_count

        def delete_batch(severity: str, cutoff: str, limit: int) -> int:
            values = batch.params({"severity": severity, "cutoff": cutoff, "batch": limit})
            return self._run.write(
                "apply retention",
                lambda con: int(con.execute(batch.sql, values).rowcount),
                one_statement=True,
            )

        def count_expired(severity: str, cutoff: str) -> int:
            values = {"severity": severity, "cutoff": cutoff}
            return int(self._run.fetch(count, values, "count expired")[0][0])

        chosen = policy or self.retention
        result = apply_retention(
            chosen,
            now=now if now is not None else self.clock(),
            delete_batch=delete_batch,
            count_expired=count_expired,
            batch_size=batch_size,
            dry_run=dry_run,
        )
        if chosen.max_bytes is not None:
            result.budget_bytes = chosen.max_bytes
            result.budget_by_severity = enforce_budget(
                chosen.max_bytes,
                used_bytes=self.backend.used_bytes,
                count_events=lambda group: self.count({"severity": list(group)}),
                nth_oldest=self._nth_oldest,
                delete_batch=delete_batch,
                count_expired=count_expired,
                batch_size=batch_size,
                dry_run=dry_run,
            )
        if not dry_run and result.deleted and vacuum_free_share is not None:
            try:
                result.vacuumed = self.backend.vacuum_if_worthwhile(vacuum_free_share)
            except NotEnoughSpaceError as exc:
                result.vacuum_skipped = str(exc)
                log.warning("VACUUM after retention skipped: %s", exc)
        self.metrics.retention_ran(result)
        return result

    def _nth_oldest(self, group: tuple[str, str], skip: int) -> str | None:
        values = {"severity_0": group[0], "severity_1": group[1], "skip": skip}
        rows = self._run.fetch(self.sql.nth_oldest, values, "find budget cutoff")
        return str(rows[0][0]) if rows else None

    def recount(self) -> dict[str, int]:
        """Rebuild ``event_counts`` from the events in one transaction, for when something
        bypassed the triggers (a TRUNCATE, or INSERT OR REPLACE without recursive triggers).
        Returns the new counts by type."""
        clear, fill = self.sql.clear_counts, self.sql.fill_counts

        def rebuild(con: Any) -> None:
            con.execute(clear.sql, clear.params({}))
            con.execute(fill.sql, fill.params({}))

        self._run.write("recount events", rebuild)
        return self.count_by_type()

    def vacuum(self) -> SizeInfo:
        """Give the space of deleted events back to the filesystem; returns the new sizes."""
        self._run.check_writable("vacuum")
        self.backend.vacuum()
        return self.size_bytes()

    def integrity_check(self, full: bool = False) -> IntegrityResult:
        """quick_check (``full=False``, daily) or integrity_check plus count check (weekly)."""
        return self.backend.integrity_check(full=full)

    def size(self) -> SizeInfo:
        """The store's size: the database, its write-ahead log, and the free space inside."""
        return self.backend.size_info()

    def volume(self) -> VolumeInfo | None:
        """The filesystem holding the database file (None on a server)."""
        return self.backend.volume()

    def storage_budget(self) -> int | None:
        """The retention policy's size budget in bytes (None: no budget)."""
        return self.retention.max_bytes

    def size_bytes(self) -> SizeInfo:
        """The same as :meth:`size` (the older name)."""
        return self.backend.size_info()

    def backup(self, dest: str | os.PathLike[str]) -> BackupResult:
        """A consistent, verified online copy at ``dest``, which must not exist yet
        (DestinationExistsError); what crashed backups left in its directory is removed."""
        return self.backend.backup(checks.path("dest", dest), head_version=HEAD_VERSION)

    def backup_snapshot(
        self, directory: str | os.PathLike[str], *, keep_days: int = 7
    ) -> BackupResult:
        """A timestamped backup in ``directory`` (a name of its own even when another was
        taken the same second); snapshots older than ``keep_days`` go."""
        return snapshots.take_snapshot(
            self.backup,
            checks.path("directory", directory),
            now=self.clock(),
            keep_days=keep_days,
        )

    @classmethod
    def restore(
        cls, backup_path: str | os.PathLike[str], db: DbLocation, **open_kwargs: Any
    ) -> Self:
        """Replace the database at ``db`` with a verified copy of a backup and open it with
        ``open_kwargs``. The copy is migrated (when behind and ``migrate``) before it replaces
        anything; the previous database is kept beside it as ``<name>.pre-restore-<time>``.
        Refused (DatabaseLockedError) while any store has the database open: stop every writer
        first. See the README's "Backups" for what a crash during a restore leaves."""
        source = checks.path("backup_path", backup_path)
        try:
            found = source.is_file()
        except OSError as exc:
            raise SourceMissingError.single("backup_path", f"cannot use {source}: {exc}") from None
        if not found:
            raise SourceMissingError.single(
                "backup_path", f"{source} does not exist or is not a file"
            )
        try:
            inspect.signature(cls.open).bind(db, **open_kwargs)
        except TypeError as exc:
            raise ValidationError.single("open_kwargs", str(exc)) from None
        url = resolve_url(db)
        settings = ConnectionSettings(busy_timeout=open_kwargs.get("busy_timeout", 5.0))
        migrate = open_kwargs.get("migrate", True) is True and not open_kwargs.get("read_only")
        extra = open_kwargs.get("extra_version_locations", ())
        backend_for(url, settings).restore(
            source,
            head_version=HEAD_VERSION,
            prepare=lambda copy: open_database(
                copy, migrate=migrate, extra_version_locations=extra
            ),
        )
        return cls.open(url, **open_kwargs)


def _metrics_for(registry: CollectorRegistry | None) -> Hooks:
    from kube9_store.metrics import metrics_for

    return metrics_for(registry)
