"""The one gate for rows that come from a database this package did not write (a foreign
database, a spec file made with plain SQL): every reader of such rows (``copy`` from any
source, ``export``, every query of such a database) takes them through here before any
filter, order or write (the walk is :func:`kube9_store.transfer.streaming.source_batches`). Each row
is validated and scrubbed as a new event is (:func:`checked_row`), ``created_at`` parsed into
the stored form, and a row that is not a valid event (a NULL ``created_at``, an unknown type,
metadata that is not a JSON object) is reported by id and left out. The filter is applied to
the normalised rows (:func:`matches`), so ``--since`` matches timestamps the other program
wrote in another text form.

Queries show a row that is not a valid event too, scrubbed (:func:`checked_event`). Such a
source is walked in its own total order (SQLite's rowid, else the unique id), which does not
depend on the text of ``created_at``; the rows of this package's own databases are trusted
and walked by the store's keyset order (:func:`~kube9_store.transfer.streaming.row_batches`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from kube9_store.errors import ValidationError
from kube9_store.events.event import Event, parse_metadata
from kube9_store.events.fields import (
    ACKNOWLEDGED,
    CREATED_AT,
    EVENT_TYPE,
    FIELDS,
    METADATA,
    OBJECT_KIND,
    OBJECT_NAME,
    OBJECT_NAMESPACE,
    POSITION,
    SEVERITY,
    TEXT_LIMITS,
)
from kube9_store.events.frozen import thaw
from kube9_store.events.ids import event_id_at
from kube9_store.events.models import EventFilter, NewEvent
from kube9_store.events.rows import checked_event_from_tuple, stored_values
from kube9_store.secrets.redaction import scrub_event

Row = tuple[Any, ...]

#: The fields a new event takes, with where each sits in a row: all but ``acknowledged``,
#: which a new event has no field for.
_NEW_EVENT_FIELDS = tuple((f.name, at) for at, f in enumerate(FIELDS) if f.name != "acknowledged")

#: Called with (event id, why) for each source row left out.
OnInvalid = Callable[[str, str], None]


def checked_row(row: Row) -> Row:
    """A row from a database this package did not write, validated as a new event would be
    (secrets scrubbed, ``created_at`` in the stored form, metadata a JSON object), with its
    id, ``created_at`` and ``acknowledged`` kept. Raises ValidationError naming the field."""
    created_at = row[CREATED_AT]
    if created_at is None:
        raise ValidationError.single("created_at", "is missing (NULL)")
    if not isinstance(created_at, str):
        raise ValidationError.single("created_at", f"must be text, got {type(created_at).__name__}")
    try:
        metadata = parse_metadata(row[METADATA])
    except ValueError as exc:
        raise ValidationError.single("metadata", f"is not JSON: {exc}") from None
    # Every field a new event takes (acknowledged is checked below, as it is no such field).
    fields = {name: row[at] for name, at in _NEW_EVENT_FIELDS}
    fields["metadata"] = metadata
    new = NewEvent.parse(fields)
    acknowledged = row[ACKNOWLEDGED]
    if acknowledged not in (None, 0, 1):  # True and False are 1 and 0
        raise ValidationError.single(
            "acknowledged", f"must be 0 or 1 (or NULL), got {acknowledged!r}"
        )
    at = new.created_at or created_at
    event_id = new.id or event_id_at(at)
    return stored_values(new.__dict__, event_id, new.metadata_json, at, 1 if acknowledged else 0)


def checked_events(rows: list[Any]) -> list[Event]:
    """Rows of a database another program wrote, as the Events a query returns: each through
    :func:`checked_row` (scrubbed, timestamps in the stored form); one that is not a valid
    event is still shown, its text and metadata scrubbed, so a read never shows a secret."""
    return [checked_event(row) for row in rows]


def checked_event(row: Sequence[Any]) -> Event:
    try:
        return Event.from_row(checked_row(tuple(row)))
    except ValidationError:
        pass
    event = checked_event_from_tuple(row)  # metadata a JSON object, else the package's error
    texts: dict[str, str | None] = {name: row[POSITION[name]] for name in TEXT_LIMITS}
    metadata = thaw(event.metadata)  # scrubbed in place
    scrubbed, _ = scrub_event(texts, metadata)
    fields = list(row)
    for name in texts:
        fields[POSITION[name]] = scrubbed[name]
    fields[METADATA] = json.dumps(metadata, separators=(",", ":")) if metadata is not None else None
    return Event.from_row(tuple(fields), metadata)


def matches(flt: EventFilter | None, row: Row) -> bool:
    """Whether a normalised row matches ``flt`` (the same rules as the SQL filter)."""
    if flt is None:
        return True
    for allowed, value in (
        (flt.event_type, row[EVENT_TYPE]),
        (flt.severity, row[SEVERITY]),
        (flt.object_kind, row[OBJECT_KIND]),
        (flt.object_namespace, row[OBJECT_NAMESPACE]),
        (flt.object_name, row[OBJECT_NAME]),
    ):
        if allowed is not None and value not in allowed:
            return False
    if flt.since is not None and row[CREATED_AT] < flt.since:
        return False
    if flt.until is not None and row[CREATED_AT] >= flt.until:
        return False
    return flt.acknowledged is None or bool(row[ACKNOWLEDGED]) == flt.acknowledged
