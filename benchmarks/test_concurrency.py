"""Concurrent writers: 8 threads calling ``EventStore.record`` on one store, and 8 asyncio
tasks calling ``AsyncEventStore.record`` on one store, each call awaited before the next.

Reported per backend and size: events stored per second (the round's events over the round's
wall-clock time, median of the rounds) and the latency of one call, median and 99th
percentile over every call of every round. Each writer records CALLS events per round; the
writers start together (a barrier for threads, one gather for tasks). Every run writes to a
private copy of the benchmark database.

    KUBE9_BENCH_SCALE=10k python -m pytest benchmarks/test_concurrency.py
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from benchmarks.conftest import RESULTS, working_database
from benchmarks.workload import EVENT
from kube9_store import EventStore
from kube9_store.aio.store import AsyncEventStore

#: Concurrent writers, and the calls each makes per round.
WRITERS = 8
CALLS = 250
ROUNDS = 6


def summarize(name: str, n: int, backend: str, benchmark: Any, latencies: list[float]) -> None:
    """Keep events/s and the p50/p99 latency (ms) for the summary table."""
    per_round = WRITERS * CALLS
    rate = per_round / benchmark.stats.stats.median
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    RESULTS[(name, n, backend)].update({"events/s": rate, "p50 ms": p50, "p99 ms": p99})
    benchmark.extra_info.update(
        {"operation": name, "events": n, "backend": backend, "events_per_s": rate}
    )
    benchmark.extra_info.update({"p50_ms": p50, "p99_ms": p99})


@pytest.fixture
def location(n: int, backend: str, tmp_path: Path) -> Iterator[Any]:
    """A private database of n events (a file in tmp_path, or a fresh PostgreSQL schema)."""
    with working_database(n, backend, tmp_path) as (where, _raw, _path):
        yield where


def test_threads_record(benchmark: Any, n: int, backend: str, location: Any) -> None:
    """WRITERS threads, each recording CALLS events one call at a time."""
    store = EventStore.open(location, registry=CollectorRegistry())
    latencies: list[float] = []
    clock = time.perf_counter
    barrier = threading.Barrier(WRITERS)

    def writer() -> list[float]:
        spent = []
        barrier.wait()
        for _ in range(CALLS):
            started = clock()
            store.record(EVENT)
            spent.append(clock() - started)
        return spent

    with ThreadPoolExecutor(WRITERS) as pool:

        def one_round() -> None:
            for spent in pool.map(lambda _i: writer(), range(WRITERS)):
                latencies.extend(spent)

        one_round()  # warm every thread's connection
        latencies.clear()
        benchmark.pedantic(one_round, rounds=ROUNDS, iterations=1)
    store.close()
    summarize(f"record, {WRITERS} threads", n, backend, benchmark, latencies)


def test_tasks_record(benchmark: Any, n: int, backend: str, location: Any) -> None:
    """WRITERS asyncio tasks on one loop, each awaiting CALLS records one at a time."""
    loop = asyncio.new_event_loop()
    astore = loop.run_until_complete(AsyncEventStore.open(location, registry=CollectorRegistry()))
    latencies: list[float] = []
    clock = time.perf_counter

    async def writer() -> list[float]:
        spent = []
        for _ in range(CALLS):
            started = clock()
            await astore.record(EVENT)
            spent.append(clock() - started)
        return spent

    async def writers() -> None:
        for spent in await asyncio.gather(*(writer() for _ in range(WRITERS))):
            latencies.extend(spent)

    def one_round() -> None:
        loop.run_until_complete(writers())

    try:
        one_round()
        latencies.clear()
        benchmark.pedantic(one_round, rounds=ROUNDS, iterations=1)
    finally:
        loop.run_until_complete(astore.close())
        loop.close()
    summarize(f"record, {WRITERS} tasks", n, backend, benchmark, latencies)
