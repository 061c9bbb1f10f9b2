"""Turning an EventFilter into SQL (bound parameters only), and keyset-pagination cursors."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Select,
    bindparam,
    func,
    literal_column,
    or_,
    select,
    tuple_,
    union_all,
)

from kube9_store import checks
from kube9_store.errors import ValidationError
from kube9_store.events.event import Event
from kube9_store.events.models import EventFilter
from kube9_store.ingest.clusters import cluster_name_of, cluster_uid_of
from kube9_store.lean.plain import cursor_key, cursor_text
from kube9_store.schema.readmodel import HEAD_MODEL, ReadModel
from kube9_store.schema.sortkey import BY_TEXT, SortKey
from kube9_store.schema.tables import event_counts, events

#: Newest first, ties broken by id: a total order, so pages never repeat or skip a row
#: (the order of :data:`~kube9_store.schema.sortkey.BY_TEXT`; SQLite's indexes serve ``BY_ROWID``).
NEWEST_FIRST = (events.c.created_at.desc(), events.c.id.desc())
#: Filter fields the trigger-maintained counts can answer alone.
COUNTED = frozenset({"event_type", "severity"})
#: The filter of a query given none (a model is immutable, so one serves every query).
_NO_FILTER = EventFilter()


@dataclass(frozen=True)
class Page:
    """One keyset page; ``next_cursor`` is None on the last page. Iterating a page yields
    its events and ``len(page)`` counts them (so an empty page is falsy)."""

    events: list[Event]
    next_cursor: str | None

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)


def encode_cursor(event: Event) -> str:
    """An opaque cursor pointing just after ``event`` in newest-first order."""
    return cursor_text(event.created_at, event.id)


def decode_cursor(cursor: object) -> tuple[str, str]:
    key = cursor_key(cursor)
    if key is None:
        raise ValidationError.single("cursor", "is not a cursor returned by a previous page")
    return checks.text("cursor", key[0]), checks.text("cursor", key[1])


def check_count(name: str, value: object, minimum: int) -> int:
    """A limit or offset: an int (not a bool) from ``minimum`` to the largest the database
    stores."""
    return checks.whole_number(name, value, minimum)


def counted_only(flt: EventFilter | None) -> bool:
    """True when the filter touches only what ``event_counts`` can answer."""
    return flt is None or all(
        getattr(flt, name) is None for name in EventFilter.model_fields if name not in COUNTED
    )


def counted_statement(flt: EventFilter) -> Select[Any]:
    """How many events have the filter's types and severities, from ``event_counts``."""
    stmt = select(func.coalesce(func.sum(event_counts.c.n), 0))
    if flt.event_type:
        stmt = stmt.where(event_counts.c.event_type.in_(flt.event_type))
    if flt.severity:
        stmt = stmt.where(event_counts.c.severity.in_(flt.severity))
    return stmt


class Shape(NamedTuple):
    """What a query's SQL depends on (not the values): one compiled statement per shape. A
    named tuple: every query makes one, and a tuple is built in C."""

    types: int
    severities: int
    since: bool
    until: bool
    kinds: int
    namespaces: int
    names: int
    acknowledged: bool | None
    cursor: bool
    limit: bool
    offset: bool
    counting: bool  # (``count`` is a tuple's method)
    oldest_first: bool = False
    clusters: int = 0


def shape_and_values(
    flt: EventFilter | None,
    *,
    cursor: tuple[str, str] | None = None,
    limit: int | None = None,
    offset: int = 0,
    count: bool = False,
    oldest_first: bool = False,
) -> tuple[Shape, dict[str, object]]:
    """The statement shape of a query and its bound values, by parameter name. A ``cursor``
    is the (created_at, id) of the last row already seen, in the query's order."""
    values: dict[str, object] = {}
    f = flt or _NO_FILTER
    for prefix, items in (
        ("type", f.event_type or ()),
        ("severity", f.severity or ()),
        ("kind", f.object_kind or ()),
        ("namespace", f.object_namespace or ()),
        ("name", f.object_name or ()),
        ("cluster", f.cluster or ()),
    ):
        for i, item in enumerate(items):
            values[f"{prefix}_{i}"] = item
    for key, value in (("since", f.since), ("until", f.until)):
        if value is not None:
            values[key] = value
    if cursor is not None:
        values["cursor_created_at"], values["cursor_id"] = cursor
    if limit is not None:
        values["limit"] = limit
    if offset:
        values["offset"] = offset
    shape = Shape(
        types=len(f.event_type or ()),
        severities=len(f.severity or ()),
        since=f.since is not None,
        until=f.until is not None,
        kinds=len(f.object_kind or ()),
        namespaces=len(f.object_namespace or ()),
        names=len(f.object_name or ()),
        acknowledged=f.acknowledged,
        cursor=cursor is not None,
        limit=limit is not None,
        offset=bool(offset),
        counting=count,
        oldest_first=oldest_first,
        clusters=len(f.cluster or ()),
    )
    return shape, values


def statement_for(
    shape: Shape,
    order: SortKey = BY_TEXT,
    model: ReadModel = HEAD_MODEL,
    *,
    with_tiebreak: bool = False,
) -> Select[Any]:
    """The SELECT (or COUNT) for a shape, every value a named bound parameter, ordered and
    bounded on the backend's sort ``order`` so its indexes serve it, reading what ``model``
    says the database has; ``with_tiebreak`` adds the order's tie-breaker as a last column
    (a keyset walk's cursor). A page of several types or severities on a stored time key is
    a merge of one index range per (type, severity) (:func:`merged_page`)."""
    if _arms(shape, order) > 1:
        return merged_page(shape, order, model, with_tiebreak=with_tiebreak)
    stmt = _statement(shape, order, model, _value_conditions(shape))
    return stmt.add_columns(order.tiebreak) if with_tiebreak else stmt


def where_of(shape: Shape, order: SortKey, model: ReadModel) -> ColumnElement[bool] | None:
    """The conditions of a shape's plain statement, for a write that matches what it reads
    (never a merged page's, whose conditions are split between its ranges)."""
    return _statement(shape, order, model, _value_conditions(shape)).whereclause


def _value_conditions(
    shape: Shape, arm: tuple[int | None, int | None] | None = None
) -> list[ColumnElement[bool]]:
    """The equality or IN conditions of a shape's value lists; in one ``arm`` of a merged
    page, type and severity are the arm's one value each."""
    c = events.c
    conds: list[ColumnElement[bool]] = []
    for column, prefix, size in (
        (c.event_type, "type", shape.types),
        (c.severity, "severity", shape.severities),
        (c.object_kind, "kind", shape.kinds),
        (c.object_namespace, "namespace", shape.namespaces),
        (c.object_name, "name", shape.names),
    ):
        if arm is not None and prefix in ("type", "severity"):
            index = arm[0] if prefix == "type" else arm[1]
            if index is not None:
                conds.append(column == bindparam(f"{prefix}_{index}"))
            continue
        if size == 1:
            conds.append(column == bindparam(f"{prefix}_0"))
        elif size > 1:
            conds.append(column.in_([bindparam(f"{prefix}_{i}") for i in range(size)]))
    return conds


def _statement(
    shape: Shape,
    order: SortKey,
    model: ReadModel,
    conds: list[ColumnElement[bool]],
    *,
    extra: tuple[ColumnElement[Any], ...] = (),
    limit: ColumnElement[Any] | None = None,
) -> Select[Any]:
    c = events.c
    created = order.created()
    if shape.clusters:
        names: list[Any] = [bindparam(f"cluster_{i}") for i in range(shape.clusters)]
        conds.append(
            or_(cluster_uid_of(c.metadata).in_(names), cluster_name_of(c.metadata).in_(names))
        )
    if shape.since:
        conds.append(created >= order.time(bindparam("since")))
    if shape.until:
        conds.append(created < order.time(bindparam("until")))
    if shape.acknowledged is not None:
        # A literal, not a parameter: SQLite uses the partial index of acknowledged events
        # only when the query states acknowledged = 1 in its text.
        conds.append(
            model.acknowledged_column == literal_column("1" if shape.acknowledged else "0")
        )
    if shape.cursor:
        at = order.time(bindparam("cursor_created_at"))
        key = tuple_(created, order.tiebreak)
        after = tuple_(at, order.tiebreak_of(bindparam("cursor_id")))
        # the range on the time key is what the index serves; the tuple alone would scan
        if shape.oldest_first:
            conds.extend([created >= at, key > after])
        else:
            conds.extend([created <= at, key < after])
    if shape.counting:
        return select(func.count()).select_from(events).where(*conds)
    direction = (
        (created.asc(), order.tiebreak.asc())
        if shape.oldest_first
        else (created.desc(), order.tiebreak.desc())
    )
    stmt = select(*model.columns, *extra).select_from(events).where(*conds).order_by(*direction)
    if limit is not None:
        return stmt.limit(limit)
    if shape.limit:
        stmt = stmt.limit(bindparam("limit"))
    if shape.offset:
        stmt = stmt.offset(bindparam("offset"))
    return stmt


def _arms(shape: Shape, order: SortKey) -> int:
    """How many index ranges a page reads: one per (type, severity) pair named, where the
    database has the index to merge them and a page is bounded (else one, the plain
    statement)."""
    if not order.merges or shape.counting or not shape.limit:
        return 1
    return max(shape.types, 1) * max(shape.severities, 1)


#: The names a merged page's ranges give their time key and tie-breaker.
_KEY, _TIEBREAK = "sort_key", "sort_tiebreak"


def merged_page(
    shape: Shape, order: SortKey, model: ReadModel, *, with_tiebreak: bool = False
) -> Select[Any]:
    """A page of several types or severities as a merge of one ordered, bounded index range
    per (type, severity): each range reads at most ``limit + offset`` entries of
    ``(type, severity, time key)`` or ``(severity, time key)``, however many newer events of
    the type have other severities, and the database merges the ranges in order (SQLite's
    ``MERGE (UNION ALL)``, PostgreSQL's ``Merge Append``). At most 6 types × 4 severities
    (the filter's values are the spec's). Same rows, same order as the plain statement."""
    bound: ColumnElement[Any] = bindparam("limit")
    if shape.offset:
        bound = bound + bindparam("offset")
    arms = [
        _statement(
            shape,
            order,
            model,
            _value_conditions(shape, (t, s)),
            extra=(order.created().label(_KEY), order.tiebreak.label(_TIEBREAK)),
            limit=bound,
        ).subquery()
        for t in (range(shape.types) if shape.types else (None,))
        for s in (range(shape.severities) if shape.severities else (None,))
    ]
    merged = union_all(*(select(arm) for arm in arms))
    key: ColumnElement[Any] = literal_column(_KEY)
    tiebreak: ColumnElement[Any] = literal_column(_TIEBREAK)
    direction = (key.asc(), tiebreak.asc()) if shape.oldest_first else (key.desc(), tiebreak.desc())
    merged = merged.order_by(*direction).limit(bindparam("limit"))
    if shape.offset:
        merged = merged.offset(bindparam("offset"))
    page = merged.subquery("page")
    columns = [page.c[str(column.key)] for column in model.columns]
    return select(*columns, *([page.c[_TIEBREAK]] if with_tiebreak else []))
