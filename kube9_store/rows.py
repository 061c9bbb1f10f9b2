"""Events as table rows and rows as events, and the ids of a batch of rows. Rows this package
wrote are trusted, so they become :class:`Event` objects without validating them again; rows of
a database it did not write have their metadata checked on the way."""

from __future__ import annotations

import json
from collections.abc import Sequence
from operator import itemgetter
from typing import Any

from kube9_store.errors import DuplicateEventError, Kube9StoreError
from kube9_store.event import Event
from kube9_store.ids import event_id_at, id_prefix, random_suffixes
from kube9_store.models import NewEvent
from kube9_store.schema import EVENT_COLUMNS
from kube9_store.statements import CompiledSQL


def new_rows(events: list[NewEvent], created_at: str) -> list[dict[str, Any]]:
    """The rows that store a batch, as :func:`new_row` makes each (ids from one draw of
    randomness for the whole batch)."""
    rows: list[dict[str, Any]] = []
    prefixes: dict[str, str] = {}
    for event, suffix in zip(events, random_suffixes(len(events)), strict=True):
        at = event.created_at or created_at
        event_id = event.id
        if event_id is None:
            prefix = prefixes.get(at)
            if prefix is None:
                prefix = prefixes[at] = id_prefix(at)
            event_id = prefix + suffix
        rows.append(_row(event, event_id, at))
    return rows


def new_row(event: NewEvent, created_at: str) -> dict[str, Any]:
    """The row that stores ``event`` (``created_at`` when the event has none; a new id when
    it has none)."""
    at = event.created_at or created_at
    return _row(event, event.id or event_id_at(at), at)


def _row(event: NewEvent, event_id: str, created_at: str) -> dict[str, Any]:
    return {
        "id": event_id,
        "event_type": event.event_type,
        "severity": event.severity,
        "title": event.title,
        "description": event.description,
        "object_kind": event.object_kind,
        "object_namespace": event.object_namespace,
        "object_name": event.object_name,
        "metadata": event.metadata_json,
        "created_at": created_at,
        "acknowledged": 0,
    }


_AS_STORED = itemgetter(*EVENT_COLUMNS)
_COUNTER_ORDER = itemgetter("event_type", "severity")


def event_from_new(row: dict[str, Any], event: NewEvent) -> Event:
    """The event just stored as ``row`` (metadata as validated, not parsed again)."""
    return Event.from_row(_AS_STORED(row), event.metadata)


def event_from_tuple(row: Sequence[Any]) -> Event:
    """A stored row (columns in table order) as an Event."""
    return Event.from_row(row)


def checked_events_from_rows(rows: list[Any]) -> list[Event]:
    """Rows of a database another program wrote, as Events (see
    :func:`checked_event_from_tuple`)."""
    return [checked_event_from_tuple(row) for row in rows]


def checked_event_from_tuple(row: Sequence[Any]) -> Event:
    """A row of a database another program wrote, as an Event: its metadata must be a JSON
    object (or NULL), else the error names the event."""
    text = row[8]
    if text is None:
        return Event.from_row(row, None)
    try:
        metadata = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise Kube9StoreError(f"event {row[0]!r}: stored metadata is not JSON ({exc})") from None
    if not isinstance(metadata, dict):
        raise Kube9StoreError(
            f"event {row[0]!r}: stored metadata is a JSON {type(metadata).__name__}, "
            "expected an object"
        )
    return Event.from_row(row, metadata)


def insert_rows(con: Any, insert: CompiledSQL, rows: list[dict[str, Any]]) -> None:
    """One executemany. Rows go in (event_type, severity) order, so the count triggers of
    concurrent batches lock counter rows in the same order (no deadlock on a server)."""
    ordered = sorted(rows, key=_COUNTER_ORDER)
    cur = con.cursor()
    try:
        cur.executemany(insert.sql, insert.params_of_rows(ordered))
    finally:
        cur.close()


def insert_rows_if_absent(
    con: Any,
    insert: CompiledSQL,
    if_absent: CompiledSQL,
    rows: list[dict[str, Any]],
    explicit: set[str],
) -> set[str]:
    """Insert ``rows`` in one transaction: rows with an explicit id only when no event has it
    (in the statement, so a concurrent writer of the same events never makes this fail), rows
    with a generated id always. Returns the ids inserted. Rows go in (event_type, severity, id)
    order, so concurrent batches take key and counter locks in the same order."""
    ordered = sorted(rows, key=lambda r: (r["event_type"], r["severity"], r["id"]))
    inserted: set[str] = set()
    cur = con.cursor()
    try:
        for r in ordered:
            if r["id"] in explicit:
                cur.execute(if_absent.sql, if_absent.params(r))
                if cur.rowcount == 1:
                    inserted.add(r["id"])
            else:
                cur.execute(insert.sql, insert.params(r))
                inserted.add(r["id"])
    finally:
        cur.close()
    return inserted


def first_of_each_id(news: list[NewEvent]) -> list[NewEvent]:
    """The batch without events whose explicit id an earlier event of the batch has."""
    seen: set[str] = set()
    kept: list[NewEvent] = []
    for n in news:
        if n.id is not None:
            if n.id in seen:
                continue
            seen.add(n.id)
        kept.append(n)
    return kept


def refuse_repeated_ids(news: list[NewEvent]) -> None:
    seen: set[str] = set()
    for n in news:
        if n.id is not None:
            if n.id in seen:
                raise DuplicateEventError(n.id)
            seen.add(n.id)


def renew_repeated_ids(rows: list[dict[str, Any]], news: list[NewEvent]) -> None:
    """Give generated ids that repeat within the batch fresh suffixes."""
    seen: set[str] = {n.id for n in news if n.id is not None}
    for r, n in zip(rows, news, strict=True):
        if n.id is None:
            while r["id"] in seen:
                r["id"] = event_id_at(r["created_at"])
            seen.add(r["id"])
