"""Models edited after validation (``model_copy(update=...)``, ``model_construct``) are validated
again when the API is handed them, and ``record`` returns exactly what it stored."""

from __future__ import annotations

from typing import Any

import pytest

from kube9_store import EventFilter, EventStore, NewEvent, ValidationError
from tests.helpers import event_data

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0"
    ".dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
)


@pytest.mark.parametrize(
    ("update", "field"),
    [
        ({"severity": "loud"}, "severity"),
        ({"event_type": "party"}, "event_type"),
        ({"title": "t" * 500}, "title"),
        ({"title": "nul\x00"}, "title"),
        ({"metadata": {"n": float("nan")}}, "metadata"),
        ({"created_at": "yesterday"}, "created_at"),
        ({"id": "not-an-id"}, "id"),
    ],
)
def test_an_edited_event_is_validated_again(
    store: EventStore, update: dict[str, Any], field: str
) -> None:
    edited = NewEvent(**event_data()).model_copy(update=update)
    for call in (lambda: store.record(edited), lambda: store.record_many([edited])):
        with pytest.raises(ValidationError) as info:
            call()
        assert field in info.value.fields[0]
    assert store.count() == 0
    assert store.count_by_severity() == {}


def test_a_constructed_event_is_validated() -> None:
    built = NewEvent.model_construct(event_type="system", severity="loud", title="x")
    with pytest.raises(ValidationError, match="severity"):
        NewEvent.parse(built)


def test_record_returns_exactly_what_was_stored(store: EventStore) -> None:
    original = NewEvent(**event_data(metadata={"version": "1.0.0"}))
    edited = original.model_copy(update={"metadata": {"password": "hunter2", "note": JWT}})
    returned = store.record(edited)
    stored = store.get(returned.id)
    assert returned == stored
    assert returned.metadata == {"password": "[REDACTED]", "note": "[REDACTED]"}
    (batch,) = store.record_many([edited])
    assert batch == store.get(batch.id)


def test_an_edited_filter_is_validated_again(store: EventStore) -> None:
    store.record_many(event_data(severity=s) for s in ("info", "error", "error"))
    base = EventFilter(severity="info")
    assert store.count(base.model_copy(update={"severity": "error"})) == 2
    assert len(store.query(base.model_copy(update={"severity": ["error"]}))) == 2
    for bad in ({"severity": "loud"}, {"since": "nonsense"}, {"acknowledged": "yes"}):
        with pytest.raises(ValidationError):
            store.count(base.model_copy(update=bad))
        with pytest.raises(ValidationError):
            store.query(base.model_copy(update=bad))
