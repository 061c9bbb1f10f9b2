"""Every matching event of a store as raw rows, in keyset batches: constant memory however
many match, each batch one short read (no snapshot held across the whole walk, so a live
writer's checkpoints are never held back), in the order the store's indexes serve.

Rows are tuples in table order (:data:`~kube9_store.schema.tables.EVENT_COLUMNS`), as stored; a
database without ``acknowledged`` reads 0 there. Copy and export stream these instead of
:class:`~kube9_store.events.models.Event` objects, which would parse every row's metadata.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import bindparam, select

from kube9_store import checks
from kube9_store.errors import ValidationError
from kube9_store.events.fields import CREATED_AT, ID
from kube9_store.events.models import EventFilter
from kube9_store.gates.inbound import OnInvalid, checked_row, matches
from kube9_store.schema.sortkey import BY_ROWID, CREATED_MS, ROWID, SortKey
from kube9_store.schema.tables import events, time_key
from kube9_store.store.executor import Executor
from kube9_store.store.filters import Shape, shape_and_values, statement_for
from kube9_store.store.statements import CompiledSQL

if TYPE_CHECKING:
    from kube9_store.store.eventstore import EventStore

#: Rows per batch: large enough that per-statement and per-commit costs vanish (a SQLite
#: transaction writes each page it touched once), small enough to stay a few tens of MB.
DEFAULT_BATCH = 20_000
MAX_BATCH = 1_000_000

#: Long work reports ``(done, total)`` to this after each batch (the CLI draws a bar with it).
Progress = Callable[[int, int], None]

Row = tuple[Any, ...]
T = TypeVar("T")


def row_batches(
    store: EventStore,
    flt: EventFilter | None = None,
    *,
    oldest_first: bool = True,
    batch_size: int = DEFAULT_BATCH,
) -> Iterator[list[Row]]:
    """The matching events, ``batch_size`` rows at a time, oldest first (or newest first):
    the package's one keyset walk, over a total order (the time key, then a unique
    tie-breaker). Each batch starts just after the last row of the previous one, whether or
    not that row still exists, so no row is skipped or repeated while others are deleted;
    events written meanwhile are visited when they sort after the rows already read."""
    checks.whole_number("batch_size", batch_size, 1, MAX_BATCH)
    first_shape, values = shape_and_values(flt, limit=batch_size, oldest_first=oldest_first)
    next_shape, _ = shape_and_values(
        flt, cursor=("", ""), limit=batch_size, oldest_first=oldest_first
    )
    dialect = store.engine.dialect
    # The cursor carries the tie-breaker's own value (SQLite: the rowid read with the row),
    # never an id looked up again: a last-read row deleted meanwhile moves nothing.
    by_rowid = store.sort_key is BY_ROWID
    order = WALK_BY_ROWID if by_rowid else store.sort_key
    first, after = (
        CompiledSQL.of(_walk_statement(shape, order, store, by_rowid), dialect)
        for shape in (first_shape, next_shape)
    )
    run = Executor(store.backend)
    try:
        rows = run.fetch(first, values, "read events")
        while rows:
            last = rows[-1]
            yield [tuple(r[:-1]) for r in rows] if by_rowid else rows
            if len(rows) < batch_size:
                return
            values["cursor_created_at"] = last[CREATED_AT]
            values["cursor_id"] = last[-1] if by_rowid else last[ID]
            rows = run.fetch(after, values, "read events")
    finally:
        run.close()


#: SQLite's keyset order with the cursor's rowid bound as it was read.
WALK_BY_ROWID = SortKey(
    time=time_key, tiebreak=ROWID, tiebreak_of=lambda value: value, stored=CREATED_MS
)


def _walk_statement(shape: Shape, order: SortKey, store: EventStore, by_rowid: bool) -> Any:
    return statement_for(shape, order, store.read_model, with_tiebreak=by_rowid)


_DONE = object()


def prefetched(items: Iterator[T], depth: int = 2) -> Iterator[T]:
    """``items``, produced by a thread of its own up to ``depth`` ahead of the consumer: the
    next batch is read while the previous one is written (both drivers release the GIL while
    the database works). Memory stays bounded by ``depth``; an error in the producer is
    raised to the consumer, and a consumer that stops early stops the producer."""
    handoff: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: Any) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not offer((item, None)):
                    return
            offer((_DONE, None))
        except BaseException as exc:  # handed to the consumer, raised there
            offer((_DONE, exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="kube9-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item, error = handoff.get()
            if error is not None:
                raise error
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
        thread.join()


def source_batches(
    store: EventStore,
    flt: EventFilter | None,
    *,
    oldest_first: bool = True,
    batch_size: int,
    on_invalid: OnInvalid,
) -> Iterator[list[Row]]:
    """The matching rows of ``store`` in batches: its own rows by the keyset walk; rows of a
    database another program wrote normalised first (invalid ones reported and left out),
    then filtered."""
    if store.read_model.trusted:
        yield from row_batches(store, flt, oldest_first=oldest_first, batch_size=batch_size)
        return
    for raw in foreign_batches(store, batch_size, oldest_first=oldest_first):
        batch: list[Row] = []
        for row in raw:
            try:
                normal = checked_row(row)
            except ValidationError as exc:
                on_invalid(str(row[ID]), str(exc))
                continue
            if matches(flt, normal):
                batch.append(normal)
        if batch:
            yield batch


def foreign_batches(
    store: EventStore, batch_size: int, *, oldest_first: bool = True
) -> Iterator[list[Row]]:
    """Every row of another program's events table, in a total order of its own (rowid on
    SQLite, the unique id elsewhere; first inserted first, or last first): never skipped or
    repeated while rows come and go."""
    key: Any = ROWID if store.backend.sort_key is BY_ROWID else events.c.id
    columns = store.read_model.columns
    order = key.asc() if oldest_first else key.desc()
    beyond = key > bindparam("after") if oldest_first else key < bindparam("after")
    first = select(*columns, key).select_from(events).order_by(order).limit(batch_size)
    after = (
        select(*columns, key).select_from(events).where(beyond).order_by(order).limit(batch_size)
    )
    dialect = store.engine.dialect
    first_sql, after_sql = CompiledSQL.of(first, dialect), CompiledSQL.of(after, dialect)
    run = Executor(store.backend)
    try:
        rows = run.fetch(first_sql, {}, "read events")
        while rows:
            yield [tuple(r[:-1]) for r in rows]
            if len(rows) < batch_size:
                return
            rows = run.fetch(after_sql, {"after": rows[-1][-1]}, "read events")
    finally:
        run.close()
