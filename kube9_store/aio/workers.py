"""The threads an asyncio store runs its work in: readers, and one writer on SQLite.

A read is abandoned when its caller is cancelled; a write, and work that changes files, always
finishes (commits or rolls back whole) and the cancelled caller is told which
(:mod:`kube9_store.aio.cancellation`). Grouped writes (``record``) of concurrent tasks run
together: the first call finding no job of its method queued or running submits one to the
writer thread, and that job takes every call queued meanwhile, until none is left, handing
each batch to the store in one call (one group commit); a thread hop per batch, not per call.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

from kube9_store import checks
from kube9_store.aio.cancellation import complete
from kube9_store.errors import StoreClosedError

P = ParamSpec("P")
T = TypeVar("T")
A = TypeVar("A")
R = TypeVar("R")

#: Reader threads per store (each holds one pooled connection while it lives).
DEFAULT_MAX_WORKERS = 4

#: The most reader threads one store may own.
MAX_WORKERS = 64


def check_workers(max_workers: object) -> int:
    return checks.whole_number("max_workers", max_workers, 1, MAX_WORKERS)


class AsyncWorkers:
    """Reader threads and a writer thread (the readers themselves unless ``serialize_writes``)."""

    def __init__(self, *, max_workers: int, serialize_writes: bool) -> None:
        check_workers(max_workers)
        self._readers = ThreadPoolExecutor(max_workers, thread_name_prefix="kube9-store")
        self._writer = (
            ThreadPoolExecutor(1, thread_name_prefix="kube9-store-writer")
            if serialize_writes
            else self._readers
        )
        self._closed = False
        self._groups: dict[str, _Group] = {}

    def _shutdown_workers(self) -> None:
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)

    def _submit(
        self,
        executor: ThreadPoolExecutor,
        action: str,
        fn: Callable[P, T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> Future[T]:
        if self._closed:
            raise StoreClosedError(f"{action}: the store is closed")
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

    async def _grouped(
        self, action: str, each: Callable[[list[A]], list[R | BaseException]], item: A
    ) -> R:
        """Run a write of one argument with the concurrent calls of the same method, in one
        writer-thread job (``each`` takes the arguments, returns each result or error); a
        cancelled caller is told what became of its own call, as for :meth:`_write`."""
        if self._closed:
            raise StoreClosedError(f"{action}: the store is closed")
        group = self._groups.get(action)
        if group is None:
            group = self._groups[action] = _Group(each)
        work: Future[R] = Future()
        if group.add(item, work):
            run: Callable[..., None] = contextvars.copy_context().run
            try:
                self._writer.submit(run, group.drain)
            except BaseException as exc:
                group.abandon(exc)
                raise
        return await complete(action, work)


class _Group:
    """The calls of one grouped method waiting for the writer thread, and its drain job."""

    def __init__(self, each: Callable[[list[Any]], list[Any]]) -> None:
        self.each = each
        self._lock = threading.Lock()
        self._calls: list[tuple[Any, Future[Any]]] = []
        self._scheduled = False

    def add(self, item: Any, work: Future[Any]) -> bool:
        """Queue a call; True when no drain job is queued or running (the caller submits one)."""
        with self._lock:
            self._calls.append((item, work))
            start = not self._scheduled
            self._scheduled = True
        return start

    def abandon(self, error: BaseException) -> None:
        """The drain job could not be submitted: fail what is queued."""
        with self._lock:
            calls, self._calls = self._calls, []
            self._scheduled = False
        for _item, work in calls:
            if work.set_running_or_notify_cancel():
                work.set_exception(error)

    def drain(self) -> None:
        """In the writer thread: run the queued calls batch by batch until none is left. A
        call cancelled before its batch starts is left out; once started it is settled."""
        while True:
            with self._lock:
                calls, self._calls = self._calls, []
                if not calls:
                    self._scheduled = False
                    return
            live = [(item, work) for item, work in calls if work.set_running_or_notify_cancel()]
            if not live:
                continue
            try:
                results = self.each([item for item, _work in live])
            except BaseException as exc:  # a programming error: every call of the batch says so
                for _item, work in live:
                    work.set_exception(exc)
                continue
            for (_item, work), result in zip(live, results, strict=True):
                if isinstance(result, BaseException):
                    work.set_exception(result)
                else:
                    work.set_result(result)
