"""The stored-event result type: built from rows without validation, immutable, equal by its
fields, metadata read exactly as stored, and validated when built by hand."""

from __future__ import annotations

import copy
import json
import pickle
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from kube9_store import Event, EventStore, NewEvent, ValidationError
from kube9_store.events.event import EVENT_FIELDS, parse_metadata
from kube9_store.events.frozen import thaw
from kube9_store.schema.tables import EVENT_COLUMNS
from tests.helpers import event_data

FIELDS: dict[str, Any] = {
    "id": "evt_20251202_103045_a7f3b9",
    "event_type": "cluster",
    "severity": "error",
    "title": "Image pull failed",
    "description": None,
    "object_kind": "Pod",
    "object_namespace": "default",
    "object_name": "api-7",
    "metadata": {"n": [1, 2], "big": 2**70, "neg": -(2**64)},
    "created_at": "2025-12-02T10:30:45.123Z",
    "acknowledged": True,
}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


def row_of(fields: dict[str, Any]) -> tuple[Any, ...]:
    """The row the store keeps for these fields (metadata as its JSON text)."""
    values = dict(fields, metadata=json.dumps(fields["metadata"]), acknowledged=1)
    return tuple(values[name] for name in EVENT_COLUMNS)


def test_fields_are_the_table_columns_in_order() -> None:
    assert EVENT_FIELDS == EVENT_COLUMNS == Event.FIELDS


def test_an_event_from_a_row_is_the_event_built_from_its_fields() -> None:
    from_row, by_hand = Event.from_row(row_of(FIELDS)), Event(**FIELDS)
    assert from_row == by_hand
    assert from_row.to_dict() == by_hand.to_dict() == FIELDS
    assert from_row.acknowledged is True
    assert repr(from_row) == repr(by_hand)
    assert repr(from_row).startswith("Event(id='evt_20251202_103045_a7f3b9', event_type='cluster'")
    assert hash(from_row) == hash(by_hand)
    assert from_row != Event(**dict(FIELDS, title="other"))
    assert from_row.created.isoformat() == "2025-12-02T10:30:45.123000+00:00"


def test_an_event_is_immutable_and_its_dicts_are_the_callers() -> None:
    event = Event.from_row(row_of(FIELDS))
    with pytest.raises(AttributeError, match="immutable"):
        event.title = "changed"  # type: ignore[misc]
    with pytest.raises(AttributeError, match="immutable"):
        del event.title
    with pytest.raises(AttributeError):
        event.extra = 1
    assert event.metadata is event.metadata  # parsed once, then kept
    as_dict = event.to_dict()
    as_dict["metadata"]["n"].append(3)
    assert event.metadata == FIELDS["metadata"]
    assert event.to_dict()["metadata"] is not event.to_dict()["metadata"]


def test_an_event_survives_pickle_and_copy() -> None:
    event = Event.from_row(row_of(FIELDS))
    for clone in (pickle.loads(pickle.dumps(event)), copy.copy(event), copy.deepcopy(event)):
        assert clone == event and clone.to_dict() == FIELDS


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("event_type", "kernel"),
        ("severity", "loud"),
        ("id", None),
        ("metadata", [1, 2]),
        ("acknowledged", "perhaps"),
    ],
)
def test_an_event_built_by_hand_is_validated(field: str, value: Any) -> None:
    with pytest.raises(ValidationError) as info:
        Event(**dict(FIELDS, **{field: value}))
    assert [p.field for p in info.value.problems] == [field]


def test_stored_metadata_is_read_exactly() -> None:
    """Integers beyond 64 bits stay integers; text the fast parser refuses (a lone surrogate
    escape, written by an older release) is read by the standard library."""
    text = '{"big": 123456789012345678901234567890, "s": "\\ud800", "f": 1.5, "u": "\\u00e9"}'
    assert parse_metadata(text) == json.loads(text)
    assert parse_metadata(None) is None


@given(st.dictionaries(st.text(), json_values, max_size=5))
def test_metadata_round_trips_through_its_stored_text(metadata: dict[str, Any]) -> None:
    for text in (json.dumps(metadata), json.dumps(metadata, ensure_ascii=False)):
        assert parse_metadata(text) == json.loads(text) == metadata
        assert Event.from_row(row_of(dict(FIELDS, metadata=metadata))).metadata == metadata


def test_events_read_back_are_what_was_recorded(tmp_path: Any) -> None:
    with EventStore.open(tmp_path / "kube9.db") as store:
        recorded = store.record(NewEvent(**event_data(metadata={"n": 2**65, "k": ["é", None]})))
        read = store.get(recorded.id)
        assert read == recorded and read is not None
        assert read.to_dict() == recorded.to_dict()
        assert read.metadata == {"n": 2**65, "k": ["é", None]}
        assert store.query() == [recorded]
    con = sqlite3.connect(tmp_path / "kube9.db")
    (stored,) = con.execute("SELECT * FROM events").fetchall()
    con.close()
    assert Event.from_row(stored) == recorded


def test_an_event_can_be_a_field_of_a_pydantic_model() -> None:
    class Notification(BaseModel):
        event: Event
        channel: str

    event = Event.from_row(row_of(FIELDS))
    note = Notification(event=event, channel="ops")
    assert note.event is event
    assert note.model_dump()["event"] == FIELDS
    assert json.loads(note.model_dump_json())["event"]["metadata"]["big"] == 2**70
    assert Notification(event=FIELDS, channel="ops").event == event
    with pytest.raises(ValueError, match="severity"):
        Notification(event=dict(FIELDS, severity="loud"), channel="ops")
    schema = Notification.model_json_schema()
    (fields,) = schema["$defs"].values()
    assert set(fields["properties"]) == set(EVENT_FIELDS)


@pytest.mark.parametrize(
    ("metadata", "rule"),
    [
        ({"x": float("nan")}, "numbers must be finite"),
        ({"n": 10**5000}, "integers must have at most"),
        ({"when": object()}, "values must be JSON"),
    ],
)
def test_an_event_built_by_hand_refuses_metadata_that_is_not_json(
    metadata: dict[str, Any], rule: str
) -> None:
    with pytest.raises(ValidationError) as info:
        Event(
            id="evt_20251202_103045_a7f3b9",
            event_type="system",
            severity="info",
            title="t",
            created_at="2025-12-02T10:30:45.000Z",
            metadata=metadata,
        )
    assert info.value.fields == ["metadata"]
    assert rule in str(info.value)


def test_metadata_is_read_only_all_the_way_down() -> None:

    event = Event(
        id="evt_20251202_103045_abcdef",
        event_type="system",
        severity="info",
        title="t",
        metadata={"a": [1, {"b": 2}]},
        created_at="2025-12-02T10:30:45.123Z",
    )
    metadata = event.metadata
    assert metadata is not None
    for change in (
        lambda: metadata.__setitem__("c", 3),  # type: ignore[attr-defined]
        lambda: metadata["a"].append(3),
        lambda: metadata["a"][1].update(c=3),
        lambda: metadata.pop("a"),  # type: ignore[attr-defined]
    ):
        with pytest.raises(TypeError, match="read-only"):
            change()
    assert event.to_dict()["metadata"] == {"a": [1, {"b": 2}]} == metadata
    assert json.loads(json.dumps(metadata)) == {"a": [1, {"b": 2}]}
    assert pickle.loads(pickle.dumps(event)) == event
    assert copy.deepcopy(metadata) == metadata
    plain = thaw(metadata)
    plain["a"].append(3)
    assert event.metadata == {"a": [1, {"b": 2}]}


def test_metadata_read_back_is_read_only(tmp_path: Path) -> None:
    with EventStore.open(tmp_path / "k.db") as store:
        given = {"k": {"v": [1]}}
        recorded = store.record(
            {"event_type": "system", "severity": "info", "title": "t", "metadata": given}
        )
        given["k"]["v"].append(2)  # the caller's dict is not the event's
        assert recorded.metadata == {"k": {"v": [1]}}
        read = store.get(recorded.id)
        assert read is not None and read.metadata is not None
        with pytest.raises(TypeError, match="read-only"):
            read.metadata["k"]["v"].append(2)
        assert read.to_dict()["metadata"] == {"k": {"v": [1]}}
