"""The threads an asyncio store runs its work in: readers, and one writer on SQLite.

A read is abandoned when its caller is cancelled; a write, and work that changes files, always
finishes (commits or rolls back whole) and the cancelled caller is told which
(:mod:`kube9_store.aio.cancellation`).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from kube9_store import checks
from kube9_store.aio.cancellation import complete
from kube9_store.errors import StoreClosedError

P = ParamSpec("P")
T = TypeVar("T")

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
