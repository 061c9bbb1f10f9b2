"""kube9_store: the kube9 operator's event database (SQLite first), with validated events,
a revision chain that keeps the spec's schema_version in sync, and a CLI.

Public names are loaded on first use, so ``kube9-store --help`` starts without importing
SQLAlchemy or pydantic.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kube9_store.errors import (
        DatabaseLockedError,
        DatabaseUnavailableError,
        DuplicateEventError,
        EventNotFoundError,
        Kube9StoreError,
        MigrationError,
        ReadOnlyError,
        SchemaError,
        ValidationError,
    )
    from kube9_store.filters import Page
    from kube9_store.ids import generate_event_id
    from kube9_store.models import EVENT_TYPES, SEVERITIES, Event, EventFilter, NewEvent
    from kube9_store.store import EventStore

__version__ = "0.1.0"

_HOMES = {
    "DatabaseLockedError": "errors",
    "DatabaseUnavailableError": "errors",
    "DuplicateEventError": "errors",
    "EventNotFoundError": "errors",
    "Kube9StoreError": "errors",
    "MigrationError": "errors",
    "ReadOnlyError": "errors",
    "SchemaError": "errors",
    "ValidationError": "errors",
    "generate_event_id": "ids",
    "EVENT_TYPES": "models",
    "SEVERITIES": "models",
    "Event": "models",
    "EventFilter": "models",
    "NewEvent": "models",
    "EventStore": "store",
    "Page": "filters",
}

__all__ = [
    "EVENT_TYPES",
    "SEVERITIES",
    "DatabaseLockedError",
    "DatabaseUnavailableError",
    "DuplicateEventError",
    "Event",
    "EventFilter",
    "EventNotFoundError",
    "EventStore",
    "Kube9StoreError",
    "MigrationError",
    "NewEvent",
    "Page",
    "ReadOnlyError",
    "SchemaError",
    "ValidationError",
    "__version__",
    "generate_event_id",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'kube9_store' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"kube9_store.{home}"), name)
    globals()[name] = value
    return value
