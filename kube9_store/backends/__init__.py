"""Backends: one class per database kind, chosen once from the URL by :func:`backend_for`.

To add a database kind, write a :class:`~kube9_store.backends.base.Backend` subclass in a
module of its own and list it in :data:`SUPPORTED_BACKENDS`.
"""

from __future__ import annotations

from sqlalchemy.engine import URL

from kube9_store.backends.base import Backend
from kube9_store.backends.postgresql import PostgreSQLBackend
from kube9_store.backends.sqlite import SQLiteBackend
from kube9_store.config import ConnectionSettings
from kube9_store.errors import ValidationError

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


__all__ = ["SUPPORTED_BACKENDS", "Backend", "backend_for"]
