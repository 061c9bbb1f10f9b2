"""Running statements on a backend's pooled driver connections: write transactions with the
busy retry, single-statement writes and reads in autocommit, and every driver error mapped to
the package's hierarchy by the backend's error codes.

The hot paths (record, get, counts, filtered queries) run here on the raw driver connection
with statements compiled once (:mod:`kube9_store.store.statements`), which saves SQLAlchemy's
per-call work; everything else reads through :meth:`Executor.reading`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Connection
from sqlalchemy.pool import PoolProxiedConnection

from kube9_store.backends import Backend
from kube9_store.errors import (
    DatabaseLockedError,
    ErrorKind,
    ReadOnlyError,
    StoreClosedError,
)
from kube9_store.store import forks
from kube9_store.store.grouped import GroupCommit, Row
from kube9_store.store.statements import CompiledSQL

log = logging.getLogger(__name__)

T = TypeVar("T")

#: How often a write that still meets a lock after the busy timeout is retried.
BUSY_RETRIES = 5
BUSY_BACKOFF_S = 0.05


class Executor:
    """Statements on one backend's connections; one per store, safe to share between threads.

    Each thread that uses the store holds one pooled connection for its hot-path statements
    (a pool checkout per call costs more than a small query), until the store closes or the
    thread ends (its connection then goes back to the pool). A connection found broken is
    invalidated and replaced; a forked child never reuses its parent's.
    """

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.read_only = backend.settings.read_only
        self._local = threading.local()
        self._held: weakref.WeakSet[PoolProxiedConnection] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._closed = False
        self._process = forks.generation()
        self._group = GroupCommit(self)

    def _connection(self, action: str) -> tuple[PoolProxiedConnection, Any]:
        """This thread's connection and its driver connection, checked out on first use."""
        local = self._local.__dict__
        held: tuple[PoolProxiedConnection, Any, int] | None = local.get("held")
        process = forks.generation()
        if held is not None and held[2] == process:
            if not self.backend.stale(held[0]):
                return held[0], held[1]
            self._drop(held[0])  # the file changed under an immutable read: read it anew
        if self._process != process:  # a forked child: the pool's connections are the parent's
            self._process = process
            self._local = threading.local()
            local = self._local.__dict__
            with self._lock:
                self._held = weakref.WeakSet()
            self.backend.engine.dispose(close=False)
        if self._closed:
            raise StoreClosedError(f"{action}: the store is closed; open a new one")
        try:
            proxy = self.backend.engine.raw_connection()
        except self.backend.errors as exc:  # could not connect
            raise self.backend.translate(exc, action) from exc
        con = proxy.driver_connection
        local["held"] = (proxy, con, process)
        with self._lock:
            self._held.add(proxy)
        return proxy, con

    def _drop(self, proxy: PoolProxiedConnection) -> None:
        """Never use ``proxy`` again: it is broken, or its state is unknown."""
        self._local.__dict__.pop("held", None)
        with self._lock:
            self._held.discard(proxy)
        with contextlib.suppress(Exception):
            proxy.invalidate()

    def close(self) -> None:
        """Return every held connection to the pool; later calls fail cleanly. Writers queued
        for a group commit get StoreClosedError once the commit in progress ends."""
        self._closed = True
        self._group.close()
        with self._lock:
            held = list(self._held)
            self._held.clear()
        self._local = threading.local()
        for proxy in held:
            with contextlib.suppress(Exception):
                proxy.close()

    def check_writable(self, action: str) -> None:
        """Refuse ``action`` on a store opened read-only."""
        if self.read_only:
            raise ReadOnlyError(f"{action}: this store was opened read-only")

    def write(self, action: str, work: Callable[[Any], T], *, one_statement: bool = False) -> T:
        """Run ``work(driver_connection)`` in one write transaction. The busy timeout bounds
        each wait; a write still locked out after it is retried with backoff a bounded number
        of times, then fails with DatabaseLockedError. Every other driver error is raised as
        the package's (a taken event id as DuplicateEventError).

        ``one_statement``: ``work`` runs a single statement, which is atomic by itself (its
        triggers included), so it runs in autocommit, without BEGIN and COMMIT round trips."""
        self.check_writable(action)
        try:
            return self._write_once(work, one_statement)
        except self.backend.errors as exc:
            first = self._busy_or_raise(exc, action)
        return self._retry_busy(action, lambda: self._write_once(work, one_statement), first)

    def write_statement(self, action: str, sql: str, params: Any) -> int:
        """One write statement (atomic by itself, its triggers included) in autocommit, with
        :meth:`write`'s busy retry and errors; returns how many rows it changed. Every record
        runs here, so the first attempt is the backend's bare call."""
        if self.read_only:
            self.check_writable(action)
        proxy, con = self._connection("write")
        try:
            return self.backend.execute_alone(con, sql, params)  # _statement_once, written out
        except BaseException as exc:
            self._settle(proxy, con, exc)
            if not isinstance(exc, self.backend.errors):
                raise
            first = self._busy_or_raise(exc, action)
        return self._retry_busy(action, lambda: self._statement_once(sql, params), first)

    def insert_grouped(self, action: str, sql: str, params: Any, key: Any) -> None:
        """Insert one row with ``sql`` in a transaction shared with the concurrent callers
        (:mod:`~kube9_store.store.grouped`): alone, it is :meth:`write_statement`; raises this
        row's error only. ``key`` orders a group's rows (the order its locks are taken in)."""
        if self.read_only:
            self.check_writable(action)
        self._group.insert(action, sql, params, key)

    def insert_grouped_each(self, action: str, rows: list[Row]) -> None:
        """Insert several rows as :meth:`insert_grouped` does, in one group; each row's own
        error is left in ``Row.error``."""
        self.check_writable(action)
        self._group.insert_each(action, rows)

    def _busy_or_raise(self, exc: BaseException, action: str) -> BaseException:
        """``exc`` when it is a busy database (the write is retried), else the package's error."""
        if self.backend.kind_of(exc) is not ErrorKind.BUSY:
            raise self.backend.translate(exc, action) from exc
        return exc

    def _retry_busy(self, action: str, attempt: Callable[[], T], busy: BaseException) -> T:
        """Retry a write that met a busy database, with backoff, at most BUSY_RETRIES times."""
        delay = BUSY_BACKOFF_S
        for retry in range(1, BUSY_RETRIES + 1):
            log.warning("%s: database busy, retry %d in %.2fs", action, retry, delay)
            time.sleep(delay)
            delay *= 2
            try:
                return attempt()
            except self.backend.errors as exc:
                busy = self._busy_or_raise(exc, action)
        raise DatabaseLockedError(
            f"{action}: the database stayed locked through {BUSY_RETRIES} retries "
            "after the busy timeout"
        ) from busy

    def _statement_once(self, sql: str, params: Any) -> int:
        proxy, con = self._connection("write")
        try:
            return self.backend.execute_alone(con, sql, params)
        except BaseException as exc:
            self._settle(proxy, con, exc)
            raise

    def _write_once(self, work: Callable[[Any], T], one_statement: bool) -> T:
        backend = self.backend
        proxy, con = self._connection("write")
        try:
            if one_statement:
                backend.enter_autocommit(con)
                try:
                    return work(con)
                finally:
                    backend.leave_autocommit(con)
            backend.begin(con)
            try:
                result = work(con)
                backend.commit(con)
            except BaseException as exc:
                if not backend.is_disconnect(exc, con):
                    backend.rollback(con)  # if this fails too, the connection is dropped below
                raise
            return result
        except BaseException as exc:
            self._settle(proxy, con, exc)
            raise

    def _settle(self, proxy: PoolProxiedConnection, con: Any, exc: BaseException) -> None:
        """After a failed write: drop the connection unless its state is known to be clean."""
        backend = self.backend
        if (
            not isinstance(exc, backend.errors)
            or backend.is_disconnect(exc, con)
            or backend.in_transaction(con)
        ):
            self._drop(proxy)  # interrupted, gone, or not rolled back: state unknown

    def fetch(self, stmt: CompiledSQL, values: Mapping[str, Any], action: str) -> list[Any]:
        """All rows of one read statement, run in autocommit (it is its own snapshot). A
        connection lost to a server restart is replaced once."""
        backend = self.backend
        params = stmt.params(values)
        for attempt in (1, 2):
            proxy, con = self._connection(action)
            try:
                return backend.fetch_alone(con, stmt.sql, params)
            except backend.errors as exc:
                if backend.is_disconnect(exc, con):
                    self._drop(proxy)
                    if attempt == 1:
                        continue
                raise backend.translate(exc, action) from exc
            except BaseException:
                self._drop(proxy)
                raise
        raise AssertionError("unreachable")

    @contextmanager
    def reading(self, action: str) -> Iterator[Connection]:
        """A SQLAlchemy connection for reads of any shape (no BEGIN where the backend allows)."""
        if self._closed:
            raise StoreClosedError(f"{action}: the store is closed; open a new one")
        with self.backend.translated(action), self.backend.reader.connect() as conn:
            yield conn
