"""Moving events between databases: ``copy_events`` streams every matching event of any
readable source (a kube9_store database on either backend, a spec v1/v2 file, the reference
operator's own database) into a destination store, and :class:`RowLoader` is the bulk
insert-if-absent that copy and ``import jsonl`` write through.

A copy keeps ids, ``created_at``, ``acknowledged`` and metadata exactly. It reads the source
in keyset batches (constant memory) and writes each batch in one transaction on the
destination's fast path (SQLite: one prepared statement for the whole batch; PostgreSQL: COPY
into a staging table, then one insert). Every insert skips ids already there, so running it
again, or after it was killed, copies only what is missing. Rows of a database this package did
not write are validated on the way in like any new event (secrets scrubbed, timestamps in the
stored form); one that fails is reported by id and left out. At the end the counts per type
and per severity of source and destination are compared.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from kube9_store.backends import backend_for
from kube9_store.config import ConnectionSettings, DbLocation, resolve_url
from kube9_store.errors import SchemaError, ValidationError
from kube9_store.events.fields import ID
from kube9_store.events.models import EVENT_TYPES, SEVERITIES, EventFilter
from kube9_store.gates import space
from kube9_store.gates.files import same_file
from kube9_store.gates.inbound import checked_row, matches
from kube9_store.schema.tables import EVENT_COLUMNS, events
from kube9_store.store.executor import Executor
from kube9_store.transfer.streaming import (
    DEFAULT_BATCH,
    Progress,
    Row,
    foreign_batches,
    prefetched,
    source_batches,
)

if TYPE_CHECKING:
    from kube9_store.backends.base import Backend
    from kube9_store.store.eventstore import EventStore

#: How many problems a result keeps (the rest are only counted).
MAX_PROBLEMS = 100
#: How many ids one existence check sends at once (dry runs).
ID_CHUNK = 500


class RowLoader:
    """Insert-if-absent of event rows into one store, a batch per transaction, on the
    backend's bulk path. Rows are tuples in table order, in the stored form."""

    def __init__(self, store: EventStore) -> None:
        self.backend = store.backend
        self._run = Executor(store.backend)
        self._run.check_writable("load events")
        self._sql = store.sql.insert_if_absent
        if self._sql.positional and self._sql.names != EVENT_COLUMNS:
            raise AssertionError(f"insert parameters {self._sql.names} are not in table order")

    def load(self, rows: Sequence[Row]) -> int:
        """Store the rows whose ids are absent, in one transaction; how many were new."""
        if not rows:
            return 0
        sql, backend = self._sql.sql, self.backend
        return self._run.write("load events", lambda con: backend.load_rows(con, sql, rows))

    def close(self) -> None:
        self._run.close()


@dataclass
class CopyResult:
    """What a copy did (or, with ``dry_run``, would do)."""

    source: str
    destination: str
    dry_run: bool
    #: Source events matching the filter.
    matched: int = 0
    #: Events written to the destination by this run (with ``dry_run``: that would be).
    copied: int = 0
    #: Matching events whose id the destination already had.
    already_present: int = 0
    #: Source rows left out because they are not valid events, by id (at most MAX_PROBLEMS).
    invalid: list[dict[str, str]] = field(default_factory=list)
    invalid_count: int = 0
    #: Ids the destination holds with another event than the source's (not overwritten; at
    #: most MAX_PROBLEMS), and how many: such a copy is not complete.
    conflicts: list[str] = field(default_factory=list)
    conflict_count: int = 0
    #: Per event_type and per severity: matching events in the source and in the destination.
    counts: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        """The destination holds at least as many matching events of every type and severity
        as the source (it may hold others from before)."""
        return self.conflict_count == 0 and all(
            c["destination"] >= c["source"] for by in self.counts.values() for c in by.values()
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "destination": self.destination,
            "dry_run": self.dry_run,
            "matched": self.matched,
            "copied": self.copied,
            "already_present": self.already_present,
            "invalid": self.invalid,
            "invalid_count": self.invalid_count,
            "conflicts": self.conflicts,
            "conflict_count": self.conflict_count,
            "counts": self.counts,
            "complete": self.complete,
            "seconds": round(self.seconds, 3),
        }


def copy_events(
    source: DbLocation | EventStore,
    destination: DbLocation | EventStore,
    *,
    flt: EventFilter | Mapping[str, Any] | None = None,
    dry_run: bool = False,
    batch_size: int = DEFAULT_BATCH,
    progress: Progress | None = None,
) -> CopyResult:
    """Copy every event of ``source`` matching ``flt`` into ``destination``, oldest first,
    skipping ids it already has. ``source`` is opened read-only (any readable database);
    ``destination`` is created or migrated as needed (a database of another lineage is
    refused). ``dry_run`` writes nothing and counts what would be copied."""
    started = time.perf_counter()
    f = EventFilter.parse(flt) if flt is not None else None
    src, close_src = _opened(source, read_only=True)
    dst: EventStore | None = None
    close_dst = False
    try:
        preflight(src, destination)
        tally = None if src.read_model.trusted else _tally(src, f, batch_size)
        matched = src.count(f) if tally is None else sum(tally["event_type"].values())
        room = None
        if not dry_run:
            room = require_room(src, destination, matched)
        if dry_run:
            dst, close_dst = _existing(destination)
        else:
            dst, close_dst = _opened(destination, read_only=False)
        result = CopyResult(src.location, _location(destination), dry_run, matched=matched)
        if dst is None:  # a dry run into a database that does not exist yet
            result.copied = result.matched
        else:
            _stream(src, dst, f, result, batch_size, progress, room)
        result.counts = _compare(src, dst, f, tally)
        result.seconds = time.perf_counter() - started
        return result
    finally:
        if close_dst and dst is not None:
            dst.close()
        if close_src:
            src.close()


def preflight(src: EventStore, destination: DbLocation | EventStore) -> None:
    """Checks that must pass before a copy writes anything (the place for more, such as the
    room the destination needs): the destination is not the source itself."""
    dest = _location(destination)
    dest_path = _backend(destination).path
    src_path = src.backend.path
    if dest == src.location or (
        src_path is not None and dest_path is not None and same_file(src_path, dest_path)
    ):
        raise ValidationError.single("destination", f"is the source database itself ({dest})")


def require_room(
    src: EventStore, destination: DbLocation | EventStore, matched: int
) -> space.CopySpace | None:
    """Refuse a copy into a database file whose filesystem cannot hold the ``matched`` events
    (estimated by the space gate from the source's events, indexes and WAL included), before
    anything is written; returns the estimate, which the copy checks again after each batch.
    A server's disks are its own."""
    backend = _backend(destination)
    room = space.copy_space(src, backend, matched)
    space.require(backend, room, "copy")
    return room


def _backend(db: DbLocation | EventStore) -> Backend:
    """The store's backend, or an unopened one for a location (nothing is connected)."""
    from kube9_store.store.eventstore import EventStore

    if isinstance(db, EventStore):
        return db.backend
    return backend_for(resolve_url(db))


def _location(db: DbLocation | EventStore) -> str:
    if _is_store(db):
        return db.location  # type: ignore[union-attr]
    return backend_for(resolve_url(db)).location  # type: ignore[arg-type]


def _is_store(db: object) -> bool:
    from kube9_store.store.eventstore import EventStore

    return isinstance(db, EventStore)


def _opened(db: DbLocation | EventStore, *, read_only: bool) -> tuple[EventStore, bool]:
    """The store, and whether this copy opened it (and so closes it)."""
    from kube9_store.store.eventstore import EventStore

    if isinstance(db, EventStore):
        return db, False
    return EventStore.open(db, read_only=read_only, metrics=False), True


def _existing(destination: DbLocation | EventStore) -> tuple[EventStore | None, bool]:
    """For a dry run: the destination opened read-only, or None when there is no database
    there yet; one a copy could not write to is refused as the copy would refuse it."""
    from kube9_store.store.eventstore import EventStore

    if isinstance(destination, EventStore):
        return destination, False
    url = resolve_url(destination)
    backend = backend_for(url, ConnectionSettings(read_only=True))
    try:
        state = backend.inspect() if backend.path is None or backend.path.exists() else None
    finally:
        backend.dispose()
    if state is None or state.is_empty:
        return None, False
    store = EventStore.open(url, read_only=True, metrics=False)
    if store.read_model.foreign:
        notice = store.read_model.notice
        store.close()
        raise SchemaError(f"cannot copy into {store.location}: {notice}")
    return store, True


def _stream(
    src: EventStore,
    dst: EventStore,
    flt: EventFilter | None,
    result: CopyResult,
    batch_size: int,
    progress: Progress | None,
    room: space.CopySpace | None = None,
) -> None:
    loader = None if result.dry_run else RowLoader(dst)
    present = Executor(dst.backend)
    done = 0
    try:
        batches = source_batches(
            src, flt, batch_size=batch_size, on_invalid=lambda i, why: _invalid(result, i, why)
        )
        for rows in prefetched(batches):
            if loader is not None:
                new = loader.load(rows)
            else:
                new = len(rows) - _count_present(present, rows)
            clashing = _held_elsewhere(present, rows) if new < len(rows) else []
            if clashing:
                result.conflict_count += len(clashing)
                result.conflicts.extend(clashing[: MAX_PROBLEMS - len(result.conflicts)])
            result.copied += new
            result.already_present += len(rows) - new
            done += len(rows)
            if loader is not None and room is not None and done < result.matched:
                space.require(dst.backend, room, "copy (the rest of it)", done)
            if progress is not None:
                progress(done, result.matched)
    finally:
        if loader is not None:
            loader.close()
        present.close()


def _invalid(result: CopyResult, event_id: str, why: str) -> None:
    result.invalid_count += 1
    if len(result.invalid) < MAX_PROBLEMS:
        result.invalid.append({"id": event_id, "error": why})


#: What makes two rows the same event: every field but ``acknowledged``.
_compared = itemgetter(*(at for at, name in enumerate(EVENT_COLUMNS) if name != "acknowledged"))


def _held_elsewhere(run: Executor, rows: Sequence[Row]) -> list[str]:
    """The ids of ``rows`` the destination already holds with another event (any field but
    ``acknowledged`` differs): an insert-if-absent leaves them, so the copy is not whole."""
    wanted = {row[ID]: row for row in rows}
    ids = list(wanted)
    differ: list[str] = []
    with run.reading("compare event ids") as conn:
        for start in range(0, len(ids), ID_CHUNK):
            chunk = ids[start : start + ID_CHUNK]
            stmt = select(*(events.c[name] for name in EVENT_COLUMNS))
            for held in conn.execute(stmt.where(events.c.id.in_(chunk))):
                if _compared(held) != _compared(wanted[held[ID]]):
                    differ.append(str(held[ID]))
    return differ


def _count_present(run: Executor, rows: Sequence[Row]) -> int:
    ids = [row[ID] for row in rows]
    found = 0
    with run.reading("check event ids") as conn:
        for start in range(0, len(ids), ID_CHUNK):
            chunk = ids[start : start + ID_CHUNK]
            found += len(conn.execute(select(events.c.id).where(events.c.id.in_(chunk))).all())
    return found


def _tally(src: EventStore, flt: EventFilter | None, batch_size: int) -> dict[str, Counter[str]]:
    """A source another program wrote, counted per event_type and per severity after the
    inbound gate (what SQL on its raw text would miscount): the rows that match once
    normalised, and the rows left out as invalid under the type and severity they claim."""
    tally: dict[str, Counter[str]] = {"event_type": Counter(), "severity": Counter()}
    for raw in foreign_batches(src, batch_size):
        for row in raw:
            try:
                normal = checked_row(row)
            except ValidationError:
                normal = row  # left out: still missing from the destination
            else:
                if not matches(flt, normal):
                    continue
            tally["event_type"][str(normal[1])] += 1
            tally["severity"][str(normal[2])] += 1
    return tally


def _compare(
    src: EventStore,
    dst: EventStore | None,
    flt: EventFilter | None,
    tally: dict[str, Counter[str]] | None = None,
) -> dict[str, dict[str, dict[str, int]]]:
    """Matching events per event_type and per severity, in the source (``tally`` for one
    another program wrote) and the destination (None: none there yet)."""
    out: dict[str, dict[str, dict[str, int]]] = {}
    for name, values in (("event_type", EVENT_TYPES), ("severity", SEVERITIES)):
        by: dict[str, dict[str, int]] = {}
        for value in values:
            narrowed = _narrowed(flt, name, value)
            if narrowed is None:
                continue
            counts = {
                "source": src.count(narrowed) if tally is None else tally[name][value],
                "destination": dst.count(narrowed) if dst is not None else 0,
            }
            if counts["source"] or counts["destination"]:
                by[value] = counts
        out[f"by_{name}"] = by
    return out


def _narrowed(flt: EventFilter | None, name: str, value: str) -> EventFilter | None:
    """``flt`` restricted to one type (or severity); None when it excludes that value."""
    fields = flt.model_dump(exclude_none=True) if flt is not None else {}
    allowed = fields.get(name)
    if allowed is not None and value not in allowed:
        return None
    fields[name] = value
    return EventFilter.parse(fields)
