"""Prometheus metrics: the spec's five names plus what an operator of the store wants beside
them. Operation counters count successes only; failures have their own counter, so a failed
insert is never reported as stored. Sizes and stored-event gauges are read at scrape time, and
so are retention's, the backups' and VACUUM's, from the facts the database keeps
(:mod:`kube9_store.operations.state`): whichever process did the work, every exposition agrees.
"""

from __future__ import annotations

import collections
import functools
import itertools
import math
import threading
import time
import weakref
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from kube9_store.errors import ValidationError
from kube9_store.operations import state as operations_state
from kube9_store.results import RetentionResult
from kube9_store.secrets import redaction
from kube9_store.store.instrumentation import Observed

OPERATIONS = ("insert", "select", "update", "delete")
#: Buckets from 25 µs: the store's operations live well under a millisecond.
DURATION_BUCKETS = (
    0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
)  # fmt: skip


class _ScrapeCollector(Collector):
    """Reads every tracked store when scraped: storage size, stored events, schema version,
    and the maintenance facts its database keeps (retention, backups, VACUUM), so every
    process that reads the database reports the same."""

    def __init__(self) -> None:
        self.stores: weakref.WeakSet[Observed] = weakref.WeakSet()

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        size = GaugeMetricFamily(
            "kube9_events_storage_size_bytes",
            "Size of the event database file plus its -wal file, in bytes.",
            labels=["database"],
        )
        wal = GaugeMetricFamily(
            "kube9_events_storage_wal_size_bytes",
            "Size of the -wal file alone, in bytes.",
            labels=["database"],
        )
        stored = GaugeMetricFamily(
            "kube9_events_stored",
            "Events currently stored, by type and severity.",
            labels=["database", "event_type", "severity"],
        )
        version = GaugeMetricFamily(
            "kube9_database_schema_version",
            "The schema version the database is at.",
            labels=["database"],
        )
        volume_free = GaugeMetricFamily(
            "kube9_storage_volume_free_bytes",
            "Free space on the filesystem holding the database file, in bytes.",
            labels=["database"],
        )
        budget = GaugeMetricFamily(
            "kube9_storage_budget_bytes",
            "The size budget retention keeps the database under, in bytes (absent: none).",
            labels=["database"],
        )
        budget_used = GaugeMetricFamily(
            "kube9_storage_budget_used_bytes",
            "Bytes the database used when the last retention run with a budget ended.",
            labels=["database"],
        )
        last_times = [
            (
                GaugeMetricFamily(
                    f"kube9_database_last_{what}_timestamp",
                    f"When the last {what} of the database finished (Unix time; absent: none"
                    " recorded), whichever process did it.",
                    labels=["database"],
                ),
                fact,
            )
            for what, fact in (
                ("backup", operations_state.BACKUP_LAST),
                ("snapshot", operations_state.SNAPSHOT_LAST),
                ("vacuum", operations_state.VACUUM_LAST),
            )
        ]
        facts: list[dict[str, float]] = []
        for store in list(self.stores):
            name = store.location
            try:
                found_facts = store.maintenance_facts()
            except Exception:  # a database that cannot be read now: nothing to tell
                found_facts = {}
            facts.append(found_facts)
            for family, fact in last_times:
                if fact in found_facts:
                    family.add_metric([name], found_facts[fact])
            if operations_state.BUDGET_USED in found_facts:
                budget_used.add_metric([name], found_facts[operations_state.BUDGET_USED])
            try:
                found = store.volume()
                if found is not None:
                    volume_free.add_metric([name], found.free_bytes)
                limit = store.storage_budget()
                if limit is not None:
                    budget.add_metric([name], limit)
            except Exception:  # an unreadable volume or a bad budget variable
                pass
            try:
                sizes = store.size_bytes()
                size.add_metric([name], sizes.total_bytes)
                wal.add_metric([name], sizes.wal_bytes)
                for (event_type, severity), n in store.counts_by_type_and_severity().items():
                    stored.add_metric([name, event_type, severity], n)
                version.add_metric([name], store.schema_version())
            except Exception:  # a scrape must not fail because one store is unavailable
                continue
        yield from (size, wal, stored, version, volume_free, budget, budget_used)
        yield from (family for family, _ in last_times)
        yield from _retention_families(facts)

    def describe(self) -> Iterable[Any]:
        return []


def _retention_families(
    facts: list[dict[str, float]],
) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
    """The retention metrics from the facts of every tracked database: the spec's two gauges
    from the most recent run (0 when none ran), totals summed."""
    runs = [f for f in facts if operations_state.RETENTION_LAST_RUN in f]
    last = max(runs, key=lambda f: f[operations_state.RETENTION_LAST_RUN], default={})
    last_run = GaugeMetricFamily(
        "kube9_events_retention_cleanup_last_run_timestamp",
        "When the last retention run finished (Unix time), whichever process ran it.",
    )
    last_run.add_metric([], last.get(operations_state.RETENTION_LAST_RUN, 0.0))
    deleted = GaugeMetricFamily(
        "kube9_events_retention_cleanup_events_deleted",
        "Events the last retention run deleted.",
    )
    deleted.add_metric([], last.get(operations_state.RETENTION_LAST_DELETED, 0.0))
    yield last_run
    yield deleted
    for name, help_text, prefix, labels in (
        (
            "kube9_events_retention_deleted",
            "Events deleted by retention, by severity.",
            operations_state.RETENTION_DELETED,
            ["severity"],
        ),
        (
            "kube9_events_retention_budget_deleted",
            "Events deleted to keep the database under its size budget, by severity (also"
            " counted in kube9_events_retention_deleted).",
            operations_state.BUDGET_DELETED,
            ["severity"],
        ),
        (
            "kube9_maintenance_skipped",
            "Maintenance that was due but skipped, by operation and reason.",
            operations_state.SKIPPED,
            ["operation", "reason"],
        ),
    ):
        family = CounterMetricFamily(name, help_text, labels=labels)
        summed: dict[str, float] = {}
        for found in facts:
            for key, n in operations_state.totals(found, prefix).items():
                summed[key] = summed.get(key, 0.0) + n
        for key, n in sorted(summed.items()):
            family.add_metric(key.split(".", len(labels) - 1), n)
        yield family


class _RedactionCollector(Collector):
    """Values replaced before storage, one series per rule (the label is the rule's name)."""

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily

        family = CounterMetricFamily(
            "kube9_events_redactions",
            "Values replaced with [REDACTED] in stored events, by rule (this process).",
            labels=["rule"],
        )
        for rule, n in redaction.redaction_counts().items():
            family.add_metric([rule], n)
        yield family

    def describe(self) -> Iterable[Any]:
        return []


class _Operations(Collector):
    """The operations counter, the duration histogram and the events-recorded counter, kept
    as plain numbers under one lock and exposed when scraped. Every record updates all three:
    one lock and a few additions cost a fraction of three prometheus_client children, which
    take a lock each (the histogram two); a single record's report is queued instead, and
    queued reports are added up in bulk, at each scrape or when ``PENDING_MAX`` wait."""

    #: Single records' reports queued at most before they are added up.
    PENDING_MAX = 256

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._created = time.time()
        self._ok = dict.fromkeys(OPERATIONS, 0)
        self._seconds = dict.fromkeys(OPERATIONS, 0.0)
        self._buckets = {op: [0] * (len(DURATION_BUCKETS) + 1) for op in OPERATIONS}
        self._recorded: dict[tuple[str, str], int] = {}
        self._pending: collections.deque[tuple[tuple[str, str], float]] = collections.deque()

    def succeeded(self, operation: str, seconds: float) -> None:
        slot = bisect_left(DURATION_BUCKETS, seconds)  # the first bucket with le >= seconds
        with self._lock:
            self._ok[operation] += 1
            self._seconds[operation] += seconds
            self._buckets[operation][slot] += 1

    def recorded(self, event_type: str, severity: str, n: int) -> None:
        key = (event_type, severity)
        with self._lock:
            self._recorded[key] = self._recorded.get(key, 0) + n

    def recorded_one(self, event_type: str, severity: str, started: float) -> None:
        """:meth:`succeeded` of ``insert`` (timed from ``started``) and :meth:`recorded` of
        one event, queued: a deque's append is atomic, so a record takes no lock."""
        pending = self._pending
        pending.append(((event_type, severity), time.perf_counter() - started))
        if len(pending) >= self.PENDING_MAX:
            self._add_pending()

    def _add_pending(self) -> None:
        """Add the queued single records to the counts."""
        with self._lock:
            pending = self._pending
            # the reports queued now (appends may go on), taken with no Python call per report
            batch = list(itertools.islice(iter(pending.popleft, None), len(pending)))
            if not batch:
                return
            keys, seconds = zip(*batch, strict=True)
            self._ok["insert"] += len(batch)
            self._seconds["insert"] += math.fsum(seconds)
            buckets = self._buckets["insert"]
            slot_of = functools.partial(bisect_left, DURATION_BUCKETS)
            for slot, n in collections.Counter(map(slot_of, seconds)).items():
                buckets[slot] += n
            recorded = self._recorded
            for key, n in collections.Counter(keys).items():
                recorded[key] = recorded.get(key, 0) + n

    def collect(self) -> Iterator[CounterMetricFamily | HistogramMetricFamily]:
        self._add_pending()
        with self._lock:
            ok = dict(self._ok)
            seconds = dict(self._seconds)
            buckets = {op: list(counts) for op, counts in self._buckets.items()}
            recorded = dict(self._recorded)
        ops, duration, events = self.describe()
        bounds = [*map(floatToGoString, DURATION_BUCKETS), "+Inf"]
        for op in OPERATIONS:
            ops.add_metric([op], ok[op], created=self._created)
            cumulative = list(zip(bounds, itertools.accumulate(buckets[op]), strict=True))
            duration.add_metric([op], cumulative, seconds[op])
            # the family takes no creation time; prometheus_client's Histogram writes one
            duration.add_sample(f"{duration.name}_created", {"operation": op}, self._created)
        for (event_type, severity), n in sorted(recorded.items()):
            events.add_metric([event_type, severity], n, created=self._created)
        yield ops
        yield duration
        yield events

    def describe(
        self,
    ) -> tuple[CounterMetricFamily, HistogramMetricFamily, CounterMetricFamily]:
        """The three families, empty: the registry learns their names from them and refuses
        another collector of the same."""
        return (
            CounterMetricFamily(
                "kube9_database_operations",
                "Database operations that succeeded, by operation.",
                labels=["operation"],
            ),
            HistogramMetricFamily(
                "kube9_database_query_duration_seconds",
                "Time taken by database operations, by operation.",
                labels=["operation"],
            ),
            CounterMetricFamily(
                "kube9_events_recorded",
                "Events stored, by type and severity.",
                labels=["event_type", "severity"],
            ),
        )


class StoreMetrics:
    """The collectors of one registry, shared by every store that reports to it."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        errors = Counter(
            "kube9_database_errors",
            "Database operations that failed, by operation and kind of failure.",
            ["operation", "kind"],
            registry=registry,
        )
        self._errors = errors
        self._operations = _Operations()
        # every record reports here: the collector's own method, with no call in between
        self.recorded_one: Callable[[str, str, float], None] = self._operations.recorded_one
        registry.register(self._operations)
        self.scrape = _ScrapeCollector()
        registry.register(self.scrape)
        registry.register(_RedactionCollector())

    def succeeded(self, operation: str, started: float) -> None:
        self._operations.succeeded(operation, time.perf_counter() - started)

    def failed(self, operation: str, exc: BaseException) -> None:
        self._errors.labels(operation, _kind(exc)).inc()

    def recorded(self, event_type: str, severity: str, n: int = 1) -> None:
        self._operations.recorded(event_type, severity, n)

    def track(self, store: Observed) -> None:
        """Report ``store``'s size and stored events at every scrape (until untracked)."""
        self.scrape.stores.add(store)

    def untrack(self, store: Observed) -> None:
        self.scrape.stores.discard(store)

    def retention_ran(self, result: RetentionResult) -> None:
        """Nothing to count here: the store records a run's facts in the database, where
        every process's scrape reads them (:mod:`kube9_store.operations.state`)."""


def _kind(exc: BaseException) -> str:
    from kube9_store.errors import DuplicateEventError, ValidationError

    if isinstance(exc, ValidationError):
        return "validation"
    if isinstance(exc, DuplicateEventError):
        return "duplicate"
    return "database"


_lock = threading.Lock()
_by_registry: weakref.WeakKeyDictionary[CollectorRegistry, StoreMetrics] = (
    weakref.WeakKeyDictionary()
)


def metrics_for(registry: CollectorRegistry | None = None) -> StoreMetrics:
    """The shared collectors of ``registry`` (default: prometheus_client's global one)."""
    if registry is not None and not isinstance(registry, CollectorRegistry):
        raise ValidationError.single(
            "registry",
            f"must be a prometheus_client CollectorRegistry, got {type(registry).__name__}",
        )
    target = REGISTRY if registry is None else registry
    with _lock:
        found = _by_registry.get(target)
        if found is None:
            found = StoreMetrics(target)
            _by_registry[target] = found
        return found


def serve_metrics(
    port: int = 9090, addr: str = "0.0.0.0", registry: CollectorRegistry | None = None
) -> Any:
    """Serve /metrics in a daemon thread; returns the server (call ``shutdown()`` to stop)."""
    from prometheus_client import start_http_server

    server, _thread = start_http_server(port, addr=addr, registry=registry or REGISTRY)
    return server
