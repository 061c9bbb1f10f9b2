"""What an asyncio caller pays per call, and what the other mechanism would have cost.

- ``sync store``: EventStore.record / get, called directly (the baseline).
- ``AsyncEventStore``: the same calls awaited; the work runs in the store's own threads.
- ``asyncio.to_thread``: the sync store through the loop's default executor.
- ``SQLAlchemy Core, sync`` and ``SQLAlchemy asyncio``: the same INSERT (of an already validated
  row) or SELECT through SQLAlchemy, on a plain engine and on an async one (aiosqlite on SQLite,
  psycopg's async mode on PostgreSQL). Their difference is what the asyncio extension adds
  per call; the difference between the first two is what the thread hop adds.

Each round awaits CALLS calls one after another inside one run of the loop, so the loop's own
start-up is spread over them; medians are per call. Every implementation writes to a private
copy of the benchmark database.

    python -m pytest benchmarks/test_async.py --scale 100k
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Coroutine, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine, bindparam, create_engine, event, insert, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from benchmarks.conftest import record, working_database
from benchmarks.datagen import NOW, Clock
from benchmarks.workload import EVENT
from kube9_store import EventStore, NewEvent
from kube9_store.aio.store import AsyncEventStore
from kube9_store.config import sqlite_url
from kube9_store.events.ids import ALPHABET, event_id_at
from kube9_store.events.timestamps import format_timestamp
from kube9_store.schema.tables import EVENT_COLUMNS, events

STORED = NewEvent(**EVENT)

CALLS = 200
ROUNDS = 10
IMPLS = [
    "sync store",
    "AsyncEventStore",
    "asyncio.to_thread",
    "SQLAlchemy Core, sync",
    "SQLAlchemy asyncio",
]


class Setup:
    """One private database opened every way, and a loop to run the async ones on."""

    def __init__(self, location: Any, backend: str) -> None:
        self.backend = backend
        self.url: URL = location if isinstance(location, URL) else sqlite_url(Path(location))
        self.loop = asyncio.new_event_loop()
        self.store = EventStore.open(self.url, clock=Clock(NOW), registry=CollectorRegistry())
        self.astore = self.loop.run_until_complete(
            AsyncEventStore.open(self.url, clock=Clock(NOW), registry=CollectorRegistry())
        )
        self.engine: Engine = create_engine(self.url)
        self.aengine: AsyncEngine = create_async_engine(self._async_url())
        if backend == "sqlite":
            _store_pragmas(self.engine)
            _store_pragmas(self.aengine.sync_engine)
        self.ids = [e.id for e in self.store.query(limit=2000)]

    def _async_url(self) -> URL:
        name = "sqlite+aiosqlite" if self.backend == "sqlite" else "postgresql+psycopg"
        return make_url(self.url).set(drivername=name)

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        self.run(self.astore.close())
        self.run(self.aengine.dispose())
        self.loop.close()
        self.engine.dispose()
        self.store.close()


def _store_pragmas(engine: Engine) -> None:
    """The settings the store gives its SQLite connections, so only the mechanism differs."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: object) -> None:
        cur = dbapi_connection.cursor()
        for pragma in ("synchronous = NORMAL", "temp_store = MEMORY", "busy_timeout = 5000"):
            cur.execute(f"PRAGMA {pragma}")
        cur.close()


@pytest.fixture(scope="module")
def setup(n: int, backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    tmp = tmp_path_factory.mktemp(f"async-{backend}-{n}")
    with working_database(n, backend, tmp) as (location, _raw, _path):
        s = Setup(location, backend)
        try:
            yield s
        finally:
            s.close()


INSERT = insert(events).values({name: bindparam(name) for name in EVENT_COLUMNS})
GET = select(events).where(events.c.id == bindparam("id"))


_row_clock = Clock(NOW + timedelta(days=20))  # a time range the store's own events never reach
_serial = itertools.count()


def _row() -> dict[str, Any]:
    """The benchmark event as the store would store it (for the SQLAlchemy runs, which do not
    validate); ids from a counter, so none repeats."""
    created_at = format_timestamp(_row_clock())
    n, suffix = next(_serial), ""
    for _ in range(6):
        n, digit = divmod(n, len(ALPHABET))
        suffix += ALPHABET[digit]
    return {
        "id": event_id_at(created_at, suffix),
        "event_type": STORED.event_type,
        "severity": STORED.severity,
        "title": STORED.title,
        "description": STORED.description,
        "object_kind": STORED.object_kind,
        "object_namespace": STORED.object_namespace,
        "object_name": STORED.object_name,
        "metadata": STORED.metadata_json,
        "created_at": created_at,
        "acknowledged": 0,
    }


def _record_calls(s: Setup, impl: str) -> Callable[[], Any]:
    """CALLS one-event writes, each its own transaction, run one after another."""
    if impl == "sync store":
        return lambda: [s.store.record(NewEvent(**EVENT)) for _ in range(CALLS)]
    if impl == "SQLAlchemy Core, sync":

        def core_sync() -> None:
            for _ in range(CALLS):
                with s.engine.begin() as conn:
                    conn.execute(INSERT, _row())

        return core_sync

    async def calls() -> None:
        for _ in range(CALLS):
            if impl == "AsyncEventStore":
                await s.astore.record(NewEvent(**EVENT))
            elif impl == "asyncio.to_thread":
                await asyncio.to_thread(s.store.record, NewEvent(**EVENT))
            else:
                async with s.aengine.begin() as conn:
                    await conn.execute(INSERT, _row())

    return lambda: s.run(calls())


def _get_calls(s: Setup, impl: str) -> Callable[[], Any]:
    ids = itertools.cycle(s.ids)
    if impl == "sync store":
        return lambda: [s.store.get(next(ids)) for _ in range(CALLS)]
    if impl == "SQLAlchemy Core, sync":

        def core_sync() -> None:
            for _ in range(CALLS):
                with s.engine.connect() as conn:
                    conn.execute(GET, {"id": next(ids)}).one()

        return core_sync

    async def calls() -> None:
        for _ in range(CALLS):
            if impl == "AsyncEventStore":
                await s.astore.get(next(ids))
            elif impl == "asyncio.to_thread":
                await asyncio.to_thread(s.store.get, next(ids))
            else:
                async with s.aengine.connect() as conn:
                    (await conn.execute(GET, {"id": next(ids)})).one()

    return lambda: s.run(calls())


@pytest.mark.parametrize("impl", IMPLS)
def test_async_record_one_event(benchmark: Any, setup: Setup, n: int, impl: str) -> None:
    benchmark.group = f"async record one event, {setup.backend}, {n}"
    benchmark.pedantic(_record_calls(setup, impl), rounds=ROUNDS, warmup_rounds=1)
    record("record one event, async", n, impl, benchmark, setup.backend, per=CALLS)


@pytest.mark.parametrize("impl", IMPLS)
def test_async_get_by_id(benchmark: Any, setup: Setup, n: int, impl: str) -> None:
    benchmark.group = f"async get by id, {setup.backend}, {n}"
    benchmark.pedantic(_get_calls(setup, impl), rounds=ROUNDS, warmup_rounds=1)
    record("get by id, async", n, impl, benchmark, setup.backend, per=CALLS)
