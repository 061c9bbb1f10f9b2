"""Stored events and keyset cursors as plain data, with nothing heavier than the standard
library: the dict a stored row is shown as (the CLI's and JSON consumers' form) and the text of
a cursor. :class:`~kube9_store.events.event.Event` and :mod:`~kube9_store.store.filters` build
on these, and so does the CLI's lean read path."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Any

from kube9_store.events.fields import BOOLEANS, NAMES, POSITION


def row_dict(row: Sequence[Any], metadata: dict[str, Any] | None) -> dict[str, Any]:
    """A stored row (columns in table order) as the event's dict: every field, ``metadata``
    (the row's, parsed) as an object, ``acknowledged`` (each boolean field) as a bool."""
    shown = dict(zip(NAMES, row, strict=False))
    shown["metadata"] = metadata
    for name, at in _BOOLEANS:
        shown[name] = bool(row[at])
    return shown


#: The fields stored as integers and shown as bools, with their positions.
_BOOLEANS = tuple((name, POSITION[name]) for name in BOOLEANS)


def cursor_text(created_at: str, event_id: str) -> str:
    """An opaque cursor pointing just after the event (``created_at``, ``event_id``) in
    newest-first order."""
    raw = json.dumps([created_at, event_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_key(cursor: object) -> tuple[str, str] | None:
    """The (created_at, id) a cursor of :func:`cursor_text` points after; None when
    ``cursor`` is not one."""
    if isinstance(cursor, str):
        try:
            padded = cursor + "=" * (-len(cursor) % 4)
            created_at, event_id = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
            if isinstance(created_at, str) and isinstance(event_id, str):
                return created_at, event_id
        except (ValueError, TypeError, binascii.Error, UnicodeError):
            pass
    return None
