"""Property-based tests: round trips, filters against a plain-Python model, hostile input."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from kube9_store import EVENT_TYPES, SEVERITIES, Event, EventStore, NewEvent, ValidationError
from kube9_store.events.models import DESCRIPTION_MAX, OBJECT_FIELD_MAX, TITLE_MAX
from tests.helpers import BACKENDS, newest_first, pg_schema

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

text_no_nul = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text_no_nul
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text_no_nul, inner, max_size=4),
    max_leaves=12,
)
metadata = st.dictionaries(text_no_nul, json_values, max_size=5)
times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
)

new_events = st.fixed_dictionaries(
    {
        "event_type": st.sampled_from(EVENT_TYPES),
        "severity": st.sampled_from(SEVERITIES),
        "title": text_no_nul.filter(lambda s: len(s) <= TITLE_MAX),
    },
    optional={
        "description": st.none() | text_no_nul.filter(lambda s: len(s) <= DESCRIPTION_MAX),
        "object_kind": st.none() | st.sampled_from(["Pod", "Node", "Deployment", "Pod'--"]),
        "object_namespace": st.none() | st.sampled_from(["default", "prod", 'x"y']),
        "object_name": st.none() | text_no_nul.filter(lambda s: len(s) <= OBJECT_FIELD_MAX),
        "metadata": st.none() | metadata,
        "created_at": times,
    },
)


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EventStore]:
    path: Path = tmp_path_factory.mktemp("prop") / "kube9.db"
    with EventStore.open(path) as s:
        yield s


@SETTINGS
@given(data=new_events)
def test_valid_events_round_trip_exactly(shared_store: EventStore, data: dict[str, Any]) -> None:
    try:
        expected = NewEvent(**data)
    except ValidationError:
        # only the serialized-size rule may refuse generated metadata
        return
    stored = shared_store.record(data)
    got = shared_store.get(stored.id)
    assert got == stored
    for field in (
        "event_type",
        "severity",
        "title",
        "description",
        "object_kind",
        "object_namespace",
        "object_name",
        "metadata",
    ):
        assert getattr(got, field) == getattr(expected, field)
    if "created_at" in data:
        t = data["created_at"]
        assert got.created_at == t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


BASE = datetime(2025, 12, 1, tzinfo=UTC)
small_events = st.lists(
    st.fixed_dictionaries(
        {
            "event_type": st.sampled_from(EVENT_TYPES[:3]),
            "severity": st.sampled_from(SEVERITIES),
            "title": st.just("t"),
            "object_kind": st.none() | st.sampled_from(["Pod", "Node"]),
            "object_namespace": st.none() | st.sampled_from(["default", "prod"]),
            "created_at": st.integers(0, 40).map(lambda m: BASE + timedelta(minutes=m)),
        }
    ),
    max_size=40,
)
filters = st.fixed_dictionaries(
    {},
    optional={
        "event_type": st.lists(st.sampled_from(EVENT_TYPES[:3]), min_size=1, max_size=2),
        "severity": st.sampled_from(SEVERITIES) | st.lists(st.sampled_from(SEVERITIES), min_size=1),
        "since": st.integers(0, 40).map(lambda m: BASE + timedelta(minutes=m)),
        "until": st.integers(0, 40).map(lambda m: BASE + timedelta(minutes=m)),
        "object_kind": st.sampled_from(["Pod", "Node"]),
        "object_namespace": st.sampled_from(["default", "prod"]),
        "acknowledged": st.booleans(),
    },
)


def matches(e: Event, f: dict[str, Any]) -> bool:
    def one_of(key: str, value: str) -> bool:
        want = f.get(key)
        if want is None:
            return True
        return value in ([want] if isinstance(want, str) else want)

    stamp = e.created
    return (
        one_of("event_type", e.event_type)
        and one_of("severity", e.severity)
        and ("since" not in f or stamp >= f["since"])
        and ("until" not in f or stamp < f["until"])
        and all(getattr(e, k) == f[k] for k in ("object_kind", "object_namespace") if k in f)
        and ("acknowledged" not in f or e.acknowledged == f["acknowledged"])
    )


@pytest.fixture(scope="module", params=BACKENDS)
def filter_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EventStore]:
    """One store per backend for the whole module; each example starts from no events."""
    if request.param == "postgresql":
        with pg_schema(request.getfixturevalue("pg_server")) as url, EventStore.open(url) as s:
            yield s
    else:
        with EventStore.open(tmp_path_factory.mktemp("flt") / "kube9.db") as s:
            yield s


@SETTINGS
@given(batch=small_events, flt=filters, page_size=st.integers(1, 7), ack=st.integers(0, 5))
def test_filters_equal_a_plain_python_filter(
    filter_store: EventStore,
    batch: list[dict[str, Any]],
    flt: dict[str, Any],
    page_size: int,
    ack: int,
) -> None:
    s = filter_store
    with s.engine.begin() as conn:
        conn.execute(text("DELETE FROM events"))
    stored = s.record_many(batch)
    for e in stored[:ack]:
        s.acknowledge(e.id)
    everything = s.query(limit=None)
    expected = [e.id for e in everything if matches(e, flt)]
    assert [e.id for e in everything] == newest_first(s, stored)
    assert [e.id for e in s.query(flt, limit=None)] == expected
    assert s.count(flt) == len(expected)
    paged = [
        e.id
        for off in range(0, len(expected) + page_size, page_size)
        for e in s.query(flt, limit=page_size, offset=off)
    ]
    assert paged == expected
    keyset, cursor = [], None
    while True:
        page = s.page(flt, limit=page_size, cursor=cursor)
        keyset.extend(e.id for e in page.events)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert keyset == expected


hostile = (
    st.sampled_from(
        [
            "'",
            '"',
            "'; DROP TABLE events; --",
            "\x00",
            "\ud800",
            "💥",
            "%",
            "_",
            "\\",
            "NULL",
            " OR 1=1",
            "\u202e",
            "a" * 100_000,
        ]
    )
    | st.text()
)


@SETTINGS
@given(
    field=st.sampled_from(
        [
            "title",
            "description",
            "object_kind",
            "object_namespace",
            "object_name",
            "id",
            "event_type",
            "severity",
        ]
    ),
    value=hostile,
)
def test_hostile_strings_are_stored_or_rejected_cleanly(
    shared_store: EventStore, field: str, value: str
) -> None:
    before = shared_store.count()
    data: dict[str, Any] = {"event_type": "system", "severity": "info", "title": "h", field: value}
    try:
        ev = shared_store.record(data)
    except ValidationError as exc:
        assert exc.fields == [field]
        assert shared_store.count() == before
        return
    assert getattr(shared_store.get(ev.id), field) == value
    assert shared_store.count() == before + 1


@SETTINGS
@given(
    field=st.sampled_from(
        [
            "event_type",
            "severity",
            "object_kind",
            "object_namespace",
            "object_name",
            "since",
            "until",
        ]
    ),
    value=hostile,
)
def test_hostile_filter_values_never_change_the_query(
    shared_store: EventStore, field: str, value: str
) -> None:
    total = shared_store.count()
    try:
        got = shared_store.query({field: value}, limit=None)
    except ValidationError as exc:
        assert exc.fields[0].split(".")[0] == field
        return
    assert all(getattr(e, field) == value for e in got if field.startswith("object"))
    assert shared_store.count() == total
