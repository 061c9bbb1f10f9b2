"""Maintenance facts live in the database: work done by one process shows in the metrics of
every other (the CLI's exposition, a ``metrics serve`` sidecar, the writer's own)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session

from kube9_store import EventStore
from kube9_store.operations.admin import upgrade
from kube9_store.orm import OperationStateRow, ReadOnlyTableError
from kube9_store.schema.tables import operations_state
from tests.helpers import event_data

#: Work and metrics in processes of their own: the slow suite (``pytest -m slow``), which CI runs.
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kube9_store", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted((k, v) for k, v in s.labels.items() if k != "database"))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _scrape(port: int) -> str:
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                return str(r.read().decode())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


DURABLE = (
    "kube9_events_retention_cleanup_last_run_timestamp",
    "kube9_events_retention_cleanup_events_deleted",
    "kube9_events_retention_deleted_total",
    "kube9_database_last_backup_timestamp",
    "kube9_database_last_snapshot_timestamp",
    "kube9_database_last_vacuum_timestamp",
)


def test_work_in_one_process_shows_in_the_metrics_of_every_other(tmp_path: Path) -> None:
    db = tmp_path / "kube9.db"
    with EventStore.open(db, metrics=False) as store:
        store.record_many(event_data(created_at="2020-01-01T00:00:00Z") for _ in range(8))
        store.record_many(
            event_data(severity="error", created_at="2020-01-01T00:00:00Z") for _ in range(3)
        )
        store.record(event_data(title="recent"))
    port = _free_port()
    sidecar = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kube9_store",
            "metrics",
            "serve",
            "--db",
            str(db),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        before = _samples(_scrape(port))
        assert before[("kube9_events_retention_cleanup_last_run_timestamp", ())] == 0
        started = time.time()
        # the work, each step a process of its own
        ran = _cli("retention", "run", "--db", str(db), "--quiet")
        assert ran.returncode == 0, ran.stderr
        for args in (
            ("db", "backup", str(tmp_path / "one.db")),
            ("db", "backup", str(tmp_path)),
            ("db", "vacuum"),
        ):
            done = _cli(*args, "--db", str(db))
            assert done.returncode == 0, done.stderr
        sidecar_view = _samples(_scrape(port))
        printed = _cli("metrics", "--db", str(db))
        assert printed.returncode == 0, printed.stderr
        cli_view = _samples(printed.stdout)
        registry = CollectorRegistry()
        with EventStore.open(db, registry=registry):
            from prometheus_client import generate_latest

            own_view = _samples(generate_latest(registry).decode())
    finally:
        sidecar.terminate()
        sidecar.wait(timeout=30)
    for view in (sidecar_view, cli_view, own_view):
        assert view[("kube9_events_retention_cleanup_last_run_timestamp", ())] >= started - 1
        assert view[("kube9_events_retention_cleanup_events_deleted", ())] == 11
        assert view[("kube9_events_retention_deleted_total", (("severity", "info"),))] == 8
        assert view[("kube9_events_retention_deleted_total", (("severity", "error"),))] == 3
        for name in DURABLE[3:]:
            assert view[(name, ())] >= started - 1, name
    for name in DURABLE:  # the three processes tell the very same
        views = [
            {k: v for k, v in view.items() if k[0] == name}
            for view in (sidecar_view, cli_view, own_view)
        ]
        assert views[0] and views[0] == views[1] == views[2], name


def test_totals_add_up_and_a_dry_run_records_nothing(store: EventStore) -> None:
    for _ in range(2):
        store.record_many(event_data(created_at="2020-01-01T00:00:00Z") for _ in range(4))
        store.apply_retention(vacuum_free_share=None)
    facts = store.maintenance_facts()
    assert facts["retention.deleted.info"] == 8
    assert facts["retention.last_run_deleted"] == 4
    stamp = facts["retention.last_run_timestamp"]
    store.record(event_data(created_at="2020-01-01T00:00:00Z"))
    store.apply_retention(dry_run=True)
    assert store.maintenance_facts()["retention.last_run_timestamp"] == stamp
    assert store.maintenance_facts()["retention.deleted.info"] == 8
    if store.url.get_backend_name() == "sqlite":  # servers VACUUM by themselves
        store.vacuum()
        assert store.maintenance_facts()["vacuum.last_timestamp"] >= stamp


def test_the_table_is_kept_by_the_store_not_a_session(db_path: Path) -> None:
    with EventStore.open(db_path, metrics=False) as store:
        store.vacuum()
        with Session(store.engine) as session:
            row = session.get(OperationStateRow, "vacuum.last_timestamp")
            assert row is not None and row.value > 0
            row.value = 0.0
            with pytest.raises(ReadOnlyTableError):
                session.flush()
            session.rollback()
            with pytest.raises(ReadOnlyTableError):
                session.execute(operations_state.insert().values(name="x", value=1, updated_at=""))


def test_a_database_behind_head_reads_no_facts(db_path: Path) -> None:
    upgrade(str(db_path), "0004")
    registry = CollectorRegistry()
    with EventStore.open(db_path, read_only=True, registry=registry) as store:
        assert store.maintenance_facts() == {}
        value: Any = registry.get_sample_value("kube9_events_retention_cleanup_last_run_timestamp")
        assert value == 0
