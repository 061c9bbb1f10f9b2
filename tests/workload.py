"""A mixed workload of processes on one database file, shared by the concurrency test (seconds)
and the soak benchmark (minutes): one writer recording batches, readers listing, getting and
counting, and a second writer acknowledging, running retention and taking backups."""

from __future__ import annotations

import multiprocessing
import random
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BATCH = 10
#: Every other batch is this large: SQLite inserts it with the count trigger set aside.
LARGE_BATCH = 12 * BATCH
EXPIRED = 1000


def _event(i: int) -> dict[str, Any]:
    return {
        "event_type": random.choice(["cluster", "health", "insight"]),
        "severity": random.choice(["info", "warning", "error"]),
        "title": f"workload event {i}",
        "object_kind": "Pod",
        "object_namespace": "default",
        "object_name": f"web-{i % 50}",
        "metadata": {"i": i},
    }


def writer(path: str, seconds: float, ids: Any, errors: Any) -> None:
    """Records batches of BATCH and LARGE_BATCH events in turn, so every count a reader sees
    is a multiple of BATCH, and reports each batch's ids once record_many has returned."""
    from kube9_store import EventStore

    deadline = time.monotonic() + seconds
    try:
        with EventStore.open(path, metrics=False) as store:
            i = n = 0
            while time.monotonic() < deadline:
                size = LARGE_BATCH if n % 2 else BATCH
                batch = store.record_many([_event(i + k) for k in range(size)])
                ids.put([e.id for e in batch])
                i += size
                n += 1
    except Exception:
        errors.put(f"writer: {traceback.format_exc()}")


def reader(path: str, seconds: float, served: Any, errors: Any) -> None:
    from kube9_store import EventStore

    deadline = time.monotonic() + seconds
    n = 0
    try:
        with EventStore.open(path, read_only=True, metrics=False) as store:
            while time.monotonic() < deadline:
                page = store.query(limit=50)
                if page and page[0].created_at > "2021":  # not one retention may remove
                    assert store.get(page[0].id) is not None
                total = store.count()
                if total % BATCH:
                    errors.put(f"reader saw a partial batch: count {total}")
                by_type = store.count_by_type()
                if sum(by_type.values()) % BATCH:
                    errors.put(f"reader saw a partial batch in counts: {by_type}")
                n += 3
    except Exception:
        errors.put(f"reader: {traceback.format_exc()}")
    served.put(n)


def maintainer(path: str, seconds: float, backups: str, errors: Any, stats: Any) -> None:
    """Acknowledges events, runs retention (deleting the preloaded expired events in one
    batch) and takes backups while the others work."""
    from kube9_store import EventStore

    deadline = time.monotonic() + seconds
    acked = deleted = taken = 0
    try:
        with EventStore.open(path, metrics=False) as store:
            k = 0
            while time.monotonic() < deadline:
                for e in store.query(limit=5, offset=random.randint(0, 20)):
                    acked += store.acknowledge(e.id)
                deleted += store.apply_retention(batch_size=EXPIRED, vacuum_free_share=None).deleted
                if k % 5 == 0:
                    result = store.backup(Path(backups) / f"b{k}.db")
                    if result.events % BATCH:
                        errors.put(f"backup holds a partial batch: {result.events}")
                    taken += 1
                k += 1
                time.sleep(0.05)
    except Exception:
        errors.put(f"maintainer: {traceback.format_exc()}")
    stats.put({"acknowledged": acked, "deleted": deleted, "backups": taken})


@dataclass
class Outcome:
    written: list[str] = field(default_factory=list)
    queries: int = 0
    errors: list[str] = field(default_factory=list)
    maintenance: dict[str, int] = field(default_factory=dict)


def preload(path: Path) -> None:
    """A database holding EXPIRED old info events (one retention batch) and nothing else."""
    from kube9_store import EventStore

    with EventStore.open(path, metrics=False) as store:
        store.record_many(
            {**_event(i), "severity": "info", "created_at": "2020-01-01T00:00:00Z"}
            for i in range(EXPIRED)
        )


def run(path: Path, backups: Path, seconds: float, readers: int = 4) -> Outcome:
    ctx = multiprocessing.get_context("spawn")
    ids, errors, served, stats = ctx.Queue(), ctx.Queue(), ctx.Queue(), ctx.Queue()
    procs = [ctx.Process(target=writer, args=(str(path), seconds, ids, errors))]
    procs += [
        ctx.Process(target=reader, args=(str(path), seconds, served, errors))
        for _ in range(readers)
    ]
    procs.append(
        ctx.Process(target=maintainer, args=(str(path), seconds, str(backups), errors, stats))
    )
    for p in procs:
        p.start()
    out = Outcome()
    deadline = time.monotonic() + seconds + 120
    while any(p.is_alive() for p in procs) and time.monotonic() < deadline:
        while not ids.empty():
            out.written.extend(ids.get())
        time.sleep(0.05)
    for p in procs:
        p.join(5)
        if p.exitcode != 0:
            out.errors.append(f"process {p.name} exited with {p.exitcode}")
    while not ids.empty():
        out.written.extend(ids.get())
    while not errors.empty():
        out.errors.append(errors.get())
    while not served.empty():
        out.queries += served.get()
    if not stats.empty():
        out.maintenance = stats.get()
    return out
