"""A realistic event database of N rows, built fast and cached by size and schema head.

Mix: the spec's six types and four severities (mostly info, few critical), object references
over a few thousand names in a handful of namespaces (some cluster scoped, namespace NULL),
metadata of typical size, created_at spread over 45 days before a fixed "now".
"""

from __future__ import annotations

import itertools
import json
import random
import shutil
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kube9_store import EventStore
from kube9_store.schema.tables import HEAD_REVISION

CACHE = Path(__file__).resolve().parent / ".cache"
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
SPAN = timedelta(days=45)

TYPES = (
    ("cluster", 60),
    ("insight", 15),
    ("health", 10),
    ("operator", 7),
    ("assessment", 5),
    ("system", 3),
)
SEVERITIES = (("info", 70), ("warning", 20), ("error", 8), ("critical", 2))
NAMESPACES = ("default", "production", "staging", "kube-system", "monitoring", "kube9-system")
NAMESPACED_KINDS = ("Pod", "Deployment", "StatefulSet", "Service", "Job", "ConfigMap")
CLUSTER_KINDS = ("Node", "Namespace", "PersistentVolume")
REASONS = (
    "BackOff",
    "Unhealthy",
    "Scheduled",
    "Pulled",
    "ScalingReplicaSet",
    "FailedMount",
    "OOMKilled",
)
INSERT = (
    "INSERT INTO events (id, event_type, severity, title, description, object_kind,"
    " object_namespace, object_name, metadata, created_at, acknowledged)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)"
)
B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


class Clock:
    """Time that moves on by one millisecond per reading, as it does for an operator that
    records about a thousand events a second: ids and timestamps of new events keep growing."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


def _weighted(pairs: tuple[tuple[str, int], ...]) -> list[str]:
    return [name for name, weight in pairs for _ in range(weight)]


def _suffix(i: int) -> str:
    out = ""
    for _ in range(6):
        i, d = divmod(i, 36)
        out += B36[d]
    return out


def rows(n: int, seed: int = 9) -> Iterator[tuple[Any, ...]]:
    """n event rows in created_at order (oldest first), ids unique."""
    rnd = random.Random(seed)
    types, sevs = _weighted(TYPES), _weighted(SEVERITIES)
    objects = []
    for i in range(3000):
        if i % 10 == 0:
            objects.append((rnd.choice(CLUSTER_KINDS), None, f"node-{i}"))
        else:
            objects.append(
                (rnd.choice(NAMESPACED_KINDS), rnd.choice(NAMESPACES), f"app-{i % 700}-{i}")
            )
    start = NOW - SPAN
    step_ms = SPAN / timedelta(milliseconds=1) / max(n, 1)
    for i in range(n):
        t = start + timedelta(milliseconds=int(i * step_ms))
        kind, ns, name = objects[rnd.randrange(len(objects))]
        reason = rnd.choice(REASONS)
        meta = json.dumps(
            {
                "reason": reason,
                "count": rnd.randint(1, 40),
                "source": "kubelet",
                "collection_id": f"coll_{i % 977}",
                "node": f"worker-{i % 7}",
            },
            separators=(",", ":"),
        )
        created = t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"
        eid = f"evt_{t:%Y%m%d_%H%M%S}_{_suffix(i)}"
        yield (
            eid,
            rnd.choice(types),
            rnd.choice(sevs),
            f"{kind} {reason}: {name}",
            f"{kind} {name} reported {reason}" if i % 3 else None,
            kind,
            ns,
            name,
            meta,
            created,
        )


def build(n: int, *, revision: str = "head", spec_v1: bool = False) -> Path:
    """The cached database of n events (built once per size and schema head)."""
    CACHE.mkdir(exist_ok=True)
    tag = "v1" if spec_v1 else (HEAD_REVISION if revision == "head" else revision)
    path = CACHE / f"events-{n}-{tag}.db"
    if path.exists():
        return path
    tmp = path.with_suffix(".building")
    for p in tmp.parent.glob(tmp.name + "*"):
        p.unlink()
    started = time.perf_counter()
    if spec_v1:
        from tests.helpers import SPEC_V1_SQL

        con = sqlite3.connect(tmp)
        con.executescript(SPEC_V1_SQL)
        insert = INSERT.replace(", acknowledged)", ")").replace(", 0)", ")")
    else:
        from kube9_store.operations.admin import upgrade

        upgrade(str(tmp), revision)
        con = sqlite3.connect(tmp)
        insert = INSERT
    con.execute("PRAGMA journal_mode = OFF")
    con.execute("PRAGMA synchronous = OFF")
    con.execute("PRAGMA cache_size = -400000")
    source = rows(n)
    while chunk := list(itertools.islice(source, 50_000)):
        con.execute("BEGIN")
        con.executemany(insert, chunk)
        con.execute("COMMIT")
    con.execute("PRAGMA journal_mode = WAL")
    con.close()
    shutil.move(tmp, path)
    print(f"\nbuilt {path.name}: {n} events in {time.perf_counter() - started:.1f}s")
    return path


def working_copy(n: int, dest_dir: Path, **kwargs: object) -> Path:
    """A private copy of the cached database, for benchmarks that write."""
    src = build(n, **kwargs)  # type: ignore[arg-type]
    dest = dest_dir / src.name
    shutil.copyfile(src, dest)
    return dest


def open_store(path: Path) -> EventStore:
    return EventStore.open(path)
