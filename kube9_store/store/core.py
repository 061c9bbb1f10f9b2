"""What every part of the store shares: its backend, executor, compiled statements, clock,
metrics and retention policy (:class:`~kube9_store.store.eventstore.EventStore` is built from
the parts in :mod:`~kube9_store.store.reads`, :mod:`~kube9_store.store.writes` and
:mod:`~kube9_store.store.maintenance`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.engine import URL

from kube9_store.backends import Backend
from kube9_store.events.event import events_from_rows
from kube9_store.events.rows import (
    checked_event_from_tuple,
    event_from_tuple,
)
from kube9_store.events.timestamps import utcnow
from kube9_store.gates.inbound import checked_events
from kube9_store.operations.retention import RetentionPolicy
from kube9_store.schema.readmodel import HEAD_MODEL, ReadModel
from kube9_store.schema.sortkey import BY_TEXT
from kube9_store.store.executor import Executor
from kube9_store.store.filters import Shape
from kube9_store.store.instrumentation import Hooks, NoMetrics
from kube9_store.store.statements import CompiledSQL, Statements


class StoreCore:
    """The state of an open store; the parts add the operations."""

    def __init__(
        self,
        backend: Backend,
        *,
        clock: Callable[[], datetime] = utcnow,
        retention: RetentionPolicy | None = None,
        metrics: Hooks | None = None,
        read_model: ReadModel = HEAD_MODEL,
    ) -> None:
        self.backend = backend
        self.clock = clock
        self._retention = retention
        self._run = Executor(backend)
        #: How this database is read (decided at open: what its schema has).
        self.read_model = read_model
        #: The order its indexes serve: the backend's at head, (created_at, id) before, and
        #: for rows another program wrote, their times as the stored form where SQL can.
        self.sort_key = (
            backend.sort_key
            if read_model.at_head
            else BY_TEXT
            if read_model.trusted
            else backend.foreign_sort_key
        )
        self.sql = Statements(
            backend.engine.dialect, self.sort_key, backend=backend, model=read_model
        )
        trusted = read_model.trusted
        self._to_event = event_from_tuple if trusted else checked_event_from_tuple
        self._to_events = events_from_rows if trusted else checked_events
        self._shapes: dict[Shape, CompiledSQL] = {}
        self._grouped: dict[tuple[tuple[str, ...], Shape], CompiledSQL] = {}
        self.metrics: Hooks = metrics if metrics is not None else NoMetrics()

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, for reads of your own (the store's writes keep its rules)."""
        return self.backend.engine

    @property
    def url(self) -> URL:
        return self.backend.url

    @property
    def read_only(self) -> bool:
        return self.backend.settings.read_only

    @property
    def location(self) -> str:
        """The database file, or the URL (password hidden) for other backends."""
        return self.backend.location

    @property
    def retention(self) -> RetentionPolicy:
        """The policy given at open, else the environment's, read when first needed (a bad
        variable fails retention, not every read)."""
        if self._retention is None:
            self._retention = RetentionPolicy.from_env()
        return self._retention

    def __repr__(self) -> str:
        mode = "read-only" if self.read_only else "read-write"
        return f"EventStore({self.location!r}, {mode})"
