"""The ingester: a paginated LIST, then a WATCH from its resourceVersion, each batch committed
with its resume point (:class:`~kube9_store.ingest.writer.OccurrenceWriter`), so a restart
resumes exactly where the last commit left off.

How a watch ends decides what follows, and nothing ends the loop but ``stop``:

- the server closed the stream at its timeout: watch again from the checkpoint;
- 410 Expired (as HTTP or as an ERROR line): commit what came before it, re-list, and record
  the window in which events may have been created and expired unseen as a ``system`` warning;
- "too large resource version", an empty close well before the watch's timeout (a stale
  resourceVersion answered with an empty 200 instead of a 410), or a server that sends nothing
  past the client's read timeout: re-list;
- a broken connection (a partial last line is dropped) or an unavailable server: watch again
  from the checkpoint, after a backoff.

Every re-list and retry waits an exponential backoff, reset only by a watch that delivered
events (so a server that answers every fresh LIST's version with a 410 is not hammered).
Memory is bounded by one LIST page, one batch and the watch's line queue.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from kube9_store.errors import Kube9StoreError, ValidationError
from kube9_store.events.ids import base36_suffix, event_id_at
from kube9_store.events.models import NewEvent
from kube9_store.events.timestamps import format_timestamp
from kube9_store.ingest.identity import ClusterIdentity
from kube9_store.ingest.lock import IngestLock
from kube9_store.ingest.metrics import IngestMetrics
from kube9_store.ingest.source import Expired, Page, SourceError, Watch
from kube9_store.ingest.writer import Checkpoint, OccurrenceWriter, StepHook
from kube9_store.transfer.k8s import to_new_event

log = logging.getLogger(__name__)

#: Keys of occurrences older than this whose events are deleted are forgotten: far past the
#: API server's event TTL (an hour by default), so no LIST or watch can bring them back.
KEY_HORIZON = timedelta(days=1)


class EventSource(Protocol):
    """What the loop needs of the API server
    (:class:`~kube9_store.ingest.source.KubernetesEvents`)."""

    resource: str

    def list_all(self) -> Iterable[Page]: ...

    def watch(self, resource_version: str) -> Watch: ...


@dataclass(frozen=True)
class IngestSettings:
    """Batching and backoff. A batch is committed when it holds ``batch_max`` events or its
    first event has waited ``batch_seconds``; a watch that ends with no line within
    ``silent_close_seconds`` is a silent close."""

    batch_max: int = 500
    batch_seconds: float = 0.25
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    silent_close_seconds: float = 1.0


class Ingester:
    """Keeps one cluster's events in ``store``, exactly once, until stopped."""

    def __init__(
        self,
        store: Any,
        source: EventSource,
        cluster: ClusterIdentity,
        *,
        settings: IngestSettings | None = None,
        metrics: IngestMetrics | None = None,
        hook: StepHook | None = None,
    ) -> None:
        if not cluster.uid:
            raise ValidationError.single("cluster_uid", "must name the cluster (not be empty)")
        self.store = store
        self.source = source
        self.cluster = cluster
        self.settings = settings or IngestSettings()
        self.metrics = metrics if metrics is not None else IngestMetrics()
        self.hook = hook
        self.writer = OccurrenceWriter(store)
        self.resource = source.resource
        #: The committed resume point and when it was committed.
        self.resource_version: str | None = None
        self.checkpoint_time: str | None = None
        #: Occurrences this ingester stored, and those it found stored already.
        self.stored = 0
        self.present = 0
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    # -- running -----------------------------------------------------------------------------

    def run(self, stop: threading.Event | None = None) -> None:
        """Wait for the ingest lock of this cluster and resource, then ingest until ``stop``
        (or :meth:`stop`) is set."""
        stop = stop or self._stop
        lock = IngestLock(self.store, self.cluster.uid, self.resource)
        if not lock.acquire(stop):
            return
        self.metrics.active.set(1)
        try:
            self._loop(stop)
        finally:
            self.metrics.active.set(0)
            lock.release()

    def _loop(self, stop: threading.Event) -> None:
        self.resource_version, self.checkpoint_time = self.writer.read_checkpoint(
            self.cluster.uid, self.resource
        )
        relist: str | None = "start" if self.resource_version is None else None
        gap: tuple[str, str | None] | None = None
        s = self.settings
        delay = s.backoff_initial
        while not stop.is_set():
            listing = False
            try:
                if relist is not None:
                    listing = True
                    if not self._list(relist, gap, stop):
                        return
                    listing = False
                    relist, gap = None, None
                outcome = self._watch(stop)
            except Expired as exc:
                self.metrics.watch_ends.labels("expired").inc()
                if listing:
                    relist = "continue_expired"
                else:
                    relist = "expired"
                    if gap is None and self.resource_version is not None:
                        gap = (self.resource_version, self.checkpoint_time)
                log.warning("%s: %s; re-listing in %.1fs", self.resource, exc, delay)
            except SourceError as exc:
                self.metrics.watch_ends.labels(exc.reason).inc()
                if exc.relist:
                    relist = exc.reason
                log.warning("%s: %s; retrying in %.1fs", self.resource, exc, delay)
            except Kube9StoreError as exc:
                log.warning("storing events failed: %s; retrying in %.1fs", exc, delay)
            else:
                if outcome == "stopped":
                    return
                if outcome in ("events", "quiet"):
                    if outcome == "events":
                        delay = s.backoff_initial
                    continue
                if outcome == "silent_close":
                    self.metrics.silent_closes.inc()
                relist = outcome if outcome in ("silent_close", "timeout") else relist
                log.info("%s: watch ended (%s); waiting %.1fs", self.resource, outcome, delay)
            if stop.wait(delay):
                return
            delay = min(delay * 2, s.backoff_max)

    # -- LIST --------------------------------------------------------------------------------

    def _list(self, reason: str, gap: tuple[str, str | None] | None, stop: threading.Event) -> bool:
        """One full LIST, committed page by page; the last commit carries the list's
        resourceVersion (and the gap notice, if any). False when stopped before the end.
        The next page is fetched and normalized on a thread while this one is written (at most
        two pages in memory)."""
        self.metrics.relists.labels(reason).inc()
        log.info("%s: listing (%s)", self.resource, reason)
        list_rv: str | None = None
        pages = iter(self.source.list_all())

        def fetch() -> tuple[Page, list[NewEvent]] | None:
            page = next(pages, None)
            return None if page is None else (page, self._normalize(page.items))

        with ThreadPoolExecutor(1, thread_name_prefix="kube9-list") as ahead:
            upcoming = ahead.submit(fetch)
            while True:
                fetched = upcoming.result()
                if fetched is None:
                    return True
                page, occurrences = fetched
                if stop.is_set():
                    return False
                list_rv = list_rv or page.resource_version
                if page.continue_token is not None:
                    upcoming = ahead.submit(fetch)
                    self._write(occurrences, None)
                    continue
                also = [self._gap_event(reason, gap, list_rv)] if gap is not None else []
                self._write(occurrences, list_rv, also)
                if also:
                    self.metrics.gaps.inc()
                self._prune_keys()
                return True

    # -- WATCH -------------------------------------------------------------------------------

    def _watch(self, stop: threading.Event) -> str:
        """Watch from the checkpoint until the stream ends; returns how: ``"events"`` or
        ``"quiet"`` (closed at the server's timeout: resume), ``"silent_close"`` (closed with
        no line before half its timeout), ``"timeout"`` (the client gave up on a silent
        server), ``"broken"`` or ``"stopped"``."""
        assert self.resource_version is not None
        s = self.settings
        started = time.monotonic()
        watch = self.source.watch(self.resource_version)
        pending: list[NewEvent] = []
        pending_rv: str | None = None
        first_at: float | None = None
        try:
            while not stop.is_set():
                now = time.monotonic()
                wait = 0.25 if first_at is None else first_at + s.batch_seconds - now
                try:
                    item = watch.next(wait)
                except StopIteration:
                    break
                except SourceError:
                    if pending or pending_rv is not None:
                        self._write(pending, pending_rv, arrived=first_at)
                    raise
                if item is None and first_at is None:
                    self.metrics.committed()  # nothing pending and the stream is quiet: current
                if item is not None:
                    held = len(pending)
                    rv = self._take(item, pending)
                    if rv is not None:
                        pending_rv = rv
                    if first_at is None and (rv is not None or len(pending) > held):
                        first_at = time.monotonic()
                if first_at is not None and (
                    len(pending) >= s.batch_max or time.monotonic() - first_at >= s.batch_seconds
                ):
                    self._write(pending, pending_rv, arrived=first_at)
                    pending, pending_rv, first_at = [], None, None
            if pending or pending_rv is not None:
                self._write(pending, pending_rv, arrived=first_at)
        finally:
            watch.close()
        if stop.is_set():
            return "stopped"
        how = watch.ended or "closed"
        self.metrics.watch_ends.labels(how).inc()
        if how in ("timeout", "broken"):
            return how
        if watch.lines:
            return "events"
        timeout = float(getattr(self.source, "watch_timeout", 0) or 0)
        if time.monotonic() - started < max(s.silent_close_seconds, timeout / 2):
            return "silent_close"
        return "quiet"

    def _take(self, item: dict[str, Any], pending: list[NewEvent]) -> str | None:
        """Add a watch event's occurrence to ``pending``; its resourceVersion (None if none)."""
        obj = item.get("object")
        if not isinstance(obj, dict):
            return None
        meta = obj.get("metadata")
        rv = meta.get("resourceVersion") if isinstance(meta, dict) else None
        if item.get("type") in ("ADDED", "MODIFIED", "DELETED"):
            pending.extend(self._normalize([obj]))
        return rv if isinstance(rv, str) and rv else None

    # -- storing -----------------------------------------------------------------------------

    def _normalize(self, items: Iterable[Any]) -> list[NewEvent]:
        out: list[NewEvent] = []
        for item in items:
            try:
                out.append(to_new_event(item, self.cluster))
            except ValidationError as exc:
                self.metrics.events.labels("invalid").inc()
                log.warning("skipped a malformed Kubernetes event: %s", exc)
        return out

    def _write(
        self,
        occurrences: list[NewEvent],
        resource_version: str | None,
        also: list[NewEvent] | None = None,
        *,
        arrived: float | None = None,
    ) -> None:
        checkpoint = (
            Checkpoint(self.cluster.uid, self.resource, resource_version, self.cluster.name)
            if resource_version is not None
            else None
        )
        result = self.writer.write(
            self.cluster.uid, occurrences, checkpoint=checkpoint, also=also or (), hook=self.hook
        )
        self.metrics.events.labels("stored").inc(result.stored)
        self.metrics.events.labels("present").inc(result.present)
        self.stored += result.stored
        self.present += result.present
        if checkpoint is not None:
            self.resource_version = resource_version
            self.checkpoint_time = format_timestamp(self.store.clock())
            self.metrics.batches.inc()
            self.metrics.committed()
            if arrived is not None:
                self.metrics.commit_delay.observe(time.monotonic() - arrived)

    def _prune_keys(self) -> None:
        """After a LIST: forget the keys of occurrences older than ``KEY_HORIZON`` whose events
        retention has deleted (a failure only delays it to the next LIST)."""
        cutoff = format_timestamp(self.store.clock() - KEY_HORIZON)
        try:
            pruned = self.writer.prune_keys(self.cluster.uid, cutoff)
        except Kube9StoreError as exc:
            log.warning("pruning occurrence keys failed: %s", exc)
            return
        if pruned:
            log.info("forgot %d keys of events retention deleted", pruned)

    def _gap_event(self, reason: str, gap: tuple[str, str | None], after_rv: str) -> NewEvent:
        """The notice of a window in which events may have been missed."""
        before_rv, before_time = gap
        now = format_timestamp(self.store.clock())
        shown = self.cluster.name or self.cluster.uid
        key = f"{self.cluster.uid}|{self.resource}|{before_rv}|{after_rv}|{now}"
        digest = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8])
        return NewEvent(
            id=event_id_at(now, base36_suffix(digest)),
            event_type="system",
            severity="warning",
            title=f"Kubernetes event history gap in cluster {shown}",
            description=(
                f"The watch of {self.resource} fell behind the API server's history ({reason}) "
                f"and was re-listed: events created and expired between resourceVersion "
                f"{before_rv} ({before_time or 'time unknown'}) and {after_rv} ({now}) may be "
                "missing."
            ),
            metadata={
                **self.cluster.metadata(),
                "resource": self.resource,
                "reason": reason,
                "gap_before_resource_version": before_rv,
                "gap_before_time": before_time,
                "gap_after_resource_version": after_rv,
                "gap_after_time": now,
            },
            created_at=now,
        )
