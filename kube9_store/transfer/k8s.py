"""Kubernetes events (``kubectl get events -A -o json``) as kube9 ``cluster`` events.

Both core/v1 ``Event`` and events.k8s.io/v1 ``Event`` items are understood. The mapping is the
reference operator's: severity by reason, title ``"<Kind> <Reason>: <name>"``, the involved
object as the object reference, reason/count/first and last timestamps in metadata, plus the
Kubernetes event's own annotations when it has any (up to ``ANNOTATIONS_MAX_BYTES``). Secrets
are scrubbed from the whole message before it is cut to the description's length.
Each occurrence (the event's uid at one count) is stored once, by its key in
``k8s_event_keys`` (:mod:`kube9_store.ingest.writer`), so importing the same file twice
stores nothing new while a later repetition of the same event (higher count) is kept. Ids are
derived from the uid and occurrence; two different occurrences whose ids collide both stay (the
second takes the next id of its own sequence).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kube9_store.errors import ValidationError
from kube9_store.events.models import NewEvent, Severity
from kube9_store.events.timestamps import format_timestamp, parse_timestamp
from kube9_store.ingest.identity import UNKNOWN_CLUSTER, ClusterIdentity, key_uid, stable_id
from kube9_store.secrets.redaction import scrub_field

CRITICAL_REASONS = frozenset({"OOMKilled", "NodeNotReady", "FailedKillPod"})
ERROR_REASONS = frozenset(
    {
        "Failed",
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "FailedScheduling",
        "FailedBinding",
        "FailedCreate",
        "FailedMount",
    }
)
WARNING_REASONS = frozenset({"BackOff", "Unhealthy", "EvictedPod"})
#: Annotations larger than this (as JSON) are left out and counted instead, so that an event
#: stays within the metadata size limit.
ANNOTATIONS_MAX_BYTES = 4096


def severity_for(reason: str, k8s_type: str | None) -> Severity:
    """The reference operator's severity mapping for a Kubernetes event reason."""
    if reason in CRITICAL_REASONS:
        return "critical"
    if reason in ERROR_REASONS:
        return "error"
    if reason in WARNING_REASONS or k8s_type == "Warning":
        return "warning"
    return "info"


@dataclass
class ImportReport:
    """What an import did: events stored, events already present, items refused (by index)."""

    read: int = 0
    imported: int = 0
    already_present: int = 0
    invalid: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "imported": self.imported,
            "already_present": self.already_present,
            "invalid": self.invalid,
        }


def load_items(text: str) -> list[Any]:
    """The items of an EventList (or a single Event) given as JSON text."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError.single("file", f"is not JSON: {exc}") from exc
    if isinstance(doc, dict) and isinstance(doc.get("items"), list):
        return list(doc["items"])
    if isinstance(doc, dict) and doc.get("kind") == "Event":
        return [doc]
    if isinstance(doc, list):
        return doc
    raise ValidationError.single(
        "file", "must be an EventList (kubectl get events -A -o json) or an Event object"
    )


def _str(item: Mapping[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = item.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def to_new_event(item: Any, cluster: ClusterIdentity = UNKNOWN_CLUSTER) -> NewEvent:
    """Map one Kubernetes Event object of ``cluster``; raises ValidationError naming what is
    missing. The one normalizer of every Kubernetes ingest path (``import k8s-events`` and
    :mod:`kube9_store.ingest`): its metadata's ``uid`` and ``count`` are the occurrence's key."""
    if not isinstance(item, Mapping):
        raise ValidationError.single("item", "must be a JSON object")
    meta = item.get("metadata") if isinstance(item.get("metadata"), Mapping) else {}
    assert isinstance(meta, Mapping)
    obj = item.get("regarding") or item.get("involvedObject")
    if not isinstance(obj, Mapping):
        raise ValidationError.single("involvedObject", "is missing (or regarding, for events/v1)")
    reason = _str(item, "reason")
    if reason is None:
        raise ValidationError.single("reason", "is missing")
    kind = _str(obj, "kind") or "Object"
    name = _str(obj, "name") or ""
    namespace = _str(obj, "namespace")
    series = item.get("series") if isinstance(item.get("series"), Mapping) else None
    count = item.get("count")
    if count is None and series is not None:
        count = series.get("count")
    first = _str(item, "firstTimestamp", "deprecatedFirstTimestamp", "eventTime")
    last = (
        (series and _str(series, "lastObservedTime"))
        or _str(item, "lastTimestamp", "deprecatedLastTimestamp", "eventTime", "firstTimestamp")
        or _str(meta, "creationTimestamp")
    )
    if last is None:
        raise ValidationError.single("lastTimestamp", "no event time (lastTimestamp, eventTime)")
    try:
        created_at = format_timestamp(parse_timestamp(last))
    except ValueError as exc:
        raise ValidationError.single("lastTimestamp", str(exc)) from exc
    message = _str(item, "message", "note")
    uid = _str(meta, "uid") or f"{namespace}/{_str(meta, 'name')}"
    k8s_type = _str(item, "type")
    metadata: dict[str, Any] = {
        "reason": reason,
        "count": count if type(count) is int and count >= 1 else 1,
        "first_timestamp": first,
        "last_timestamp": last,
        "k8s_type": k8s_type,
        "k8s_uid": uid,
        "uid": uid,
        **cluster.metadata(),
    }
    source = item.get("source")
    component = _str(item, "reportingController", "reportingComponent") or (
        _str(source, "component") if isinstance(source, Mapping) else None
    )
    if component:
        metadata["source"] = component
    annotations = meta.get("annotations")
    if isinstance(annotations, Mapping) and annotations:
        size = len(
            json.dumps(annotations, ensure_ascii=False, default=str).encode(errors="surrogatepass")
        )
        if size <= ANNOTATIONS_MAX_BYTES:
            metadata["annotations"] = dict(annotations)
        else:
            metadata["annotations_omitted"] = len(annotations)
    # the name is scrubbed as a text of its own: inside the title it follows other words
    shown, redacted = scrub_field("title", name)
    return NewEvent.fitted(
        redacted,
        id=stable_id(created_at, key_uid(cluster.uid, uid), metadata["count"]),
        event_type="cluster",
        severity=severity_for(reason, k8s_type),
        title=f"{kind} {reason}: {shown}",
        description=message,
        object_kind=kind,
        object_namespace=namespace,
        object_name=name or None,
        metadata=metadata,
        created_at=created_at,
    )


def convert(
    items: Iterable[Any], report: ImportReport, cluster: ClusterIdentity = UNKNOWN_CLUSTER
) -> list[NewEvent]:
    """Map every item; malformed ones are recorded in ``report`` by index and skipped."""
    out: list[NewEvent] = []
    for index, item in enumerate(items):
        report.read += 1
        try:
            out.append(to_new_event(item, cluster))
        except ValidationError as exc:
            report.invalid.append({"index": index, "error": str(exc)})
    return out


def import_events(
    store: Any, text: str, cluster: ClusterIdentity = UNKNOWN_CLUSTER
) -> ImportReport:
    """Import a kubectl events JSON document of ``cluster`` into ``store``, idempotently: an
    occurrence (uid and count) that is stored already, by this import, an earlier one, a
    concurrent one or the ingester of the same cluster, is counted as already present. One
    transaction (:class:`~kube9_store.ingest.writer.OccurrenceWriter`)."""
    from kube9_store.ingest.writer import OccurrenceWriter

    report = ImportReport()
    converted = convert(load_items(text), report, cluster)
    if converted:
        result = OccurrenceWriter(store).write(cluster.uid, converted)
        report.imported = result.stored
        report.already_present = result.present
    return report
