"""Prometheus metrics scraped from the real HTTP endpoint, and health checks."""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.parser import text_string_to_metric_families

from kube9_store import DuplicateEventError, EventStore, ValidationError
from kube9_store.cli import cli
from kube9_store.operations.health import check_health
from kube9_store.operations.metrics import serve_metrics
from kube9_store.schema.tables import HEAD_VERSION
from tests.helpers import build_spec_db, event_data

SPEC_METRICS = {
    "kube9_events_storage_size_bytes": "gauge",
    "kube9_database_operations": "counter",
    "kube9_database_query_duration_seconds": "histogram",
    "kube9_events_retention_cleanup_last_run_timestamp": "gauge",
    "kube9_events_retention_cleanup_events_deleted": "gauge",
}


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def served(db_path: Path, registry: CollectorRegistry) -> Iterator[tuple[EventStore, str]]:
    store = EventStore.open(db_path, registry=registry)
    server = serve_metrics(0, "127.0.0.1", registry=registry)
    try:
        yield store, f"http://127.0.0.1:{server.server_port}/metrics"
    finally:
        server.shutdown()
        store.close()


def scrape(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return {family.name: family for family in text_string_to_metric_families(text)}


def value(families: dict[str, Any], name: str, sample: str | None = None, **labels: str) -> float:
    total = 0.0
    found = False
    for s in families[name].samples:
        if (sample is None or s.name == sample) and all(
            s.labels.get(k) == v for k, v in labels.items()
        ):
            total += s.value
            found = True
    assert found, (name, sample, labels)
    return total


def test_every_spec_metric_is_exposed_with_its_type(served: tuple[EventStore, str]) -> None:
    store, url = served
    store.record(event_data())
    families = scrape(url)
    for name, kind in SPEC_METRICS.items():
        assert families[name].type == kind, name
    for extra in (
        "kube9_database_errors",
        "kube9_events_recorded",
        "kube9_events_stored",
        "kube9_database_schema_version",
        "kube9_events_redactions",
        "kube9_events_storage_wal_size_bytes",
        "kube9_events_retention_deleted",
    ):
        assert extra in families, extra


def test_counters_move_by_exactly_the_operations_performed(served: tuple[EventStore, str]) -> None:
    store, url = served
    before = scrape(url)

    def ops(families: dict[str, Any], op: str) -> float:
        return (
            value(
                families,
                "kube9_database_operations",
                "kube9_database_operations_total",
                operation=op,
            )
            if any(
                s.labels.get("operation") == op
                for s in families["kube9_database_operations"].samples
            )
            else 0.0
        )

    evs = [store.record(event_data(title=f"e{i}")) for i in range(3)]
    store.record_many([event_data(), event_data(severity="error")])
    for e in evs:
        store.get(e.id)
    store.query(limit=5)
    store.count()
    store.acknowledge(evs[0].id)
    after = scrape(url)
    assert ops(after, "insert") - ops(before, "insert") == 4
    assert ops(after, "select") - ops(before, "select") == 5
    assert ops(after, "update") - ops(before, "update") == 1
    assert (
        value(
            after,
            "kube9_events_recorded",
            "kube9_events_recorded_total",
            event_type="operator",
            severity="info",
        )
        == 4
    )
    assert (
        value(after, "kube9_events_recorded", "kube9_events_recorded_total", severity="error") == 1
    )
    hist = value(
        after,
        "kube9_database_query_duration_seconds",
        "kube9_database_query_duration_seconds_count",
        operation="select",
    )
    assert hist == 5
    fast = value(
        after,
        "kube9_database_query_duration_seconds",
        "kube9_database_query_duration_seconds_bucket",
        operation="select",
        le="0.01",
    )
    assert fast >= 4  # sub-millisecond buckets resolve these operations
    assert value(after, "kube9_events_stored", severity="info") == 4
    assert value(after, "kube9_database_schema_version") == HEAD_VERSION


def test_failures_land_in_the_failure_series(served: tuple[EventStore, str]) -> None:
    store, url = served
    store.record(event_data(id="evt_20251202_103045_a7f3b9"))
    with pytest.raises(ValidationError):
        store.record(event_data(severity="loud"))
    with pytest.raises(DuplicateEventError):
        store.record(event_data(id="evt_20251202_103045_a7f3b9"))
    families = scrape(url)
    assert (
        value(
            families,
            "kube9_database_operations",
            "kube9_database_operations_total",
            operation="insert",
        )
        == 1
    )
    assert (
        value(
            families,
            "kube9_database_errors",
            "kube9_database_errors_total",
            operation="insert",
            kind="validation",
        )
        == 1
    )
    assert (
        value(
            families,
            "kube9_database_errors",
            "kube9_database_errors_total",
            operation="insert",
            kind="duplicate",
        )
        == 1
    )
    assert value(families, "kube9_events_recorded", "kube9_events_recorded_total") == 1


def test_retention_metrics_change_after_a_run(served: tuple[EventStore, str]) -> None:
    store, url = served
    store.record_many(event_data(created_at="2020-01-01T00:00:00Z") for _ in range(7))
    assert value(scrape(url), "kube9_events_retention_cleanup_last_run_timestamp") == 0
    started = datetime.now(UTC).timestamp()
    store.apply_retention(vacuum_free_share=None)
    families = scrape(url)
    assert value(families, "kube9_events_retention_cleanup_events_deleted") == 7
    assert value(families, "kube9_events_retention_cleanup_last_run_timestamp") >= started - 1
    assert (
        value(
            families,
            "kube9_events_retention_deleted",
            "kube9_events_retention_deleted_total",
            severity="info",
        )
        == 7
    )


def test_storage_size_follows_the_file(served: tuple[EventStore, str], db_path: Path) -> None:
    store, url = served
    first = value(scrape(url), "kube9_events_storage_size_bytes", database=str(db_path))
    store.record_many(event_data(description="d" * 900) for _ in range(500))
    families = scrape(url)
    second = value(families, "kube9_events_storage_size_bytes", database=str(db_path))
    wal = db_path.with_name("kube9.db-wal").stat().st_size
    assert second > first
    assert value(families, "kube9_events_storage_wal_size_bytes") == wal
    assert second == store.size_bytes().total_bytes


def test_redactions_are_counted(served: tuple[EventStore, str]) -> None:
    store, url = served
    before = value(scrape(url), "kube9_events_redactions")
    store.record(event_data(metadata={"password": "x", "nested": {"api_key": "y"}}))
    assert value(scrape(url), "kube9_events_redactions") == before + 2


def test_two_stores_share_a_registry_without_collisions(
    tmp_path: Path, registry: CollectorRegistry
) -> None:
    with (
        EventStore.open(tmp_path / "a.db", registry=registry) as a,
        EventStore.open(tmp_path / "b.db", registry=registry) as b,
    ):
        a.record(event_data())
        b.record(event_data())
        from prometheus_client import generate_latest

        families = {
            f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())
        }
        dbs = {s.labels["database"] for s in families["kube9_events_storage_size_bytes"].samples}
        assert dbs == {str(tmp_path / "a.db"), str(tmp_path / "b.db")}


def test_counts_from_many_threads_are_exact(served: tuple[EventStore, str]) -> None:
    """Every thread's operations are counted, none lost to a race, and each duration lands
    in exactly one bucket."""
    store, url = served
    per_thread, threads = 150, 4

    def work(i: int) -> None:
        for j in range(per_thread):
            store.record(event_data(title=f"t{i}-{j}", severity=("info", "error")[j % 2]))
            store.count()

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, range(threads)))
    families = scrape(url)
    total = per_thread * threads
    ops = "kube9_database_operations"
    assert value(families, ops, f"{ops}_total", operation="insert") == total
    assert value(families, ops, f"{ops}_total", operation="select") == total
    duration = "kube9_database_query_duration_seconds"
    assert value(families, duration, f"{duration}_count", operation="insert") == total
    assert value(families, duration, f"{duration}_bucket", operation="insert", le="+Inf") == total
    recorded = "kube9_events_recorded"
    assert value(families, recorded, f"{recorded}_total", severity="error") == total / 2
    assert value(families, recorded, f"{recorded}_total") == total
    assert 0 < value(families, duration, f"{duration}_sum", operation="insert") < 60


def test_scrapes_while_threads_record_never_lose_or_repeat_a_record(
    served: tuple[EventStore, str],
) -> None:
    """A record's report waits in a queue until a scrape (or enough reports) adds it up:
    scrapes taken while threads record see counts that only grow, and the last one sees every
    record exactly once."""
    store, url = served
    per_thread, threads = 400, 3
    ops = "kube9_database_operations"
    seen: list[float] = []

    def work(i: int) -> None:
        for j in range(per_thread):
            store.record(event_data(title=f"t{i}-{j}"))

    with ThreadPoolExecutor(threads + 1) as pool:
        running = [pool.submit(work, i) for i in range(threads)]
        while not all(f.done() for f in running):
            seen.append(value(scrape(url), ops, f"{ops}_total", operation="insert"))
        for f in running:
            f.result()
    seen.append(value(scrape(url), ops, f"{ops}_total", operation="insert"))
    assert seen == sorted(seen) and len(seen) > 2
    assert seen[-1] == per_thread * threads
    recorded = "kube9_events_recorded"
    assert value(scrape(url), recorded, f"{recorded}_total") == per_thread * threads


def test_a_stored_event_counts_as_stored_when_reporting_its_redactions_fails(
    served: tuple[EventStore, str],
) -> None:
    """A failure after the insert (here a log filter of the caller's that raises) reaches
    the caller, but the event is stored, so it counts as recorded and no database error."""
    store, url = served

    class Broken(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            raise RuntimeError("filter broke")

    logger = logging.getLogger("kube9_store.secrets.redaction")
    broken = Broken()
    logger.addFilter(broken)
    try:
        with pytest.raises(RuntimeError, match="filter broke"):
            store.record(event_data(metadata={"password": "hunter2-filtered"}))
    finally:
        logger.removeFilter(broken)
    assert store.count() == 1
    families = scrape(url)
    ops, errors = "kube9_database_operations", "kube9_database_errors"
    assert value(families, ops, f"{ops}_total", operation="insert") == 1
    assert not [x for x in families[errors].samples if x.labels.get("operation") == "insert"]
    assert value(families, "kube9_events_recorded", "kube9_events_recorded_total") == 1


def test_duration_buckets_are_cumulative(registry: CollectorRegistry, db_path: Path) -> None:
    """An operation counts in its own bucket and every wider one, never in a narrower one."""
    with EventStore.open(db_path, registry=registry) as store:
        store.record(event_data())
    from prometheus_client import generate_latest

    families = {
        f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())
    }
    name = "kube9_database_query_duration_seconds"
    buckets = [
        (float(s.labels["le"]), s.value)
        for s in families[name].samples
        if s.name == f"{name}_bucket" and s.labels["operation"] == "insert"
    ]
    seconds = value(families, name, f"{name}_sum", operation="insert")
    assert [n for _le, n in buckets] == sorted(n for _le, n in buckets)
    assert all(n == (1 if le >= seconds else 0) for le, n in buckets)
    created = value(families, f"{name}_created", operation="insert")  # a gauge of its own
    assert abs(created - time.time()) < 3600  # when the collector began counting


def test_another_collector_of_the_store_s_names_is_refused(
    registry: CollectorRegistry, db_path: Path
) -> None:
    with EventStore.open(db_path, registry=registry):
        for name in ("kube9_database_operations", "kube9_events_recorded"):
            with pytest.raises(ValueError, match="Duplicated timeseries"):
                Counter(name, "another", registry=registry)
        with pytest.raises(ValueError, match="Duplicated timeseries"):
            Histogram("kube9_database_query_duration_seconds", "another", registry=registry)


def test_a_registry_passed_as_metrics_is_refused(
    registry: CollectorRegistry, db_path: Path
) -> None:
    with pytest.raises(ValidationError) as info:
        EventStore.open(db_path, metrics=registry)  # type: ignore[arg-type]
    assert info.value.fields == ["metrics"]
    assert "registry=" in str(info.value)


def test_metrics_cli_prints_the_exposition(db_path: Path) -> None:
    with EventStore.open(db_path, metrics=False) as s:
        s.record(event_data())
    r = CliRunner().invoke(cli, ["metrics", "--db", str(db_path)])
    assert r.exit_code == 0, r.stderr
    families = {f.name: f for f in text_string_to_metric_families(r.stdout)}
    assert value(families, "kube9_events_stored") == 1
    assert families["kube9_events_storage_size_bytes"].type == "gauge"


# -- health -------------------------------------------------------------------------------------


def test_health_ok(db_path: Path) -> None:
    with EventStore.open(db_path, metrics=False) as s:
        s.record(event_data())
    report = check_health(db_path)
    assert report.ok
    assert set(report.checks) == {
        "open",
        "query",
        "schema",
        "newest",
        "storage",
        "last_check",
        "quick_check",
    }
    r = CliRunner().invoke(cli, ["health", "--db", str(db_path)])
    assert r.exit_code == 0
    assert json.loads(r.stdout)["ok"] is True


@pytest.mark.parametrize("damage", ["missing", "random bytes", "behind", "corrupt page"])
def test_health_fails(db_path: Path, damage: str) -> None:
    db_path.parent.mkdir(parents=True)
    if damage == "random bytes":
        db_path.write_bytes(os.urandom(4096 * 4))
    elif damage == "behind":
        build_spec_db(db_path)
    elif damage == "corrupt page":
        with EventStore.open(db_path, metrics=False) as s:
            s.record_many(event_data(description="d" * 900) for _ in range(400))
            s.vacuum()
        with open(db_path, "r+b") as f:
            f.seek(4096 * 20)
            f.write(b"\xff" * 4096)
    # a damaged page away from the newest events is found by the full scan (--full)
    full = ["--full"] if damage == "corrupt page" else []
    report = check_health(db_path, full=bool(full))
    assert not report.ok
    r = CliRunner().invoke(cli, ["health", *full, "--db", str(db_path)])
    assert r.exit_code == 1
    assert json.loads(r.stdout)["ok"] is False
