"""Engines for each supported backend, configured the same way whoever asks (store or Alembic)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import URL

from kube9_store.backends import sqlite
from kube9_store.backends.sqlite import Synchronous
from kube9_store.errors import ValidationError

SUPPORTED_BACKENDS = ("sqlite",)


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
    raise ValidationError.single(
        "db", f"backend {backend!r} is not supported; supported: {', '.join(SUPPORTED_BACKENDS)}"
    )


def write_engine(engine: Engine) -> Engine:
    """The engine to run write transactions on (SQLite: take the write lock at BEGIN)."""
    if engine.dialect.name == "sqlite":
        return sqlite.writer(engine)
    return engine


def read_engine(engine: Engine) -> Engine:
    """The engine for single-statement reads (SQLite: no BEGIN round trip)."""
    if engine.dialect.name == "sqlite":
        return sqlite.reader(engine)
    return engine


@dataclass(frozen=True)
class DriverTransactions:
    """How to run a write transaction directly on this backend's driver connection."""

    begin_write: Callable[[Any], None]
    commit: Callable[[Any], None]
    rollback: Callable[[Any], None]


def driver_transactions(engine: Engine) -> DriverTransactions:
    return DriverTransactions(sqlite.begin_write, sqlite.commit, sqlite.rollback)
