"""Hot-path statements, defined in SQLAlchemy Core and compiled once per store, so record,
get and count run on the pooled driver connection with no per-call compilation. What they read
follows the store's :class:`~kube9_store.schema.readmodel.ReadModel`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from kube9_store.schema.readmodel import HEAD_MODEL, ReadModel
from kube9_store.schema.sortkey import BY_TEXT, SortKey
from kube9_store.schema.tables import EVENT_COLUMNS, event_counts, events, schema_version

if TYPE_CHECKING:
    from kube9_store.backends import Backend


@dataclass(frozen=True)
class CompiledSQL:
    """SQL text for one dialect, and how to turn named values into its parameters."""

    sql: str
    names: tuple[str, ...]
    positional: bool
    defaults: Mapping[str, Any]

    @classmethod
    def of(cls, stmt: ClauseElement, dialect: Dialect) -> CompiledSQL:
        compiled = stmt.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        names = tuple(compiled.positiontup or ()) if compiled.positional else ()
        fixed = {k: v for k, v in compiled.params.items() if v is not None}
        return cls(str(compiled), names, compiled.positional, fixed)

    def params(self, values: Mapping[str, Any]) -> Sequence[Any] | Mapping[str, Any]:
        """Driver parameters from named values (literals fixed in the statement included)."""
        if self.positional:
            d = self.defaults
            return tuple([values[n] if n in values else d[n] for n in self.names])
        return {**self.defaults, **values}

    def binds_as_given(self, names: tuple[str, ...]) -> bool:
        """Whether values in the order of ``names`` are this statement's parameters as they
        are (positional, in that order, no literal of its own)."""
        return self.positional and self.names == names and not self.defaults

    def params_of_values(
        self, names: tuple[str, ...], values: Sequence[Any]
    ) -> Sequence[Any] | Mapping[str, Any]:
        """:meth:`params` of values given in the order of ``names``."""
        if self.binds_as_given(names):
            return values
        return self.params(dict(zip(names, values, strict=True)))

    def params_of_rows(
        self, names: tuple[str, ...], rows: list[tuple[Any, ...]]
    ) -> list[tuple[Any, ...]] | list[Sequence[Any] | Mapping[str, Any]]:
        """:meth:`params_of_values` of every row of a bulk write."""
        if self.binds_as_given(names):
            return rows
        return [self.params(dict(zip(names, r, strict=True))) for r in rows]


class Statements:
    """The store's fixed statements for one backend and read model, each compiled on first use
    (a short-lived CLI process compiles only what it runs)."""

    def __init__(
        self,
        dialect: Dialect,
        key: SortKey = BY_TEXT,
        *,
        backend: Backend | None = None,
        model: ReadModel = HEAD_MODEL,
    ) -> None:
        self.dialect = dialect
        self.key = key
        self.backend = backend
        self.model = model

    def _compile(self, stmt: ClauseElement) -> CompiledSQL:
        return CompiledSQL.of(stmt, self.dialect)

    @cached_property
    def insert(self) -> CompiledSQL:
        return self._compile(
            insert(events).values({name: bindparam(name) for name in EVENT_COLUMNS})
        )

    @cached_property
    def insert_binds_rows(self) -> bool:
        """Whether :attr:`insert` takes a row (values in table column order) as it is."""
        return self.insert.binds_as_given(EVENT_COLUMNS)

    @cached_property
    def insert_if_absent(self) -> CompiledSQL:
        """The insert that leaves out an event whose id is taken (the backend's own syntax)."""
        if self.backend is None:
            raise TypeError("Statements(..., backend=...) is needed for insert_if_absent")
        stmt = self.backend.insert_if_absent(events)
        return self._compile(stmt.values({name: bindparam(name) for name in EVENT_COLUMNS}))

    @cached_property
    def get(self) -> CompiledSQL:
        return self._compile(select(*self.model.columns).where(events.c.id == bindparam("id")))

    @cached_property
    def acknowledge(self) -> CompiledSQL:
        return self._compile(
            update(events)
            .where(events.c.id == bindparam("id"))
            .values(acknowledged=bindparam("ack"))
        )

    @cached_property
    def count_all(self) -> CompiledSQL:
        if not self.model.counts:
            return self._compile(select(func.count()).select_from(events))
        return self._compile(select(func.coalesce(func.sum(event_counts.c.n), 0)))

    @cached_property
    def count_by(self) -> dict[str, CompiledSQL]:
        """Counts per event_type and per severity: from event_counts, or, in a database
        without it, by grouping the events."""
        if not self.model.counts:
            return {
                name: self._compile(
                    select(events.c[name], func.count())
                    .group_by(events.c[name])
                    .order_by(events.c[name])
                )
                for name in ("event_type", "severity")
            }
        total = func.sum(event_counts.c.n)
        return {
            name: self._compile(
                select(event_counts.c[name], total)
                .group_by(event_counts.c[name])
                .having(total > 0)
                .order_by(event_counts.c[name])
            )
            for name in ("event_type", "severity")
        }

    @cached_property
    def count_pairs(self) -> CompiledSQL:
        if not self.model.counts:
            e = events.c
            return self._compile(
                select(e.event_type, e.severity, func.count()).group_by(e.event_type, e.severity)
            )
        c = event_counts.c
        return self._compile(select(c.event_type, c.severity, c.n).where(c.n > 0))

    @cached_property
    def schema_version(self) -> CompiledSQL:
        return self._compile(select(func.max(schema_version.c.version)))

    @cached_property
    def clear_counts(self) -> CompiledSQL:
        return self._compile(event_counts.delete())

    @cached_property
    def fill_counts(self) -> CompiledSQL:
        by_pair = select(events.c.event_type, events.c.severity, func.count()).group_by(
            events.c.event_type, events.c.severity
        )
        return self._compile(
            event_counts.insert().from_select(["event_type", "severity", "n"], by_pair)
        )

    @cached_property
    def retention_batch(self) -> CompiledSQL:
        return self._compile(retention_batch(self.key))

    @cached_property
    def retention_count(self) -> CompiledSQL:
        return self._compile(retention_count(self.key))

    @cached_property
    def nth_oldest(self) -> CompiledSQL:
        """The created_at of the event of one of two severities ``skip`` places from the oldest
        (the size budget's cutoff for a severity group)."""
        key = self.key
        return self._compile(
            select(events.c.created_at)
            .where(events.c.severity.in_([bindparam("severity_0"), bindparam("severity_1")]))
            .order_by(key.created(), key.tiebreak)
            .limit(1)
            .offset(bindparam("skip"))
        )


def _expired(key: SortKey) -> list[Any]:
    created = key.created()
    return [events.c.severity == bindparam("severity"), created < key.time(bindparam("cutoff"))]


def retention_batch(key: SortKey = BY_TEXT) -> Any:
    """Retention: one bounded batch of expired events of one severity (an index range scan)."""
    return events.delete().where(
        key.tiebreak.in_(
            select(key.tiebreak).where(*_expired(key)).limit(bindparam("batch")).scalar_subquery()
        )
    )


def retention_count(key: SortKey = BY_TEXT) -> Any:
    """How many events of one severity are older than a cutoff."""
    return select(func.count()).select_from(events).where(*_expired(key))
