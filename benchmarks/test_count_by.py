"""Grouped counts under a time filter (the last 24 hours: about 22,000 of 1M events in the
generated history of 45 days): the API's ``count_by`` and the same SQL on the raw driver.

    KUBE9_BENCH_SCALE=100k python -m pytest benchmarks/test_count_by.py
    python -m pytest benchmarks/test_count_by.py --scale 1m

The spec's fields, type and severity, are held to 10 ms on SQLite at any scale; the others
(and both together) are reported.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from benchmarks.conftest import Bench, check_spec, record
from benchmarks.datagen import NOW

GROUPINGS = {
    "count by type, last 24h": ["type"],
    "count by severity, last 24h": ["severity"],
    "count by type and severity, last 24h": ["type", "severity"],
    "count by namespace, last 24h": ["namespace"],
    "count by kind, last 24h": ["kind"],
    "count by object, last 24h": ["object"],
}


def _raw_sql(bench: Bench, fields: list[str], flt: dict[str, Any]) -> tuple[str, Any]:
    """The statement the store runs for this grouping, compiled by the store's functions."""
    from kube9_store.events.models import EventFilter
    from kube9_store.store.filters import shape_and_values
    from kube9_store.store.grouping import group_fields, grouped_statement
    from kube9_store.store.statements import CompiledSQL

    shape, values = shape_and_values(EventFilter.parse(flt), count=True)
    stmt = grouped_statement(
        group_fields(fields), shape, bench.store.sort_key, bench.store.read_model
    )
    compiled = CompiledSQL.of(stmt, bench.store.engine.dialect)
    return compiled.sql, compiled.params(values)


@pytest.mark.parametrize("impl", ["api", "raw"])
@pytest.mark.parametrize("name", list(GROUPINGS))
def test_count_by_with_a_time_filter(
    benchmark: Any, bench: Bench, n: int, impl: str, name: str
) -> None:
    benchmark.group = f"{name}, {bench.backend}, {n}"
    fields = GROUPINGS[name]
    flt = {"since": NOW - timedelta(hours=24)}
    if impl == "api":
        got = benchmark(lambda: bench.store.count_by(fields, flt))
        assert sum(got.values()) == bench.store.count(flt)
    else:
        sql, params = _raw_sql(bench, fields, flt)
        rows = benchmark(lambda: bench.raw.execute(sql, params).fetchall())
        assert sum(r[-1] for r in rows) == bench.store.count(flt)
    check_spec(name, record(name, n, impl, benchmark, bench.backend), bench.backend)
