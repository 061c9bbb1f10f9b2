"""kube9_store: the kube9 operator's event database (SQLite first), with validated events,
a revision chain that keeps the spec's schema_version in sync, and a CLI.

Public names are loaded on first use, so ``kube9-store --help`` starts without importing
SQLAlchemy or pydantic. Type checkers see the real names (the imports under TYPE_CHECKING), so
a misspelt import is an error there too.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

# A library logs and lets the application decide: nothing is printed unless it configures
# logging (redaction and retry warnings included).
logging.getLogger(__name__).addHandler(logging.NullHandler())

if TYPE_CHECKING:
    from kube9_store.aio.cancellation import WriteOutcome, write_outcome
    from kube9_store.aio.retention import AsyncRetentionRunner
    from kube9_store.aio.store import AsyncEventStore
    from kube9_store.backends import Backend
    from kube9_store.config import ConnectionSettings, DbLocation, Synchronous
    from kube9_store.errors import (
        DatabaseLockedError,
        DatabaseMissingError,
        DatabaseUnavailableError,
        DestinationExistsError,
        DuplicateEventError,
        EventNotFoundError,
        FieldProblem,
        InternalError,
        Kube9StoreError,
        MigrationError,
        NotEnoughSpaceError,
        ReadOnlyError,
        SchemaError,
        SourceMissingError,
        StorageFullError,
        StoreClosedError,
        UnsupportedOperationError,
        ValidationError,
    )
    from kube9_store.events.event import Event
    from kube9_store.events.ids import generate_event_id
    from kube9_store.events.mappings import NewEventDict
    from kube9_store.events.models import (
        EVENT_TYPES,
        SEVERITIES,
        EventFilter,
        EventType,
        NewEvent,
        Severity,
    )
    from kube9_store.operations.retention import RetentionPolicy, RetentionRunner
    from kube9_store.results import (
        BackupResult,
        IntegrityResult,
        RetentionResult,
        SizeInfo,
        VolumeInfo,
    )
    from kube9_store.schema.autogen import include_object, metadata
    from kube9_store.schema.readmodel import ReadModel
    from kube9_store.secrets.redaction import Redaction
    from kube9_store.store.eventstore import EventStore
    from kube9_store.store.filters import Page
    from kube9_store.transfer.copy import CopyResult, copy_events
    from kube9_store.transfer.export import ExportResult, export_events, export_to_file
    from kube9_store.transfer.jsonl import JsonlImportReport, import_jsonl
    from kube9_store.transfer.streaming import Progress

__version__ = "0.2.0"

_HOMES = {
    "AsyncEventStore": "aio.store",
    "AsyncRetentionRunner": "aio.retention",
    "WriteOutcome": "aio.cancellation",
    "write_outcome": "aio.cancellation",
    "DatabaseMissingError": "errors",
    "DestinationExistsError": "errors",
    "SourceMissingError": "errors",
    "StoreClosedError": "errors",
    "DatabaseLockedError": "errors",
    "DatabaseUnavailableError": "errors",
    "DuplicateEventError": "errors",
    "EventNotFoundError": "errors",
    "FieldProblem": "errors",
    "Kube9StoreError": "errors",
    "MigrationError": "errors",
    "NotEnoughSpaceError": "errors",
    "ReadOnlyError": "errors",
    "SchemaError": "errors",
    "StorageFullError": "errors",
    "UnsupportedOperationError": "errors",
    "InternalError": "errors",
    "ValidationError": "errors",
    "Backend": "backends",
    "ConnectionSettings": "config",
    "DbLocation": "config",
    "Synchronous": "config",
    "generate_event_id": "events.ids",
    "EVENT_TYPES": "events.models",
    "SEVERITIES": "events.models",
    "Event": "events.event",
    "EventFilter": "events.models",
    "NewEvent": "events.models",
    "EventType": "events.models",
    "Severity": "events.models",
    "Redaction": "secrets.redaction",
    "Page": "store.filters",
    "BackupResult": "results",
    "IntegrityResult": "results",
    "RetentionResult": "results",
    "SizeInfo": "results",
    "VolumeInfo": "results",
    "RetentionPolicy": "operations.retention",
    "RetentionRunner": "operations.retention",
    "EventStore": "store.eventstore",
    "ReadModel": "schema.readmodel",
    "CopyResult": "transfer.copy",
    "copy_events": "transfer.copy",
    "ExportResult": "transfer.export",
    "export_events": "transfer.export",
    "export_to_file": "transfer.export",
    "JsonlImportReport": "transfer.jsonl",
    "import_jsonl": "transfer.jsonl",
    "Progress": "transfer.streaming",
    "NewEventDict": "events.mappings",
    "metadata": "schema.autogen",
    "include_object": "schema.autogen",
}

__all__ = [
    "EVENT_TYPES",
    "SEVERITIES",
    "AsyncEventStore",
    "AsyncRetentionRunner",
    "Backend",
    "BackupResult",
    "ConnectionSettings",
    "CopyResult",
    "DatabaseLockedError",
    "DatabaseMissingError",
    "DatabaseUnavailableError",
    "DbLocation",
    "DestinationExistsError",
    "DuplicateEventError",
    "Event",
    "EventFilter",
    "EventNotFoundError",
    "EventStore",
    "EventType",
    "ExportResult",
    "FieldProblem",
    "IntegrityResult",
    "InternalError",
    "JsonlImportReport",
    "Kube9StoreError",
    "MigrationError",
    "NewEvent",
    "NewEventDict",
    "NotEnoughSpaceError",
    "Page",
    "Progress",
    "ReadModel",
    "ReadOnlyError",
    "Redaction",
    "RetentionPolicy",
    "RetentionResult",
    "RetentionRunner",
    "SchemaError",
    "Severity",
    "SizeInfo",
    "SourceMissingError",
    "StorageFullError",
    "StoreClosedError",
    "Synchronous",
    "UnsupportedOperationError",
    "ValidationError",
    "VolumeInfo",
    "WriteOutcome",
    "__version__",
    "copy_events",
    "export_events",
    "export_to_file",
    "generate_event_id",
    "import_jsonl",
    "include_object",
    "metadata",
    "write_outcome",
]


if not TYPE_CHECKING:  # hidden from type checkers: a name not imported above is an error there

    def __getattr__(name: str) -> object:
        home = _HOMES.get(name)
        if home is None:
            raise AttributeError(f"module 'kube9_store' has no attribute {name!r}")
        import importlib

        value = getattr(importlib.import_module(f"kube9_store.{home}"), name)
        globals()[name] = value
        return value
