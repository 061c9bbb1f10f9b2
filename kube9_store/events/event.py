"""Stored events as read back: light immutable objects built straight from table rows.

The rows this package wrote are trusted, so a page of results is built without validating
them again: an :class:`Event` keeps its row and parses the metadata JSON on first access.
Building one by hand validates every field (:class:`kube9_store.events.models.EventFields`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Final

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema, from_json

from kube9_store.errors import ValidationError
from kube9_store.events.fields import BOOLEANS, NAMES, POSITION
from kube9_store.events.frozen import freeze
from kube9_store.events.models import EventFields, EventType, Severity, dump_metadata
from kube9_store.events.timestamps import parse_timestamp
from kube9_store.lean.plain import row_dict

#: The fields of an event: the table's columns, in order (the order of a stored row).
EVENT_FIELDS: Final = NAMES

# Where each field sits in the row (the declaration's order).
_ID, _EVENT_TYPE, _SEVERITY, _TITLE, _DESCRIPTION = (
    POSITION[n] for n in ("id", "event_type", "severity", "title", "description")
)
_OBJECT_KIND, _OBJECT_NAMESPACE, _OBJECT_NAME = (
    POSITION[n] for n in ("object_kind", "object_namespace", "object_name")
)
_METADATA, _CREATED_AT, _ACKNOWLEDGED = (
    POSITION[n] for n in ("metadata", "created_at", "acknowledged")
)
_BOOLEAN_POSITIONS: Final = tuple(POSITION[n] for n in BOOLEANS)

_UNPARSED: Final[Any] = object()


def parse_metadata(text: str | None) -> dict[str, Any] | None:
    """Stored metadata text as a dict. pydantic-core's parser is exact for integers beyond
    64 bits (orjson would round them to floats) and three times faster than json; text it
    refuses (a lone surrogate escape) is read by the standard library as before."""
    if text is None:
        return None
    try:
        return from_json(text)  # type: ignore[no-any-return]
    except ValueError:
        return json.loads(text)  # type: ignore[no-any-return]


class Event:
    """A stored event, as read back: immutable, fields as attributes.

    ``created_at`` is the stored text ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (what JSON consumers and
    cursors use); :attr:`created` is the same instant as an aware UTC datetime, to compute
    with. ``metadata`` is parsed from the stored JSON on first access and kept, read-only all
    the way down (:mod:`kube9_store.events.frozen`): a change in place raises TypeError, so the
    event and :meth:`to_dict` always say what is stored.
    """

    __slots__ = ("_metadata", "_row")

    #: The field names, in the order of :meth:`to_dict`.
    FIELDS: ClassVar[tuple[str, ...]] = EVENT_FIELDS

    _row: tuple[Any, ...]
    _metadata: Mapping[str, Any] | None  # unset until parsed

    def __init__(
        self,
        *,
        id: str,
        event_type: EventType,
        severity: Severity,
        title: str,
        description: str | None = None,
        object_kind: str | None = None,
        object_namespace: str | None = None,
        object_name: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        created_at: str,
        acknowledged: bool = False,
    ) -> None:
        """An event from its fields, each validated (the package's ValidationError names the
        field and its rule). The store builds events from rows without this step."""
        fields = EventFields(
            id=id,
            event_type=event_type,
            severity=severity,
            title=title,
            description=description,
            object_kind=object_kind,
            object_namespace=object_namespace,
            object_name=object_name,
            metadata=metadata,
            created_at=created_at,
            acknowledged=acknowledged,
        )
        try:
            row = _row_of(fields)
        except ValueError as exc:  # metadata that cannot be written as JSON text
            field, _, rule = str(exc).partition(": ")
            raise ValidationError.single(field, rule) from None
        _set_row(self, row)
        _set_metadata(self, freeze(fields.metadata))

    @classmethod
    def from_row(cls, row: Sequence[Any], metadata: Any = _UNPARSED) -> Event:
        """A stored row (columns in table order, metadata as JSON text), trusted: nothing is
        validated. ``metadata``: the row's metadata already parsed, if the caller has it.
        Columns after the event's own (SQLite's stored time key, which ``SELECT *`` returns
        there) are not part of the event."""
        event = _new(cls)
        values = tuple(row)
        _set_row(event, values if len(values) == _WIDTH else values[:_WIDTH])
        if metadata is not _UNPARSED:
            _set_metadata(event, freeze(metadata))
        return event

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        """As a field of a pydantic model: an Event, or a mapping of its fields (validated);
        dumped as :meth:`to_dict`."""
        from_fields = core_schema.no_info_after_validator_function(
            _event_of_fields, handler.generate_schema(_EVENT_SCHEMA)
        )
        return core_schema.json_or_python_schema(
            json_schema=from_fields,
            python_schema=core_schema.union_schema(
                [core_schema.is_instance_schema(cls), from_fields]
            ),
            serialization=core_schema.plain_serializer_function_ser_schema(cls.to_dict),
        )

    # -- fields ------------------------------------------------------------------------------

    @property
    def id(self) -> str:
        return self._row[_ID]  # type: ignore[no-any-return]

    @property
    def event_type(self) -> EventType:
        return self._row[_EVENT_TYPE]  # type: ignore[no-any-return]

    @property
    def severity(self) -> Severity:
        return self._row[_SEVERITY]  # type: ignore[no-any-return]

    @property
    def title(self) -> str:
        return self._row[_TITLE]  # type: ignore[no-any-return]

    @property
    def description(self) -> str | None:
        return self._row[_DESCRIPTION]  # type: ignore[no-any-return]

    @property
    def object_kind(self) -> str | None:
        return self._row[_OBJECT_KIND]  # type: ignore[no-any-return]

    @property
    def object_namespace(self) -> str | None:
        return self._row[_OBJECT_NAMESPACE]  # type: ignore[no-any-return]

    @property
    def object_name(self) -> str | None:
        return self._row[_OBJECT_NAME]  # type: ignore[no-any-return]

    @property
    def metadata(self) -> Mapping[str, Any] | None:
        """The metadata, read-only (``kube9_store.events.frozen.thaw`` gives a changeable copy)."""
        try:
            return self._metadata
        except AttributeError:  # not parsed yet
            metadata: Mapping[str, Any] | None = freeze(parse_metadata(self._row[_METADATA]))
            _set_metadata(self, metadata)
            return metadata

    @property
    def created_at(self) -> str:
        return self._row[_CREATED_AT]  # type: ignore[no-any-return]

    @property
    def acknowledged(self) -> bool:
        return bool(self._row[_ACKNOWLEDGED])

    @property
    def created(self) -> datetime:
        """``created_at`` as an aware datetime in UTC."""
        return parse_timestamp(self.created_at)

    # -- as data -----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The event as the CLI and JSON consumers see it: every field, metadata as an object
        of its own (changing it changes neither this event nor another dict)."""
        row = self._row
        return row_dict(row, parse_metadata(row[_METADATA]))

    def _values(self) -> tuple[Any, ...]:
        """The fields' values as the attributes give them (metadata parsed, bools as bool)."""
        values = list(self._row)
        values[_METADATA] = self.metadata
        for at in _BOOLEAN_POSITIONS:
            values[at] = bool(values[at])
        return tuple(values)

    if not TYPE_CHECKING:  # invisible to type checkers: every attribute they know is typed

        def __getattr__(self, name: str) -> Any:
            """A declared field without a property of its own here reads from the row."""
            at = POSITION.get(name)
            if at is None:
                raise AttributeError(f"'Event' object has no attribute {name!r}")
            value = self._row[at]
            return bool(value) if name in BOOLEANS else value

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Event):
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._row[_ID])

    def __repr__(self) -> str:
        fields = zip(EVENT_FIELDS, self._values(), strict=True)
        return "Event(" + ", ".join(f"{k}={v!r}" for k, v in fields) + ")"

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Event is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Event is immutable: cannot delete {name!r}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (Event.from_row, (self._row,))


#: :class:`EventFields` under the name ``Event``: what OpenAPI and JSON Schema call an Event.
_EVENT_SCHEMA: type[EventFields] = type(
    "Event", (EventFields,), {"__module__": __name__, "__doc__": "A stored event."}
)


def _row_of(fields: EventFields) -> tuple[Any, ...]:
    values = fields.__dict__
    return tuple(
        dump_metadata(fields.metadata) if name == "metadata" else values[name] for name in NAMES
    )


def _event_of_fields(fields: EventFields) -> Event:
    return Event.from_row(_row_of(fields), fields.metadata)


def events_from_rows(rows: list[Any]) -> list[Event]:
    """Stored rows (tuples, columns in table order) as Events, trusted: the loop of every
    page, so it skips even the call per row :meth:`Event.from_row` costs."""
    out: list[Event] = []
    append, new, set_row, cls = out.append, _new, _set_row, Event
    for row in rows:
        event = new(cls)
        set_row(event, row)
        append(event)
    return out


_new = object.__new__
_set_row = Event.__dict__["_row"].__set__
#: The columns of an event's row.
_WIDTH = len(NAMES)
_set_metadata = Event.__dict__["_metadata"].__set__
