"""The ingester's Prometheus metrics. Labels stay bounded: a reason or a result, never an
object name, uid or cluster."""

from __future__ import annotations

import time

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

#: Why a LIST was (re)started.
RELIST_REASONS = (
    "start",
    "expired",
    "too_large_resource_version",
    "silent_close",
    "timeout",
    "continue_expired",
)
DELAY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0)


class IngestMetrics:
    """Counters, gauges and a histogram for one ingester, in ``registry`` (the default
    registry unless given; one IngestMetrics per registry)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        reg = registry if registry is not None else REGISTRY
        self.relists = Counter(
            "kube9_ingest_relists_total", "LISTs started, by reason.", ["reason"], registry=reg
        )
        self.gaps = Counter(
            "kube9_ingest_gaps_total",
            "Windows in which events may have been created and expired unseen (recorded as "
            "system warning events).",
            registry=reg,
        )
        self.silent_closes = Counter(
            "kube9_ingest_silent_closes_total",
            "Watches the server closed at once with no event (a stale resourceVersion served "
            "as an empty answer).",
            registry=reg,
        )
        self.watch_ends = Counter(
            "kube9_ingest_watch_ends_total",
            "Watches ended, by how: closed, broken, expired, too_large_resource_version, "
            "error, unavailable.",
            ["how"],
            registry=reg,
        )
        self.events = Counter(
            "kube9_ingest_events_total",
            "Kubernetes event observations, by result: stored, present (stored before), invalid.",
            ["result"],
            registry=reg,
        )
        self.batches = Counter(
            "kube9_ingest_batches_total", "Batches committed (with their checkpoint).", registry=reg
        )
        self.commit_delay = Histogram(
            "kube9_ingest_commit_delay_seconds",
            "From an event's arrival off the watch to the commit of its batch.",
            buckets=DELAY_BUCKETS,
            registry=reg,
        )
        self.checkpoint_age = Gauge(
            "kube9_ingest_checkpoint_lag_seconds",
            "Seconds since the ingester was last current: it committed a checkpoint, or its "
            "watch was quiet with nothing pending (grows while it is disconnected or behind).",
            registry=reg,
        )
        self.active = Gauge(
            "kube9_ingest_active",
            "1 while this process holds the ingest lock and watches.",
            registry=reg,
        )
        self._committed_at = time.monotonic()
        self.checkpoint_age.set_function(lambda: time.monotonic() - self._committed_at)
        for reason in RELIST_REASONS:
            self.relists.labels(reason)
        for result in ("stored", "present", "invalid"):
            self.events.labels(result)

    def committed(self) -> None:
        """The ingester is current: a checkpoint was just committed, or nothing is pending."""
        self._committed_at = time.monotonic()
