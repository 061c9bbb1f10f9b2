"""The package's exception hierarchy, and the one place driver errors are translated."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import exc as sa_exc


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
    """An event with the caller's explicit id is already stored."""

    def __init__(self, event_id: str) -> None:
        self.event_id = event_id
        super().__init__(f"an event with id {event_id!r} already exists")


class SchemaError(Kube9StoreError):
    """The database's schema is not one this package can use or migrate."""


class MigrationError(SchemaError):
    """A revision failed; it was rolled back and the database kept its previous version."""

    def __init__(self, message: str, *, revision: str | None = None) -> None:
        self.revision = revision
        super().__init__(message)


class DatabaseUnavailableError(Kube9StoreError):
    """The database could not be opened, read or written (missing, locked, damaged, full)."""


class DatabaseLockedError(DatabaseUnavailableError):
    """Another connection held the write lock past the busy timeout and every retry."""


class ReadOnlyError(DatabaseUnavailableError):
    """A write was attempted on a store opened read-only, or on a read-only file."""


def translate(exc: BaseException, action: str) -> Kube9StoreError:
    """Map a driver or SQLAlchemy error to the package's hierarchy."""
    orig = exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc
    text = str(orig) if orig is not None else str(exc)
    lowered = text.lower()
    if "database is locked" in lowered or "database table is locked" in lowered:
        return DatabaseLockedError(f"{action}: {text}")
    if "readonly" in lowered or "read-only" in lowered or "read only" in lowered:
        return ReadOnlyError(f"{action}: {text}")
    driver = type(orig).__module__.split(".")[0] if orig is not None else ""
    if isinstance(exc, sa_exc.DBAPIError) or driver in ("sqlite3", "psycopg"):
        return DatabaseUnavailableError(f"{action}: {text}")
    if isinstance(exc, sa_exc.SQLAlchemyError | OSError):
        return DatabaseUnavailableError(f"{action}: {text}")
    return Kube9StoreError(f"{action}: {text}")


@contextmanager
def translated(action: str) -> Iterator[None]:
    """Re-raise driver, SQLAlchemy and OS errors as package errors, chained with ``from``."""
    try:
        yield
    except Kube9StoreError:
        raise
    except (sa_exc.SQLAlchemyError, sqlite3.Error, OSError) as exc:
        raise translate(exc, action) from exc
    except Exception as exc:
        if type(exc).__module__.split(".")[0] == "psycopg":
            raise translate(exc, action) from exc
        raise
