"""The one gate for space: what a copy will write, estimated from the rows it writes (their
fields' bytes, the destination's record and index overhead, and the write-ahead log beside
the database at its peak), checked before anything is written and again after every batch;
and the smallest size budget that can be met (the bytes of an empty database).

Only the ``events`` table of the source is measured: an operator's other tables are not
copied and do not count."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, func, select

from kube9_store.errors import ValidationError
from kube9_store.schema.tables import events
from kube9_store.store.executor import Executor
from kube9_store.store.statements import CompiledSQL

if TYPE_CHECKING:
    from kube9_store.backends.base import Backend
    from kube9_store.store.core import StoreCore

#: Stored bytes per byte of an event's fields on the destination: the row's record (header,
#: page fill) and the indexes on it (measured at 1.8 for the reference operator's events).
STORED_PER_FIELD_BYTE = 2.0
#: Fixed bytes per row on top (record header, rowid, index entries' keys).
ROW_OVERHEAD = 64
#: The write-ahead log grows beside the database to as much again at its peak (a
#: transaction's pages, and the file keeps its size until the last connection closes).
WAL_FACTOR = 2.0


@dataclass(frozen=True)
class CopySpace:
    """The bytes a copy of ``rows`` events needs where ``path`` lies."""

    path: Path
    rows: int
    per_row: float

    def needed(self, done: int = 0) -> int:
        """The bytes still needed once ``done`` rows are written (after the first batch the
        write-ahead log has its room already: only the rows' own bytes are left)."""
        left = max(self.rows - done, 0) * self.per_row
        return int(left if done == 0 else left / WAL_FACTOR)


def field_bytes_per_event(store: StoreCore) -> float:
    """The average bytes of an event's fields in ``store`` (0 when it has none)."""
    total: ColumnElement[Any] | None = None
    for column in store.read_model.columns:
        name = getattr(column, "name", None)
        if name is None or name not in events.c or name == "acknowledged":
            continue
        size = func.coalesce(store.backend.byte_length(events.c[name]), 0)
        total = size if total is None else total + size
    stmt = select(func.coalesce(func.sum(total), 0), func.count()).select_from(events)
    sql = CompiledSQL.of(stmt, store.engine.dialect)
    run = Executor(store.backend)
    try:
        (row,) = run.fetch(sql, {}, "measure events")
    finally:
        run.close()
    payload, count = int(row[0] or 0), int(row[1] or 0)
    return payload / count if count else 0.0


def copy_space(src: StoreCore, backend: Backend, rows: int) -> CopySpace | None:
    """What copying ``rows`` events of ``src`` into ``backend``'s database file needs (None
    for a server, whose disks are its own, or for nothing to copy)."""
    path = backend.path
    if path is None or rows == 0:
        return None
    per_row = (field_bytes_per_event(src) * STORED_PER_FIELD_BYTE + ROW_OVERHEAD) * WAL_FACTOR
    return CopySpace(path=path, rows=rows, per_row=per_row)


def require(backend: Backend, space: CopySpace | None, action: str, done: int = 0) -> None:
    """Refuse to go on unless the volume has room for what is still to be written
    (NotEnoughSpaceError names the path, the bytes needed and the bytes free)."""
    if space is None:
        return
    existing = space.path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    backend.require_free_space(action, {existing: space.needed(done)})


def check_budget(backend: Backend, max_bytes: int) -> None:
    """Refuse a size budget below what an empty database takes: no deletion could meet it,
    and every run would delete every event, critical ones included."""
    floor = backend.empty_bytes()
    if max_bytes < floor:
        raise ValidationError.single(
            "max_bytes",
            f"{max_bytes} bytes is less than an empty database takes ({floor} bytes); "
            "no number of deletions could meet it",
        )
