"""What the tests and benchmarks share: the backend list, the spec's SQL, databases made the
reference operator's way, file fingerprints, event factories, PostgreSQL schemas, and the async
store driven from synchronous code (so the store suite's checks run against both stores)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
import os
import sqlite3
import threading
import uuid
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy.engine import URL, make_url

from kube9_store.aio.store import AsyncEventStore

#: Every backend the store suites run against. PostgreSQL cases need a server: they skip with
#: instructions when none answers, unless $KUBE9_REQUIRE_POSTGRES is set (CI sets it).
BACKENDS = [
    pytest.param("sqlite", marks=pytest.mark.sqlite),
    pytest.param("postgresql", marks=pytest.mark.postgresql),
]
PG_URL = os.environ.get(
    "KUBE9_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)

REPO = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent

#: The spec's version 1, verbatim (tables, indexes, initial row).
SPEC_V1_SQL = """
CREATE TABLE IF NOT EXISTS schema_version (
  version INTEGER PRIMARY KEY,
  applied_at TEXT NOT NULL,
  description TEXT
);
INSERT INTO schema_version (version, applied_at, description)
VALUES (1, '2025-12-02T00:00:00.000Z', 'Initial schema with events table');
CREATE TABLE IF NOT EXISTS events (
  id TEXT PRIMARY KEY,
  event_type TEXT NOT NULL,
  severity TEXT NOT NULL,
  title TEXT NOT NULL,
  description TEXT,
  object_kind TEXT,
  object_namespace TEXT,
  object_name TEXT,
  metadata TEXT,
  created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_events_type ON events(event_type);
CREATE INDEX IF NOT EXISTS idx_events_severity ON events(severity);
CREATE INDEX IF NOT EXISTS idx_events_created ON events(created_at DESC);
CREATE INDEX IF NOT EXISTS idx_events_object ON events(object_kind, object_namespace, object_name);
"""

#: The spec's example migration V1 -> V2, verbatim.
SPEC_V2_SQL = """
ALTER TABLE events ADD COLUMN acknowledged INTEGER DEFAULT 0;
CREATE INDEX IF NOT EXISTS idx_events_acknowledged ON events(acknowledged);
INSERT INTO schema_version (version, applied_at, description)
VALUES (2, datetime('now'), 'Added acknowledged field to events table');
"""


def build_spec_db(path: Path, *, version: int = 1, rows: int = 0) -> Path:
    """A database made the way the reference operator makes it: raw SQL, no Alembic."""
    con = sqlite3.connect(path)
    con.executescript(SPEC_V1_SQL)
    if rows:
        con.executemany(
            "INSERT INTO events (id, event_type, severity, title, description, object_kind,"
            " object_namespace, object_name, metadata, created_at)"
            " VALUES (?, 'cluster', 'warning', ?, NULL, 'Pod', 'default', ?, '{\"n\": 1}', ?)",
            (
                (
                    f"evt_20251202_{i // 3600 % 24:02d}{i // 60 % 60:02d}{i % 60:02d}_{i:06d}",
                    f"Pod BackOff {i}",
                    f"pod-{i}",
                    f"2025-12-02T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}.000Z",
                )
                for i in range(rows)
            ),
        )
    if version >= 2:
        con.executescript(SPEC_V2_SQL)
    con.commit()
    con.close()
    return path


def file_fingerprint(path: Path) -> tuple[str, int, int]:
    data = path.read_bytes()
    st = path.stat()
    return hashlib.sha256(data).hexdigest(), st.st_mtime_ns, st.st_size


def event_data(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "event_type": "operator",
        "severity": "info",
        "title": "Operator started",
        "description": "Operator v1.0.0 started in free tier with 4Gi memory",
        "metadata": {"version": "1.0.0", "tier": "free"},
    }
    base.update(overrides)
    return base


def conninfo(url: URL) -> str:
    parts = {
        "host": url.host or "127.0.0.1",
        "port": url.port or 5432,
        "dbname": url.database or "postgres",
        "user": url.username or "postgres",
    }
    if url.password:
        parts["password"] = url.password
    return " ".join(f"{k}={v}" for k, v in parts.items())


@contextlib.contextmanager
def pg_schema(server: str) -> Iterator[URL]:
    """A URL whose tables live in a fresh schema of their own, dropped afterwards."""
    import psycopg

    base = make_url(server)
    schema = f"kube9_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(conninfo(base), autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield base.update_query_dict({"options": f"-csearch_path={schema}"})
    finally:
        with psycopg.connect(conninfo(base), autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def newest_first(store: Any, recorded: list[Any]) -> list[str]:
    """The ids of ``recorded`` in the store's newest-first order: equal instants newest stored
    first on SQLite (by rowid, read from the file), by id descending on PostgreSQL."""
    from sqlalchemy import text

    from kube9_store.schema.sortkey import BY_ROWID

    position: dict[str, Any] = {e.id: e.id for e in recorded}
    if store.backend.sort_key is BY_ROWID:
        with store.engine.connect() as conn:
            position = {i: r for i, r in conn.execute(text("SELECT id, rowid FROM events"))}
    ordered = sorted(recorded, key=lambda e: (e.created_at, position[e.id]), reverse=True)
    return [e.id for e in ordered]


T = TypeVar("T")


class LoopThread:
    """An event loop running in a thread of its own, for synchronous callers."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


class BlockingAsyncStore:
    """An AsyncEventStore seen through the EventStore interface: each coroutine method runs on
    the loop thread and is waited for, and an async iterator is read to the end. A name the
    async store lacks is an AttributeError, so a missing coroutine fails the suite rather than
    falling back to the sync store."""

    def __init__(self, astore: AsyncEventStore, loop: LoopThread) -> None:
        self.astore = astore
        self._loop = loop

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.astore, name)
        if inspect.iscoroutinefunction(attr):
            return lambda *args, **kwargs: self._loop.run(attr(*args, **kwargs))
        if callable(attr) and not isinstance(attr, type):
            return self._call_returning_iterators(attr)
        return attr

    def _call_returning_iterators(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            result = fn(*args, **kwargs)
            if hasattr(result, "__aiter__"):

                async def collect() -> list[Any]:
                    return [item async for item in result]

                return iter(self._loop.run(collect()))
            return result

        return call

    def close(self) -> None:
        try:
            self._loop.run(self.astore.close())
        finally:
            self._loop.stop()

    def __enter__(self) -> BlockingAsyncStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_async_driven(db: Any, **kwargs: Any) -> BlockingAsyncStore:
    """``AsyncEventStore.open(db, **kwargs)`` on a loop thread of its own, wrapped for
    synchronous callers; open errors are raised here, as EventStore.open raises them."""
    loop = LoopThread()
    try:
        astore = loop.run(AsyncEventStore.open(db, **kwargs))
    except BaseException:
        loop.stop()
        raise
    return BlockingAsyncStore(astore, loop)


#: How the store suites open a store: the sync EventStore, or the async one driven from sync code.
STORE_KINDS = ["sync", "async"]
