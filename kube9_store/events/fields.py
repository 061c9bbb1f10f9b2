"""The fields of an event, each declared once: its name, Python type, whether it may be
empty, its limits, how it is stored, the CLI flag that filters by it, and what a database
behind head that lacks its column reads there.

Everything else is derived from :data:`FIELDS`: the ``events`` table's columns
(:mod:`kube9_store.schema.tables`) and their names (:data:`kube9_store.schema.facts.EVENT_COLUMNS`),
where each sits in a stored row (:data:`POSITION`), the row the write path binds
(:mod:`kube9_store.events.rows`), the ORM columns, the copy, export and import mappings, the
lean read path's SELECT list and the CLI's filter flags. The pydantic models and the
TypedDicts keep their annotations written out, for type checkers; a test holds them to this
declaration (names, order, nullability, types).

Adding a nullable column: an Alembic revision that adds it, a :class:`Field` appended here
with its ``fallback``, and the head revision in :mod:`kube9_store.schema.facts`
(docs/architecture.md). Standard library only: the CLI's lean read path imports this.
"""

from __future__ import annotations

from typing import Final, Literal, NamedTuple

#: How a column is stored: text, text ordered byte by byte on every backend (ids and
#: timestamps, so they sort the same everywhere), an integer, or a JSON object as text.
Storage = Literal["text", "ordered_text", "integer", "json"]


class Field(NamedTuple):
    """One event field and its stored column (immutable; a NamedTuple rather than a
    dataclass, whose import the lean read path would pay for at every start)."""

    #: The field's name: the model's attribute, the JSON key, the column's name.
    name: str
    #: Its Python type as read back (``str``, ``bool``, ``dict``).
    type: type
    #: Whether its value may be None (a stored event's, as read back).
    nullable: bool = True
    #: The longest text it holds, in characters (None: no limit of its own).
    max_length: int | None = None
    #: How its column is stored.
    storage: Storage = "text"
    #: Part of the primary key.
    primary_key: bool = False
    #: SQL text of the column's server default (None: none).
    server_default: str | None = None
    #: Free text the scrubber reads for secrets (and a foreign row's text it scrubs).
    scrubbed: bool = False
    #: The CLI flag that filters by it (None: not a filter of its own).
    flag: str | None = None
    #: In the spec's version 1 table (what another program's rows hold); a field added since
    #: is not.
    spec: bool = False
    #: Whether its column takes NULL, where that differs from ``nullable`` (the spec's
    #: tables declare ``id`` and ``acknowledged`` without NOT NULL; None: as ``nullable``).
    null_stored: bool | None = None
    #: What a database behind head whose table lacks the column reads there (only a field
    #: added after the spec's version 1 needs one).
    fallback: object = None


FIELDS: Final[tuple[Field, ...]] = (
    # The spec declares ``id TEXT PRIMARY KEY`` without NOT NULL; kept identical (the store
    # never stores a NULL id: the write path generates one when a new event has none).
    Field(
        "id",
        str,
        nullable=False,
        storage="ordered_text",
        primary_key=True,
        null_stored=True,
        spec=True,
    ),
    Field("event_type", str, nullable=False, flag="--type", spec=True),
    Field("severity", str, nullable=False, flag="--severity", spec=True),
    Field("title", str, nullable=False, max_length=200, scrubbed=True, spec=True),
    Field("description", str, max_length=1000, scrubbed=True, spec=True),
    Field("object_kind", str, max_length=253, scrubbed=True, flag="--object-kind", spec=True),
    Field(
        "object_namespace", str, max_length=253, scrubbed=True, flag="--object-namespace", spec=True
    ),
    Field("object_name", str, max_length=253, scrubbed=True, flag="--object-name", spec=True),
    Field("metadata", dict, storage="json", spec=True),
    Field("created_at", str, nullable=False, storage="ordered_text", spec=True),
    # Spec v2. NULL-able as the spec's table has it; read back as a bool (NULL as False).
    Field(
        "acknowledged",
        bool,
        nullable=False,
        null_stored=True,
        storage="integer",
        server_default="0",
        flag="--acknowledged",
        fallback=False,
    ),
)

#: The field names in table order (the order of a stored row and of the event's dict).
NAMES: Final[tuple[str, ...]] = tuple(f.name for f in FIELDS)
#: Each field by name.
BY_NAME: Final[dict[str, Field]] = {f.name: f for f in FIELDS}
#: Where each field sits in a stored row.
POSITION: Final[dict[str, int]] = {f.name: i for i, f in enumerate(FIELDS)}
#: The spec's version 1 fields, in order.
SPEC_NAMES: Final[tuple[str, ...]] = tuple(f.name for f in FIELDS if f.spec)
#: The free-text fields the scrubber reads, in table order, with their maxima.
TEXT_LIMITS: Final[dict[str, int]] = {
    f.name: f.max_length for f in FIELDS if f.scrubbed and f.max_length is not None
}
#: The fields stored as integers and read back as bools.
BOOLEANS: Final[tuple[str, ...]] = tuple(f.name for f in FIELDS if f.type is bool)
#: Library filter names as the flags a user types.
FILTER_FLAGS: Final[dict[str, str]] = {f.name: f.flag for f in FIELDS if f.flag is not None}

# The positions the code reads by name, resolved once (no literal ``row[N]`` elsewhere).
ID: Final = POSITION["id"]
EVENT_TYPE: Final = POSITION["event_type"]
SEVERITY: Final = POSITION["severity"]
TITLE: Final = POSITION["title"]
OBJECT_KIND: Final = POSITION["object_kind"]
OBJECT_NAMESPACE: Final = POSITION["object_namespace"]
OBJECT_NAME: Final = POSITION["object_name"]
METADATA: Final = POSITION["metadata"]
CREATED_AT: Final = POSITION["created_at"]
ACKNOWLEDGED: Final = POSITION["acknowledged"]


def column_nullable(field: Field) -> bool:
    """Whether the field's column takes NULL."""
    return field.nullable if field.null_stored is None else field.null_stored


def fallback_sql(field: Field) -> str:
    """The fallback as SQL literal text (what a SELECT of an older table reads instead)."""
    value = field.fallback
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"field {field.name}: fallback {value!r} has no SQL literal")
