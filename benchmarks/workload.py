"""The operations' inputs, shared by the benchmarks: the event the API records, the same row
as the raw driver inserts it, and the spec's filters."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from benchmarks.conftest import Bench
from benchmarks.datagen import NOW
from kube9_store.events.ids import event_id_at
from kube9_store.events.timestamps import format_timestamp

COLUMNS = (
    "id, event_type, severity, title, description, object_kind, object_namespace, object_name,"
    " metadata, created_at, acknowledged"
)
INSERT = f"INSERT INTO events ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"

EVENT = {
    "event_type": "cluster",
    "severity": "warning",
    "title": "Pod BackOff: web-7c5b8d9f6-x2k4p",
    "description": "Back-off restarting failed container web",
    "object_kind": "Pod",
    "object_namespace": "default",
    "object_name": "web-7c5b8d9f6-x2k4p",
    "metadata": {"reason": "BackOff", "count": 3, "source": "kubelet", "node": "worker-2"},
}
#: Serial numbers for rows whose ids the benchmarks write out in full.
serial = itertools.count()


_unique = iter(random.Random(11).sample(range(36**6), 400_000))


def _unique_suffix() -> str:
    """A random suffix never handed out before in this run (raw inserts cannot retry)."""
    n, out = next(_unique), ""
    for _ in range(6):
        n, d = divmod(n, 36)
        out += "0123456789abcdefghijklmnopqrstuvwxyz"[d]
    return out


def raw_row(clock: Callable[[], datetime]) -> tuple[Any, ...]:
    """The benchmark event as the API stores it (same id form, same JSON), created at the
    next reading of ``clock``: the store's own, so that raw rows and the API's land in the
    same places of every index (each reading is a new millisecond, so no id repeats)."""
    created_at = format_timestamp(clock())
    return (
        event_id_at(created_at, _unique_suffix()),
        "cluster",
        "warning",
        EVENT["title"],
        EVENT["description"],
        "Pod",
        "default",
        EVENT["object_name"],
        '{"reason":"BackOff","count":3,"source":"kubelet","node":"worker-2"}',
        created_at,
        0,
    )


FILTERS: dict[str, dict[str, Any]] = {
    "filter: type, 100 rows": {"event_type": "insight"},
    "filter: severity, 100 rows": {"severity": "critical"},
    "filter: date range, 100 rows": {
        "since": NOW - timedelta(days=20),
        "until": NOW - timedelta(days=19),
    },
    "filter: object reference, 100 rows": {
        "object_kind": "Pod",
        "object_namespace": "default",
        "object_name": "OBJECT",
    },
}


def common_object(b: Bench) -> str:
    row = b.raw.execute(
        "SELECT object_name FROM events WHERE object_kind = 'Pod' AND object_namespace = 'default'"
        " LIMIT 1"
    ).fetchone()
    return str(row[0])
