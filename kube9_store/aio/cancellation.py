"""What becomes of a write whose coroutine is cancelled: it never starts, or it is allowed to
finish (committed, or rolled back whole on error), and the CancelledError says which."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

from kube9_store.errors import partial_of

log = logging.getLogger(__name__)

T = TypeVar("T")

_OUTCOME_ATTR = "_kube9_write_outcome"


@dataclass(frozen=True)
class WriteOutcome:
    """What became of a write whose coroutine was cancelled.

    ``committed``: the write ran to completion and its changes are stored (``result`` is what
    the call would have returned). Otherwise nothing of it is stored: it never started
    (``started`` False) or it failed and rolled back (``error``).
    """

    action: str
    started: bool
    committed: bool
    result: Any = None
    error: BaseException | None = None
    #: A write made of batches committed one by one (retention) that failed after some of
    #: them: what those batches stored (the rest was rolled back). None when nothing was.
    partial: str | None = None

    def describe(self) -> str:
        if self.committed:
            return f"{self.action}: cancelled while running; it completed and is stored"
        if self.partial is not None:
            return (
                f"{self.action}: cancelled while running; it failed after committing part of "
                f"its work ({self.partial}); the rest was not written ({self.error!r})"
            )
        if not self.started:
            return f"{self.action}: cancelled before it started; nothing was written"
        return (
            f"{self.action}: cancelled while running; it failed and nothing was written "
            f"({self.error!r})"
        )


def write_outcome(exc: BaseException) -> WriteOutcome | None:
    """The outcome carried by a CancelledError raised from a cancelled write of an
    :class:`AsyncEventStore` (None for any other exception)."""
    outcome = getattr(exc, _OUTCOME_ATTR, None)
    return outcome if isinstance(outcome, WriteOutcome) else None


async def complete(action: str, work: Future[T]) -> T:
    """Await ``work``; if the caller is cancelled, cancel it only when it has not started,
    otherwise wait for it to end, then raise the CancelledError with the outcome attached
    (a write committed in batches that failed partway says what its batches stored)."""
    waiter = asyncio.wrap_future(work)
    try:
        return await asyncio.shield(waiter)
    except asyncio.CancelledError as cancelled:
        if work.cancel():
            outcome = WriteOutcome(action, started=False, committed=False)
        else:
            while not waiter.done():
                try:
                    await asyncio.shield(waiter)
                except asyncio.CancelledError:
                    continue  # cancelled again: the write still has to end first
                except BaseException:
                    break
            error = waiter.exception()
            outcome = (
                WriteOutcome(action, started=True, committed=True, result=waiter.result())
                if error is None
                else WriteOutcome(
                    action,
                    started=True,
                    committed=False,
                    error=error,
                    partial=partial_of(error),
                )
            )
        setattr(cancelled, _OUTCOME_ATTR, outcome)
        cancelled.add_note(outcome.describe())
        log.info("%s", outcome.describe())
        raise
