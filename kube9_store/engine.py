"""Engines for each supported backend, configured the same way whoever asks (store or Alembic),
and the few operations whose mechanics differ by backend."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import URL

from kube9_store.backends import postgresql, sqlite
from kube9_store.backends.sqlite import Synchronous
from kube9_store.config import sqlite_file
from kube9_store.errors import ValidationError

SUPPORTED_BACKENDS = ("sqlite", "postgresql")


def make_engine(
    url: URL,
    *,
    read_only: bool = False,
    synchronous: Synchronous = "NORMAL",
    busy_timeout: float = 5.0,
) -> Engine:
    """An engine for ``url`` with the backend's connection settings installed."""
    backend = url.get_backend_name()
    if backend == "sqlite":
        return sqlite.create_sqlite_engine(
            url, read_only=read_only, synchronous=synchronous, busy_timeout=busy_timeout
        )
    if backend == "postgresql":
        if url.get_driver_name() != "psycopg":
            raise ValidationError.single(
                "db", "PostgreSQL URLs must use psycopg 3: postgresql+psycopg://user@host/db"
            )
        return postgresql.create_pg_engine(url, read_only=read_only, busy_timeout=busy_timeout)
    raise ValidationError.single(
        "db", f"backend {backend!r} is not supported; supported: {', '.join(SUPPORTED_BACKENDS)}"
    )


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def write_engine(engine: Engine) -> Engine:
    """The engine to run write transactions on (SQLite: take the write lock at BEGIN)."""
    return sqlite.writer(engine) if is_sqlite(engine) else engine


def read_engine(engine: Engine) -> Engine:
    """The engine for single-statement reads (SQLite: no BEGIN round trip)."""
    return sqlite.reader(engine) if is_sqlite(engine) else engine


def migration_lock(engine: Engine, url: URL) -> AbstractContextManager[None]:
    """Held while migrating, so concurrent openers of a new database migrate it once."""
    if is_sqlite(engine):
        path = sqlite_file(url)
        return sqlite.migration_lock(path) if path is not None else contextlib.nullcontext()
    return postgresql.migration_lock(engine)


@dataclass(frozen=True)
class DriverTransactions:
    """How to run a write transaction directly on this backend's driver connection."""

    begin_write: Callable[[Any], None]
    commit: Callable[[Any], None]
    rollback: Callable[[Any], None]
    begin_read: Callable[[Any], None]
    end_read: Callable[[Any], None]


def driver_transactions(engine: Engine) -> DriverTransactions:
    b = sqlite if is_sqlite(engine) else postgresql
    return DriverTransactions(b.begin_write, b.commit, b.rollback, b.begin_read, b.end_read)
