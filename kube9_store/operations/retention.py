"""Retention: info and warning events kept 7 days, error and critical 30 (the spec), deleted in
short batches so the operator's writer never waits long, and a runner that actually runs.

The spec's SQL compares created_at with ``datetime('now', '-7 days')``, whose text form
(``YYYY-MM-DD HH:MM:SS``) never compares correctly with the stored ``...THH:MM:SS.mmmZ`` on the
cutoff day. Here the cutoff is computed in UTC, in the stored form, from an injectable clock.

A size budget (``max_bytes``, off by default) comes on top of the age rules: when the
database's used space exceeds it, the oldest events go, info and warning before error and
critical, until the used space is under the low watermark. Freed pages are reused by new
events, so the file stops growing; it is not shrunk (no incremental vacuum).
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, Protocol, TypeVar

from kube9_store import checks
from kube9_store.errors import ValidationError
from kube9_store.events.timestamps import format_timestamp, to_utc
from kube9_store.results import RetentionResult

log = logging.getLogger(__name__)

ENV_INFO_WARNING_DAYS = "EVENT_RETENTION_INFO_WARNING_DAYS"
ENV_ERROR_CRITICAL_DAYS = "EVENT_RETENTION_ERROR_CRITICAL_DAYS"
ENV_MAX_DB_BYTES = "EVENT_RETENTION_MAX_DB_BYTES"
#: A budget run deletes until the used space is at most this share of the budget, so the next
#: inserts do not trigger it again at once.
LOW_WATERMARK = 0.9
#: Severities in the order the budget deletes them: the low group while any is left.
BUDGET_GROUPS = (("info", "warning"), ("error", "critical"))
#: Later than any stored timestamp: a budget cutoff that takes a whole group.
END_OF_TIME = "9999-12-31T23:59:59.999Z"
DEFAULT_BATCH_SIZE = 1000
MAX_BATCH_SIZE = 1_000_000
DEFAULT_INTERVAL_S = 6 * 3600
#: Run VACUUM after a retention run when at least this share of the file's pages is free.
VACUUM_FREE_SHARE = 0.25


@dataclass(frozen=True)
class RetentionPolicy:
    """How many days each severity group is kept, and the optional size budget: the most
    bytes the database may use (None: no budget, the spec's behaviour)."""

    info_warning_days: int = 7
    error_critical_days: int = 30
    max_bytes: int | None = None

    def __post_init__(self) -> None:
        checks.days("info_warning_days", self.info_warning_days)
        checks.days("error_critical_days", self.error_critical_days)
        if self.max_bytes is not None:
            checks.whole_number("max_bytes", self.max_bytes, 1)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RetentionPolicy:
        """Read the reference operator's Helm variables; unset means the spec's defaults."""
        env = os.environ if environ is None else environ
        values: dict[str, int | None] = {}
        for name, attr in (
            (ENV_INFO_WARNING_DAYS, "info_warning_days"),
            (ENV_ERROR_CRITICAL_DAYS, "error_critical_days"),
        ):
            raw = env.get(name)
            if raw is not None and not isinstance(raw, str):
                raise ValidationError.single(name, f"must be text, got {type(raw).__name__}")
            if raw is None or raw.strip() == "":
                continue
            text = raw.strip()
            if not (text.isascii() and text.isdigit()) or len(text) > 18:
                raise ValidationError.single(name, f"must be a whole number of days, got {raw!r}")
            values[attr] = checks.days(name, int(text))
        budget = env.get(ENV_MAX_DB_BYTES)
        if budget is not None and budget.strip() != "":
            values["max_bytes"] = checks.byte_size(ENV_MAX_DB_BYTES, budget)
        return cls(**values)  # type: ignore[arg-type]

    def days_for(self, severity: str) -> int:
        return (
            self.info_warning_days if severity in ("info", "warning") else self.error_critical_days
        )

    def cutoffs(self, now: datetime) -> dict[str, str]:
        """Per severity: events created strictly before this stored-form instant go."""
        if not isinstance(now, datetime):
            raise ValidationError.single("now", f"must be a datetime, got {type(now).__name__}")
        try:
            at = to_utc(now)
        except ValueError as exc:
            raise ValidationError.single("now", str(exc)) from None
        if at.year <= 100:
            raise ValidationError.single("now", f"must be after the year 100, got {now!r}")
        return {
            sev: format_timestamp(at - timedelta(days=self.days_for(sev)))
            for sev in ("info", "warning", "error", "critical")
        }


#: Deletes up to ``limit`` events of one severity created before a cutoff; returns how many.
DeleteBatch = Callable[[str, str, int], int]
#: Counts the events of one severity created before a cutoff.
CountExpired = Callable[[str, str], int]


def apply_retention(
    policy: RetentionPolicy,
    *,
    now: datetime,
    delete_batch: DeleteBatch,
    count_expired: CountExpired,
    batch_size: int = DEFAULT_BATCH_SIZE,
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> RetentionResult:
    """Delete expired events in batches of ``batch_size``, each its own short transaction
    (``dry_run``: only count them). ``progress`` hears (deleted so far, expired in all) after
    each batch."""
    checks.whole_number("batch_size", batch_size, 1, MAX_BATCH_SIZE)
    started = time.perf_counter()
    cutoffs = policy.cutoffs(now)
    by_severity: dict[str, int] = {}
    batches = 0
    expired = 0
    if progress is not None and not dry_run:
        expired = sum(count_expired(severity, cutoff) for severity, cutoff in cutoffs.items())
    deleted = 0
    for severity, cutoff in cutoffs.items():
        if dry_run:
            by_severity[severity] = count_expired(severity, cutoff)
            continue
        total = 0
        while True:
            removed = delete_batch(severity, cutoff, batch_size)
            batches += 1
            total += removed
            deleted += removed
            if progress is not None:
                progress(deleted, max(expired, deleted))
            if removed < batch_size:
                break
        by_severity[severity] = total
    return RetentionResult(
        by_severity=by_severity,
        cutoffs=cutoffs,
        seconds=time.perf_counter() - started,
        batches=batches,
        dry_run=dry_run,
    )


#: The created_at of the event of a severity group ``k`` places from its oldest (None when
#: there are fewer); how many events a group has.
NthOldest = Callable[[tuple[str, str], int], str | None]
CountGroup = Callable[[tuple[str, str]], int]


def enforce_budget(
    max_bytes: int,
    *,
    used_bytes: Callable[[], int],
    count_events: CountGroup,
    nth_oldest: NthOldest,
    delete_batch: DeleteBatch,
    count_expired: CountExpired,
    batch_size: int = DEFAULT_BATCH_SIZE,
    dry_run: bool = False,
) -> dict[str, int]:
    """Delete the oldest events, info and warning first, until the used space is at most
    :data:`LOW_WATERMARK` of ``max_bytes``; nothing when it is within the budget. Returns the
    events deleted per severity (``dry_run``: an estimate from the bytes per event, nothing
    deleted).

    Each round turns the bytes to free into a number of events (at the current bytes per
    event over all events), takes the instant before which that many of the group's events
    lie, and deletes the group's events older than it in batches. A round that frees too
    little doubles the next one, so a group is taken whole at worst, never more.
    """
    checks.whole_number("max_bytes", max_bytes, 1)
    removed: dict[str, int] = {}
    used = used_bytes()
    if used <= max_bytes:
        return removed
    target = int(max_bytes * LOW_WATERMARK)
    for group in BUDGET_GROUPS:
        factor = 1
        while used > target:
            total = sum(count_events(g) for g in BUDGET_GROUPS)
            count = count_events(group)
            if count == 0:
                break
            wanted = min(count, max(1, math.ceil((used - target) * total / used)) * factor)
            cutoff = (nth_oldest(group, wanted) if wanted < count else None) or END_OF_TIME
            if dry_run:
                for severity in group:
                    removed[severity] = removed.get(severity, 0) + count_expired(severity, cutoff)
                if sum(removed.values()) >= wanted:
                    return removed
                break
            deleted = 0
            for severity in group:
                while True:
                    n = delete_batch(severity, cutoff, batch_size)
                    if n:
                        removed[severity] = removed.get(severity, 0) + n
                    deleted += n
                    if n < batch_size:
                        break
            before, used = used, used_bytes()
            if cutoff == END_OF_TIME:
                break  # the whole group is gone
            if not deleted or used >= before:
                factor *= 2
    return removed


class SupportsRetention(Protocol):
    """What a runner needs: a store, or anything else that applies retention."""

    def apply_retention(self) -> RetentionResult: ...


#: The store a runner drives, and the callback it hands each result.
S = TypeVar("S")
R = TypeVar("R")


class RunnerCore(Generic[S, R]):
    """What both retention runners share: the store, the interval, the result callback, and
    the record of runs. The thread runner and the asyncio task differ only in how they wait."""

    def __init__(self, store: S, *, interval: float, on_result: R | None) -> None:
        self.store = store
        self.interval = checks.seconds("interval", interval, positive=True)
        self.on_result = on_result
        self.runs = 0
        self.failures = 0
        self.last_result: RetentionResult | None = None

    def _ran(self, result: RetentionResult) -> None:
        self.runs += 1
        self.last_result = result
        log.info("retention deleted %d events %s", result.deleted, result.by_severity)

    def _failed(self) -> None:
        """Called from an ``except`` block: the failure is counted and logged with its cause."""
        self.failures += 1
        log.exception("retention run failed; next attempt in %.0fs", self.interval)


class RetentionRunner(RunnerCore[SupportsRetention, Callable[[RetentionResult], None]]):
    """Runs retention now and then every ``interval`` seconds in a daemon thread until
    :meth:`stop`. A failed run is logged and retried at the next interval."""

    def __init__(
        self,
        store: SupportsRetention,
        *,
        interval: float = DEFAULT_INTERVAL_S,
        on_result: Callable[[RetentionResult], None] | None = None,
    ) -> None:
        super().__init__(store, interval=interval, on_result=on_result)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> RetentionRunner:
        if self._thread is not None and self._thread.is_alive():
            return self
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="kube9-retention", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 30.0) -> None:
        """Ask the thread to stop and wait for the current run, if any, to finish."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> RetentionRunner:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def run_once(self) -> RetentionResult | None:
        """One run; None when it failed (logged, counted in :attr:`failures`)."""
        try:
            result = self.store.apply_retention()
        except Exception:
            self._failed()
            return None
        self._ran(result)
        if self.on_result is not None:
            self.on_result(result)
        return result

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            if self._stop.wait(self.interval):
                break
