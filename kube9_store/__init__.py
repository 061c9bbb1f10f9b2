"""kube9_store: the kube9 operator's event database (SQLite first), with validated events,
a revision chain that keeps the spec's schema_version in sync, and a CLI.

The public names are declared once, as the imports under TYPE_CHECKING below (one a line, in
the ``Name as Name`` form that marks a re-export): type checkers read them, so a misspelt import
is an error there too, and at run time the first use of a name reads the same lines
(:func:`_homes`) and loads it from its module, so ``kube9-store --help`` starts without importing
SQLAlchemy or pydantic. ``__all__`` is derived from them.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

# A library logs and lets the application decide: nothing is printed unless it configures
# logging (redaction and retry warnings included).
logging.getLogger(__name__).addHandler(logging.NullHandler())

if TYPE_CHECKING:  # the public names: add one here, and it is exported
    from kube9_store.aio.cancellation import WriteOutcome as WriteOutcome
    from kube9_store.aio.cancellation import write_outcome as write_outcome
    from kube9_store.aio.retention import AsyncRetentionRunner as AsyncRetentionRunner
    from kube9_store.aio.store import AsyncEventStore as AsyncEventStore
    from kube9_store.backends import Backend as Backend
    from kube9_store.config import ConnectionSettings as ConnectionSettings
    from kube9_store.config import DbLocation as DbLocation
    from kube9_store.config import Synchronous as Synchronous
    from kube9_store.errors import DatabaseLockedError as DatabaseLockedError
    from kube9_store.errors import DatabaseMissingError as DatabaseMissingError
    from kube9_store.errors import DatabaseUnavailableError as DatabaseUnavailableError
    from kube9_store.errors import DestinationExistsError as DestinationExistsError
    from kube9_store.errors import DuplicateEventError as DuplicateEventError
    from kube9_store.errors import EventNotFoundError as EventNotFoundError
    from kube9_store.errors import FieldProblem as FieldProblem
    from kube9_store.errors import InternalError as InternalError
    from kube9_store.errors import Kube9StoreError as Kube9StoreError
    from kube9_store.errors import MigrationError as MigrationError
    from kube9_store.errors import NotEnoughSpaceError as NotEnoughSpaceError
    from kube9_store.errors import ReadOnlyError as ReadOnlyError
    from kube9_store.errors import SchemaError as SchemaError
    from kube9_store.errors import SourceMissingError as SourceMissingError
    from kube9_store.errors import StorageFullError as StorageFullError
    from kube9_store.errors import StoreClosedError as StoreClosedError
    from kube9_store.errors import UnsupportedOperationError as UnsupportedOperationError
    from kube9_store.errors import ValidationError as ValidationError
    from kube9_store.events.event import Event as Event
    from kube9_store.events.ids import generate_event_id as generate_event_id
    from kube9_store.events.mappings import NewEventDict as NewEventDict
    from kube9_store.events.models import EVENT_TYPES as EVENT_TYPES
    from kube9_store.events.models import SEVERITIES as SEVERITIES
    from kube9_store.events.models import EventFilter as EventFilter
    from kube9_store.events.models import EventType as EventType
    from kube9_store.events.models import NewEvent as NewEvent
    from kube9_store.events.models import Severity as Severity
    from kube9_store.operations.retention import RetentionPolicy as RetentionPolicy
    from kube9_store.operations.retention import RetentionRunner as RetentionRunner
    from kube9_store.results import BackupResult as BackupResult
    from kube9_store.results import IntegrityResult as IntegrityResult
    from kube9_store.results import RetentionResult as RetentionResult
    from kube9_store.results import SizeInfo as SizeInfo
    from kube9_store.results import VolumeInfo as VolumeInfo
    from kube9_store.schema.autogen import include_object as include_object
    from kube9_store.schema.autogen import metadata as metadata
    from kube9_store.schema.readmodel import ReadModel as ReadModel
    from kube9_store.secrets.redaction import Redaction as Redaction
    from kube9_store.store.eventstore import EventStore as EventStore
    from kube9_store.store.filters import Page as Page
    from kube9_store.transfer.copy import CopyResult as CopyResult
    from kube9_store.transfer.copy import copy_events as copy_events
    from kube9_store.transfer.export import ExportResult as ExportResult
    from kube9_store.transfer.export import export_events as export_events
    from kube9_store.transfer.export import export_to_file as export_to_file
    from kube9_store.transfer.jsonl import JsonlImportReport as JsonlImportReport
    from kube9_store.transfer.jsonl import import_jsonl as import_jsonl
    from kube9_store.transfer.streaming import Progress as Progress

__version__ = "0.2.0"


def _homes() -> dict[str, str]:
    """Each public name's module, read from the imports under TYPE_CHECKING above: the one
    list of the public names. Read from the source once, on first use, so ``import
    kube9_store`` imports none of them."""
    import ast

    with open(__file__, encoding="utf-8") as source:
        tree = ast.parse(source.read())
    block = next(
        node
        for node in tree.body
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name)
        if node.test.id == "TYPE_CHECKING"
    )
    return {
        alias.name: statement.module
        for statement in block.body
        if isinstance(statement, ast.ImportFrom) and statement.module is not None
        for alias in statement.names
    }


if not TYPE_CHECKING:  # hidden from type checkers: a name not imported above is an error there

    def __getattr__(name: str) -> object:
        global _HOMES
        if _HOMES is None:
            _HOMES = _homes()
        if name == "__all__":
            value: object = sorted([*_HOMES, "__version__"])
        elif name in _HOMES:
            import importlib

            value = getattr(importlib.import_module(_HOMES[name]), name)
        else:
            raise AttributeError(f"module 'kube9_store' has no attribute {name!r}")
        globals()[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*globals(), *__getattr__("__all__")})

    _HOMES = None
