"""Events as table rows and rows as events, and the ids of a batch of rows. Rows this package
wrote are trusted, so they become :class:`Event` objects without validating them again; rows of
a database it did not write have their metadata checked on the way."""

from __future__ import annotations

import json
from collections.abc import Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Protocol

from kube9_store.errors import DuplicateEventError, Kube9StoreError
from kube9_store.events import fields as declared
from kube9_store.events.event import Event
from kube9_store.events.fields import FIELDS
from kube9_store.events.ids import event_id_at, id_prefix, random_suffixes
from kube9_store.events.models import CheckedEvent
from kube9_store.schema.tables import EVENT_COLUMNS
from kube9_store.store.statements import CompiledSQL

if TYPE_CHECKING:
    from kube9_store.backends import Backend


def new_rows(events: list[CheckedEvent], created_at: str) -> list[tuple[Any, ...]]:
    """The rows that store a batch (:func:`stored_values`; ``created_at`` for an event that
    has none, a generated id for one that has none, the batch's suffixes from one draw of
    randomness)."""
    rows: list[tuple[Any, ...]] = []
    prefixes: dict[str, str] = {}
    for (fields, metadata_json, _found), suffix in zip(
        events, random_suffixes(len(events)), strict=True
    ):
        at = fields.get("created_at") or created_at
        event_id = fields.get("id")
        if event_id is None:
            prefix = prefixes.get(at)
            if prefix is None:
                prefix = prefixes[at] = id_prefix(at)
            event_id = prefix + suffix
        rows.append(stored_values(fields, event_id, metadata_json, at))
    return rows


class StoredValues(Protocol):
    """:func:`stored_values`' signature."""

    def __call__(
        self,
        fields: dict[str, Any],
        event_id: str,
        metadata_json: str | None,
        created_at: str,
        acknowledged: int = 0,
    ) -> tuple[Any, ...]: ...


#: The values the write path computes itself, by the field they fill (the argument's name).
_COMPUTED = {
    "id": "event_id",
    "metadata": "metadata_json",
    "created_at": "created_at",
    "acknowledged": "acknowledged",
}


def _stored_values_function() -> StoredValues:
    """:func:`stored_values`, written out from the field declaration once at import, as
    :func:`collections.namedtuple` writes its classes: one tuple display of ``get`` calls,
    as fast as the hand-written function (a loop over the fields costs a frame per event
    on the record path)."""
    values = ", ".join(_COMPUTED.get(f.name, f"get({f.name!r})") for f in FIELDS)
    source = (
        "def stored_values(fields, event_id, metadata_json, created_at, acknowledged=0):\n"
        "    get = fields.get\n"
        f"    return ({values},)\n"
    )
    namespace: dict[str, Any] = {}
    exec(source, namespace)  # the text above: field names only, from the declaration
    function: StoredValues = namespace["stored_values"]
    function.__doc__ = (
        "A checked event's row as values in table column order (what the insert binds and "
        "an :class:`Event` holds)."
    )
    function.__module__ = __name__
    return function


stored_values = _stored_values_function()


#: Where the columns the write path reads sit in a row (table order).
ID, EVENT_TYPE, SEVERITY, CREATED_AT = (
    declared.ID,
    declared.EVENT_TYPE,
    declared.SEVERITY,
    declared.CREATED_AT,
)
#: A row's (event_type, severity): what it counts under, and the order a batch goes in.
TYPE_AND_SEVERITY = itemgetter(EVENT_TYPE, SEVERITY)


def event_from_tuple(row: Sequence[Any]) -> Event:
    """A stored row (columns in table order) as an Event."""
    return Event.from_row(row)


def checked_event_from_tuple(row: Sequence[Any]) -> Event:
    """A row of a database another program wrote, as an Event: its metadata must be a JSON
    object (or NULL), else the error names the event."""
    text = row[declared.METADATA]
    if text is None:
        return Event.from_row(row, None)
    try:
        metadata = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise Kube9StoreError(f"event {row[ID]!r}: stored metadata is not JSON ({exc})") from None
    if not isinstance(metadata, dict):
        raise Kube9StoreError(
            f"event {row[ID]!r}: stored metadata is a JSON {type(metadata).__name__}, "
            "expected an object"
        )
    return Event.from_row(row, metadata)


def insert_rows(
    con: Any, backend: Backend, insert: CompiledSQL, rows: list[tuple[Any, ...]]
) -> None:
    """One batch insert on the backend's path. Rows go in (event_type, severity) order, so
    the count triggers of concurrent batches lock counter rows in the same order (no deadlock
    on a server)."""
    ordered = sorted(rows, key=TYPE_AND_SEVERITY)
    backend.insert_rows(con, insert.sql, insert.params_of_rows(EVENT_COLUMNS, ordered))


def insert_rows_if_absent(
    con: Any,
    insert: CompiledSQL,
    if_absent: CompiledSQL,
    rows: list[tuple[Any, ...]],
    explicit: set[str],
) -> set[str]:
    """Insert ``rows`` in one transaction: rows with an explicit id only when no event has it
    (in the statement, so a concurrent writer of the same events never makes this fail), rows
    with a generated id always. Returns the ids inserted. Rows go in (event_type, severity, id)
    order, so concurrent batches take key and counter locks in the same order."""
    ordered = sorted(rows, key=itemgetter(EVENT_TYPE, SEVERITY, ID))
    inserted: set[str] = set()
    cur = con.cursor()
    try:
        for r in ordered:
            if r[ID] in explicit:
                cur.execute(if_absent.sql, if_absent.params_of_values(EVENT_COLUMNS, r))
                if cur.rowcount == 1:
                    inserted.add(r[ID])
            else:
                cur.execute(insert.sql, insert.params_of_values(EVENT_COLUMNS, r))
                inserted.add(r[ID])
    finally:
        cur.close()
    return inserted


def first_of_each_id(events: list[CheckedEvent]) -> list[CheckedEvent]:
    """The batch without events whose explicit id an earlier event of the batch has."""
    seen: set[str] = set()
    kept: list[CheckedEvent] = []
    for event in events:
        event_id = event[0].get("id")
        if event_id is not None:
            if event_id in seen:
                continue
            seen.add(event_id)
        kept.append(event)
    return kept


def refuse_repeated_ids(events: list[CheckedEvent]) -> None:
    seen: set[str] = set()
    for fields, _json, _found in events:
        event_id = fields.get("id")
        if event_id is not None:
            if event_id in seen:
                raise DuplicateEventError(event_id)
            seen.add(event_id)


def with_fresh_id(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """``row`` under a newly generated id (same instant)."""
    fresh = list(row)
    fresh[ID] = event_id_at(row[CREATED_AT])
    return tuple(fresh)


def renew_repeated_ids(rows: list[tuple[Any, ...]], events: list[CheckedEvent]) -> None:
    """Give generated ids that repeat within the batch fresh suffixes."""
    seen: set[str] = {e[0]["id"] for e in events if e[0].get("id") is not None}
    for i, (row, event) in enumerate(zip(rows, events, strict=True)):
        if event[0].get("id") is None:
            while row[ID] in seen:
                row = rows[i] = with_fresh_id(row)
            seen.add(row[ID])
