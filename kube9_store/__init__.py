"""kube9_store: the kube9 operator's event database (SQLite first), with validated events,
a revision chain that keeps the spec's schema_version in sync, and a CLI."""

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
from kube9_store.ids import generate_event_id
from kube9_store.models import EVENT_TYPES, SEVERITIES, Event, EventFilter, NewEvent
from kube9_store.store import EventStore, Page

__version__ = "0.1.0"

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
