"""Capacity: the size budget on real files, free-space guards refused on small tmpfs volumes
(numbers in the message checked, nothing written), status and health on a nearly full one."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from prometheus_client import CollectorRegistry
from sqlalchemy.engine import URL

from kube9_store import EventStore, RetentionPolicy, ValidationError
from kube9_store.cli import cli
from kube9_store.errors import NotEnoughSpaceError, UnsupportedOperationError
from kube9_store.operations.admin import status
from kube9_store.operations.health import EXIT_DEGRADED, check_health
from kube9_store.operations.retention import ENV_MAX_DB_BYTES
from tests.helpers import event_data, file_fingerprint

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
KEEP = {"info_warning_days": 3650, "error_critical_days": 3650}
SEVERITIES = ("info", "warning", "error", "critical")


def history(n: int, start: datetime, *, severity: str | None = None) -> list[dict[str, Any]]:
    """n events a minute apart, severities in turn, with realistic sizes."""
    return [
        event_data(
            severity=severity or SEVERITIES[i % 4],
            title=f"Pod BackOff: web-{i}",
            description="Back-off restarting failed container " + "x" * 80,
            object_kind="Pod",
            object_namespace="default",
            object_name=f"web-{i % 50}",
            created_at=(start + timedelta(minutes=i)).isoformat(),
        )
        for i in range(n)
    ]


def used(store: EventStore) -> int:
    return store.backend.used_bytes()


# -- the budget ------------------------------------------------------------------------------


def test_budget_from_the_environment() -> None:
    assert RetentionPolicy.from_env({ENV_MAX_DB_BYTES: "800Mi"}).max_bytes == 800 * 2**20
    assert RetentionPolicy.from_env({ENV_MAX_DB_BYTES: "1G"}).max_bytes == 10**9
    assert RetentionPolicy.from_env({}).max_bytes is None
    for bad in ("lots", "-5Mi", "1Qi", "0"):
        with pytest.raises(ValidationError, match=ENV_MAX_DB_BYTES):
            RetentionPolicy.from_env({ENV_MAX_DB_BYTES: bad})
    with pytest.raises(ValidationError, match="max_bytes"):
        RetentionPolicy(max_bytes=0)


def test_file_stops_growing_under_a_budget(db_path: Path) -> None:
    budget = 600_000
    policy = RetentionPolicy(**KEEP, max_bytes=budget)
    sizes = []
    with EventStore.open(db_path, metrics=False) as store:
        start = NOW - timedelta(days=30)
        for round_ in range(12):
            store.record_many(history(400, start + timedelta(hours=8 * round_)))
            result = store.apply_retention(now=NOW, policy=policy, vacuum_free_share=None)
            assert result.deleted_by_age == 0
            assert used(store) <= budget
            sizes.append(db_path.stat().st_size)
        assert result.budget_bytes == budget
        assert result.deleted_by_budget > 0
    # after the first rounds fill the budget, the file keeps its size while inserts go on
    assert max(sizes[6:]) <= max(sizes[:6]) + 16 * 4096
    assert max(sizes) < budget + 400 * 1500  # at most one batch of inserts above the budget


def test_budget_takes_the_oldest_low_severity_events_first(db_path: Path) -> None:
    with EventStore.open(db_path, metrics=False) as store:
        store.record_many(history(300, NOW - timedelta(days=20), severity="critical"))
        store.record_many(history(300, NOW - timedelta(days=10), severity="error"))
        store.record_many(history(300, NOW - timedelta(days=6), severity="warning"))
        store.record_many(history(600, NOW - timedelta(days=5), severity="info"))
        before = store.count_by_severity()
        budget = int(used(store) * 0.8)
        result = store.apply_retention(
            now=NOW, policy=RetentionPolicy(**KEEP, max_bytes=budget), vacuum_free_share=None
        )
        after = store.count_by_severity()
        assert used(store) <= budget
        assert set(result.budget_by_severity) <= {"info", "warning"}
        assert after["critical"] == before["critical"] and after["error"] == before["error"]
        assert after.get("warning", 0) < before["warning"] and after["info"] > 0
        left = [e.created_at for e in store.query({"severity": ["info", "warning"]}, limit=None)]
        gone_before = min(left)
        # every info/warning event older than the oldest one left is gone
        assert store.count({"severity": ["info", "warning"], "until": gone_before}) == 0


def test_budget_takes_error_and_critical_once_no_info_is_left(db_path: Path) -> None:
    with EventStore.open(db_path, metrics=False) as store:
        store.record_many(history(200, NOW - timedelta(days=9), severity="warning"))
        store.record_many(history(600, NOW - timedelta(days=20), severity="error"))
        budget = int(used(store) * 0.5)
        result = store.apply_retention(
            now=NOW, policy=RetentionPolicy(**KEEP, max_bytes=budget), vacuum_free_share=None
        )
        assert result.budget_by_severity["warning"] == 200
        assert result.budget_by_severity["error"] > 0
        assert used(store) <= budget


def test_dry_run_reports_the_budget_and_deletes_nothing(db_path: Path) -> None:
    with EventStore.open(db_path, metrics=False) as store:
        store.record_many(history(800, NOW - timedelta(days=5)))
        fingerprint = store.count_by_severity()
        budget = int(used(store) * 0.5)
        result = store.apply_retention(
            now=NOW, policy=RetentionPolicy(**KEEP, max_bytes=budget), dry_run=True
        )
        assert result.deleted_by_budget > 0
        assert set(result.budget_by_severity) <= {"info", "warning"}
        assert store.count_by_severity() == fingerprint
        assert result.as_dict()["deleted_by_budget"] == result.deleted_by_budget


def test_cli_dry_run_shows_the_budget(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with EventStore.open(db_path, metrics=False) as store:
        store.record_many(history(400, datetime.now(UTC) - timedelta(days=2)))
    monkeypatch.setenv(ENV_MAX_DB_BYTES, "100k")
    out = CliRunner().invoke(cli, ["retention", "run", "--dry-run", "--db", str(db_path)])
    assert out.exit_code == 0, out.output
    body = json.loads(out.stdout)
    assert body["budget_bytes"] == 100_000 and body["deleted_by_budget"] > 0


def test_budget_metrics(db_path: Path) -> None:
    registry = CollectorRegistry()
    policy = RetentionPolicy(**KEEP, max_bytes=200_000)
    with EventStore.open(db_path, registry=registry, retention=policy) as store:
        store.record_many(history(600, NOW - timedelta(days=5)))
        result = store.apply_retention(now=NOW, vacuum_free_share=None)
        removed = registry.get_sample_value(
            "kube9_events_retention_budget_deleted_total", {"severity": "info"}
        )
        assert removed == result.budget_by_severity["info"]
        name = str(db_path)
        assert registry.get_sample_value("kube9_storage_budget_bytes", {"database": name}) == (
            200_000
        )
        free = registry.get_sample_value("kube9_storage_volume_free_bytes", {"database": name})
        assert free is not None and abs(free - shutil.disk_usage(db_path).free) < 50 * 2**20


def test_budget_on_every_backend(store: EventStore) -> None:
    """On a server the budget counts the table and indexes (their live share)."""
    store.record_many(history(300, NOW - timedelta(days=9), severity="error"))
    store.record_many(history(900, NOW - timedelta(days=5), severity="info"))
    budget = int(store.backend.used_bytes() * 0.6)
    result = store.apply_retention(
        now=NOW, policy=RetentionPolicy(**KEEP, max_bytes=budget), vacuum_free_share=None
    )
    assert set(result.budget_by_severity) == {"info"}
    assert store.count_by_severity()["error"] == 300
    assert store.backend.used_bytes() <= budget


# -- free-space guards -----------------------------------------------------------------------


def filled(path: Path, n: int = 4000) -> EventStore:
    store = EventStore.open(path, metrics=False)
    store.record_many(history(n, NOW - timedelta(days=5)))
    return store


def check_refusal(exc: NotEnoughSpaceError, where: Path, needed: int) -> None:
    free = shutil.disk_usage(where if where.exists() else where.parent).free
    assert exc.path == where and exc.needed == needed
    assert abs(exc.free - free) <= 8192
    message = str(exc)
    assert str(where) in message and f"needs {needed} bytes" in message
    assert f"{exc.free} bytes free" in message


def test_backup_refused_on_a_small_volume(tmp_path: Path, small_tmpfs: Callable) -> None:
    target = small_tmpfs(1 << 20)
    with filled(tmp_path / "kube9.db") as store:
        size = store.size_bytes().database_bytes
        assert size > 1 << 20
        with pytest.raises(NotEnoughSpaceError) as info:
            store.backup(target / "backup.db")
        check_refusal(info.value, target, size)
        with pytest.raises(NotEnoughSpaceError):
            store.backup_snapshot(target / "snapshots")
    assert os.listdir(target) == []


def test_vacuum_refused_when_its_copies_do_not_fit(
    small_tmpfs: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    volume = small_tmpfs(8 << 20)
    db = volume / "kube9.db"
    with filled(db, 6000) as store:
        store.apply_retention(
            now=NOW - timedelta(days=2.5), policy=RetentionPolicy(1, 1), vacuum_free_share=None
        )
        monkeypatch.setenv("SQLITE_TMPDIR", str(volume))
        assert store.backend.temp_directory() == volume
        needed = store.backend.used_bytes()
        assert shutil.disk_usage(volume).free < 2 * needed
        before = file_fingerprint(db)
        with pytest.raises(NotEnoughSpaceError) as info:
            store.vacuum()
        # the temporary copy and the write-ahead log are on the same volume: their needs add
        check_refusal(info.value, volume, 2 * needed)
        assert file_fingerprint(db) == before
        assert sorted(os.listdir(volume)) == [
            "kube9.db",
            "kube9.db-shm",
            "kube9.db-wal",
            "kube9.db.lock",
        ]


def test_automatic_vacuum_is_skipped_with_a_warning_and_a_metric(
    small_tmpfs: Callable, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    volume = small_tmpfs(8 << 20)
    monkeypatch.setenv("SQLITE_TMPDIR", str(volume))
    registry = CollectorRegistry()
    with EventStore.open(volume / "kube9.db", registry=registry) as store:
        store.record_many(history(6000, NOW - timedelta(days=5)))
        with caplog.at_level(logging.WARNING):
            result = store.apply_retention(
                now=NOW - timedelta(days=2.5), policy=RetentionPolicy(1, 1)
            )
        assert result.deleted > 0 and not result.vacuumed
        assert result.vacuum_skipped is not None and "needs" in result.vacuum_skipped
        assert any("VACUUM after retention skipped" in r.getMessage() for r in caplog.records)
        skipped = registry.get_sample_value(
            "kube9_maintenance_skipped_total",
            {"operation": "vacuum", "reason": "not_enough_space"},
        )
        assert skipped == 1


def test_restore_refused_on_a_small_volume(tmp_path: Path, small_tmpfs: Callable) -> None:
    with filled(tmp_path / "big.db") as store:
        store.backup(tmp_path / "backup.db")
    volume = small_tmpfs(1 << 20)
    db = volume / "kube9.db"
    with EventStore.open(db, metrics=False) as small:
        small.record(event_data())
    before = {p.name: file_fingerprint(p) for p in volume.iterdir()}
    with pytest.raises(NotEnoughSpaceError) as info:
        EventStore.restore(tmp_path / "backup.db", db)
    check_refusal(info.value, volume, (tmp_path / "backup.db").stat().st_size)
    assert {p.name: file_fingerprint(p) for p in volume.iterdir()} == before


def test_guard_function_for_copies(tmp_path: Path, small_tmpfs: Callable) -> None:
    volume = small_tmpfs(1 << 20)
    with EventStore.open(tmp_path / "kube9.db", metrics=False) as store:
        store.backend.require_free_space("copy", {volume / "new.db": 1000})
        with pytest.raises(NotEnoughSpaceError) as info:
            store.backend.require_free_space("copy", {volume / "new.db": 2 << 20})
        check_refusal(info.value, volume / "new.db", 2 << 20)


def test_temp_directory_follows_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with EventStore.open(tmp_path / "kube9.db", metrics=False) as store:
        monkeypatch.setenv("SQLITE_TMPDIR", str(tmp_path))
        assert store.backend.temp_directory() == tmp_path
        monkeypatch.setenv("SQLITE_TMPDIR", str(tmp_path / "missing"))
        monkeypatch.setenv("TMPDIR", str(tmp_path))
        assert store.backend.temp_directory() == tmp_path
        monkeypatch.delenv("SQLITE_TMPDIR")
        monkeypatch.delenv("TMPDIR")
        assert store.backend.temp_directory() == Path("/var/tmp")


@pytest.mark.postgresql
def test_guards_say_they_are_for_files(pg_url: URL) -> None:
    with EventStore.open(pg_url) as store:
        with pytest.raises(UnsupportedOperationError, match="free-space check"):
            store.backend.require_free_space("copy", {Path("/tmp"): 1})
        assert store.volume() is None


# -- seeing it coming ------------------------------------------------------------------------


def fill_volume(volume: Path, leave: int) -> None:
    free = shutil.disk_usage(volume).free
    with open(volume / "filler", "wb") as out:
        out.write(b"\0" * max(0, free - leave))


def test_status_and_health_on_a_nearly_full_volume(small_tmpfs: Callable) -> None:
    volume = small_tmpfs(8 << 20)
    db = volume / "kube9.db"
    with EventStore.open(db, metrics=False) as store:
        store.record_many(history(500, datetime.now(UTC) - timedelta(hours=20)))
    assert check_health(db).status == "ok"
    fill_volume(volume, 256 << 10)
    found = status(db).capacity
    assert found is not None
    usage = shutil.disk_usage(volume)
    assert found["volume"]["total_bytes"] == usage.total
    # measured while the read had its -shm (32 KiB) beside the file; it is gone afterwards
    assert abs(found["volume"]["free_bytes"] - usage.free) <= 8192 + 32768
    assert found["events"] == 500 and found["inserted_last_24h"] == 500
    assert found["bytes_per_event"] == round(found["used_bytes"] / 500)
    assert found["projected_events"] == 250 * 7 + 250 * 30
    assert found["fits"] is False
    assert found["suggested_budget"] == f"{int(usage.total * 0.4) // 2**20}Mi"
    report = check_health(db)
    assert report.ok and report.status == "degraded"
    assert "full" in report.checks["storage"]["detail"]
    out = CliRunner().invoke(cli, ["health", "--db", str(db)])
    assert out.exit_code == EXIT_DEGRADED
    assert json.loads(out.stdout)["status"] == "degraded"


def test_health_degraded_over_the_budget(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with EventStore.open(db_path, metrics=False) as store:
        store.record_many(history(400, NOW - timedelta(days=2)))
    monkeypatch.setenv(ENV_MAX_DB_BYTES, "50k")
    report = check_health(db_path)
    assert report.status == "degraded"
    assert "over its budget of 50000" in report.checks["storage"]["detail"]
    monkeypatch.setenv(ENV_MAX_DB_BYTES, "1Gi")
    assert check_health(db_path).status == "ok"
    with sqlite3.connect(db_path) as con:
        assert con.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 400
