"""The one gate for rows that come from a database this package did not write (a foreign
database, a spec file made with plain SQL): every reader of such rows (``copy`` from any
source, ``export``) takes them from :func:`source_batches`, which normalises each row before
any filter, order or write: validated and scrubbed as a new event is (:func:`checked_row`),
``created_at`` parsed into the stored form, and a row that is not a valid event (a NULL
``created_at``, an unknown type, metadata that is not a JSON object) reported by id to
``on_invalid`` and left out. The filter is applied to the normalised rows, so ``--since``
matches timestamps the other program wrote in another text form.

Such a source is walked in its own total order (SQLite's rowid, else the unique id), which
does not depend on the text of ``created_at``; the rows of this package's own databases are
trusted and walked by the store's keyset order (:func:`~kube9_store.streaming.row_batches`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select

from kube9_store.errors import ValidationError
from kube9_store.event import parse_metadata
from kube9_store.executor import Executor
from kube9_store.ids import event_id_at
from kube9_store.models import EventFilter, NewEvent
from kube9_store.rows import stored_values
from kube9_store.schema import events
from kube9_store.sortkey import BY_ROWID, ROWID
from kube9_store.statements import CompiledSQL
from kube9_store.streaming import Row, row_batches

if TYPE_CHECKING:
    from kube9_store.store import EventStore

#: Called with (event id, why) for each source row left out.
OnInvalid = Callable[[str, str], None]


def checked_row(row: Row) -> Row:
    """A row from a database this package did not write, validated as a new event would be
    (secrets scrubbed, ``created_at`` in the stored form, metadata a JSON object), with its
    id, ``created_at`` and ``acknowledged`` kept. Raises ValidationError naming the field."""
    if row[9] is None:
        raise ValidationError.single("created_at", "is missing (NULL)")
    if not isinstance(row[9], str):
        raise ValidationError.single("created_at", f"must be text, got {type(row[9]).__name__}")
    try:
        metadata = parse_metadata(row[8])
    except ValueError as exc:
        raise ValidationError.single("metadata", f"is not JSON: {exc}") from None
    new = NewEvent.parse(
        {
            "id": row[0],
            "event_type": row[1],
            "severity": row[2],
            "title": row[3],
            "description": row[4],
            "object_kind": row[5],
            "object_namespace": row[6],
            "object_name": row[7],
            "metadata": metadata,
            "created_at": row[9],
        }
    )
    acknowledged = row[10]
    if acknowledged not in (None, 0, 1):  # True and False are 1 and 0
        raise ValidationError.single(
            "acknowledged", f"must be 0 or 1 (or NULL), got {acknowledged!r}"
        )
    at = new.created_at or row[9]
    event_id = new.id or event_id_at(at)
    return stored_values(new.__dict__, event_id, new.metadata_json, at, 1 if acknowledged else 0)


def matches(flt: EventFilter | None, row: Row) -> bool:
    """Whether a normalised row matches ``flt`` (the same rules as the SQL filter)."""
    if flt is None:
        return True
    for allowed, value in (
        (flt.event_type, row[1]),
        (flt.severity, row[2]),
        (flt.object_kind, row[5]),
        (flt.object_namespace, row[6]),
        (flt.object_name, row[7]),
    ):
        if allowed is not None and value not in allowed:
            return False
    if flt.since is not None and row[9] < flt.since:
        return False
    if flt.until is not None and row[9] >= flt.until:
        return False
    return flt.acknowledged is None or bool(row[10]) == flt.acknowledged


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
    for raw in _foreign_batches(store, batch_size):
        batch: list[Row] = []
        for row in raw:
            try:
                normal = checked_row(row)
            except ValidationError as exc:
                on_invalid(str(row[0]), str(exc))
                continue
            if matches(flt, normal):
                batch.append(normal)
        if batch:
            yield batch


def _foreign_batches(store: EventStore, batch_size: int) -> Iterator[list[Row]]:
    """Every row of another program's events table, in a total order of its own (rowid on
    SQLite, the unique id elsewhere): never skipped or repeated while rows come and go."""
    key: Any = ROWID if store.backend.sort_key is BY_ROWID else events.c.id
    columns = store.read_model.columns
    first = select(*columns, key).select_from(events).order_by(key).limit(batch_size)
    after = (
        select(*columns, key)
        .select_from(events)
        .where(key > bindparam("after"))
        .order_by(key)
        .limit(batch_size)
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
