"""The EventStore API on real SQLite files and PostgreSQL: every spec query pattern,
pagination, counts. Every check runs against the sync store and the async store alike."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL

from kube9_store import (
    DatabaseMissingError,
    DuplicateEventError,
    Event,
    EventFilter,
    EventNotFoundError,
    EventStore,
    NewEvent,
    ReadOnlyError,
    ValidationError,
)
from kube9_store.events.models import EVENT_ID_PATTERN
from tests.helpers import (
    STORE_KINDS,
    event_data,
    file_fingerprint,
    newest_first,
    open_async_driven,
)

T0 = datetime(2025, 12, 2, 10, 0, tzinfo=UTC)


@pytest.fixture(params=STORE_KINDS)
def open_store(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """EventStore.open, or AsyncEventStore.open driven from synchronous code."""
    return EventStore.open if request.param == "sync" else open_async_driven


@pytest.fixture
def store(open_store: Callable[..., Any], backend_url: URL) -> Iterator[EventStore]:
    with open_store(backend_url) as s:
        yield s


def ts(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


@pytest.fixture
def sample(store: EventStore) -> list[Event]:
    """A small cluster history, recorded in one batch."""
    rows = [
        dict(
            event_type="operator",
            severity="info",
            title="Operator started",
            created_at=ts(0),
            metadata={"version": "1.0.0", "tier": "free"},
        ),
        dict(
            event_type="cluster",
            severity="critical",
            title="Node NotReady",
            created_at=ts(1),
            object_kind="Node",
            object_name="worker-3",
        ),
        dict(
            event_type="cluster",
            severity="warning",
            title="Pod BackOff",
            created_at=ts(2),
            object_kind="Pod",
            object_namespace="default",
            object_name="nginx-1",
        ),
        dict(
            event_type="cluster",
            severity="info",
            title="Deployment scaled",
            created_at=ts(3),
            object_kind="Deployment",
            object_namespace="default",
            object_name="nginx",
            metadata={"previous_replicas": 2, "new_replicas": 4},
        ),
        dict(
            event_type="cluster",
            severity="error",
            title="Image pull failed",
            created_at=ts(4),
            object_kind="Pod",
            object_namespace="production",
            object_name="api-7",
        ),
        dict(
            event_type="insight",
            severity="warning",
            title="Missing resource limits",
            created_at=ts(5),
            object_kind="Deployment",
            object_namespace="default",
            object_name="nginx",
            metadata={"insight_id": "ins_1", "category": "resources"},
        ),
        dict(
            event_type="operator",
            severity="error",
            title="Operator health degraded",
            created_at=ts(6),
        ),
        dict(
            event_type="cluster",
            severity="warning",
            title="Pod BackOff",
            created_at=ts(6),
            object_kind="Pod",
            object_namespace="default",
            object_name="nginx-2",
        ),
    ]
    return store.record_many(rows)


def titles(events: list[Event]) -> list[str]:
    return [e.title for e in events]


def test_record_returns_the_stored_event(store: EventStore) -> None:
    ev = store.record(NewEvent(**event_data()))
    assert EVENT_ID_PATTERN.fullmatch(ev.id)
    assert ev.created_at.endswith("Z") and len(ev.created_at) == 24
    assert store.get(ev.id) == ev
    assert ev.metadata == {"version": "1.0.0", "tier": "free"}
    assert ev.acknowledged is False


def test_id_time_is_the_event_time(store: EventStore) -> None:
    ev = store.record(event_data(created_at="2025-12-02T10:30:45.123Z"))
    assert ev.id.startswith("evt_20251202_103045_")


def test_record_accepts_a_mapping_and_an_explicit_id(store: EventStore) -> None:
    ev = store.record(event_data(id="evt_20251202_103045_a7f3b9"))
    assert ev.id == "evt_20251202_103045_a7f3b9"
    assert store.get("evt_20251202_103045_a7f3b9") == ev


def test_explicit_duplicate_id_is_an_error_and_keeps_the_original(store: EventStore) -> None:
    first = store.record(event_data(id="evt_20251202_103045_a7f3b9", title="first"))
    with pytest.raises(DuplicateEventError) as info:
        store.record(event_data(id="evt_20251202_103045_a7f3b9", title="second"))
    assert info.value.event_id == first.id
    assert store.get(first.id).title == "first"
    assert store.count() == 1


def test_colliding_generated_id_is_retried(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    suffixes = iter(["aaaaaa", "aaaaaa", "aaaaaa", "bbbbbb"])
    monkeypatch.setattr("kube9_store.events.ids.random_suffix", lambda: next(suffixes))
    a = store.record(event_data(created_at=ts(0)))
    b = store.record(event_data(created_at=ts(0)))
    assert a.id.endswith("aaaaaa") and b.id.endswith("bbbbbb")
    assert store.count() == 2


def test_colliding_generated_ids_in_a_batch_are_retried(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.record(event_data(id="evt_20251202_100000_aaaaaa"))
    suffixes = iter(["aaaaaa", "aaaaaa", "bbbbbb", "cccccc", "dddddd"])
    monkeypatch.setattr("kube9_store.events.ids.random_suffix", lambda: next(suffixes))
    batch = store.record_many([event_data(created_at=ts(0)), event_data(created_at=ts(0))])
    assert len({e.id for e in batch}) == 2
    assert store.count() == 3


def test_record_many_can_return_the_ids_alone(store: EventStore) -> None:
    ids = store.record_many(
        [event_data(title="first"), event_data(title="second", metadata={"token": "hunter2"})],
        return_events=False,
    )
    assert all(isinstance(i, str) for i in ids)
    stored = [store.get(i) for i in ids]
    assert [e.title for e in stored if e is not None] == ["first", "second"]
    assert stored[1] is not None and stored[1].metadata == {"token": "[REDACTED]"}
    assert store.record_many([], return_events=False) == []


def test_record_many_is_all_or_nothing(store: EventStore) -> None:
    store.record(event_data(id="evt_20251202_103045_a7f3b9"))
    with pytest.raises(ValidationError) as info:
        store.record_many([event_data(), event_data(severity="loud"), event_data(title=None)])
    assert info.value.fields == ["[1].severity", "[2].title"]
    with pytest.raises(DuplicateEventError):
        store.record_many([event_data(), event_data(id="evt_20251202_103045_a7f3b9")])
    with pytest.raises(DuplicateEventError):
        store.record_many(
            [
                event_data(id="evt_20251202_103045_bbbbbb"),
                event_data(id="evt_20251202_103045_bbbbbb"),
            ]
        )
    assert store.count() == 1


def test_a_large_batch_that_fails_changes_no_count(store: EventStore) -> None:
    """A batch large enough for SQLite's path without the per-row count trigger, failing on
    its last row: nothing stored, no count moved, and the trigger counts the next record."""
    taken = store.record(event_data(id="evt_20251202_103045_a7f3b9", severity="error"))
    with pytest.raises(DuplicateEventError):
        store.record_many(
            [event_data(severity="warning") for _ in range(199)] + [event_data(id=taken.id)]
        )
    store.record(event_data(severity="warning"))
    assert store.count_by_severity() == {"error": 1, "warning": 1}
    assert store.count() == len(store.query(limit=None)) == 2


def test_large_batches_and_a_concurrent_writer_are_all_counted(
    store: EventStore, backend_url: URL
) -> None:
    """Large batches (on SQLite inserted with the count trigger set aside, their counts added
    in one statement) are counted exactly, so is what another connection records meanwhile,
    and a record after them is counted by the trigger again."""
    written = 0
    done = threading.Event()
    with EventStore.open(backend_url, metrics=False) as other:

        def write() -> None:
            nonlocal written
            while not done.is_set():
                other.record(event_data(event_type="system", severity="critical"))
                written += 1

        thread = threading.Thread(target=write)
        thread.start()
        try:
            for _ in range(4):
                store.record_many([event_data(severity="warning") for _ in range(150)])
        finally:
            done.set()
            thread.join()
    store.record(event_data(severity="error"))
    stored = [e.severity for e in store.query(limit=None)]
    assert written > 0
    assert store.count_by_severity() == {"critical": written, "error": 1, "warning": 600}
    assert {s: stored.count(s) for s in set(stored)} == store.count_by_severity()
    assert store.count() == len(stored)


def test_get_missing_is_none(store: EventStore) -> None:
    assert store.get("evt_20251202_103045_zzzzzz") is None
    assert store.get("' OR 1=1 --") is None


def test_list_newest_first(store: EventStore, sample: list[Event]) -> None:
    got = store.query()
    assert [e.created_at for e in got] == sorted((e.created_at for e in sample), reverse=True)
    assert [e.id for e in got] == newest_first(store, sample)


def ts_stored(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ({"event_type": "operator"}, ["Operator health degraded", "Operator started"]),
        ({"severity": "critical"}, ["Node NotReady"]),
        (
            {"severity": ["error", "critical"]},
            ["Operator health degraded", "Image pull failed", "Node NotReady"],
        ),
        ({"since": ts(2), "until": ts(4)}, ["Deployment scaled", "Pod BackOff"]),
        (
            {"object_kind": "Deployment", "object_namespace": "default", "object_name": "nginx"},
            ["Missing resource limits", "Deployment scaled"],
        ),
        (
            {"object_kind": "Deployment", "object_name": "nginx"},
            ["Missing resource limits", "Deployment scaled"],
        ),
        ({"object_kind": "Pod", "object_namespace": "default"}, ["Pod BackOff", "Pod BackOff"]),
        (
            {"event_type": "cluster", "severity": ["warning", "error"], "since": ts(2)},
            ["Pod BackOff", "Image pull failed", "Pod BackOff"],
        ),
        (
            {"event_type": ["insight", "operator"], "until": ts(5.5)},
            ["Missing resource limits", "Operator started"],
        ),
    ],
)
def test_spec_query_patterns(
    store: EventStore, sample: list[Event], flt: dict[str, Any], expected: list[str]
) -> None:
    assert titles(store.query(flt)) == expected
    assert titles(store.query(EventFilter(**flt))) == expected
    assert store.count(flt) == len(expected)


def test_combined_filter_with_pagination(store: EventStore, sample: list[Event]) -> None:
    flt = {"event_type": "cluster", "severity": ["info", "warning", "error"], "since": ts(0)}
    full = store.query(flt, limit=None)
    assert titles(store.query(flt, limit=2, offset=1)) == titles(full[1:3])
    assert store.query(flt, limit=2, offset=10) == []


def test_pages_never_repeat_or_skip(store: EventStore) -> None:
    store.record_many([event_data(created_at=ts(i // 7), title=f"e{i}") for i in range(95)])
    by_offset = [e.id for off in range(0, 95, 10) for e in store.query(limit=10, offset=off)]
    keyset: list[str] = []
    cursor = None
    while True:
        page = store.page(limit=10, cursor=cursor)
        keyset.extend(e.id for e in page.events)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    everything = [e.id for e in store.query(limit=None)]
    assert by_offset == keyset == everything
    assert len(set(everything)) == 95


def test_cursor_works_with_a_filter(store: EventStore, sample: list[Event]) -> None:
    first = store.page({"event_type": "cluster"}, limit=2)
    rest = store.query({"event_type": "cluster"}, limit=None, cursor=first.next_cursor)
    assert titles(first.events + rest) == titles(store.query({"event_type": "cluster"}))


@pytest.mark.parametrize("cursor", ["", "garbage", "W10", "WyJhIl0"])
def test_bad_cursor_is_named(store: EventStore, cursor: str) -> None:
    with pytest.raises(ValidationError) as info:
        store.query(cursor=cursor)
    assert info.value.fields == ["cursor"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": -1}, "limit"),
        ({"limit": True}, "limit"),
        ({"limit": "10"}, "limit"),
        ({"offset": -1}, "offset"),
        ({"offset": 1.5}, "offset"),
    ],
)
def test_bad_paging_arguments_are_named(
    store: EventStore, kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as info:
        store.query(**kwargs)
    assert info.value.fields == [field]


def test_counts(store: EventStore, sample: list[Event]) -> None:
    assert store.count() == 8
    assert store.count_by_type() == {"cluster": 5, "insight": 1, "operator": 2}
    assert store.count_by_severity() == {"critical": 1, "error": 2, "info": 2, "warning": 3}
    assert store.count({"event_type": "cluster", "severity": "warning"}) == 2
    assert store.count({"object_kind": "Pod"}) == 3


def test_counts_stay_exact_whoever_writes(store: EventStore, sample: list[Event]) -> None:
    with store.engine.begin() as conn:  # another program, plain SQL
        conn.execute(
            text(
                "INSERT INTO events (id, event_type, severity, title, created_at)"
                " VALUES ('raw-1', 'health', 'critical', 'raw insert', '2025-12-03T00:00:00.000Z')"
            )
        )
        conn.execute(text("DELETE FROM events WHERE title = 'Pod BackOff'"))
        conn.execute(
            text("UPDATE events SET severity = 'critical' WHERE title = 'Operator started'")
        )
    store.acknowledge(sample[0].id)
    store.apply_retention(now=T0 + timedelta(days=7, minutes=0.5))
    with store.engine.connect() as conn:
        truth = dict(
            conn.execute(text("SELECT event_type, COUNT(*) FROM events GROUP BY event_type")).all()
        )
        sev = dict(
            conn.execute(text("SELECT severity, COUNT(*) FROM events GROUP BY severity")).all()
        )
    assert store.count_by_type() == truth
    assert store.count_by_severity() == sev
    assert store.count() == sum(truth.values())


def test_acknowledge(store: EventStore, sample: list[Event]) -> None:
    target = sample[1]
    assert store.acknowledge(target.id) is True
    assert store.get(target.id).acknowledged is True
    assert store.acknowledge("evt_20990101_000000_nopeno") is False
    assert titles(store.query({"acknowledged": True})) == ["Node NotReady"]
    assert store.count({"acknowledged": False}) == 7
    assert store.acknowledge(target.id, acknowledged=False) is True
    assert store.count({"acknowledged": True}) == 0


def test_acknowledging_a_missing_event_can_be_an_error(
    store: EventStore, sample: list[Event]
) -> None:
    missing = "evt_20990101_000000_nopeno"
    with pytest.raises(EventNotFoundError) as info:
        store.acknowledge(missing, missing_ok=False)
    assert info.value.event_id == missing
    assert store.acknowledge(sample[0].id, missing_ok=False) is True


def test_filters_are_bound_parameters(store: EventStore, sample: list[Event]) -> None:
    hostile = "x' OR '1'='1"
    assert store.query({"object_name": hostile}) == []
    assert store.count({"object_namespace": "default'; DROP TABLE events; --"}) == 0
    assert store.count() == 8


def test_threads_share_one_store(store: EventStore) -> None:
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(50):
                store.record(event_data(title=f"t{n}-{i}"))
                store.query(limit=5)
                store.count_by_type()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.count() == 300
    assert len({e.id for e in store.query(limit=None)}) == 300


def test_read_only_store_never_writes(db_path: Path, open_store: Callable[..., Any]) -> None:
    with EventStore.open(db_path) as s:
        s.record(event_data())
    before = file_fingerprint(db_path)
    with open_store(db_path, read_only=True) as ro:
        assert ro.count() == 1
        assert len(ro.query()) == 1
        with pytest.raises(ReadOnlyError):
            ro.record(event_data())
        with pytest.raises(ReadOnlyError):
            ro.acknowledge("evt_20251202_103045_a7f3b9")
    assert file_fingerprint(db_path) == before


def test_read_only_open_never_creates_or_migrates(
    tmp_path: Path, open_store: Callable[..., Any]
) -> None:
    missing = tmp_path / "nope" / "kube9.db"
    with pytest.raises(DatabaseMissingError, match=r"does not exist.*db upgrade"):
        open_store(missing, read_only=True)
    assert not missing.parent.exists()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"synchronous": "SOMETIMES"}, "synchronous"), ({"busy_timeout": -1}, "busy_timeout")],
)
def test_bad_open_arguments_are_named(
    db_path: Path, open_store: Callable[..., Any], kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as info:
        open_store(db_path, **kwargs)
    assert info.value.fields == [field]
    assert not db_path.exists()


def test_recount_repairs_counts_that_bypassed_the_triggers(
    store: EventStore, sample: list[Event]
) -> None:
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE event_counts SET n = n + 100"))
    assert store.count() == 8 + 100 * len(store.counts_by_type_and_severity())
    assert store.recount() == {"cluster": 5, "insight": 1, "operator": 2}
    assert store.count() == 8
    assert store.count_by_severity() == {"critical": 1, "error": 2, "info": 2, "warning": 3}


def test_metadata_numbers_read_back_exactly(store: EventStore) -> None:
    """Integers beyond 64 bits and floats come back as they were stored."""
    metadata = {"big": 2**70, "negative": -(2**65), "max": 2**63 - 1, "float": 1e16, "tiny": 1.5e-7}
    stored = store.record(event_data(metadata=metadata))
    read = store.get(stored.id)
    assert read is not None
    assert read.metadata == metadata
    assert type(read.metadata["big"]) is int
    assert store.query(limit=1)[0].metadata == metadata


def test_iter_walks_every_match_a_page_at_a_time(store: EventStore) -> None:
    store.record_many([event_data(created_at=ts(i // 4), title=f"e{i}") for i in range(23)])
    store.record(event_data(event_type="health", title="other", created_at=ts(1)))
    everything = [e.id for e in store.query(limit=None)]
    assert [e.id for e in store.iter(page_size=5)] == everything
    assert [e.id for e in store.iter(page_size=1000)] == everything
    walked = [e.title for e in store.iter({"event_type": "operator"}, page_size=4)]
    assert len(walked) == 23 and "other" not in walked
    assert list(store.iter({"object_kind": "Nothing"})) == []


@pytest.mark.parametrize("page_size", [0, -3, True, "5", 2**63 - 1])
def test_iter_refuses_a_bad_page_size_before_reading(store: EventStore, page_size: Any) -> None:
    with pytest.raises(ValidationError) as info:
        store.iter(page_size=page_size)
    assert info.value.fields == ["page_size"]
    with pytest.raises(ValidationError) as info:
        store.iter({"severity": "loud"})
    assert info.value.fields == ["severity.0"]


def test_page_is_iterable_and_sized(store: EventStore, sample: list[Event]) -> None:
    page = store.page(limit=3)
    assert len(page) == 3
    assert list(page) == page.events == store.query(limit=3)
    assert page.next_cursor is not None
    empty = store.page({"object_kind": "Nothing"})
    assert len(empty) == 0 and not empty and empty.next_cursor is None


def test_acknowledge_many_marks_the_given_ids(store: EventStore, sample: list[Event]) -> None:
    ids = [sample[0].id, sample[2].id, sample[2].id, "evt_20990101_000000_nopeno"]
    assert store.acknowledge_many(ids) == 2
    assert {e.id for e in store.query({"acknowledged": True})} == {sample[0].id, sample[2].id}
    assert store.acknowledge_many((e.id for e in sample), acknowledged=False) == 8
    assert store.count({"acknowledged": True}) == 0
    assert store.acknowledge_many([]) == 0


def test_acknowledge_many_beyond_one_statements_worth(store: EventStore) -> None:
    stored = store.record_many([event_data(title=f"e{i}") for i in range(600)])
    unknown = [f"evt_20990101_000000_{i:06d}" for i in range(600)]
    assert store.acknowledge_many([e.id for e in stored] + unknown) == 600
    assert store.count({"acknowledged": True}) == 600


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("evt_20251202_103045_a7f3b9",), "event_ids"),
        ((42,), "event_ids"),
        ((["evt_20251202_103045_a7f3b9", 7],), "event_ids[1]"),
        ((["evt_20251202_103045_a7f3b9", "evt_\ud800"],), "event_ids[1]"),
        ((["evt_20251202_103045_a7f3b9"], "yes"), "acknowledged"),
    ],
)
def test_acknowledge_many_names_bad_arguments(
    store: EventStore, sample: list[Event], args: tuple[Any, ...], field: str
) -> None:
    with pytest.raises(ValidationError) as info:
        store.acknowledge_many(*args)
    assert info.value.fields == [field]
    assert store.count({"acknowledged": True}) == 0


def test_acknowledge_matching_marks_what_the_filter_matches(
    store: EventStore, sample: list[Event]
) -> None:
    assert store.acknowledge_matching({"object_kind": "Pod"}) == 3
    assert titles(store.query({"acknowledged": True})) == [
        "Pod BackOff",
        "Image pull failed",
        "Pod BackOff",
    ]
    assert store.acknowledge_matching(EventFilter(severity=["error", "critical"])) == 3
    assert store.count({"acknowledged": True}) == 5
    assert store.acknowledge_matching({"object_name": "nobody"}) == 0
    assert store.acknowledge_matching(EventFilter(), acknowledged=False) == 8
    assert store.count({"acknowledged": True}) == 0
    with pytest.raises(ValidationError) as info:
        store.acknowledge_matching({"severity": "loud"})
    assert info.value.fields == ["severity.0"]
    assert store.count({"acknowledged": True}) == 0


def test_relative_since_and_until(store: EventStore) -> None:
    now = datetime.now(UTC)
    for hours, title in ((1, "an hour ago"), (50, "two days ago"), (240, "ten days ago")):
        store.record(event_data(title=title, created_at=now - timedelta(hours=hours)))
    assert titles(store.query({"since": "24h"})) == ["an hour ago"]
    assert titles(store.query(EventFilter(since="7d"))) == ["an hour ago", "two days ago"]
    assert titles(store.query({"until": "2d"})) == ["two days ago", "ten days ago"]
    assert store.count({"since": "2w", "until": "30m"}) == 3
    with pytest.raises(ValidationError, match="age") as info:
        store.query({"since": "7 days"})
    assert info.value.fields == ["since"]


def test_object_fields_take_lists(store: EventStore, sample: list[Event]) -> None:
    pods = {"object_name": ["nginx-1", "nginx-2"]}
    assert titles(store.query(pods)) == ["Pod BackOff", "Pod BackOff"]
    assert store.count({"object_kind": ("Node", "Deployment")}) == 3
    both = EventFilter(object_kind="Pod", object_namespace={"default", "production"})
    assert titles(store.query(both)) == ["Pod BackOff", "Image pull failed", "Pod BackOff"]
    with pytest.raises(ValidationError) as info:
        store.query({"object_kind": []})
    assert info.value.fields == ["object_kind"]


def test_created_is_an_aware_datetime(store: EventStore) -> None:
    ev = store.record(event_data(created_at="2025-12-02T12:30:45.123+02:00"))
    assert ev.created_at == "2025-12-02T10:30:45.123Z"
    assert ev.created == datetime(2025, 12, 2, 10, 30, 45, 123000, tzinfo=UTC)
    assert store.get(ev.id).created == ev.created
    result = store.apply_retention()
    assert result.finished.tzinfo is not None
    assert result.finished.isoformat(timespec="milliseconds")[:23] == result.finished_at[:23]


def test_size_names_what_it_returns(store: EventStore, sample: list[Event]) -> None:
    size = store.size()
    assert size.database_bytes > 0
    assert size.total_bytes >= size.database_bytes
    assert store.size_bytes().database_bytes == size.database_bytes
