"""Hooks the store calls around each operation; they do nothing until a metrics registry is
attached (:mod:`kube9_store.operations.metrics`), so a store without metrics never imports
prometheus_client."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Concatenate, ParamSpec, Protocol, TypeVar

from kube9_store.results import RetentionResult, SizeInfo, VolumeInfo


class Observed(Protocol):
    """What a scrape reads from a store (an :class:`~kube9_store.store.eventstore.EventStore`)."""

    @property
    def location(self) -> str: ...

    def size_bytes(self) -> SizeInfo: ...

    def counts_by_type_and_severity(self) -> dict[tuple[str, str], int]: ...

    def schema_version(self) -> int: ...

    def volume(self) -> VolumeInfo | None: ...

    def storage_budget(self) -> int | None: ...

    def maintenance_facts(self) -> dict[str, float]: ...


class Hooks(Protocol):
    """What the store reports (:class:`kube9_store.operations.metrics.StoreMetrics` does)."""

    def succeeded(self, operation: str, started: float) -> None: ...

    def failed(self, operation: str, exc: BaseException) -> None: ...

    def recorded(self, event_type: str, severity: str, n: int = 1) -> None: ...

    def recorded_one(self, event_type: str, severity: str, started: float) -> None:
        """One record that succeeded: :meth:`succeeded` of ``insert`` and :meth:`recorded` of
        its event in one call (the hot path's)."""

    def retention_ran(self, result: RetentionResult) -> None: ...

    def track(self, store: Observed) -> None: ...

    def untrack(self, store: Observed) -> None: ...


class NoMetrics:
    """Instrumentation switched off: every hook does nothing."""

    def succeeded(self, operation: str, started: float) -> None:
        pass

    def failed(self, operation: str, exc: BaseException) -> None:
        pass

    def recorded(self, event_type: str, severity: str, n: int = 1) -> None:
        pass

    def recorded_one(self, event_type: str, severity: str, started: float) -> None:
        pass

    def retention_ran(self, result: RetentionResult) -> None:
        pass

    def track(self, store: Observed) -> None:
        pass

    def untrack(self, store: Observed) -> None:
        pass


class _Instrumented(Protocol):
    metrics: Hooks


S = TypeVar("S", bound=_Instrumented)
P = ParamSpec("P")
R = TypeVar("R")


def instrumented(
    operation: str,
) -> Callable[[Callable[Concatenate[S, P], R]], Callable[Concatenate[S, P], R]]:
    """Count each call of a store method as a success or a failure of ``operation``, timed."""

    def wrap(fn: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
        @functools.wraps(fn)
        def inner(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
            started = time.perf_counter()
            try:
                result = fn(self, *args, **kwargs)
            except BaseException as exc:
                self.metrics.failed(operation, exc)
                raise
            self.metrics.succeeded(operation, started)
            return result

        return inner

    return wrap
