"""AsyncEventStore: the event store for asyncio applications (kopf handlers, FastAPI, aiohttp).

Every call of :class:`~kube9_store.store.EventStore` is offered as a coroutine with the same
arguments, results and errors. The blocking work (validation, SQL, VACUUM, backups) runs in
threads the store owns, so the event loop keeps serving other handlers while SQLite waits on a
lock or copies a file. On SQLite, writes go through one writer thread, in order: two writes of
the same process never wait on each other's lock inside SQLite. Reads run in a small pool
beside it.

Cancellation never leaves a half-done write. A write cancelled before its thread picked it up
never runs; one cancelled while running is allowed to finish (it commits or rolls back whole),
and only then is the CancelledError raised, carrying a :class:`WriteOutcome` that says which
(:func:`~kube9_store.cancellation.write_outcome`). Reads are simply abandoned.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, Self, TypeVar, overload

from sqlalchemy import Engine
from sqlalchemy.engine import URL

from kube9_store import checks
from kube9_store.async_retention import AsyncRetentionRunner, OnResult, check_interval
from kube9_store.backends import Backend
from kube9_store.cancellation import WriteOutcome, complete, write_outcome
from kube9_store.config import DbLocation, Synchronous
from kube9_store.errors import Kube9StoreError, StoreClosedError, ValidationError
from kube9_store.event import Event
from kube9_store.filters import Page
from kube9_store.models import EventFilter, NewEvent
from kube9_store.results import (
    BackupResult,
    IntegrityResult,
    RetentionResult,
    SizeInfo,
    VolumeInfo,
)
from kube9_store.retention import VACUUM_FREE_SHARE, RetentionPolicy
from kube9_store.store import EventStore
from kube9_store.timestamps import utcnow

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

__all__ = [
    "DEFAULT_MAX_WORKERS",
    "AsyncEventStore",
    "AsyncRetentionRunner",
    "WriteOutcome",
    "write_outcome",
]

#: Reader threads per store (each holds one pooled connection while it lives).
DEFAULT_MAX_WORKERS = 4

#: The most reader threads one store may own.
MAX_WORKERS = 64


def _check_workers(max_workers: object) -> int:
    return checks.whole_number("max_workers", max_workers, 1, MAX_WORKERS)


class AsyncEventStore:
    """The event database for asyncio code. Open with ``await AsyncEventStore.open(...)`` and
    use as ``async with``, or call :meth:`close`.

    ``max_workers`` bounds the reader threads; ``serialize_writes`` (default: on SQLite, not on
    a server) sends every write through one writer thread. ``retention_every`` starts an
    :class:`AsyncRetentionRunner` with the store (every that many seconds) and stops it with
    the store.
    """

    def __init__(
        self,
        store: EventStore,
        *,
        max_workers: int = DEFAULT_MAX_WORKERS,
        serialize_writes: bool | None = None,
        retention_every: float | None = None,
        on_retention: OnResult | None = None,
    ) -> None:
        _check_workers(max_workers)
        self.store = store
        self._readers = ThreadPoolExecutor(max_workers, thread_name_prefix="kube9-store")
        if serialize_writes is None:
            serialize_writes = store.backend.path is not None  # one file, one writer at a time
        self._writer = (
            ThreadPoolExecutor(1, thread_name_prefix="kube9-store-writer")
            if serialize_writes
            else self._readers
        )
        self._closed = False
        self.retention_runner: AsyncRetentionRunner | None = None
        if retention_every is not None:
            self.retention_runner = AsyncRetentionRunner(
                self, interval=retention_every, on_result=on_retention
            )

    # -- lifecycle ---------------------------------------------------------------------------

    @classmethod
    async def open(
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
        max_workers: int = DEFAULT_MAX_WORKERS,
        serialize_writes: bool | None = None,
        retention_every: float | None = None,
        on_retention: OnResult | None = None,
    ) -> Self:
        """Open the database as :meth:`EventStore.open` does (creating and migrating it in a
        thread, off the loop); the remaining arguments are the class's."""
        _check_workers(max_workers)
        if retention_every is not None:
            check_interval(retention_every)
            if read_only:
                raise ValidationError.single(
                    "retention_every", "a store opened read-only cannot apply retention"
                )
        store = await asyncio.to_thread(
            EventStore.open,
            db,
            read_only=read_only,
            migrate=migrate,
            synchronous=synchronous,
            busy_timeout=busy_timeout,
            clock=clock,
            retention=retention,
            registry=registry,
            metrics=metrics,
            extra_version_locations=extra_version_locations,
        )
        return cls._started(
            store,
            max_workers=max_workers,
            serialize_writes=serialize_writes,
            retention_every=retention_every,
            on_retention=on_retention,
        )

    @classmethod
    def _started(
        cls,
        store: EventStore,
        *,
        max_workers: int,
        serialize_writes: bool | None,
        retention_every: float | None,
        on_retention: OnResult | None,
    ) -> Self:
        try:
            astore = cls(
                store,
                max_workers=max_workers,
                serialize_writes=serialize_writes,
                retention_every=retention_every,
                on_retention=on_retention,
            )
        except BaseException:
            store.close()
            raise
        if astore.retention_runner is not None:
            astore.retention_runner.start()
        return astore

    async def close(self) -> None:
        """Stop the retention runner, let running work finish, release the threads and every
        pooled connection."""
        if self._closed:
            return
        self._closed = True
        if self.retention_runner is not None:
            await self.retention_runner.stop()
        await asyncio.shield(asyncio.to_thread(self._shutdown))

    def _shutdown(self) -> None:
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        self.store.close()

    async def __aenter__(self) -> Self:
        if self.retention_runner is not None:
            self.retention_runner.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def backend(self) -> Backend:
        return self.store.backend

    @property
    def engine(self) -> Engine:
        return self.store.engine

    @property
    def url(self) -> URL:
        return self.store.url

    @property
    def path(self) -> Path | None:
        """The database file, for backends that keep one; None otherwise."""
        return self.store.backend.path

    @property
    def read_only(self) -> bool:
        return self.store.read_only

    @property
    def location(self) -> str:
        return self.store.location

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.store.clock

    @property
    def retention(self) -> RetentionPolicy:
        return self.store.retention

    def __repr__(self) -> str:
        return f"Async{self.store!r}"

    # -- running work off the loop ------------------------------------------------------------

    def _submit(
        self,
        executor: ThreadPoolExecutor,
        action: str,
        fn: Callable[P, T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> Future[T]:
        if self._closed:
            raise StoreClosedError(f"{action}: the store is closed; open a new one")
        run: Callable[..., T] = contextvars.copy_context().run
        return executor.submit(run, fn, *args, **kwargs)

    async def _read(self, action: str, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a read in a reader thread; cancelling the caller abandons it."""
        return await asyncio.wrap_future(self._submit(self._readers, action, fn, *args, **kwargs))

    async def _write(self, action: str, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a write in the writer thread; a cancelled caller is told what became of it."""
        return await complete(action, self._submit(self._writer, action, fn, *args, **kwargs))

    async def _finish(
        self, action: str, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run work that changes files (backups) in a reader thread, never abandoned halfway."""
        return await complete(action, self._submit(self._readers, action, fn, *args, **kwargs))

    # -- writing -----------------------------------------------------------------------------

    async def record(self, event: NewEvent | Mapping[str, Any]) -> Event:
        """Validate, redact and store one event (see :meth:`EventStore.record`)."""
        return await self._write("record event", self.store.record, event)

    @overload
    async def record_many(
        self,
        batch: Iterable[NewEvent | Mapping[str, Any]],
        *,
        skip_existing: bool = False,
        return_events: Literal[True] = True,
    ) -> list[Event]: ...

    @overload
    async def record_many(
        self,
        batch: Iterable[NewEvent | Mapping[str, Any]],
        *,
        skip_existing: bool = False,
        return_events: Literal[False],
    ) -> list[str]: ...

    async def record_many(
        self,
        batch: Iterable[NewEvent | Mapping[str, Any]],
        *,
        skip_existing: bool = False,
        return_events: bool = True,
    ) -> list[Event] | list[str]:
        """Store a batch in one transaction (see :meth:`EventStore.record_many`)."""
        result: list[Event] | list[str] = await self._write(
            "record events",
            self.store.record_many,  # type: ignore[arg-type]
            batch,
            skip_existing=skip_existing,
            return_events=return_events,
        )
        return result

    async def acknowledge(
        self, event_id: str, acknowledged: bool = True, *, missing_ok: bool = True
    ) -> bool:
        """Mark an event (un)acknowledged; False when no event has that id (or, with
        ``missing_ok=False``, EventNotFoundError)."""
        return await self._write(
            "acknowledge event",
            self.store.acknowledge,
            event_id,
            acknowledged,
            missing_ok=missing_ok,
        )

    async def acknowledge_many(self, event_ids: Iterable[str], acknowledged: bool = True) -> int:
        """Mark the events with these ids (un)acknowledged; returns how many exist."""
        return await self._write(
            "acknowledge events", self.store.acknowledge_many, event_ids, acknowledged
        )

    async def acknowledge_matching(
        self, flt: EventFilter | Mapping[str, Any], acknowledged: bool = True
    ) -> int:
        """Mark every event matching ``flt`` (un)acknowledged; returns how many matched."""
        return await self._write(
            "acknowledge events", self.store.acknowledge_matching, flt, acknowledged
        )

    # -- reading -----------------------------------------------------------------------------

    async def get(self, event_id: str) -> Event | None:
        """The event with this id, or None."""
        return await self._read("get event", self.store.get, event_id)

    async def query(
        self,
        flt: EventFilter | Mapping[str, Any] | None = None,
        limit: int | None = 50,
        offset: int = 0,
        *,
        cursor: str | None = None,
    ) -> list[Event]:
        """Matching events, newest first, at most ``limit`` (50 unless given; None: all)."""
        return await self._read("query events", self.store.query, flt, limit, offset, cursor=cursor)

    async def page(
        self,
        flt: EventFilter | Mapping[str, Any] | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """One keyset page and the cursor of the next (None when this is the last)."""
        return await self._read("page events", self.store.page, flt, limit, cursor)

    def iter(
        self, flt: EventFilter | Mapping[str, Any] | None = None, *, page_size: int = 500
    ) -> AsyncIterator[Event]:
        """Every matching event, newest first, fetched ``page_size`` at a time (use with
        ``async for``). Bad arguments fail here, before the first page is read."""
        checks.whole_number("page_size", page_size, 1, checks.MAX_INT64 - 1)
        f = EventFilter.parse(flt) if flt is not None else None
        return self._pages(f, page_size)

    async def _pages(self, flt: EventFilter | None, page_size: int) -> AsyncIterator[Event]:
        cursor: str | None = None
        while True:
            page = await self.page(flt, page_size, cursor)
            for event in page.events:
                yield event
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def count(self, flt: EventFilter | Mapping[str, Any] | None = None) -> int:
        """How many events match."""
        return await self._read("count events", self.store.count, flt)

    async def count_by_type(self) -> dict[str, int]:
        """Events per event_type (types with none are left out)."""
        return await self._read("count events", self.store.count_by_type)

    async def count_by_severity(self) -> dict[str, int]:
        """Events per severity (severities with none are left out)."""
        return await self._read("count events", self.store.count_by_severity)

    async def counts_by_type_and_severity(self) -> dict[tuple[str, str], int]:
        """Events per (event_type, severity)."""
        return await self._read("count events", self.store.counts_by_type_and_severity)

    async def schema_version(self) -> int:
        """The schema version recorded in the spec's schema_version table."""
        return await self._read("read schema version", self.store.schema_version)

    # -- retention and maintenance -----------------------------------------------------------

    async def apply_retention(
        self,
        now: datetime | None = None,
        *,
        policy: RetentionPolicy | None = None,
        batch_size: int = 1000,
        dry_run: bool = False,
        vacuum_free_share: float | None = VACUUM_FREE_SHARE,
        progress: Callable[[int, int], None] | None = None,
    ) -> RetentionResult:
        """Delete events past the retention policy (see :meth:`EventStore.apply_retention`;
        ``progress`` is called from the store's writer thread)."""
        store = self.store
        before: list[int] = []

        def run() -> RetentionResult:
            before.append(store.count())
            return store.apply_retention(
                now,
                policy=policy,
                batch_size=batch_size,
                dry_run=dry_run,
                vacuum_free_share=vacuum_free_share,
                progress=progress,
            )

        def committed_part() -> str | None:
            """Retention commits batch by batch: a run that failed may have deleted some."""
            if not before:
                return None
            try:
                gone = before[0] - store.count()
            except Kube9StoreError:
                return "an unknown number of events deleted"
            return f"{gone} events deleted" if gone > 0 else None

        action = "apply retention"
        work = self._submit(self._writer, action, run)
        return await complete(action, work, committed_part)

    async def recount(self) -> dict[str, int]:
        """Rebuild the event counts from the events; returns the new counts by type."""
        return await self._write("recount events", self.store.recount)

    async def vacuum(self) -> SizeInfo:
        """Give the space of deleted events back to the filesystem; returns the new sizes."""
        return await self._write("vacuum", self.store.vacuum)

    async def integrity_check(self, full: bool = False) -> IntegrityResult:
        """quick_check (``full=False``) or integrity_check plus the count check."""
        return await self._read("integrity check", self.store.integrity_check, full)

    async def size(self) -> SizeInfo:
        """The database and its -wal file in bytes (on PostgreSQL, tables and indexes)."""
        return await self._read("read size", self.store.size)

    async def volume(self) -> VolumeInfo | None:
        """The filesystem holding the database file (None on a server)."""
        return await self._read("read volume", self.store.volume)

    async def storage_budget(self) -> int | None:
        """The retention policy's size budget in bytes (None: no budget)."""
        return await self._read("read storage budget", self.store.storage_budget)

    async def size_bytes(self) -> SizeInfo:
        """The same as :meth:`size` (the older name)."""
        return await self._read("read size", self.store.size_bytes)

    async def backup(self, dest: str | os.PathLike[str]) -> BackupResult:
        """A consistent, verified online copy at ``dest`` (which must not exist yet)."""
        return await self._finish("backup", self.store.backup, dest)

    async def backup_snapshot(
        self, directory: str | os.PathLike[str], *, keep_days: int = 7
    ) -> BackupResult:
        """A timestamped backup in ``directory``; snapshots older than ``keep_days`` go."""
        return await self._finish(
            "backup snapshot", self.store.backup_snapshot, directory, keep_days=keep_days
        )

    @classmethod
    async def restore(
        cls,
        backup_path: str | os.PathLike[str],
        db: DbLocation,
        *,
        max_workers: int = DEFAULT_MAX_WORKERS,
        serialize_writes: bool | None = None,
        **open_kwargs: Any,
    ) -> Self:
        """Replace the database at ``db`` with a verified backup and open it (see
        :meth:`EventStore.restore`); the swap is never abandoned halfway."""
        _check_workers(max_workers)
        with ThreadPoolExecutor(1, thread_name_prefix="kube9-store-restore") as pool:
            store = await complete(
                "restore", pool.submit(EventStore.restore, backup_path, db, **open_kwargs)
            )
        return cls._started(
            store,
            max_workers=max_workers,
            serialize_writes=serialize_writes,
            retention_every=None,
            on_retention=None,
        )
