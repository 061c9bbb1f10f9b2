"""What the head schema costs a writer, against the spec's own version 1 schema: the same
rows inserted with the raw driver into two files of ``n`` identical events (the spec's four
indexes; and head's indexes, counters and stored time key), paired: blocks of each alternate,
so both see the same machine. Goals at 1M: a batch of 1000 at most 1.5 times, one event in
its own transaction at most 1.2 times the version 1 schema's.

    KUBE9_BENCH_SCALE=100k python -m pytest benchmarks/test_schema_cost.py
    python -m pytest benchmarks/test_schema_cost.py --scale 1m
"""

from __future__ import annotations

import gc
import itertools
import sqlite3
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from benchmarks.conftest import record_ratio
from benchmarks.datagen import NOW, Clock, working_copy
from benchmarks.workload import INSERT, raw_row

#: The goals (head / version 1) at the issue's scale of 1M events.
GOALS = {"raw insert, head / spec v1: batch of 1000": 1.5, "raw insert, head / spec v1: one": 1.2}


def _connect(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("PRAGMA synchronous = NORMAL")
    return con


@pytest.fixture(scope="module")
def files(n: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    where = tmp_path_factory.mktemp("schemas")
    v1 = _connect(working_copy(n, where, spec_v1=True))
    v1.execute("ALTER TABLE events ADD COLUMN acknowledged INTEGER DEFAULT 0")  # the same row
    head = _connect(working_copy(n, where))
    yield v1, head
    v1.close()
    head.close()


def _paired(head: Callable[[], object], v1: Callable[[], object], rounds: int) -> float:
    times: dict[Callable[[], object], list[float]] = {head: [], v1: []}
    for pair in itertools.islice(itertools.cycle([(head, v1), (v1, head)]), rounds):
        for fn in pair:
            gc.collect()
            started = time.perf_counter()
            fn()
            times[fn].append(time.perf_counter() - started)
    return statistics.median(times[head]) / statistics.median(times[v1])


@pytest.mark.parametrize("size", [1000, 1])
def test_raw_insert_head_against_spec_v1(
    benchmark: Any, files: tuple[Any, Any], n: int, size: int
) -> None:
    v1, head = files
    clock = Clock(NOW + timedelta(days=1))
    name = f"raw insert, head / spec v1: {'batch of 1000' if size > 1 else 'one'}"
    blocks = 20 if size > 1 else 400

    def writer(
        con: sqlite3.Connection, rows: Iterator[list[tuple[Any, ...]]]
    ) -> Callable[[], None]:
        def write() -> None:
            batch = next(rows)
            if size == 1:
                con.execute(INSERT, batch[0])
                return
            con.execute("BEGIN")
            con.executemany(INSERT, batch)
            con.execute("COMMIT")

        return write

    # the same rows, in the same order, into both files
    made = [[raw_row(clock) for _ in range(size)] for _ in range(blocks + 2)]
    ratio = benchmark.pedantic(
        lambda: _paired(writer(head, iter(made)), writer(v1, iter(made)), blocks),
        rounds=1,
        iterations=1,
    )
    record_ratio(name, n, "sqlite", ratio, 1.0)
    benchmark.extra_info.update({"operation": name, "ratio": ratio, "goal": GOALS[name]})
    print(f"\n{name}: {ratio:.2f} (goal at 1M: {GOALS[name]})")
