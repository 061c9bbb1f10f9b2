"""Queries on adversarial distributions: every spec pattern should read about ``limit +
offset`` index entries whatever the data, so the data here is made to defeat a plan that
filters as it scans. In the skewed history, the newest 99% of events are ``cluster`` events
of severity ``info`` and the oldest 1% ``cluster`` events of severity ``error`` or
``critical``: the spec's combined filter (type + severity IN + since, with an offset) must
not read the 99% to find them. SQLite (the spec's embedded database; PostgreSQL keeps
``(type, created_at, id, severity)`` and is reported by the main suite).

    KUBE9_BENCH_SCALE=100k python -m pytest benchmarks/test_skew.py
    python -m pytest benchmarks/test_skew.py --scale 1m
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.conftest import check_spec, record
from benchmarks.datagen import NOW, SPAN, working_copy
from kube9_store import EventStore

NAME = "filter: combined, skewed"
FILTER = {"event_type": "cluster", "severity": ["error", "critical"], "since": NOW - SPAN}


@pytest.fixture(scope="module")
def skewed(n: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EventStore]:
    """The generated history of ``n`` events with its types and severities rewritten: the
    oldest 1% cluster errors and criticals, the rest cluster infos (the triggers keep the
    counts exact)."""
    path: Path = working_copy(n, tmp_path_factory.mktemp("skew"))
    con = sqlite3.connect(path)
    (cut,) = con.execute(
        "SELECT created_ms FROM events ORDER BY created_ms LIMIT 1 OFFSET ?", (n // 100,)
    ).fetchone()
    with con:
        con.execute(
            "UPDATE events SET event_type = 'cluster', severity = CASE WHEN created_ms >= ?"
            " THEN 'info' WHEN rowid % 2 = 0 THEN 'error' ELSE 'critical' END",
            (cut,),
        )
    con.close()
    with EventStore.open(path) as store:
        yield store


@pytest.mark.parametrize("impl", ["api"])
def test_combined_filter_on_a_skewed_history(
    benchmark: Any, skewed: EventStore, n: int, impl: str
) -> None:
    benchmark.group = f"{NAME}, sqlite, {n}"
    page = benchmark(lambda: skewed.query(FILTER, limit=100, offset=100))
    assert len(page) == 100
    assert {e.severity for e in page} <= {"error", "critical"}
    check_spec(NAME, record(NAME, n, impl, benchmark), "sqlite")
