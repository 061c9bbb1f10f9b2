"""The mapping :meth:`EventStore.record` and :meth:`EventStore.record_many` take, as a
TypedDict: a misspelt or missing key is found by the type checker, not at run time.

A mapping built at run time (parsed JSON, say) is checked by the store all the same; hand it
over as ``NewEvent.parse(data)`` or ``cast(NewEventDict, data)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Required, TypedDict

from kube9_store.events.models import EventType, Severity

__all__ = ["NewEventDict"]


class NewEventDict(TypedDict, total=False):
    """A new event as a mapping: the fields of :class:`~kube9_store.events.models.NewEvent`, with
    the same rules (checked when it is recorded)."""

    id: str | None
    event_type: Required[EventType]
    severity: Required[Severity]
    title: Required[str]
    description: str | None
    object_kind: str | None
    object_namespace: str | None
    object_name: str | None
    metadata: Mapping[str, Any] | None
    created_at: datetime | str | None
