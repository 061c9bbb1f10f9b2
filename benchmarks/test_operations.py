"""Every operation the spec and the performance issue name: the kube9_store API and the same
SQL on raw stdlib sqlite3, on the same file, in the same run.

    python -m pytest benchmarks                 # 10k and 100k events
    python -m pytest benchmarks --scale 1m      # the spec's 1,000,000 events
"""

from __future__ import annotations

import itertools
import random
from datetime import timedelta
from typing import Any

import pytest

from benchmarks.conftest import Bench, check_spec, record
from benchmarks.datagen import NOW, Clock
from benchmarks.workload import EVENT, FILTERS, INSERT, common_object, raw_row, serial
from kube9_store import EventStore, NewEvent
from kube9_store.events.timestamps import format_timestamp


@pytest.mark.parametrize("impl", ["api", "raw"])
def test_get_by_id(benchmark: Any, bench: Bench, n: int, impl: str) -> None:
    benchmark.group = f"get by id, {bench.backend}, {n}"
    ids = itertools.cycle(bench.ids)
    get = bench.statements.get
    if impl == "api":
        benchmark(lambda: bench.store.get(next(ids)))
    else:
        benchmark(lambda: bench.raw.execute(get.sql, get.params({"id": next(ids)})).fetchall())
    check_spec("get by id", record("get by id", n, impl, benchmark, bench.backend), bench.backend)


@pytest.mark.parametrize("impl", ["api", "raw"])
def test_newest_50(benchmark: Any, bench: Bench, n: int, impl: str) -> None:
    benchmark.group = f"newest 50, {bench.backend}, {n}"
    sql, params = bench.query_sql(limit=50)
    if impl == "api":
        got = benchmark(lambda: bench.store.query(limit=50))
    else:
        got = benchmark(lambda: bench.raw.execute(sql, params).fetchall())
    assert len(got) == 50
    check_spec("newest 50", record("newest 50", n, impl, benchmark, bench.backend), bench.backend)


@pytest.mark.parametrize("impl", ["api", "raw"])
@pytest.mark.parametrize("name", list(FILTERS))
def test_spec_filters(benchmark: Any, bench: Bench, n: int, impl: str, name: str) -> None:
    benchmark.group = f"{name}, {bench.backend}, {n}"
    flt = FILTERS[name]
    if "object_name" in flt:
        flt = {**flt, "object_name": common_object(bench)}
    sql, params = bench.query_sql(flt, limit=100)
    if impl == "api":
        got = benchmark(lambda: bench.store.query(flt, limit=100))
    else:
        got = benchmark(lambda: bench.raw.execute(sql, params).fetchall())
    assert got
    check_spec(name, record(name, n, impl, benchmark, bench.backend), bench.backend)


@pytest.mark.parametrize("impl", ["api", "raw"])
def test_combined_filter_with_offset(benchmark: Any, bench: Bench, n: int, impl: str) -> None:
    name = "filter: combined + offset"
    benchmark.group = f"{name}, {bench.backend}, {n}"
    since = NOW - timedelta(days=30)
    flt = {"event_type": "cluster", "severity": ["error", "critical"], "since": since}
    sql, params = bench.query_sql(flt, limit=100, offset=100)
    if impl == "api":
        benchmark(lambda: bench.store.query(flt, limit=100, offset=100))
    else:
        benchmark(lambda: bench.raw.execute(sql, params).fetchall())
    check_spec(name, record(name, n, impl, benchmark, bench.backend), bench.backend)


@pytest.mark.parametrize("impl", ["api", "raw"])
def test_keyset_page_1000_deep(benchmark: Any, bench: Bench, n: int, impl: str) -> None:
    name = "keyset page 1000 rows deep"
    benchmark.group = f"{name}, {bench.backend}, {n}"
    sql, params = bench.query_sql(limit=101, cursor=bench.deep_cursor)  # page() reads one more
    if impl == "api":
        got = benchmark(lambda: bench.store.page(limit=100, cursor=bench.deep_cursor))
        assert len(got.events) == 100
    else:
        benchmark(lambda: bench.raw.execute(sql, params).fetchall())
    check_spec(name, record(name, n, impl, benchmark, bench.backend), bench.backend)


@pytest.mark.parametrize("impl", ["api", "raw", "spec GROUP BY on events"])
def test_count_by_type(benchmark: Any, bench: Bench, n: int, impl: str) -> None:
    name = "count by type"
    benchmark.group = f"{name}, {bench.backend}, {n}"
    counted = bench.statements.count_by["event_type"]
    params = counted.params({})
    if impl == "api":
        got = benchmark(bench.store.count_by_type)
    elif impl == "raw":
        got = dict(benchmark(lambda: bench.raw.execute(counted.sql, params).fetchall()))
    else:
        got = dict(
            benchmark(
                lambda: bench.raw.execute(
                    "SELECT event_type, COUNT(*) FROM events GROUP BY event_type"
                ).fetchall()
            )
        )
    assert sum(got.values()) >= n
    median = record(name, n, impl, benchmark, bench.backend)
    if impl != "spec GROUP BY on events":
        check_spec(name, median, bench.backend)


@pytest.mark.parametrize("impl", ["api", "raw"])
def test_count_with_a_filter(benchmark: Any, bench: Bench, n: int, impl: str) -> None:
    name = "count with a filter"
    benchmark.group = f"{name}, {bench.backend}, {n}"
    flt = {"event_type": "cluster", "since": NOW - timedelta(days=2)}
    sql, params = bench.query_sql(flt, count=True)
    if impl == "api":
        benchmark(lambda: bench.store.count(flt))
    else:
        benchmark(lambda: bench.raw.execute(sql, params).fetchone())
    check_spec(name, record(name, n, impl, benchmark, bench.backend), bench.backend)


def _expired_rows(bench: Bench) -> list[tuple[Any, ...]]:
    rnd = random.Random()
    out = []
    for _ in range(1000):
        row = list(raw_row(bench.store.clock))
        row[0] = f"evt_20000101_000000_{next(serial):06d}"
        row[2] = rnd.choice(["info", "warning", "error", "critical"])
        row[9] = "2000-01-01T00:00:00.000Z"
        out.append(tuple(row))
    return out


@pytest.mark.parametrize("impl", ["api", "raw"])
def test_retention_1000_deletes(benchmark: Any, bench: Bench, n: int, impl: str) -> None:
    name = "retention, 1000 deletes"
    benchmark.group = f"{name}, {bench.backend}, {n}"
    batch = bench.statements.retention_batch
    cutoff = format_timestamp(NOW - timedelta(days=3650))

    def setup() -> tuple[tuple[()], dict[str, Any]]:
        bench.raw.write(INSERT, _expired_rows(bench))
        return (), {}

    def raw() -> None:
        for severity in ("info", "warning", "error", "critical"):
            values = {"severity": severity, "cutoff": cutoff, "batch": 1000}
            bench.raw.write(batch.sql, [batch.params(values)])

    def api() -> None:
        result = bench.store.apply_retention(now=NOW, policy=bench.policy, vacuum_free_share=None)
        assert result.deleted == 1000

    benchmark.pedantic(api if impl == "api" else raw, setup=setup, rounds=15)
    check_spec(name, record(name, n, impl, benchmark, bench.backend), bench.backend)


# -- writes last, so the reads above see the generated data as built --------------------------


@pytest.mark.parametrize("impl", ["api", "raw", "api, metrics off", "api, a NewEvent"])
def test_record_one_event(benchmark: Any, bench: Bench, n: int, impl: str) -> None:
    """ "api" records a mapping and reports to a Prometheus registry; "api, metrics off" is
    the same store without instrumentation (the two medians give the cost of the metrics);
    "api, a NewEvent" builds the model first, as a caller who wants one does."""
    benchmark.group = f"record one event, {bench.backend}, {n}"
    if impl == "api":
        benchmark(lambda: bench.store.record(EVENT))
    elif impl == "api, a NewEvent":
        benchmark(lambda: bench.store.record(NewEvent(**EVENT)))
    elif impl == "api, metrics off":
        with EventStore.open(bench.url, clock=Clock(NOW), metrics=False) as plain:
            benchmark(lambda: plain.record(EVENT))
    else:
        benchmark(lambda: bench.raw.execute(INSERT, raw_row(bench.store.clock)))  # autocommit
    check_spec(
        "record one event",
        record("record one event", n, impl, benchmark, bench.backend),
        bench.backend,
    )


@pytest.mark.parametrize("impl", ["api", "raw"])
def test_record_batch_of_1000(benchmark: Any, bench: Bench, n: int, impl: str) -> None:
    benchmark.group = f"record 1000 in one batch, {bench.backend}, {n}"
    batch = [dict(EVENT) for _ in range(1000)]
    if impl == "api":
        benchmark.pedantic(lambda: bench.store.record_many(batch), rounds=15, warmup_rounds=1)
    else:
        benchmark.pedantic(
            lambda: bench.raw.write_events(
                INSERT, [raw_row(bench.store.clock) for _ in range(1000)]
            ),
            rounds=15,
            warmup_rounds=1,
        )
    ms = record("record 1000 in one batch", n, impl, benchmark, bench.backend)
    benchmark.extra_info["events_per_second"] = 1000 / (ms / 1000)
