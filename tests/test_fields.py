"""The event field declaration (:mod:`kube9_store.events.fields`) against everything that
still writes the fields out for type checkers (the pydantic models, the TypedDicts, the read
model :class:`Event`, the ORM class, the lean path's filter) and against what is derived from
it (the Core table, the row positions): names, order, nullability and types agree."""

from __future__ import annotations

import ast
import inspect
import re
import types
from collections.abc import Mapping
from typing import (
    Annotated,
    Any,
    Literal,
    Required,
    Union,
    get_args,
    get_origin,
    get_type_hints,
)

import pytest
from sqlalchemy import Integer, Text

from kube9_store.events import fields as declared
from kube9_store.events.event import Event
from kube9_store.events.fields import FIELDS, NAMES, POSITION
from kube9_store.events.mappings import NewEventDict
from kube9_store.events.models import (
    ADDED_FIELDS,
    WRITTEN_OUT,
    EventFields,
    EventFilter,
    NewEvent,
    NewEventFields,
    _RecordFields,
)
from kube9_store.events.rows import stored_values
from kube9_store.lean.read import Filter
from kube9_store.orm import EventRow
from kube9_store.schema import facts
from kube9_store.schema.readmodel import ReadModel
from kube9_store.schema.tables import events
from tests.helpers import REPO

#: What a new event leaves out: ``acknowledged`` is set by acknowledging, not by recording.
NEW_EVENT_NAMES = tuple(n for n in NAMES if n != "acknowledged")
#: Stored NOT NULL but generated when a new event leaves them out.
GENERATED = {"id", "created_at"}


def _shape(annotation: Any) -> tuple[set[type], bool]:
    """An annotation as (the declared types it admits, whether it admits None): Annotated
    rules stripped, a Literal of strings read as str, a dict or Mapping as dict."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) in (Union, types.UnionType):
        admitted: set[type] = set()
        nullable = False
        for arg in get_args(annotation):
            inner, none = _shape(arg)
            admitted |= inner
            nullable = nullable or none
        return admitted, nullable
    if annotation is type(None) or annotation is None:
        return set(), True
    if get_origin(annotation) is Literal:
        return {type(v) for v in get_args(annotation)}, False
    if annotation is Any:
        return {object}, True
    origin = get_origin(annotation) or annotation
    if isinstance(origin, type) and issubclass(origin, Mapping | dict):
        return {dict}, False
    return {origin}, False


def _agrees(name: str, annotation: Any, *, nullable: bool | None = None) -> None:
    """``annotation`` admits the declared type of ``name`` (and None exactly when it is
    nullable, unless ``nullable`` says otherwise)."""
    field = declared.BY_NAME[name]
    admitted, none = _shape(annotation)
    assert field.type in admitted or object in admitted, (name, annotation)
    expected = field.nullable if nullable is None else nullable
    assert none == expected, (name, annotation, "nullable" if expected else "not nullable")


def test_the_declaration_is_sound() -> None:
    assert len(set(NAMES)) == len(NAMES)
    assert NAMES == facts.EVENT_COLUMNS
    assert NAMES[: NAMES.index("acknowledged")] == facts.SPEC_COLUMNS
    assert [POSITION[n] for n in NAMES] == list(range(len(NAMES)))
    for field in FIELDS:
        if not field.spec:
            assert declared.column_nullable(field), f"{field.name}: a column added since takes NULL"
        declared.fallback_sql(field)  # every fallback has a SQL literal
    for name, at in POSITION.items():
        constant = getattr(declared, name.upper(), None)
        assert constant is None or constant == at, name


def test_the_core_table_is_the_declaration() -> None:
    assert tuple(c.name for c in events.columns) == NAMES
    for field, column in zip(FIELDS, events.columns, strict=True):
        assert column.primary_key == field.primary_key, field.name
        assert column.nullable == declared.column_nullable(field), field.name
        stored = Integer if field.storage == "integer" else Text
        assert isinstance(column.type, stored), field.name
        default = column.server_default
        assert (default.arg.text if default is not None else None) == field.server_default  # type: ignore[attr-defined]


def test_a_missing_column_reads_as_its_fallback() -> None:
    model = ReadModel(acknowledged=False, absent=frozenset({"description"}))
    shown = [str(c) for c in model.columns]
    assert shown[POSITION["acknowledged"]] == "0"
    assert shown[POSITION["description"]] == "NULL"
    assert [c.name for c in model.columns] == list(NAMES)


def test_every_field_is_written_out() -> None:
    """The package as shipped leaves no field to the declaration-built model fields: each is
    written out for type checkers too."""
    assert WRITTEN_OUT == NAMES
    assert ADDED_FIELDS == {}


@pytest.mark.parametrize("model", [NewEvent, EventFields])
def test_pydantic_models_agree(model: type[Any]) -> None:
    names = NEW_EVENT_NAMES if model is NewEvent else NAMES
    assert tuple(model.model_fields) == names
    for name, info in model.model_fields.items():
        generated = model is NewEvent and name in GENERATED
        annotation = info.annotation
        if name == "metadata":  # a PlainValidator's declared input
            annotation = get_type_hints(model, include_extras=True)[name]
        nullable = True if generated else None
        _agrees(name, annotation, nullable=nullable if name != "acknowledged" else False)


@pytest.mark.parametrize("typed_dict", [NewEventDict, NewEventFields])
def test_typed_dicts_agree(typed_dict: type[Any]) -> None:
    hints = get_type_hints(typed_dict, include_extras=True)
    if typed_dict is NewEventDict:  # the others add the metadata's rule in a subclass
        assert tuple(hints) == NEW_EVENT_NAMES
    assert set(hints) == set(NEW_EVENT_NAMES)
    required = {n for n in NEW_EVENT_NAMES if not declared.BY_NAME[n].nullable} - GENERATED
    assert {n for n, a in hints.items() if get_origin(a) is Required} == required
    for name, annotation in hints.items():
        if get_origin(annotation) is Required:
            (annotation,) = get_args(annotation)
        _agrees(name, annotation, nullable=True if name in GENERATED else None)


def test_record_fields_take_every_new_event_field() -> None:
    assert set(get_type_hints(_RecordFields)) == set(NEW_EVENT_NAMES)


def test_the_event_agrees() -> None:
    params = inspect.signature(Event.__init__).parameters
    assert tuple(params)[1:] == NAMES
    hints = get_type_hints(Event.__init__)
    for name in NAMES:
        field = declared.BY_NAME[name]
        _agrees(name, hints[name], nullable=False if field.type is bool else None)
        default = params[name].default
        if field.nullable and field.type is not bool:
            assert default is None, name
        prop = inspect.getattr_static(Event, name)
        assert isinstance(prop, property), name
        _agrees(
            name,
            get_type_hints(prop.fget)["return"],
            nullable=False if field.type is bool else None,
        )
    assert Event.FIELDS == NAMES


def test_the_orm_class_agrees() -> None:
    hints = get_type_hints(EventRow)
    mapped = {"metadata": "metadata_json"}
    for name in NAMES:
        annotation = hints[mapped.get(name, name)]
        (inner,) = get_args(annotation)
        kind, nullable = _shape(inner)
        if name == "metadata":  # the stored JSON text
            assert kind == {str} and nullable
        else:
            _agrees(name, inner, nullable=nullable if name == "id" else None)
    columns = EventRow.__table__.columns  # type: ignore[attr-defined]
    assert tuple(c.name for c in columns) == NAMES


def test_filters_name_each_filter_field() -> None:
    flags = {f.name for f in FIELDS if f.flag is not None}
    assert flags <= set(EventFilter.model_fields)
    assert flags <= set(Filter._fields)
    for name in flags:
        assert EventFilter.model_fields[name].default is None


def test_stored_values_follows_the_declaration() -> None:
    given = {name: f"<{name}>" for name in NAMES}
    row = stored_values(given, "<id>", "<metadata>", "<created_at>", 1)
    assert len(row) == len(NAMES)
    assert row[POSITION["id"]] == "<id>" and row[POSITION["acknowledged"]] == 1
    assert all(row[POSITION[n]] == f"<{n}>" for n in NAMES if n != "acknowledged")


#: Modules that read event rows: they name positions through the declaration.
ROW_READERS = [
    "kube9_store/events/event.py",
    "kube9_store/events/rows.py",
    "kube9_store/gates/inbound.py",
    "kube9_store/lean/plain.py",
    "kube9_store/transfer/copy.py",
    "kube9_store/transfer/export.py",
    "kube9_store/transfer/jsonl.py",
    "kube9_store/transfer/streaming.py",
]


@pytest.mark.parametrize("path", ROW_READERS)
def test_no_row_is_read_by_a_literal_position(path: str) -> None:
    tree = ast.parse((REPO / path).read_text())
    literal = [
        f"line {node.lineno}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Subscript)
        and isinstance(node.value, ast.Name | ast.Attribute)
        and re.search(r"row|held|last", ast.unparse(node.value))
        and isinstance(node.slice, ast.Constant | ast.Slice)
        and not (isinstance(node.slice, ast.Constant) and node.slice.value == -1)
    ]
    assert literal == []
