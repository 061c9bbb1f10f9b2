"""The gates every ORM write goes through, beyond the flush: the legacy bulk methods of
:class:`sqlalchemy.orm.Session` (``bulk_save_objects``, ``bulk_insert_mappings``,
``bulk_update_mappings``), which fire no ``before_flush``, validate and scrub ``events`` rows
as a flush does; and no ORM or Session write of any kind (a flush, a bulk method, an
``insert``/``update``/``delete`` statement, a textual statement, SQL run on the Session's
connection) reaches a table the store keeps itself (:data:`STORE_KEPT`): it is refused with
:class:`~kube9_store.orm.ReadOnlyTableError` naming the table.

Installed by :mod:`kube9_store.orm` (:func:`install`), with its classes."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sqlalchemy import Table, TextClause, event, inspect
from sqlalchemy.orm import ORMExecuteState, Session

from kube9_store.errors import Kube9StoreError, ValidationError
from kube9_store.schema import tables as schema

#: Tables written by the store alone (triggers, migrations, Alembic): every table of the
#: schema but ``events``, and Alembic's version table.
STORE_KEPT = frozenset(
    {name for name in schema.metadata.tables if name != schema.events.name} | {"alembic_version"}
)
_KEPT_TEXT = re.compile(
    r"^\s*(insert|update|delete|replace|drop|alter|truncate)\b[\s\S]*?\b("
    + "|".join(sorted(STORE_KEPT))
    + r")\b",
    re.IGNORECASE,
)
#: ``events`` attributes a bulk update may set without the row being checked whole.
_BULK_UPDATABLE = frozenset({"id", "acknowledged"})


class _Guards:
    """The ORM's classes and rules the gates apply (given by :mod:`kube9_store.orm`)."""

    event_row: Any = None
    keep_rules: Callable[[Any], None] | None = None
    acknowledged_value: Callable[[object], int] | None = None
    refused: type[Kube9StoreError] = Kube9StoreError


def refuse_kept(name: str) -> Kube9StoreError:
    return _Guards.refused(
        f"{name} is kept by the store; an ORM or Session write to it is refused "
        "(the store's triggers and migrations maintain it)"
    )


def _table_of(target: Any) -> Table | None:
    try:
        table = inspect(target).local_table
    except Exception:
        return None
    return table if isinstance(table, Table) else None


def _refuse_kept_statements(state: ORMExecuteState) -> None:
    statement = state.statement
    if isinstance(statement, TextClause):
        found = _KEPT_TEXT.search(statement.text)
        if found is not None:
            raise refuse_kept(found.group(2).lower())
        return
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    name = getattr(getattr(statement, "table", None), "name", None)
    if name in STORE_KEPT:
        raise refuse_kept(str(name))


def _refuse_kept_sql(
    _conn: Any, _cursor: Any, statement: str, _parameters: Any, _context: Any, _many: bool
) -> None:
    found = _KEPT_TEXT.search(statement)
    if found is not None:
        raise refuse_kept(found.group(2).lower())


def _guard_connection(_session: Session, _transaction: Any, connection: Any) -> None:
    """Every statement on a Session's connection (``session.connection().execute``, driver
    SQL) is checked too: none may write a store-kept table."""
    if not event.contains(connection, "before_cursor_execute", _refuse_kept_sql):
        event.listen(connection, "before_cursor_execute", _refuse_kept_sql)


def _refuse_mapper_write(_mapper: Any, _connection: Any, target: Any) -> None:
    raise refuse_kept(target.__table__.name)


def _checked_mapping(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """An ``events`` mapping of a bulk insert, validated and scrubbed as a flushed row."""
    cls, keep = _Guards.event_row, _Guards.keep_rules
    assert cls is not None and keep is not None
    known = set(inspect(cls).attrs.keys())
    unknown = sorted(set(mapping) - known)
    if unknown:
        raise ValidationError.single(unknown[0], "is not an attribute of EventRow")
    row = cls(**dict(mapping))
    keep(row)
    return {key: getattr(row, key) for key in known}


def _checked_update(mapping: Mapping[str, Any]) -> dict[str, Any]:
    extra = sorted(set(mapping) - _BULK_UPDATABLE)
    if extra:
        raise ValidationError.single(
            extra[0],
            "bulk_update_mappings on events may set acknowledged only (any other field would "
            "skip validation and redaction); change EventRow objects and flush instead",
        )
    out = dict(mapping)
    if "acknowledged" in out and _Guards.acknowledged_value is not None:
        out["acknowledged"] = _Guards.acknowledged_value(out["acknowledged"])
    return out


def _guard_objects(objects: Iterable[Any]) -> list[Any]:
    objs = list(objects)
    for obj in objs:
        name = getattr(getattr(obj, "__table__", None), "name", None)
        if name in STORE_KEPT:
            raise refuse_kept(str(name))
        if _Guards.event_row is not None and isinstance(obj, _Guards.event_row):
            assert _Guards.keep_rules is not None
            _Guards.keep_rules(obj)
    return objs


def _guard_mappings(
    mapper: Any, mappings: Iterable[Mapping[str, Any]], check: Callable[..., dict[str, Any]]
) -> Any:
    table = _table_of(mapper)
    name = table.name if table is not None else None
    if name in STORE_KEPT:
        raise refuse_kept(str(name))
    if name == schema.events.name:
        return [check(m) for m in mappings]
    return mappings


def install(
    *,
    event_row: Any,
    kept: Iterable[Any],
    keep_rules: Callable[[Any], None],
    acknowledged_value: Callable[[object], int],
    refused: type[Kube9StoreError],
) -> None:
    """Install the gates once: the statement check on every Session, mapper guards on the
    store-kept classes, and the Session's bulk methods wrapped."""
    _Guards.event_row, _Guards.keep_rules = event_row, keep_rules
    _Guards.acknowledged_value, _Guards.refused = acknowledged_value, refused
    for cls in kept:
        for name in ("before_insert", "before_update", "before_delete"):
            if not event.contains(cls, name, _refuse_mapper_write):
                event.listen(cls, name, _refuse_mapper_write)
    if not event.contains(Session, "do_orm_execute", _refuse_kept_statements):
        event.listen(Session, "do_orm_execute", _refuse_kept_statements)
    if not event.contains(Session, "after_begin", _guard_connection):
        event.listen(Session, "after_begin", _guard_connection)
    if getattr(Session.bulk_save_objects, "_kube9_guarded", False):
        return
    save, insert, update = (
        Session.bulk_save_objects,
        Session.bulk_insert_mappings,
        Session.bulk_update_mappings,
    )

    @functools.wraps(save)
    def bulk_save_objects(self: Session, objects: Iterable[Any], *args: Any, **kw: Any) -> None:
        save(self, _guard_objects(objects), *args, **kw)

    @functools.wraps(insert)
    def bulk_insert_mappings(
        self: Session, mapper: Any, mappings: Iterable[Mapping[str, Any]], *a: Any, **kw: Any
    ) -> None:
        insert(self, mapper, _guard_mappings(mapper, mappings, _checked_mapping), *a, **kw)

    @functools.wraps(update)
    def bulk_update_mappings(
        self: Session, mapper: Any, mappings: Iterable[Mapping[str, Any]]
    ) -> None:
        update(self, mapper, _guard_mappings(mapper, mappings, _checked_update))

    for method in (bulk_save_objects, bulk_insert_mappings, bulk_update_mappings):
        setattr(method, "_kube9_guarded", True)  # noqa: B010  (a mark on a function)
    Session.bulk_save_objects = bulk_save_objects  # type: ignore[method-assign]
    Session.bulk_insert_mappings = bulk_insert_mappings  # type: ignore[method-assign]
    Session.bulk_update_mappings = bulk_update_mappings  # type: ignore[method-assign]
