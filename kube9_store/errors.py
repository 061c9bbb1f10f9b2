"""The package's exception hierarchy, and the kinds of driver error each backend maps its
error codes to (see ``Backend.classify``)."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


class Kube9StoreError(Exception):
    """Base class of every error raised by kube9_store."""


@dataclass(frozen=True)
class FieldProblem:
    """One broken rule: the field (dotted path) and what was wrong with it."""

    field: str
    rule: str

    def __str__(self) -> str:
        return f"{self.field}: {self.rule}"


class ValidationError(Kube9StoreError, ValueError):
    """Input broke one or more rules; nothing was written."""

    def __init__(self, problems: Sequence[FieldProblem]) -> None:
        self.problems: tuple[FieldProblem, ...] = tuple(problems)
        lines = "; ".join(str(p) for p in self.problems)
        super().__init__(f"invalid input: {lines}")

    @classmethod
    def single(cls, field: str, rule: str) -> ValidationError:
        return cls([FieldProblem(field, rule)])

    @property
    def fields(self) -> list[str]:
        return [p.field for p in self.problems]


class EventNotFoundError(Kube9StoreError, LookupError):
    """No event has the given id."""

    def __init__(self, event_id: str) -> None:
        self.event_id = event_id
        super().__init__(f"event not found: {event_id}")


class DuplicateEventError(Kube9StoreError):
    """An event with the caller's explicit id is already stored (``event_id`` is None when the
    database did not say which)."""

    def __init__(self, event_id: str | None) -> None:
        self.event_id = event_id
        which = f"id {event_id!r}" if event_id is not None else "that id"
        super().__init__(f"an event with {which} already exists")


class SchemaError(Kube9StoreError):
    """The database's schema is not one this package can use or migrate."""


class MigrationError(SchemaError):
    """A revision failed; it was rolled back and the database kept its previous version."""

    def __init__(self, message: str, *, revision: str | None = None) -> None:
        self.revision = revision
        super().__init__(message)


class DestinationExistsError(ValidationError):
    """A backup (or other new file) would replace a file that already exists; nothing was
    written."""


class SourceMissingError(ValidationError):
    """The file to read from (a backup to restore) does not exist."""


class DatabaseUnavailableError(Kube9StoreError):
    """The database could not be opened, read or written (missing, locked, damaged, full)."""


class DatabaseMissingError(DatabaseUnavailableError):
    """There is no database at the location, and the call may not create one (read-only)."""


class StoreClosedError(DatabaseUnavailableError):
    """The store was closed; open a new one."""


class DatabaseLockedError(DatabaseUnavailableError):
    """Another connection held the write lock past the busy timeout and every retry."""


class ReadOnlyError(DatabaseUnavailableError):
    """A write was attempted on a store opened read-only, or on a read-only file."""


class StorageFullError(DatabaseUnavailableError):
    """The filesystem (or the server) has no room left for the write."""


class NotEnoughSpaceError(StorageFullError):
    """Refused before writing anything: a filesystem an operation writes to has less free
    space than the operation needs. Names the path, the bytes needed and the bytes free."""

    def __init__(self, action: str, path: Path, needed: int, free: int) -> None:
        self.path, self.needed, self.free = path, needed, free
        super().__init__(
            f"{action}: not enough free space at {path}: needs {needed} bytes, {free} bytes free"
        )


class InternalError(Kube9StoreError):
    """A statement could not run as written: a defect in kube9_store, or a schema changed
    behind its back (a column added without its field). Never an outage: the database answered,
    and retrying will not help. Report it with its message."""


class UnsupportedOperationError(Kube9StoreError):
    """The operation exists only on other backends (e.g. VACUUM and file backups on SQLite)."""


class ErrorKind(enum.Enum):
    """What a driver error means, whatever backend raised it."""

    BUSY = "busy"  # lost a race for a lock: the write may simply be tried again
    DUPLICATE_ID = "duplicate_id"  # the events key already holds that id
    CONSTRAINT = "constraint"  # another constraint refused the row
    READ_ONLY = "read_only"  # the file, connection or server refuses writes
    NOT_A_DATABASE = "not_a_database"  # the file is not a database of this backend
    CORRUPT = "corrupt"  # the database is damaged
    FULL = "full"  # no room left on the disk or server
    PROGRAMMING = "programming"  # the statement itself is wrong: a bug, not the database's state
    UNAVAILABLE = "unavailable"  # cannot connect, I/O error, or anything else from the driver


def error_for(kind: ErrorKind, message: str) -> Kube9StoreError:
    """The package error for a classified driver error."""
    if kind is ErrorKind.BUSY:
        return DatabaseLockedError(message)
    if kind is ErrorKind.DUPLICATE_ID:
        return DuplicateEventError(None)
    if kind is ErrorKind.READ_ONLY:
        return ReadOnlyError(message)
    if kind is ErrorKind.NOT_A_DATABASE:
        return SchemaError(message)
    if kind is ErrorKind.FULL:
        return StorageFullError(message)
    if kind is ErrorKind.CONSTRAINT:
        return Kube9StoreError(message)
    if kind is ErrorKind.PROGRAMMING:
        return InternalError(message)
    return DatabaseUnavailableError(message)
