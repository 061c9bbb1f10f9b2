"""Validation rules of NewEvent and EventFilter (the spec's Zod schema, and more)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from kube9_store import EventFilter, NewEvent, ValidationError, generate_event_id
from kube9_store.events.models import EVENT_ID_PATTERN, METADATA_MAX_BYTES
from tests.helpers import event_data


def problems(**overrides: Any) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        NewEvent(**event_data(**overrides))
    return {p.field: p.rule for p in info.value.problems}


def test_a_valid_event_passes() -> None:
    ev = NewEvent(**event_data())
    assert ev.title == "Operator started"
    assert ev.id is None and ev.created_at is None


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("event_type", "kernel", "Input should be 'cluster'"),
        ("severity", "fatal", "Input should be 'info'"),
        ("title", "t" * 201, "at most 200 characters"),
        ("title", None, "valid string"),
        ("title", 42, "valid string"),
        ("description", "d" * 1001, "at most 1000 characters"),
        ("object_name", "n" * 254, "at most 253 characters"),
        ("object_kind", "Pod\x00", "NUL"),
        ("title", "bad \ud800 surrogate", "lone surrogate"),
        ("title", b"\xff\xfe", "unable to parse raw data"),  # bytes: no surrogate to speak of
        ("metadata", {"k": "bad \ud800"}, "lone surrogate"),
        ("metadata", {"bad \udc00": 1}, "lone surrogate"),
        ("id", "evt_2025_1_abc", "evt_YYYYMMDD_HHMMSS_xxxxxx"),
        ("id", "evt_20251202_103045_ABCDEF", "evt_YYYYMMDD_HHMMSS_xxxxxx"),
        ("id", "evt_20251202_103045_a7f3b9\n", "evt_YYYYMMDD_HHMMSS_xxxxxx"),
        ("id", "evt_२०२५१२०२_103045_a7f3b9", "evt_YYYYMMDD_HHMMSS_xxxxxx"),
        ("created_at", "yesterday", "ISO 8601"),
        ("created_at", 1733135445, "datetime or an ISO 8601 string"),
        ("metadata", ["not", "an", "object"], "JSON object"),
        ("metadata", {"x": float("nan")}, "finite"),
        ("metadata", {"x": float("inf")}, "finite"),
        ("metadata", {1: "int key"}, "keys must be strings"),
        ("metadata", {"b": b"bytes"}, "bytes"),
        ("metadata", {"s": {1, 2}}, "set"),
        ("metadata", {"d": datetime(2025, 1, 1)}, "datetime"),
        ("metadata", {"big": "x" * METADATA_MAX_BYTES}, "at most 10240 bytes"),
    ],
)
def test_each_rule_names_its_field(field: str, value: Any, rule: str) -> None:
    found = problems(**{field: value})
    assert list(found) == [field]
    assert rule in found[field]


def test_every_offending_field_is_named_at_once() -> None:
    found = problems(event_type="x", severity="y", title="t" * 300)
    assert set(found) == {"event_type", "severity", "title"}


def test_unknown_fields_are_rejected() -> None:
    assert "extra" in problems(colour="red")["colour"].lower()


def test_deeply_nested_metadata_is_rejected_without_recursion_error() -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(10_000):
        node["a"] = {}
        node = node["a"]
    assert "nested more than" in problems(metadata=deep)["metadata"]


def test_limits_are_inclusive() -> None:
    ev = NewEvent(**event_data(title="t" * 200, description="d" * 1000))
    assert (len(ev.title), len(ev.description or "")) == (200, 1000)


def test_metadata_size_counts_utf8_bytes() -> None:
    fits = {"k": "é" * ((METADATA_MAX_BYTES - 10) // 2)}
    NewEvent(**event_data(metadata=fits))
    with pytest.raises(ValidationError):
        NewEvent(**event_data(metadata={"k": "é" * (METADATA_MAX_BYTES // 2)}))


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("2025-12-02T10:30:45.123Z", "2025-12-02T10:30:45.123Z"),
        ("2025-12-02T10:30:45Z", "2025-12-02T10:30:45.000Z"),
        ("2025-12-02T10:30:45.123456Z", "2025-12-02T10:30:45.123Z"),
        ("2025-12-02T11:30:45.5+01:00", "2025-12-02T10:30:45.500Z"),
        ("2025-12-02T10:30:45", "2025-12-02T10:30:45.000Z"),
        ("2025-12-02", "2025-12-02T00:00:00.000Z"),
        (datetime(2025, 12, 2, 10, 30, 45, 999999, tzinfo=UTC), "2025-12-02T10:30:45.999Z"),
        (datetime(2025, 12, 2, 10, 30, 45), "2025-12-02T10:30:45.000Z"),
        (
            datetime(2025, 12, 2, 5, 30, tzinfo=timezone(timedelta(hours=-5))),
            "2025-12-02T10:30:00.000Z",
        ),
    ],
)
def test_created_at_is_stored_in_one_fixed_width_utc_form(given: Any, stored: str) -> None:
    assert NewEvent(**event_data(created_at=given)).created_at == stored


def test_generated_ids_match_the_spec_pattern() -> None:
    ids = {generate_event_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(EVENT_ID_PATTERN.fullmatch(i) for i in ids)
    at = datetime(2025, 12, 2, 10, 30, 45, tzinfo=UTC)
    assert generate_event_id(at).startswith("evt_20251202_103045_")


def test_generated_suffixes_use_the_whole_alphabet() -> None:
    chars = "".join(generate_event_id()[-6:] for _ in range(3000))
    assert set(chars) == set("abcdefghijklmnopqrstuvwxyz0123456789")


def test_filter_accepts_one_value_or_many() -> None:
    assert EventFilter(event_type="cluster").event_type == ("cluster",)
    assert EventFilter(severity=["error", "critical", "error"]).severity == ("critical", "error")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("event_type", "kernel"),
        ("event_type", []),
        ("severity", ["info", "loud"]),
        ("since", "not a date"),
        ("until", 12),
        ("acknowledged", "yes"),
        ("object_name", 5),
        ("colour", "red"),
    ],
)
def test_bad_filters_name_the_field(field: str, value: Any) -> None:
    with pytest.raises(ValidationError) as info:
        EventFilter(**{field: value})
    assert info.value.fields[0].split(".")[0] == field


def test_package_validation_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="severity"):
        NewEvent(event_type="system", severity="loud", title="x")
