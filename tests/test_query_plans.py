"""Every spec query pattern is an index scan that needs no temporary sort (EXPLAIN QUERY PLAN),
on the statements the store really runs."""

from __future__ import annotations

from typing import Any

import pytest

from kube9_store import EventFilter, EventStore
from kube9_store.store.filters import shape_and_values, statement_for
from kube9_store.store.statements import CompiledSQL
from tests.helpers import event_data

PATTERNS: dict[str, dict[str, Any]] = {
    "list newest": {},
    "by type": {"event_type": "operator"},
    "by severity": {"severity": "critical"},
    "date range": {"since": "2025-12-01", "until": "2025-12-02"},
    "object reference": {"object_kind": "Pod", "object_namespace": "default", "object_name": "web"},
    "object kind and namespace": {"object_kind": "Pod", "object_namespace": "default"},
    "combined": {"event_type": "cluster", "severity": ["error", "critical"], "since": "2025-12-01"},
    "several severities": {"severity": ["error", "critical"]},
    "several types": {"event_type": ["cluster", "operator"]},
    "acknowledged": {"acknowledged": False},
}


def plan(store: EventStore, flt: dict[str, Any], **kwargs: Any) -> list[str]:
    shape, values = shape_and_values(EventFilter(**flt), **kwargs)
    compiled = CompiledSQL.of(statement_for(shape, store.backend.sort_key), store.engine.dialect)
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled.sql}", compiled.params(values))
        return [str(r[3]) for r in rows]


@pytest.fixture
def filled(sqlite_store: EventStore) -> EventStore:
    store = sqlite_store
    store.record_many(event_data(created_at=f"2025-12-01T00:00:{i:02d}Z") for i in range(50))
    return store


@pytest.mark.parametrize("name", list(PATTERNS))
@pytest.mark.parametrize("paging", ["limit", "offset", "cursor"])
def test_each_pattern_uses_an_index_without_sorting(
    filled: EventStore, name: str, paging: str
) -> None:
    kwargs: dict[str, Any] = {"limit": 100}
    if paging == "offset":
        kwargs["offset"] = 100
    if paging == "cursor":
        kwargs["cursor"] = ("2025-12-01T00:00:30.000Z", "evt_20251201_000030_zzzzzz")
    steps = plan(filled, PATTERNS[name], **kwargs)
    assert any("USING INDEX" in s or "USING COVERING INDEX" in s for s in steps), steps
    # A page of several types or severities merges one index range per pair; SQLite sorts
    # only what each range returned (at most limit + offset rows), never the table.
    sorted_steps = [i for i, s in enumerate(steps) if "TEMP B-TREE" in s]
    assert all(steps[i - 1].startswith("SCAN anon_") for i in sorted_steps), steps
    assert not any(s.startswith("SCAN events") and "INDEX" not in s for s in steps), steps


def test_get_by_id_uses_the_primary_key(filled: EventStore) -> None:
    with filled.engine.connect() as conn:
        steps = [
            str(r[3])
            for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {filled.sql.get.sql}", ("x",))
        ]
    assert steps == ["SEARCH events USING INDEX sqlite_autoindex_events_1 (id=?)"]


def test_count_by_type_never_reads_the_events(filled: EventStore) -> None:
    with filled.engine.connect() as conn:
        steps = [
            str(r[3])
            for r in conn.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {filled.sql.count_by['event_type'].sql}", (0,)
            )
        ]
    assert all("events" not in s.replace("event_counts", "") for s in steps), steps


def test_the_spec_indexes_alone_would_sort(tmp_path) -> None:
    """Why revision 0003 exists: on the spec's v2 indexes the type filter sorts every match."""
    from kube9_store.operations.admin import upgrade

    path = tmp_path / "v2.db"
    upgrade(str(path), "0002")
    import sqlite3

    with sqlite3.connect(path) as con:
        steps = [
            r[3]
            for r in con.execute(
                "EXPLAIN QUERY PLAN SELECT * FROM events WHERE event_type = ?"
                " ORDER BY created_at DESC, id DESC LIMIT 100",
                ("operator",),
            )
        ]
    assert any("TEMP B-TREE" in s for s in steps)


def test_acknowledged_pages_use_the_partial_index(filled: EventStore) -> None:
    steps = plan(filled, {"acknowledged": True}, limit=50)
    assert any("idx_events_acknowledged" in s for s in steps), steps
    steps = plan(filled, {"acknowledged": False}, limit=50)
    assert any("idx_events_created" in s for s in steps), steps


def test_a_type_with_several_severities_reads_one_range_per_severity(filled: EventStore) -> None:
    """The skewed case: however many newer events of the type have other severities, each
    severity's range of (type, severity, time key) is read, bounded by limit + offset."""
    steps = plan(filled, PATTERNS["combined"], limit=100, offset=100)
    searches = [s for s in steps if s.startswith("SEARCH events")]
    assert len(searches) == 2, steps
    assert all(
        "idx_events_type_severity (event_type=? AND severity=? AND created_ms>?)" in s
        for s in searches
    ), steps
