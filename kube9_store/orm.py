"""ORM-mapped classes over the store's own tables, for applications built on SQLAlchemy's ORM
(a ``Session`` or ``AsyncSession``, relationships to their own tables, FastAPI models).

The classes map the very ``Table`` objects of :mod:`kube9_store.schema.tables` (one
``MetaData``), so Alembic autogenerate still finds nothing to change. Writes through a Session
keep the store's rules: before every flush, each ``events`` row added or changed is validated
and scrubbed of secrets by the model :meth:`EventStore.record` uses, gets a generated id and the
canonical timestamp when missing, and an invalid one fails the flush with
:class:`~kube9_store.errors.ValidationError` (nothing is written). The count triggers see ORM
writes like any other, so counts stay exact. ``event_counts``, ``schema_version`` and
``operations_state`` are read-only here (triggers, migrations and the store own them), and bulk
INSERT or UPDATE statements on ``events`` through a Session, which would skip the checks, are
refused.

Importing this module installs the hooks on :class:`sqlalchemy.orm.Session` (which
``AsyncSession`` runs on); they touch nothing but these classes and the ``events`` table.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Delete, Insert, Table, Update, event, inspect
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    ORMExecuteState,
    Session,
    UOWTransaction,
    column_property,
)
from sqlalchemy.orm.attributes import set_attribute, set_committed_value

from kube9_store.errors import Kube9StoreError, ValidationError
from kube9_store.events.event import Event
from kube9_store.events.fields import NAMES
from kube9_store.events.frozen import freeze
from kube9_store.events.ids import event_id_at
from kube9_store.events.models import EventType, NewEvent, Severity
from kube9_store.events.timestamps import format_timestamp, parse_timestamp, utcnow
from kube9_store.gates import orm as orm_guards
from kube9_store.schema import tables as schema

__all__ = [
    "Base",
    "EventCountRow",
    "EventRow",
    "OperationStateRow",
    "ReadOnlyTableError",
    "SchemaVersionRow",
]


class ReadOnlyTableError(Kube9StoreError):
    """A Session tried to write a table the store maintains itself."""


class Base(DeclarativeBase):
    """Declarative base on the schema's own MetaData."""

    metadata = schema.metadata


class EventRow(Base):
    """A row of ``events``. ``metadata_json`` is the stored JSON text; :attr:`event_metadata`
    reads it as a read-only mapping and takes a new mapping (validated, scrubbed and turned
    into ``metadata_json`` at the next flush): a change made in place raises TypeError rather
    than being lost at the flush. ``acknowledged`` is a bool (stored as 0 or 1)."""

    __table__ = schema.events

    id: Mapped[str | None]
    event_type: Mapped[str]
    severity: Mapped[str]
    title: Mapped[str]
    description: Mapped[str | None]
    object_kind: Mapped[str | None]
    object_namespace: Mapped[str | None]
    object_name: Mapped[str | None]
    metadata_json: Mapped[str | None] = column_property(schema.events.c.metadata)
    created_at: Mapped[str]
    acknowledged: Mapped[bool]

    def __init__(
        self,
        *,
        event_type: EventType,
        severity: Severity,
        title: str,
        description: str | None = None,
        object_kind: str | None = None,
        object_namespace: str | None = None,
        object_name: str | None = None,
        event_metadata: Mapping[str, Any] | None = None,
        metadata_json: str | None = None,
        id: str | None = None,
        created_at: str | None = None,
        acknowledged: bool = False,
    ) -> None:
        """A new row; what is left out is filled in at the flush as ``record`` would (an id,
        the canonical timestamp). ``event_metadata`` or ``metadata_json``, not both."""
        if event_metadata is not None and metadata_json is not None:
            raise ValidationError.single(
                "metadata", "give event_metadata or metadata_json, not both"
            )
        super().__init__()
        for name, value in (
            ("id", id),
            ("event_type", event_type),
            ("severity", severity),
            ("title", title),
            ("description", description),
            ("object_kind", object_kind),
            ("object_namespace", object_namespace),
            ("object_name", object_name),
            ("metadata_json", metadata_json),
            ("created_at", created_at),
            ("acknowledged", acknowledged),
        ):
            setattr(self, name, value)
        if event_metadata is not None:
            self.event_metadata = event_metadata

    @property
    def event_metadata(self) -> Mapping[str, Any] | None:
        """The metadata, read-only (None when there is none). Assign a new mapping to change
        it: it is validated, scrubbed and turned into ``metadata_json`` at the next flush."""
        value: Any = self.metadata_json
        if value is None:
            return None
        parsed = value if isinstance(value, dict) else json.loads(value)
        return freeze(parsed) if isinstance(parsed, dict) else None

    @event_metadata.setter
    def event_metadata(self, value: Mapping[str, Any] | None) -> None:
        set_attribute(self, "metadata_json", value)

    @property
    def created(self) -> datetime:
        """``created_at`` as an aware datetime in UTC."""
        return parse_timestamp(self.created_at)

    def to_event(self) -> Event:
        """The row as the store's :class:`~kube9_store.events.event.Event` (fields validated)."""
        return Event(
            id=self.id,  # type: ignore[arg-type]  # validated: None is refused
            event_type=self.event_type,  # type: ignore[arg-type]
            severity=self.severity,  # type: ignore[arg-type]
            title=self.title,
            description=self.description,
            object_kind=self.object_kind,
            object_namespace=self.object_namespace,
            object_name=self.object_name,
            metadata=self.event_metadata,
            created_at=self.created_at,
            acknowledged=self.acknowledged,
        )

    def __repr__(self) -> str:
        return f"EventRow(id={self.id!r}, event_type={self.event_type!r}, title={self.title!r})"


class EventCountRow(Base):
    """A row of ``event_counts``: how many events of one type and severity (kept by triggers;
    read-only through a Session)."""

    __table__ = schema.event_counts

    event_type: Mapped[str]
    severity: Mapped[str]
    n: Mapped[int]


class SchemaVersionRow(Base):
    """A row of the spec's ``schema_version`` table (kept by migrations; read-only through a
    Session)."""

    __table__ = schema.schema_version

    version: Mapped[int | None]
    applied_at: Mapped[str]
    description: Mapped[str | None]


class OperationStateRow(Base):
    """A row of ``operations_state``: one durable fact of maintenance (kept by the store;
    read-only through a Session)."""

    __table__ = schema.operations_state

    name: Mapped[str]
    value: Mapped[float]
    updated_at: Mapped[str]


_READ_ONLY = (EventCountRow, SchemaVersionRow, OperationStateRow)
#: The tables the store keeps itself: no Session writes them.
STORE_KEPT = frozenset(row.__table__.name for row in _READ_ONLY)


#: The event fields a flush validates as given (the declaration's, in table order, but the
#: metadata, which the row holds as text, and ``acknowledged``, which a new event lacks).
_TAKEN_AS_GIVEN = tuple(name for name in NAMES if name not in ("metadata", "acknowledged"))
#: Those whose checked value is written back otherwise (a generated id, a canonical time).
_FIXED = ("id", "created_at")


def _metadata_value(row: EventRow) -> Any:
    text: Any = row.metadata_json
    if text is None or isinstance(text, dict):
        return text
    if not isinstance(text, str):
        raise ValidationError.single("metadata", "must be JSON text or a dict")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValidationError.single("metadata", f"must be JSON text: {exc}") from None


def _acknowledged_value(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or value in (0, 1):
        return int(value)
    raise ValidationError.single("acknowledged", f"must be True, False, 0 or 1, got {value!r}")


def keep_the_store_rules(row: EventRow) -> None:
    """Validate ``row`` as :meth:`EventStore.record` validates an event, then write back what
    would be stored: scrubbed text and metadata, a generated id and the canonical timestamp
    when missing. Raises ValidationError naming every broken rule.

    Metadata a changed row already had is not checked again (it was scrubbed when stored), so
    acknowledging a row does not count its redactions twice."""
    state = inspect(row)
    metadata_is_new = state.pending or state.attrs.metadata_json.history.has_changes()
    given = {name: getattr(row, name) for name in _TAKEN_AS_GIVEN}
    given["metadata"] = _metadata_value(row) if metadata_is_new else None
    new = NewEvent.parse(given)
    acknowledged = _acknowledged_value(row.acknowledged)
    created_at = new.created_at or format_timestamp(utcnow())
    checked = new.__dict__
    for name, value in (
        ("id", new.id or event_id_at(created_at)),
        *((name, checked[name]) for name in _TAKEN_AS_GIVEN if name not in _FIXED),
        ("metadata_json", new.metadata_json if metadata_is_new else row.metadata_json),
        ("created_at", created_at),
        ("acknowledged", acknowledged),
    ):
        if getattr(row, name) != value or type(getattr(row, name)) is not type(value):
            setattr(row, name, value)


def _acknowledged_as_bool(row: EventRow) -> None:
    """The stored 0 or 1 as the bool the class declares (no change recorded)."""
    if "acknowledged" in row.__dict__:
        value = row.__dict__["acknowledged"]
        if not isinstance(value, bool):
            set_committed_value(row, "acknowledged", bool(value))


@event.listens_for(EventRow, "load")
def _loaded(row: EventRow, _context: object) -> None:
    _acknowledged_as_bool(row)


@event.listens_for(EventRow, "refresh")
def _refreshed(row: EventRow, _context: object, _attrs: object) -> None:
    _acknowledged_as_bool(row)


_FLUSHED = "kube9_store.orm.flushed_rows"


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, _flush: UOWTransaction, _instances: object) -> None:
    for obj in session.deleted:
        if isinstance(obj, _READ_ONLY):
            raise ReadOnlyTableError(f"{obj.__table__.name} is kept by the store; not deleted")
    flushed: list[EventRow] = []
    for obj in [*session.new, *session.dirty]:
        if isinstance(obj, _READ_ONLY):
            raise ReadOnlyTableError(f"{obj.__table__.name} is kept by the store; not written")
        if isinstance(obj, EventRow) and (obj in session.new or session.is_modified(obj)):
            keep_the_store_rules(obj)
            flushed.append(obj)
    session.info[_FLUSHED] = flushed


@event.listens_for(Session, "after_flush_postexec")
def _after_flush(session: Session, _flush: UOWTransaction) -> None:
    for row in session.info.pop(_FLUSHED, ()):
        _acknowledged_as_bool(row)


def _target(statement: object) -> Any:
    if isinstance(statement, Insert | Update | Delete):
        return statement.table
    return None


@event.listens_for(Session, "do_orm_execute")
def _refuse_unchecked_writes(state: ORMExecuteState) -> None:
    if not (state.is_insert or state.is_update):
        return
    table = _target(state.statement)
    name = getattr(table, "name", None)
    if isinstance(table, Table) or name is not None:
        if name == schema.events.name:
            raise ValidationError.single(
                "statement",
                "bulk INSERT or UPDATE through a Session would skip validation and redaction; "
                "add or change EventRow objects and flush, or use EventStore.record_many, "
                "acknowledge_many or acknowledge_matching",
            )
        if name in STORE_KEPT:
            raise ReadOnlyTableError(f"{name} is kept by the store; not written")


orm_guards.install(
    event_row=EventRow,
    kept=_READ_ONLY,
    keep_rules=keep_the_store_rules,
    acknowledged_value=_acknowledged_value,
    refused=ReadOnlyTableError,
)
