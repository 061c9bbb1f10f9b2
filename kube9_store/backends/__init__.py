"""Backends: one class per database kind, chosen once from the URL by :func:`backend_for`.

To add a database kind, write a :class:`~kube9_store.backends.base.Backend` subclass in a
module of its own and list it in :data:`SUPPORTED_BACKENDS`.
"""

from __future__ import annotations

from sqlalchemy.engine import URL, Dialect

from kube9_store.backends.base import Backend, Direction
from kube9_store.backends.postgresql import PostgreSQLBackend
from kube9_store.backends.sqlite import SQLiteBackend
from kube9_store.config import ConnectionSettings
from kube9_store.errors import MigrationError, ValidationError

#: URL backend name -> the class that serves it.
SUPPORTED_BACKENDS: dict[str, type[Backend]] = {
    SQLiteBackend.name: SQLiteBackend,
    PostgreSQLBackend.name: PostgreSQLBackend,
}


def backend_for(url: URL, settings: ConnectionSettings | None = None) -> Backend:
    """The backend for ``url`` (no connection is made yet)."""
    cls = SUPPORTED_BACKENDS.get(url.get_backend_name())
    if cls is None:
        raise ValidationError.single(
            "db",
            f"backend {url.get_backend_name()!r} is not supported; "
            f"supported: {', '.join(SUPPORTED_BACKENDS)}",
        )
    return cls(url, settings if settings is not None else ConnectionSettings())


def revision_ddl(dialect: Dialect, revision: str, direction: Direction) -> tuple[str, ...]:
    """The DDL that the backend of ``dialect`` (a migration context's) supplies for
    ``revision`` going ``direction`` (:meth:`Backend.revision_ddl`)."""
    cls = SUPPORTED_BACKENDS.get(dialect.name)
    if cls is None:
        raise MigrationError(
            f"revision {revision} cannot run on {dialect.name}; "
            f"supported: {', '.join(SUPPORTED_BACKENDS)}",
            revision=revision,
        )
    return cls.revision_ddl(revision, direction)


def events_rebuilt_at(dialect: Dialect) -> str | None:
    """The revision that rebuilds ``events`` with all its indexes on the kind of database of
    ``dialect`` (:attr:`Backend.rebuilds_events_at`), if any."""
    cls = SUPPORTED_BACKENDS.get(dialect.name)
    return None if cls is None else cls.rebuilds_events_at


__all__ = ["SUPPORTED_BACKENDS", "Backend", "backend_for", "events_rebuilt_at", "revision_ddl"]
