"""Retention for asyncio applications: a task that runs it now and then every interval,
survives a failed run, and lets a run in progress finish when stopped."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol, Self

from kube9_store import checks
from kube9_store.aio.cancellation import write_outcome
from kube9_store.operations.retention import DEFAULT_INTERVAL_S, RunnerCore
from kube9_store.results import RetentionResult

#: Called with every result; a coroutine function is awaited.
OnResult = Callable[[RetentionResult], Awaitable[None] | None]


class SupportsAsyncRetention(Protocol):
    """What the runner needs: an async store, or anything else that applies retention."""

    async def apply_retention(self) -> RetentionResult: ...


def check_interval(interval: object) -> float:
    return checks.seconds("interval", interval, positive=True)


class AsyncRetentionRunner(RunnerCore[SupportsAsyncRetention, OnResult]):
    """Runs retention now and then every ``interval`` seconds as an asyncio task, until
    :meth:`stop`. A failed run is logged and counted, and the next one comes at the next
    interval. ``on_result`` (a function or a coroutine function) gets every result."""

    def __init__(
        self,
        store: SupportsAsyncRetention,
        *,
        interval: float = DEFAULT_INTERVAL_S,
        on_result: OnResult | None = None,
    ) -> None:
        super().__init__(store, interval=interval, on_result=on_result)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> Self:
        """Start the task on the running loop (a no-op when it runs already)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._loop(), name="kube9-retention"
            )
        return self

    async def stop(self) -> None:
        """Stop the task; a run in progress finishes first (its batches are never cut)."""
        task, self._task = self._task, None
        if task is None or task.done():
            return
        task.cancel()
        await asyncio.wait([task])

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def __aenter__(self) -> Self:
        return self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def run_once(self) -> RetentionResult | None:
        """One run; None when it failed (logged, counted in :attr:`failures`)."""
        try:
            try:
                result = await self.store.apply_retention()
            except asyncio.CancelledError as cancelled:
                outcome = write_outcome(cancelled)
                if outcome is not None and outcome.committed:
                    self._ran(outcome.result)  # stopped while running: the run still counts
                raise
            self._ran(result)
            if self.on_result is not None:
                returned = self.on_result(result)
                if returned is not None:
                    await returned
        except Exception:
            self._failed()
            return None
        return result

    async def _loop(self) -> None:
        while True:
            await self.run_once()
            await asyncio.sleep(self.interval)
