"""Retention: info and warning events kept 7 days, error and critical 30 (the spec), deleted in
short batches so the operator's writer never waits long, and a runner that actually runs.

The spec's SQL compares created_at with ``datetime('now', '-7 days')``, whose text form
(``YYYY-MM-DD HH:MM:SS``) never compares correctly with the stored ``...THH:MM:SS.mmmZ`` on the
cutoff day. Here the cutoff is computed in UTC, in the stored form, from an injectable clock.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from kube9_store.errors import ValidationError
from kube9_store.timestamps import format_timestamp, to_utc, utcnow

if TYPE_CHECKING:
    from kube9_store.store import EventStore

log = logging.getLogger(__name__)

ENV_INFO_WARNING_DAYS = "EVENT_RETENTION_INFO_WARNING_DAYS"
ENV_ERROR_CRITICAL_DAYS = "EVENT_RETENTION_ERROR_CRITICAL_DAYS"
DEFAULT_BATCH_SIZE = 1000
DEFAULT_INTERVAL_S = 6 * 3600
#: Run VACUUM after a retention run when at least this share of the file's pages is free.
VACUUM_FREE_SHARE = 0.25


def _days(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError.single(name, f"must be a whole number of days >= 1, got {value!r}")
    return value


@dataclass(frozen=True)
class RetentionPolicy:
    """How many days each severity group is kept."""

    info_warning_days: int = 7
    error_critical_days: int = 30

    def __post_init__(self) -> None:
        _days("info_warning_days", self.info_warning_days)
        _days("error_critical_days", self.error_critical_days)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RetentionPolicy:
        """Read the reference operator's Helm variables; unset means the spec's defaults."""
        env = os.environ if environ is None else environ
        values: dict[str, int] = {}
        for name, attr in (
            (ENV_INFO_WARNING_DAYS, "info_warning_days"),
            (ENV_ERROR_CRITICAL_DAYS, "error_critical_days"),
        ):
            raw = env.get(name)
            if raw is None or raw.strip() == "":
                continue
            text = raw.strip()
            if not (text.isascii() and text.isdigit()):
                raise ValidationError.single(name, f"must be a whole number of days, got {raw!r}")
            values[attr] = _days(name, int(text))
        return cls(**values)

    def days_for(self, severity: str) -> int:
        return (
            self.info_warning_days if severity in ("info", "warning") else self.error_critical_days
        )

    def cutoffs(self, now: datetime) -> dict[str, str]:
        """Per severity: events created strictly before this stored-form instant go."""
        at = to_utc(now)
        return {
            sev: format_timestamp(at - timedelta(days=self.days_for(sev)))
            for sev in ("info", "warning", "error", "critical")
        }


@dataclass
class RetentionResult:
    """What a run deleted (or, dry, would delete), per severity, and how long it took."""

    by_severity: dict[str, int]
    cutoffs: dict[str, str]
    seconds: float
    batches: int
    dry_run: bool = False
    vacuumed: bool = False
    finished_at: str = field(default_factory=lambda: format_timestamp(utcnow()))

    @property
    def deleted(self) -> int:
        return sum(self.by_severity.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "deleted": self.deleted,
            "by_severity": self.by_severity,
            "cutoffs": self.cutoffs,
            "seconds": round(self.seconds, 4),
            "batches": self.batches,
            "dry_run": self.dry_run,
            "vacuumed": self.vacuumed,
        }


def apply_retention(
    store: EventStore,
    policy: RetentionPolicy,
    *,
    now: datetime | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    dry_run: bool = False,
) -> RetentionResult:
    """Delete expired events in batches of ``batch_size``, each its own short transaction."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValidationError.single("batch_size", f"must be an integer >= 1, got {batch_size!r}")
    started = time.perf_counter()
    cutoffs = policy.cutoffs(now if now is not None else store.clock())
    by_severity: dict[str, int] = {}
    batches = 0
    for severity, cutoff in cutoffs.items():
        params = {"severity": severity, "cutoff": cutoff, "batch": batch_size}
        if dry_run:
            count = store.sql.retention_count
            by_severity[severity] = int(store._fetch(count, params, "count expired")[0][0])
            continue
        batch = store.sql.retention_batch
        values = batch.params(params)

        def delete_batch(con: Any, sql: str = batch.sql, v: Any = values) -> int:
            return int(con.execute(sql, v).rowcount)

        total = 0
        while True:
            removed = store.write("apply retention", delete_batch, one_statement=True)
            batches += 1
            total += removed
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


class RetentionRunner:
    """Runs retention now and then every ``interval`` seconds in a daemon thread until
    :meth:`stop`. A failed run is logged and retried at the next interval."""

    def __init__(
        self,
        store: EventStore,
        *,
        interval: float = DEFAULT_INTERVAL_S,
        on_result: Callable[[RetentionResult], None] | None = None,
    ) -> None:
        if isinstance(interval, bool) or not isinstance(interval, int | float) or interval <= 0:
            raise ValidationError.single("interval", "must be a number of seconds > 0")
        self.store = store
        self.interval = float(interval)
        self.on_result = on_result
        self.runs = 0
        self.failures = 0
        self.last_result: RetentionResult | None = None
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
        try:
            result = self.store.apply_retention()
        except Exception:
            self.failures += 1
            log.exception("retention run failed; next attempt in %.0fs", self.interval)
            return None
        self.runs += 1
        self.last_result = result
        log.info("retention deleted %d events %s", result.deleted, result.by_severity)
        if self.on_result is not None:
            self.on_result(result)
        return result

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            if self._stop.wait(self.interval):
                break
