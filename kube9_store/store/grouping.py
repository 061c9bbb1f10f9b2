"""Grouped counts: how many events match a filter, per type, severity, kind, namespace or
object, exact, in one statement the indexes serve.

With no filter but on type and severity, grouping by type and severity reads the
trigger-maintained ``event_counts`` alone. Otherwise the events are grouped with the filter's
conditions; when the first field grouped by is type or severity and the filter does not name
its values, the statement names them itself (``event_type IN (SELECT event_type FROM
event_counts)``), so a time filter becomes one index range per value of the leading index
(``idx_events_type`` or ``idx_events_severity``) instead of a scan.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, func, select
from sqlalchemy.sql import operators
from sqlalchemy.sql.expression import UnaryExpression

from kube9_store.errors import ValidationError
from kube9_store.schema.readmodel import ReadModel
from kube9_store.schema.sortkey import BY_ROWID, SortKey
from kube9_store.schema.tables import event_counts, events
from kube9_store.store.filters import Shape, statement_for

#: What a count can be grouped by, and the columns of each (an object is kind, namespace and
#: name together).
GROUP_FIELDS: dict[str, tuple[str, ...]] = {
    "type": ("event_type",),
    "severity": ("severity",),
    "kind": ("object_kind",),
    "namespace": ("object_namespace",),
    "object": ("object_kind", "object_namespace", "object_name"),
}
#: The library's field names, accepted as well.
ALIASES = {
    "event_type": "type",
    "object_kind": "kind",
    "object_namespace": "namespace",
}
#: Fields ``event_counts`` holds: grouped by these alone, with no other filter, it answers.
COUNTED_FIELDS = frozenset({"type", "severity"})


def group_fields(fields: object) -> tuple[str, ...]:
    """The canonical names of ``fields`` (a name or a sequence of names, no repeats)."""
    names = [fields] if isinstance(fields, str) else fields
    if not isinstance(names, list | tuple) or not names:
        raise ValidationError.single(
            "fields", f"must be one or more of {', '.join(GROUP_FIELDS)}, got {fields!r}"
        )
    out: list[str] = []
    for name in names:
        canonical = ALIASES.get(name, name) if isinstance(name, str) else name
        if canonical not in GROUP_FIELDS:
            raise ValidationError.single(
                "fields", f"must be one or more of {', '.join(GROUP_FIELDS)}, got {name!r}"
            )
        if canonical in out:
            raise ValidationError.single("fields", f"names {canonical!r} twice")
        out.append(canonical)
    return tuple(out)


def grouped_statement(
    fields: tuple[str, ...], shape: Shape, key: SortKey, model: ReadModel
) -> Select[Any]:
    """The SELECT of (group columns..., count) for ``fields`` under a filter of ``shape``
    (its values bound by the names :func:`~kube9_store.store.filters.shape_and_values` gives)."""
    sizes = {"event_type": shape.types, "severity": shape.severities}
    only_counted = not (
        shape.since
        or shape.until
        or shape.kinds
        or shape.namespaces
        or shape.names
        or shape.acknowledged is not None
    )
    if model.counts and only_counted and set(fields) <= COUNTED_FIELDS:
        counted = [event_counts.c[c] for f in fields for c in GROUP_FIELDS[f]]
        total = func.sum(event_counts.c.n)
        stmt = select(*counted, total).group_by(*counted).having(total > 0)
        for column, prefix in (("event_type", "type"), ("severity", "severity")):
            if sizes[column]:
                names: list[Any] = [bindparam(f"{prefix}_{i}") for i in range(sizes[column])]
                stmt = stmt.where(event_counts.c[column].in_(names))
        return stmt
    columns: list[ColumnElement[Any]] = [events.c[c] for f in fields for c in GROUP_FIELDS[f]]
    lead = GROUP_FIELDS[fields[0]][0]
    led = model.counts and fields[0] in COUNTED_FIELDS and not sizes[lead]
    if key is BY_ROWID and shape.since and not led and not (shape.kinds or shape.namespaces):
        # Kind, namespace and object have no index led by them that a time range narrows:
        # SQLite would scan a whole object index for its order. Grouped by ``+column`` (the
        # same value, no index order to offer) it reads the time range of the created index
        # instead, grouping in a temporary b-tree.
        columns = [_unindexed(c) for c in columns]
    stmt = statement_for(shape, key, model).with_only_columns(*columns, func.count())
    if led:
        known: ColumnElement[bool] = events.c[lead].in_(select(event_counts.c[lead]).distinct())
        stmt = stmt.where(known)
    return stmt.group_by(*columns)


def _unindexed(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """SQLite's ``+column``: the column's value, which no index is taken to order."""
    return UnaryExpression(column, operator=operators.custom_op("+"), type_=column.type)


def group_key(fields: tuple[str, ...], row: Sequence[Any]) -> tuple[str | None, ...]:
    """One row's group, a value per field: an object as ``Kind/namespace/name`` (the
    namespace left empty for a cluster-scoped object), None when the event names none."""
    key: list[str | None] = []
    at = 0
    for field in fields:
        width = len(GROUP_FIELDS[field])
        parts = row[at : at + width]
        at += width
        if width == 1:
            key.append(parts[0])
        elif all(p is None for p in parts):
            key.append(None)
        else:
            key.append("/".join("" if p is None else str(p) for p in parts))
    return tuple(key)
