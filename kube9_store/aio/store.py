"""AsyncEventStore: the event store for asyncio applications (kopf handlers, FastAPI, aiohttp).

Every call of :class:`~kube9_store.store.eventstore.EventStore` is offered as a coroutine with
the same arguments, results and errors (generated from the store's methods into
:mod:`~kube9_store.aio.surface`; see :mod:`~kube9_store.store.surface`). The blocking work
(validation, SQL, VACUUM, backups) runs in threads the store owns, so the event loop keeps
serving other handlers while SQLite waits on a lock or copies a file. On SQLite, writes go
through one writer thread, in order: two writes of the same process never wait on each other's
lock inside SQLite. Reads run in a small pool beside it.

Cancellation never leaves a half-done write. A write cancelled before its thread picked it up
never runs; one cancelled while running is allowed to finish (it commits or rolls back whole),
and only then is the CancelledError raised, carrying a :class:`WriteOutcome` that says which
(:func:`~kube9_store.aio.cancellation.write_outcome`). Reads are simply abandoned.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from sqlalchemy import Engine
from sqlalchemy.engine import URL

from kube9_store import checks
from kube9_store.aio.cancellation import WriteOutcome, complete, write_outcome
from kube9_store.aio.retention import AsyncRetentionRunner, OnResult, check_interval
from kube9_store.aio.surface import AsyncStoreMethods
from kube9_store.aio.workers import DEFAULT_MAX_WORKERS, check_workers
from kube9_store.backends import Backend
from kube9_store.config import DbLocation, Synchronous
from kube9_store.errors import ValidationError
from kube9_store.events.event import Event
from kube9_store.events.models import EventFilter
from kube9_store.events.timestamps import utcnow
from kube9_store.operations.retention import RetentionPolicy
from kube9_store.store.eventstore import EventStore

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_MAX_WORKERS",
    "AsyncEventStore",
    "AsyncRetentionRunner",
    "WriteOutcome",
    "write_outcome",
]


class AsyncEventStore(AsyncStoreMethods):
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
        if serialize_writes is None:
            serialize_writes = store.backend.path is not None  # one file, one writer at a time
        super().__init__(max_workers=max_workers, serialize_writes=serialize_writes)
        self.store = store
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
        check_workers(max_workers)
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
        self._shutdown_workers()
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

    # -- reading every match ------------------------------------------------------------------

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
        check_workers(max_workers)
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
