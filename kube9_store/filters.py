"""Turning an EventFilter into SQL (bound parameters only), and keyset-pagination cursors."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from sqlalchemy import ColumnElement, tuple_

from kube9_store.errors import ValidationError
from kube9_store.models import Event, EventFilter
from kube9_store.schema import events

#: Newest first, ties broken by id: a total order, so pages never repeat or skip a row.
NEWEST_FIRST = (events.c.created_at.desc(), events.c.id.desc())
#: Filter fields the trigger-maintained counts can answer alone.
COUNTED_FIELDS = frozenset({"event_type", "severity"})


@dataclass(frozen=True)
class Page:
    """One keyset page; ``next_cursor`` is None on the last page."""

    events: list[Event]
    next_cursor: str | None


def encode_cursor(event: Event) -> str:
    """An opaque cursor pointing just after ``event`` in newest-first order."""
    raw = json.dumps([event.created_at, event.id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: object) -> tuple[str, str]:
    if isinstance(cursor, str):
        try:
            padded = cursor + "=" * (-len(cursor) % 4)
            created_at, event_id = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
            if isinstance(created_at, str) and isinstance(event_id, str):
                return created_at, event_id
        except (ValueError, TypeError, binascii.Error, UnicodeError):
            pass
    raise ValidationError.single("cursor", "is not a cursor returned by a previous page")


def after_cursor(cursor: object) -> ColumnElement[bool]:
    """Rows strictly after the cursor's row in newest-first order (a row-value comparison,
    which SQLite and PostgreSQL both answer with an index range scan)."""
    created_at, event_id = decode_cursor(cursor)
    return tuple_(events.c.created_at, events.c.id) < tuple_(created_at, event_id)


def check_count(name: str, value: object, minimum: int) -> int:
    """A limit or offset: an int (not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValidationError.single(name, f"must be an integer >= {minimum}, got {value!r}")
    return value


def where_clauses(flt: EventFilter | None) -> list[ColumnElement[bool]]:
    """The WHERE terms of a filter, all as bound parameters."""
    if flt is None:
        return []
    c = events.c
    out: list[ColumnElement[bool]] = []
    for column, values in ((c.event_type, flt.event_type), (c.severity, flt.severity)):
        if values:
            out.append(column == values[0] if len(values) == 1 else column.in_(values))
    if flt.since is not None:
        out.append(c.created_at >= flt.since)
    if flt.until is not None:
        out.append(c.created_at < flt.until)
    for column, value in (
        (c.object_kind, flt.object_kind),
        (c.object_namespace, flt.object_namespace),
        (c.object_name, flt.object_name),
    ):
        if value is not None:
            out.append(column == value)
    if flt.acknowledged is not None:
        out.append(c.acknowledged == int(flt.acknowledged))
    return out


def counted_only(flt: EventFilter | None) -> bool:
    """True when the filter touches only what ``event_counts`` can answer."""
    return flt is None or flt.model_dump(exclude_none=True).keys() <= COUNTED_FIELDS
