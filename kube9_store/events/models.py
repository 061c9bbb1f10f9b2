"""Validated event models: the spec's Zod schema as pydantic, plus the query filter.

Every model raises :class:`kube9_store.errors.ValidationError` (never pydantic's own), naming
each offending field and the rule it broke.
"""

from __future__ import annotations

import functools
import json
import math
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Required, Self

import orjson
import pydantic
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PlainValidator,
    StrictBool,
    TypeAdapter,
    field_validator,
    model_validator,
)
from pydantic._internal._model_construction import ModelMetaclass
from pydantic_core import InitErrorDetails, PydanticCustomError, SchemaValidator
from typing_extensions import TypedDict

from kube9_store.errors import FieldProblem, ValidationError
from kube9_store.events.fields import FIELDS, TEXT_LIMITS
from kube9_store.events.fields import Field as DeclaredField
from kube9_store.events.timestamps import (
    format_timestamp,
    normalize_timestamp,
    parse_moment,
)
from kube9_store.schema.facts import EVENT_TYPES as EVENT_TYPES
from kube9_store.schema.facts import SEVERITIES as SEVERITIES
from kube9_store.schema.facts import EventType as EventType
from kube9_store.schema.facts import Severity as Severity
from kube9_store.secrets.redaction import (
    Gathered,
    Redaction,
    scrub_event,
    scrub_events,
    scrub_field,
)

EVENT_ID_PATTERN = re.compile(r"evt_[0-9]{8}_[0-9]{6}_[a-z0-9]{6}")
# The text maxima, as the field declaration (:mod:`kube9_store.events.fields`) states them.
TITLE_MAX = TEXT_LIMITS["title"]
DESCRIPTION_MAX = TEXT_LIMITS["description"]
OBJECT_FIELD_MAX = TEXT_LIMITS["object_name"]  # Kubernetes' longest object name (a DNS subdomain)
METADATA_MAX_BYTES = 10 * 1024
METADATA_MAX_DEPTH = 32


#: A text with no NUL character (a pattern pydantic-core checks; see :func:`problems_from`).
NO_NUL = r"^[^\x00]*$"
NUL_RULE = "must not contain NUL characters"
UNICODE_RULE = "must be valid Unicode (it holds a lone surrogate)"


def problems_from(exc: pydantic.ValidationError) -> list[FieldProblem]:
    """pydantic's errors as (field, rule) pairs, with the field as a dotted path. Both are
    scrubbed: a path can name a metadata key that holds a credential. The package's own
    rules that pydantic-core checks are said in the package's words."""
    out = []
    for err in exc.errors(include_url=False):  # the input is looked at, never shown
        field = ".".join(str(p) for p in err["loc"]) or "event"
        msg = _rule_of(err)
        if not err["loc"] and ": " in msg:
            # a model-level rule names its field as "field: rule"
            field, msg = msg.split(": ", 1)
        out.append(scrubbed_problem(field, msg))
    return out


def _rule_of(err: Any) -> str:
    """A pydantic error's rule, in the package's words where it has its own."""
    if err["type"] == "string_unicode" and isinstance(err.get("input"), str):
        return UNICODE_RULE
    if err["type"] == "string_pattern_mismatch" and err.get("ctx", {}).get("pattern") == NO_NUL:
        return NUL_RULE
    return str(err["msg"]).removeprefix("Value error, ")


def without_inputs(exc: pydantic.ValidationError) -> pydantic.ValidationError:
    """The same errors (type, location, rule) with no input value kept in them: pydantic's
    ``hide_input_in_errors`` hides them from the message, not from ``errors()``, which a web
    framework returns to the client as it is."""
    return pydantic.ValidationError.from_exception_data(
        exc.title,
        [
            InitErrorDetails(
                type=PydanticCustomError(err["type"], _rule_of(err)),
                loc=err["loc"],
                input=None,
            )
            for err in exc.errors(include_url=False)
        ],
        hide_input=True,
    )


def scrubbed_problem(field: str, rule: str) -> FieldProblem:
    """A problem whose field and rule are scrubbed: a path can name a metadata key that holds
    a credential."""
    return FieldProblem(scrub_field("field", field)[0], scrub_field("rule", rule)[0])


class _RaisesPackageErrors(ModelMetaclass):
    """Calling a model class (``NewEvent(...)``) raises the package's ValidationError. Only
    the call is wrapped: validation itself raises pydantic's, so a model used by pydantic
    (a FastAPI request body, a field of another model) reports each problem at its field."""

    def __call__(cls, /, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except pydantic.ValidationError as exc:
            raise ValidationError(problems_from(exc)) from None


class _Model(BaseModel, metaclass=_RaisesPackageErrors):
    """Base: frozen, no unknown fields, errors raised as the package's ValidationError; input
    values are never repeated in pydantic's errors (they may hold a credential)."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    @model_validator(mode="wrap")
    @classmethod
    def _hide_inputs(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        try:
            return handler(data)
        except pydantic.ValidationError as exc:
            raise without_inputs(exc) from None

    @classmethod
    def parse(cls, data: Self | Mapping[str, Any]) -> Self:
        """Validate a mapping (or pass through an instance) with the package's errors."""
        if isinstance(data, cls):
            return data
        if not isinstance(data, Mapping):
            raise ValidationError.single(
                cls.__name__, f"must be a {cls.__name__} or a mapping, got {type(data).__name__}"
            )
        bad_keys = [k for k in data if not isinstance(k, str)]
        if bad_keys:
            raise ValidationError.single(
                cls.__name__, f"field names must be strings, got {bad_keys[0]!r}"
            )
        return cls(**data)


class _Input(_Model):
    """A model the API is handed: an instance is trusted only as it was validated."""

    # What validation derived is kept in pydantic's private-state dict, read and written
    # directly: declared private attributes cost microseconds per access on the hot path.
    # ``validated`` is the identity of the field dict the instance was validated with: one
    # made by ``model_copy(update=...)`` or ``model_construct`` does not match.

    @model_validator(mode="after")
    def _mark_validated(self) -> Self:
        self._state()["validated"] = id(self.__dict__)
        return self

    def _as_validated(self) -> bool:
        """Whether this instance holds exactly the fields it was validated with."""
        state = self.__pydantic_private__
        return state is not None and state.get("validated") == id(self.__dict__)

    def _state(self) -> dict[str, Any]:
        """This instance's derived state (created on first use)."""
        state = self.__pydantic_private__
        if state is None:
            state = {}
            object.__setattr__(self, "__pydantic_private__", state)
        return state

    def __eq__(self, other: object) -> bool:
        """Equal fields make equal models (the validation marker is not a field)."""
        if not isinstance(other, BaseModel):
            return NotImplemented
        return type(self) is type(other) and self.__dict__ == other.__dict__

    __hash__ = BaseModel.__hash__

    @classmethod
    def parse(cls, data: Self | Mapping[str, Any]) -> Self:
        """Validate a mapping with the package's errors. An instance passes through when it is
        exactly as validated; one edited since (``model_copy(update=...)``,
        ``model_construct``) is validated again, as a mapping would be."""
        if isinstance(data, cls):
            if data._as_validated():
                return data
            return cls(**dict(data.__dict__))
        return super().parse(data)


def _clean_text(value: str | None) -> str | None:
    if value is None:
        return None
    if "\x00" in value:
        raise ValueError(NUL_RULE)
    if not value.isascii():
        _check_encodable(value)
    return value


def _check_encodable(value: str) -> None:
    if value.isascii():
        return
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(UNICODE_RULE) from None


def clean_metadata(value: Any) -> dict[str, Any] | None:
    """Check that ``value`` is a JSON object of JSON values and return a copy (which the
    event then scrubs of secrets), in one iterative walk (no recursion limit to hit); None
    stays None.

    Rules: string keys, values of str/int/float/bool/None/list/dict only, finite numbers,
    valid Unicode, at most METADATA_MAX_DEPTH levels. Types are read with ``type()``, which
    an object cannot fake as it can ``__class__`` (and so ``isinstance``); a str subclass is
    copied as a plain str, so none of its own methods runs later.
    """
    return _checked_metadata(value, None, None)[0]


def _checked_metadata(
    value: Any, strings: list[str] | None, keys: list[str] | None
) -> tuple[dict[str, Any] | None, bool]:
    """:func:`clean_metadata`, gathering on the way (when given the lists) every string value
    and key of its objects for the scrubber; also says whether it holds a list."""
    if not issubclass(type(value), dict):
        if value is None:
            return None, False
        raise ValueError(f"must be a JSON object (a dict), got {type(value).__name__}")
    root: dict[str, Any] = {}
    stack: list[tuple[Any, Any, int, str]] = [(value, root, 1, "metadata")]
    has_list = False
    while stack:
        node, copy, depth, where = stack.pop()
        if depth > METADATA_MAX_DEPTH:
            raise ValueError(f"is nested more than {METADATA_MAX_DEPTH} levels deep at {where}")
        is_object = issubclass(type(node), dict)
        has_list = has_list or not is_object
        for key, child in dict.items(node) if is_object else enumerate(list.__iter__(node)):
            if is_object:
                if type(key) is not str:
                    if not issubclass(type(key), str):
                        raise ValueError(f"keys must be strings; {where} has key {key!r}")
                    key = str.__str__(key)
                if not key.isascii():
                    _check_encodable(key)
            kind = type(child)
            if kind is str:  # the common cases first
                if not child.isascii():
                    _check_encodable(child)
                copy[key] = child
                if strings is not None:
                    strings.append(child)
            elif kind is int or child is None or kind is bool:
                copy[key] = child
            elif issubclass(kind, str):
                child = str.__str__(child)
                _check_encodable(child)
                copy[key] = child
                if strings is not None:
                    strings.append(child)
            elif issubclass(kind, dict | list):
                inner: Any = {} if issubclass(kind, dict) else [None] * list.__len__(child)
                copy[key] = inner
                stack.append((child, inner, depth + 1, _at(where, key)))
            elif issubclass(kind, float) and not math.isfinite(child):
                raise ValueError(f"numbers must be finite; {_at(where, key)} is {child!r}")
            elif issubclass(kind, int | float):
                copy[key] = child
            else:
                raise ValueError(
                    "values must be JSON (str, number, bool, null, list, object); "
                    f"{_at(where, key)} is a {kind.__name__}"
                )
        if keys is not None and is_object:
            keys.extend(copy)  # the copy's: plain str, whatever the input's were
    return root, has_list


def _at(where: str, key: str | int) -> str:
    return f"{where}[{key}]" if isinstance(key, int) else f"{where}.{key}"


def _timestamp_or_none(value: Any) -> str | None:
    """A datetime or ISO 8601 string in the stored form (None stays None)."""
    if value is None:
        return None
    if not isinstance(value, datetime | str):
        raise ValueError(f"must be a datetime or an ISO 8601 string, got {type(value).__name__}")
    return normalize_timestamp(value)


_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def dump_metadata(value: Mapping[str, Any] | None) -> str | None:
    """The stored JSON text of (already validated) metadata: compact, UTF-8, no NaN. orjson
    writes it ten times faster than json; integers beyond 64 bits, which orjson refuses, go
    through the standard library."""
    if value is None:
        return None
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        pass
    try:
        return _JSON.encode(value)
    except ValueError:  # an integer past the interpreter's limit on digits it writes
        limit = sys.get_int_max_str_digits()
        raise ValueError(f"metadata: integers must have at most {limit} digits") from None


def _event_id(value: str | None) -> str | None:
    if value is not None and not EVENT_ID_PATTERN.fullmatch(value):
        raise ValueError("must match evt_YYYYMMDD_HHMMSS_xxxxxx (6 characters a-z, 0-9)")
    return value


# The rules of each field of a new event, shared by NewEvent and the one-pass batch schema.
EventId = Annotated[str | None, AfterValidator(_event_id)]
# The text rules (no NUL, valid Unicode) are pydantic-core's own checks here, with no call
# back into Python per field: a pattern, and the length rule's decoding (see problems_from).
Title = Annotated[str, Field(max_length=TITLE_MAX, pattern=NO_NUL)]
Description = Annotated[str | None, Field(max_length=DESCRIPTION_MAX, pattern=NO_NUL)]
ObjectField = Annotated[str | None, Field(max_length=OBJECT_FIELD_MAX, pattern=NO_NUL)]
Metadata = Annotated[
    dict[str, Any] | None,
    PlainValidator(clean_metadata, json_schema_input_type=dict[str, Any] | None),
]
CreatedAt = Annotated[
    str | None, PlainValidator(_timestamp_or_none, json_schema_input_type=datetime | str | None)
]


_TEXT_FIELDS = TEXT_LIMITS

#: The event fields these models write out (for type checkers; a test holds each model to
#: the declaration). A field declared since is not among them: every model below takes it
#: from the declaration (:data:`ADDED_FIELDS`), until it is written out here too.
WRITTEN_OUT = (
    "id",
    "event_type",
    "severity",
    "title",
    "description",
    "object_kind",
    "object_namespace",
    "object_name",
    "metadata",
    "created_at",
    "acknowledged",
)


def _declared_annotation(field: DeclaredField) -> Any:
    """A declared field's pydantic annotation, from its type, nullability and limits."""
    if not field.nullable:
        raise TypeError(f"event field {field.name}: a field added since must be nullable")
    if field.type is str:
        return Annotated[str | None, Field(max_length=field.max_length, pattern=NO_NUL)]
    if field.type is bool:
        return StrictBool | None
    return field.type | None


#: The declared fields the models do not write out, each with its annotation (None default).
ADDED_FIELDS: dict[str, Any] = {
    f.name: _declared_annotation(f) for f in FIELDS if f.name not in WRITTEN_OUT
}


class _NoAddedFields(TypedDict, total=False):
    """The declared fields the TypedDicts below do not write out: none."""


if TYPE_CHECKING:  # what type checkers see: the fields written out below

    class _NewEventBase(_Input):
        """NewEvent's base."""

    class _StoredBase(_Model):
        """EventFields' base."""

    _AddedFields = _NoAddedFields
elif not ADDED_FIELDS:
    _NewEventBase, _StoredBase, _AddedFields = _Input, _Model, _NoAddedFields
else:
    _NewEventBase = pydantic.create_model(
        "_NewEventBase", __base__=_Input, **{n: (a, None) for n, a in ADDED_FIELDS.items()}
    )
    _StoredBase = pydantic.create_model(
        "_StoredBase", __base__=_Model, **{n: (a, None) for n, a in ADDED_FIELDS.items()}
    )
    _AddedFields = TypedDict("_AddedFields", ADDED_FIELDS, total=False)


def _texts_of_function() -> Callable[[dict[str, Any]], dict[str, str | None]]:
    """:func:`texts_of`, written out from the declaration's free-text fields once at import
    (a comprehension would cost a frame per event on the record path)."""
    items = ", ".join(f"{name!r}: get({name!r})" for name in TEXT_LIMITS)
    source = f"def texts_of(fields):\n    get = fields.get\n    return {{{items}}}\n"
    namespace: dict[str, Any] = {}
    exec(source, namespace)  # the text above: field names only, from the declaration
    function: Callable[[dict[str, Any]], dict[str, str | None]] = namespace["texts_of"]
    function.__doc__ = "An event's free-text fields, for the scrubber."
    function.__module__ = __name__
    return function


texts_of = _texts_of_function()


def finish_event(
    fields: dict[str, Any],
    scrubbed: tuple[dict[str, str | None], list[Redaction]] | None = None,
) -> tuple[str | None, tuple[Redaction, ...]]:
    """The rules of a new event as a whole, on fields that passed their own: scrub secrets
    from every text (before anything is cut, texts cut in ``fields``), then serialize the
    metadata once, so the size rule and the stored text use the same JSON. Returns the
    stored metadata text and what was redacted; a broken rule raises ``field: rule``.
    ``scrubbed``: what :func:`~kube9_store.secrets.redaction.scrub_events` made of these fields,
    when a batch was scrubbed at once."""
    get = fields.get
    texts, found = scrubbed or scrub_event(texts_of(fields), get("metadata"))
    if found:
        for name, limit in _TEXT_FIELDS.items():
            value = texts[name]
            if value is not None and value != get(name):
                fields[name] = value[:limit]
    text = dump_metadata(get("metadata"))
    if text is not None:
        size = len(text) if text.isascii() else len(text.encode("utf-8"))
        if size > METADATA_MAX_BYTES:
            raise ValueError(
                f"metadata: must be at most {METADATA_MAX_BYTES} bytes as JSON, got {size}"
            )
    return text, tuple(found)


class NewEvent(_NewEventBase):
    """An event to record. ``id`` and ``created_at`` are generated when left out.

    Secrets are scrubbed on validation from every text field and the metadata (see
    :mod:`kube9_store.secrets.redaction`), so the instance holds exactly what will be stored;
    :attr:`redactions` says what was replaced, and where.
    """

    id: EventId = None
    event_type: EventType
    severity: Severity
    title: Title
    description: Description = None
    object_kind: ObjectField = None
    object_namespace: ObjectField = None
    object_name: ObjectField = None
    metadata: Metadata = None
    created_at: CreatedAt = None

    if TYPE_CHECKING:
        # What the constructor accepts (the fields above are what it stores).
        def __init__(
            self,
            *,
            id: str | None = None,
            event_type: EventType,
            severity: Severity,
            title: str,
            description: str | None = None,
            object_kind: str | None = None,
            object_namespace: str | None = None,
            object_name: str | None = None,
            metadata: Mapping[str, Any] | None = None,
            created_at: datetime | str | None = None,
        ) -> None: ...

    @model_validator(mode="after")
    def _scrub_and_serialize(self) -> Self:
        try:
            metadata_json, redactions = finish_event(self.__dict__)
        except ValueError as exc:  # "field: rule": reported at that field
            field, _, rule = str(exc).partition(": ")
            raise pydantic.ValidationError.from_exception_data(
                type(self).__name__,
                [
                    InitErrorDetails(
                        type=PydanticCustomError("value_error", "{rule}", {"rule": rule}),
                        loc=(field,),
                        input=None,
                    )
                ],
                hide_input=True,
            ) from None
        state = self._state()
        state["metadata_json"] = metadata_json
        if redactions:
            state["redactions"] = redactions
        return self

    @property
    def metadata_json(self) -> str | None:
        """The metadata as it will be stored (compact JSON)."""
        state = self.__pydantic_private__
        return None if state is None else state.get("metadata_json")

    @property
    def redactions(self) -> tuple[Redaction, ...]:
        """What was replaced with ``[REDACTED]`` before storage: paths and rules, no values."""
        state = self.__pydantic_private__
        return () if state is None else state.get("redactions", ())

    @classmethod
    def fitted(cls, redacted: Iterable[Redaction] = (), **fields: Any) -> NewEvent:
        """An event from text that may run past the title and description maxima (an imported
        message): secrets are scrubbed from the whole text first, then it is cut to fit, so
        no head of a secret survives the cut. ``redacted``: what the caller already replaced
        in building these fields, reported with the rest."""
        prior: list[Redaction] = list(redacted)
        for name in ("title", "description"):
            value = fields.get(name)
            if isinstance(value, str) and len(value) > _TEXT_FIELDS[name]:
                value, found = scrub_field(name, value)
                fields[name] = value[: _TEXT_FIELDS[name]]
                prior.extend(found)
        event = cls(**fields)
        if prior:
            event._state()["redactions"] = (*prior, *event.redactions)
        return event


class EventFields(_StoredBase):
    """The fields of a stored event, validated: what building a
    :class:`~kube9_store.events.event.Event` by hand checks (the store builds events from its rows
    without this step)."""

    id: str
    event_type: EventType
    severity: Severity
    title: str
    description: str | None = None
    object_kind: str | None = None
    object_namespace: str | None = None
    object_name: str | None = None
    metadata: Metadata = None
    created_at: str
    acknowledged: bool = False


def _one_or_many(value: Any) -> Any:
    """One value or any sequence (or set) of them, as a tuple."""
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Sequence | AbstractSet) and not isinstance(value, bytes | bytearray):
        return tuple(value)
    return value


class EventFilter(_Input):
    """Which events a query or count matches; every field left None matches everything.

    ``event_type``, ``severity`` and the object fields take one value or any sequence of
    values (matching any of them). ``since`` is inclusive and ``until`` exclusive; both accept
    an aware or naive (UTC) datetime, an ISO 8601 date or timestamp, or an age before the
    moment the filter is made (``30m``, ``24h``, ``7d``, ``2w``), normalized to the stored form.
    """

    event_type: tuple[EventType, ...] | None = None
    severity: tuple[Severity, ...] | None = None
    since: str | None = None
    until: str | None = None
    object_kind: tuple[str, ...] | None = None
    object_namespace: tuple[str, ...] | None = None
    object_name: tuple[str, ...] | None = None
    acknowledged: StrictBool | None = None
    #: Kubernetes cluster(s): a cluster uid or display name (metadata ``cluster_uid`` or
    #: ``cluster_name``).
    cluster: tuple[str, ...] | None = None

    if TYPE_CHECKING:
        # What the constructor accepts (the fields above are what it stores).
        def __init__(
            self,
            *,
            event_type: EventType | Sequence[EventType] | AbstractSet[EventType] | None = None,
            severity: Severity | Sequence[Severity] | AbstractSet[Severity] | None = None,
            since: datetime | str | None = None,
            until: datetime | str | None = None,
            object_kind: str | Sequence[str] | AbstractSet[str] | None = None,
            object_namespace: str | Sequence[str] | AbstractSet[str] | None = None,
            object_name: str | Sequence[str] | AbstractSet[str] | None = None,
            acknowledged: bool | None = None,
            cluster: str | Sequence[str] | AbstractSet[str] | None = None,
        ) -> None: ...

    @field_validator(
        "event_type",
        "severity",
        "object_kind",
        "object_namespace",
        "object_name",
        "cluster",
        mode="before",
    )
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return _one_or_many(value)

    @field_validator("event_type", "severity")
    @classmethod
    def _non_empty(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and not value:
            raise ValueError("must name at least one value (or be left out)")
        return tuple(sorted(set(value))) if value is not None else None

    @field_validator("since", "until", mode="plain")
    @classmethod
    def _timestamp(cls, value: Any) -> str | None:
        if isinstance(value, str):
            return format_timestamp(parse_moment(value))
        return _timestamp_or_none(value)

    @field_validator("object_kind", "object_namespace", "object_name", "cluster")
    @classmethod
    def _text(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("must name at least one value (or be left out)")
        for item in value:
            _clean_text(item)
        return tuple(sorted(set(value)))


class _EventFields(_AddedFields, total=False):
    """A new event's fields but its metadata, with NewEvent's field rules."""

    id: EventId
    event_type: Required[EventType]
    severity: Required[Severity]
    title: Required[Title]
    description: Description
    object_kind: ObjectField
    object_namespace: ObjectField
    object_name: ObjectField
    created_at: CreatedAt


class NewEventFields(_EventFields, total=False):
    """A new event as a mapping, with all of NewEvent's field rules (its metadata's
    included): the schema an item of a batch that broke a rule is checked with alone, so
    that its problems are the model's."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

    metadata: Metadata


class _RecordFields(_EventFields, total=False):
    """:class:`NewEventFields` with the metadata taken as given: :func:`check_event` checks
    it itself, gathering what the scrubber needs on the way."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

    metadata: Any


@functools.cache
def _batch_schema() -> TypeAdapter[list[_RecordFields]]:
    return TypeAdapter(list[_RecordFields])


@functools.cache
def _item_schema() -> TypeAdapter[NewEventFields]:
    return TypeAdapter(NewEventFields)


@functools.cache
def _record_validator() -> SchemaValidator:
    """:class:`_RecordFields`' core validator, called directly on the hot path (an adapter's
    method adds a layer of keyword handling per call)."""
    return SchemaValidator(TypeAdapter(_RecordFields).core_schema)


#: An event checked for storage: its validated fields (scrubbed; a mapping's hold only those
#: given, a NewEvent's all), the stored JSON text of its metadata, and what was redacted.
CheckedEvent = tuple[dict[str, Any], str | None, tuple[Redaction, ...]]


def _check_and_gather(fields: dict[str, Any]) -> Gathered | None:
    """Check a mapping's metadata, taken as given by the schema, in place (its field holds the
    copy after) and return what the walk gathered for the scrubber (None when there is no
    metadata or it holds a list); a broken rule raises ValueError."""
    if "metadata" not in fields:
        return None
    strings: list[str] = []
    keys: list[str] = []
    fields["metadata"], has_list = _checked_metadata(fields["metadata"], strings, keys)
    return None if has_list else (strings, keys)


def check_event(event: NewEvent | Mapping[str, Any]) -> CheckedEvent:
    """One event to record, checked by NewEvent's rules. A plain dict is validated with the
    batch schema's field rules (:class:`_RecordFields`; its metadata by the same walk as
    :func:`clean_metadata`, which gathers the strings and keys the scrubber needs) and
    finished without building a model (the instance is a third of a model's cost); anything
    else, and a dict that breaks a rule, goes through :meth:`NewEvent.parse`, so the result
    and the errors are NewEvent's own."""
    if type(event) is dict:
        try:
            fields: dict[str, Any] = _record_validator().validate_python(event)
            gathered = _check_and_gather(fields)
            scrubbed = scrub_event(texts_of(fields), fields.get("metadata"), gathered)
            metadata_json, redactions = finish_event(fields, scrubbed)
        except ValueError:  # pydantic's ValidationError included
            pass  # NewEvent.parse below raises the problems as NewEvent reports them
        else:
            return fields, metadata_json, redactions
    new = NewEvent.parse(event)
    return new.__dict__, new.metadata_json, new.redactions


def check_batch(batch: Iterable[NewEvent | Mapping[str, Any]]) -> list[CheckedEvent]:
    """Every item of a batch checked as :func:`check_event` checks one; the problems of all
    items at once, each field named by its index (``[3].severity``).

    Mappings are checked in one pass of pydantic-core over the whole batch with NewEvent's
    own field rules (:class:`_RecordFields`), their metadata as :func:`check_event` checks
    it, then finished one by one (:func:`finish_event`): the same rules, messages and results
    as a model per event, at a fraction of the cost. Instances already validated pass
    through."""
    if isinstance(batch, str | bytes | Mapping) or not isinstance(batch, Iterable):
        raise ValidationError.single(
            "batch", f"must be a list of events (mappings or NewEvent), got {type(batch).__name__}"
        )
    items = list(batch)
    out: list[CheckedEvent | None] = [None] * len(items)
    problems: dict[int, list[FieldProblem]] = {}
    mappings: list[dict[str, Any]] = []
    where: list[int] = []
    for i, item in enumerate(items):
        if type(item) is dict:  # the common case (its keys are checked if it fails)
            mappings.append(item)
            where.append(i)
            continue
        if isinstance(item, NewEvent):
            if item._as_validated():
                out[i] = (item.__dict__, item.metadata_json, item.redactions)
                continue
            item = dict(item.__dict__)  # edited since it was validated: checked again
        elif not isinstance(item, Mapping):
            rule = f"must be a NewEvent or a mapping, got {type(item).__name__}"
            problems[i] = [FieldProblem(f"[{i}].NewEvent", rule)]
            continue
        mappings.append(dict(item))
        where.append(i)
    gathered: list[Gathered | None] = [None] * len(mappings)
    try:
        checked: list[Any] = _batch_schema().validate_python(mappings)
    except pydantic.ValidationError:
        checked = [_checked_alone(i, m, problems) for i, m in zip(where, mappings, strict=True)]
    else:
        for k, fields in enumerate(checked):
            try:
                gathered[k] = _check_and_gather(fields)
            except ValueError:  # reported as a model reports it
                checked[k] = _checked_alone(where[k], mappings[k], problems)
    valid = [
        (i, fields, gathered_k)
        for i, fields, gathered_k in zip(where, checked, gathered, strict=True)
        if fields is not None
    ]
    scrubbed = scrub_events(
        [(texts_of(fields), fields.get("metadata")) for _i, fields, _g in valid],
        [gathered_k for _i, _f, gathered_k in valid],
    )
    for (i, fields, _g), scrubbed_fields in zip(valid, scrubbed, strict=True):
        try:
            metadata_json, redactions = finish_event(fields, scrubbed_fields)
        except ValueError as exc:
            name, _, rule = str(exc).partition(": ")
            problems[i] = [scrubbed_problem(f"[{i}].{name}", rule)]
            continue
        out[i] = (fields, metadata_json, redactions)
    if problems:
        raise ValidationError([p for i in sorted(problems) for p in problems[i]])
    return out  # type: ignore[return-value]


def _checked_alone(
    i: int, item: dict[str, Any], problems: dict[int, list[FieldProblem]]
) -> dict[str, Any] | None:
    """One item of a batch that broke a rule somewhere, checked alone, so that every item's
    problems are reported (None when this one has some)."""
    bad_keys = [k for k in item if not isinstance(k, str)]
    if bad_keys:
        rule = f"field names must be strings, got {bad_keys[0]!r}"
        problems[i] = [FieldProblem(f"[{i}].NewEvent", rule)]
        return None
    try:
        return dict(_item_schema().validate_python(item))
    except pydantic.ValidationError as exc:
        problems[i] = [FieldProblem(f"[{i}].{p.field}", p.rule) for p in problems_from(exc)]
        return None
