"""Running statements on a backend's pooled driver connections: write transactions with the
busy retry, single-statement writes and reads in autocommit, and every driver error mapped to
the package's hierarchy by the backend's error codes.

The hot paths (record, get, counts, filtered queries) run here on the raw driver connection
with statements compiled once (:mod:`kube9_store.statements`), which saves SQLAlchemy's
per-call work; everything else reads through :meth:`Executor.reading`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Connection

from kube9_store.backends import Backend
from kube9_store.errors import DatabaseLockedError, ErrorKind, ReadOnlyError
from kube9_store.statements import CompiledSQL

log = logging.getLogger(__name__)

T = TypeVar("T")

#: How often a write that still meets a lock after the busy timeout is retried.
BUSY_RETRIES = 5
BUSY_BACKOFF_S = 0.05


class Executor:
    """Statements on one backend's connections; one per store, safe to share between threads
    (each call checks its own connection out of the pool)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.read_only = backend.settings.read_only

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
        backend = self.backend
        delay = BUSY_BACKOFF_S
        for attempt in range(BUSY_RETRIES + 1):
            try:
                return self._write_once(work, one_statement)
            except backend.errors as exc:
                if backend.kind_of(exc) is not ErrorKind.BUSY:
                    raise backend.translate(exc, action) from exc
                if attempt == BUSY_RETRIES:
                    raise DatabaseLockedError(
                        f"{action}: the database stayed locked through {BUSY_RETRIES} retries "
                        "after the busy timeout"
                    ) from exc
                log.warning("%s: database busy, retry %d in %.2fs", action, attempt + 1, delay)
                time.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    def _write_once(self, work: Callable[[Any], T], one_statement: bool) -> T:
        backend = self.backend
        proxy = backend.engine.raw_connection()
        try:
            con = proxy.driver_connection
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
                if backend.is_disconnect(exc, con):
                    proxy.invalidate()  # never reused; the write is not retried
                else:
                    backend.rollback(con)
                raise
            return result
        finally:
            proxy.close()

    def fetch(self, stmt: CompiledSQL, values: Mapping[str, Any], action: str) -> list[Any]:
        """All rows of one read statement, run in autocommit (it is its own snapshot). A
        connection lost to a server restart is replaced once."""
        backend = self.backend
        params = stmt.params(values)
        for attempt in (1, 2):
            try:
                proxy = backend.engine.raw_connection()
            except backend.errors as exc:  # could not connect
                raise backend.translate(exc, action) from exc
            con: Any = proxy.driver_connection
            try:
                backend.enter_autocommit(con)
                try:
                    rows: list[Any] = con.execute(stmt.sql, params).fetchall()
                finally:
                    backend.leave_autocommit(con)
                return rows
            except backend.errors as exc:
                if attempt == 1 and backend.is_disconnect(exc, con):
                    proxy.invalidate()
                    continue
                raise backend.translate(exc, action) from exc
            finally:
                proxy.close()
        raise AssertionError("unreachable")

    @contextmanager
    def reading(self, action: str) -> Iterator[Connection]:
        """A SQLAlchemy connection for reads of any shape (no BEGIN where the backend allows)."""
        with self.backend.translated(action), self.backend.reader.connect() as conn:
            yield conn
