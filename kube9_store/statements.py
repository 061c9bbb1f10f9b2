"""Hot-path statements, defined in SQLAlchemy Core and compiled once per dialect, so record,
get and count run on the pooled driver connection with no per-call compilation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from kube9_store.schema import EVENT_COLUMNS, event_counts, events, schema_version


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


class Statements:
    """The store's fixed statements for one engine's dialect."""

    def __init__(self, dialect: Dialect) -> None:
        cols = events.c
        self.insert = CompiledSQL.of(
            insert(events).values({name: bindparam(name) for name in EVENT_COLUMNS}), dialect
        )
        self.get = CompiledSQL.of(select(events).where(cols.id == bindparam("id")), dialect)
        self.acknowledge = CompiledSQL.of(
            update(events).where(cols.id == bindparam("id")).values(acknowledged=bindparam("ack")),
            dialect,
        )
        total = func.sum(event_counts.c.n)
        self.count_all = CompiledSQL.of(select(func.coalesce(total, 0)), dialect)
        self.count_by = {
            name: CompiledSQL.of(
                select(event_counts.c[name], total)
                .group_by(event_counts.c[name])
                .having(total > 0)
                .order_by(event_counts.c[name]),
                dialect,
            )
            for name in ("event_type", "severity")
        }
        self.count_pairs = CompiledSQL.of(
            select(event_counts.c.event_type, event_counts.c.severity, event_counts.c.n).where(
                event_counts.c.n > 0
            ),
            dialect,
        )
        self.schema_version = CompiledSQL.of(select(func.max(schema_version.c.version)), dialect)
        self.clear_counts = CompiledSQL.of(event_counts.delete(), dialect)
        self.fill_counts = CompiledSQL.of(
            event_counts.insert().from_select(
                ["event_type", "severity", "n"],
                select(events.c.event_type, events.c.severity, func.count()).group_by(
                    events.c.event_type, events.c.severity
                ),
            ),
            dialect,
        )
        self.retention_batch = CompiledSQL.of(RETENTION_BATCH, dialect)
        self.retention_count = CompiledSQL.of(RETENTION_COUNT, dialect)


#: Retention: one bounded batch of expired events of one severity (an index range scan).
RETENTION_BATCH = events.delete().where(
    events.c.id.in_(
        select(events.c.id)
        .where(events.c.severity == bindparam("severity"))
        .where(events.c.created_at < bindparam("cutoff"))
        .limit(bindparam("batch"))
        .scalar_subquery()
    )
)
RETENTION_COUNT = (
    select(func.count())
    .select_from(events)
    .where(events.c.severity == bindparam("severity"))
    .where(events.c.created_at < bindparam("cutoff"))
)
