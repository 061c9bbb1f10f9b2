"""Retention boundaries, batching, the runner; maintenance; backup and restore."""

from __future__ import annotations

import logging
import multiprocessing
import os
import sqlite3
import stat
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kube9_store import EventStore, SchemaError, ValidationError
from kube9_store.events.timestamps import format_timestamp
from kube9_store.operations.retention import RetentionPolicy, RetentionRunner
from tests.helpers import event_data


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.mark.parametrize(
    "now",
    [
        datetime(2025, 12, 10, 12, 0, 0, 500_000, tzinfo=UTC),
        datetime(2026, 1, 3, 0, 0, 0, tzinfo=UTC),  # cutoffs fall in the previous year
        datetime(2025, 3, 1, 0, 0, 0, 1000, tzinfo=UTC),  # across the end of February
    ],
)
@pytest.mark.parametrize(
    ("severity", "days"), [("info", 7), ("warning", 7), ("error", 30), ("critical", 30)]
)
def test_cutoff_boundary_is_exact(
    store: EventStore, now: datetime, severity: str, days: int
) -> None:
    cutoff = now - timedelta(days=days)
    older = store.record(
        event_data(severity=severity, title="older", created_at=cutoff - timedelta(milliseconds=1))
    )
    at = store.record(event_data(severity=severity, title="at", created_at=cutoff))
    newer = store.record(
        event_data(severity=severity, title="newer", created_at=cutoff + timedelta(milliseconds=1))
    )
    result = store.apply_retention(now=now)
    assert result.by_severity[severity] == 1
    assert result.deleted == 1
    assert store.get(older.id) is None
    assert store.get(at.id) is not None
    assert store.get(newer.id) is not None
    assert result.cutoffs[severity] == format_timestamp(cutoff)


def test_the_spec_sql_would_keep_expired_events(sqlite_store: EventStore, db_path: Path) -> None:
    """Why the cutoff is computed in Python: the spec's datetime(..., '-7 days') text has a space
    where created_at has a 'T', so every event of the cutoff day compares as newer."""
    store = sqlite_store
    now = datetime(2025, 12, 10, 12, 0, tzinfo=UTC)
    expired = store.record(event_data(created_at=now - timedelta(days=7, minutes=1)))
    with sqlite3.connect(db_path) as con:
        spec_doomed = con.execute(
            "SELECT id FROM events WHERE created_at < datetime('2025-12-10 12:00:00', '-7 days')"
        ).fetchall()
    assert spec_doomed == []
    assert store.apply_retention(now=now).deleted == 1
    assert store.get(expired.id) is None


def test_deletes_run_in_batches_and_counts_stay_exact(sqlite_store: EventStore) -> None:
    store = sqlite_store
    old = datetime(2020, 1, 1, tzinfo=UTC)
    store.record_many(
        event_data(severity="info", created_at=old + timedelta(seconds=i)) for i in range(2500)
    )
    store.record_many(event_data(severity="critical", created_at=old) for _ in range(10))
    store.record(event_data(severity="info"))
    result = store.apply_retention(batch_size=1000, vacuum_free_share=None)
    assert result.by_severity == {"info": 2500, "warning": 0, "error": 0, "critical": 10}
    assert result.batches == 3 + 1 + 1 + 1
    assert result.seconds > 0
    assert store.count() == 1
    assert store.count_by_severity() == {"info": 1}
    assert store.integrity_check(full=True).ok


def test_dry_run_deletes_nothing(store: EventStore) -> None:
    store.record(event_data(created_at="2020-01-01T00:00:00Z"))
    result = store.apply_retention(dry_run=True)
    assert (result.deleted, result.dry_run) == (1, True)
    assert store.count() == 1


def test_policy_from_arguments_and_environment(tmp_path: Path) -> None:
    assert RetentionPolicy.from_env({}) == RetentionPolicy(7, 30)
    env = {"EVENT_RETENTION_INFO_WARNING_DAYS": "3", "EVENT_RETENTION_ERROR_CRITICAL_DAYS": "90"}
    assert RetentionPolicy.from_env(env) == RetentionPolicy(3, 90)
    for name, value in [
        ("EVENT_RETENTION_INFO_WARNING_DAYS", "0"),
        ("EVENT_RETENTION_ERROR_CRITICAL_DAYS", "x"),
    ]:
        with pytest.raises(ValidationError) as info:
            RetentionPolicy.from_env({name: value})
        assert info.value.fields == [name]
    with pytest.raises(ValidationError) as info:
        RetentionPolicy(info_warning_days=-1)
    assert info.value.fields == ["info_warning_days"]
    now = datetime(2025, 12, 10, tzinfo=UTC)
    with EventStore.open(
        tmp_path / "p.db", retention=RetentionPolicy(1, 2), clock=FakeClock(now)
    ) as s:
        s.record(event_data(severity="warning", created_at=now - timedelta(days=1, seconds=1)))
        s.record(event_data(severity="error", created_at=now - timedelta(days=1, seconds=1)))
        assert s.apply_retention().by_severity == {
            "info": 0,
            "warning": 1,
            "error": 0,
            "critical": 0,
        }


def test_large_deletion_triggers_vacuum(sqlite_store: EventStore) -> None:
    store = sqlite_store
    store.record_many(
        event_data(created_at="2020-01-01T00:00:00Z", description="x" * 900) for _ in range(3000)
    )
    store.record(event_data())
    before = store.size_bytes()
    result = store.apply_retention()
    after = store.size_bytes()
    assert result.vacuumed is True
    assert after.database_bytes < before.database_bytes / 4
    assert after.free_bytes == 0


def test_runner_runs_at_start_and_on_its_interval(db_path: Path) -> None:
    clock = FakeClock(datetime(2025, 12, 10, tzinfo=UTC))
    with EventStore.open(db_path, clock=clock) as store:
        store.record(event_data(created_at="2025-12-01T00:00:00Z", title="expired at start"))
        results = []
        runner = RetentionRunner(store, interval=0.05, on_result=results.append)
        with runner:
            deadline = time.monotonic() + 5
            while not results and time.monotonic() < deadline:
                time.sleep(0.01)
            assert results[0].deleted == 1
            store.record(event_data(created_at="2025-12-09T00:00:00Z", title="expires later"))
            clock.now = datetime(2025, 12, 20, tzinfo=UTC)
            while store.count() and time.monotonic() < deadline:
                time.sleep(0.01)
            assert runner.running
        assert not runner.running
        assert store.count() == 0
        assert runner.runs >= 2
        runs = runner.runs
        time.sleep(0.15)
        assert runner.runs == runs


def test_runner_survives_a_failed_run(db_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with EventStore.open(db_path) as store:
        calls = {"n": 0}
        real = store.apply_retention

        def flaky(*args: object, **kwargs: object):
            calls["n"] += 1
            if calls["n"] == 1:
                raise RuntimeError("disk hiccup")
            return real()

        store.apply_retention = flaky  # type: ignore[method-assign]
        with caplog.at_level(logging.ERROR), RetentionRunner(store, interval=0.02) as runner:
            deadline = time.monotonic() + 5
            while runner.runs < 1 and time.monotonic() < deadline:
                time.sleep(0.01)
        assert runner.failures == 1
        assert runner.runs >= 1
        assert "retention run failed" in caplog.text


def test_runner_rejects_bad_interval(store: EventStore) -> None:
    with pytest.raises(ValidationError) as info:
        RetentionRunner(store, interval=0)
    assert info.value.fields == ["interval"]


# -- maintenance --------------------------------------------------------------------------------


def test_size_bytes_reports_database_and_wal(sqlite_store: EventStore, db_path: Path) -> None:
    store = sqlite_store
    store.record_many(event_data() for _ in range(200))
    size = store.size_bytes()
    with sqlite3.connect(db_path) as con:
        page_count = con.execute("PRAGMA page_count").fetchone()[0]
        page_size = con.execute("PRAGMA page_size").fetchone()[0]
    assert size.database_bytes == page_count * page_size
    assert size.wal_bytes == (db_path.parent / "kube9.db-wal").stat().st_size
    assert size.total_bytes == size.database_bytes + size.wal_bytes


def test_integrity_check_finds_damage(sqlite_store: EventStore, db_path: Path) -> None:
    store = sqlite_store
    store.record_many(event_data(description="d" * 500) for _ in range(500))
    assert store.integrity_check().ok
    assert store.integrity_check(full=True).as_dict() == {"ok": True, "problems": [], "full": True}
    with sqlite3.connect(db_path) as con:
        con.execute("UPDATE event_counts SET n = n + 5")
    result = store.integrity_check(full=True)
    assert not result.ok
    assert "event_counts disagrees" in result.problems[0]


# -- backup and restore -------------------------------------------------------------------------


def _writer(path: str, stop_at: float) -> None:
    with EventStore.open(path) as s:
        i = 0
        while time.time() < stop_at:
            s.record_many(event_data(title=f"w{i}-{j}") for j in range(20))
            i += 1


@pytest.mark.slow
def test_backup_while_another_process_writes(db_path: Path, tmp_path: Path) -> None:
    with EventStore.open(db_path) as store:
        store.record_many(event_data(title=f"before-{i}") for i in range(2000))
        before_ids = {e.id for e in store.query(limit=None)}
        ctx = multiprocessing.get_context("spawn")
        proc = ctx.Process(target=_writer, args=(str(db_path), time.time() + 3))
        proc.start()
        time.sleep(0.8)
        result = store.backup(tmp_path / "b" / "copy.db")
        proc.join(30)
    assert proc.exitcode == 0
    assert result.events >= 2000
    with EventStore.open(result.path, read_only=True) as copy:
        assert copy.integrity_check(full=True).ok
        ids = {e.id for e in copy.query(limit=None)}
        assert before_ids <= ids
        assert copy.count() == result.events
        assert copy.count() % 20 == 0  # whole batches only
    assert stat.S_IMODE(result.path.stat().st_mode) == 0o600
    assert not any(p.name.startswith(".") for p in result.path.parent.iterdir())


def test_backup_refuses_existing_target(sqlite_store: EventStore, tmp_path: Path) -> None:
    store = sqlite_store
    target = tmp_path / "exists.db"
    target.write_text("keep me")
    with pytest.raises(Exception, match="already exists"):
        store.backup(target)
    assert target.read_text() == "keep me"


def test_snapshots_are_pruned_after_seven_days(db_path: Path, tmp_path: Path) -> None:
    clock = FakeClock(datetime(2025, 12, 1, 3, 0, tzinfo=UTC))
    snaps = tmp_path / "snaps"
    snaps.mkdir()
    (snaps / "unrelated.txt").write_text("not a snapshot")
    taken = []
    with EventStore.open(db_path, clock=clock) as store:
        for day in range(10):
            clock.now = datetime(2025, 12, 1, 3, 0, tzinfo=UTC) + timedelta(days=day)
            store.record(event_data())
            taken.append(store.backup_snapshot(snaps))
    names = sorted(p.name for p in snaps.iterdir())
    assert "unrelated.txt" in names
    kept = [n for n in names if n.startswith("kube9-")]
    assert kept == [f"kube9-202512{d:02d}T030000Z.db" for d in range(3, 11)]
    assert taken[-1].pruned == [snaps / "kube9-20251202T030000Z.db"]


def test_restore_round_trip_keeps_the_previous_database(db_path: Path, tmp_path: Path) -> None:
    with EventStore.open(db_path) as store:
        store.record_many(event_data(title=f"old-{i}") for i in range(5))
        backup = store.backup(tmp_path / "b.db").path
        store.record(event_data(title="after backup"))
    with EventStore.restore(backup, db_path) as restored:
        assert restored.count() == 5
        assert sorted(e.title for e in restored.query()) == [f"old-{i}" for i in range(5)]
    aside = [
        p
        for p in db_path.parent.iterdir()
        if ".pre-restore-" in p.name and not p.name.endswith(("-wal", "-shm"))
    ]
    assert len(aside) == 1
    with EventStore.open(aside[0], read_only=True) as previous:
        assert previous.count() == 6


def test_restore_migrates_an_older_backup(db_path: Path, tmp_path: Path) -> None:
    from tests.helpers import build_spec_db

    old = build_spec_db(tmp_path / "v1.db", rows=7)
    with EventStore.restore(old, db_path) as s:
        assert s.count() == 7


@pytest.mark.parametrize("damage", ["truncate", "garbage", "newer"])
def test_restore_refuses_a_bad_backup(db_path: Path, tmp_path: Path, damage: str) -> None:
    with EventStore.open(db_path) as store:
        store.record_many(event_data(description="d" * 800) for _ in range(300))
        backup = store.backup(tmp_path / "b.db").path
    if damage == "truncate":
        data = backup.read_bytes()
        backup.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        with open(backup, "r+b") as f:
            f.seek(4096 * 3)
            f.write(os.urandom(4096 * 2))
    else:
        with sqlite3.connect(backup) as con:
            con.execute("INSERT INTO schema_version VALUES (99, '2030-01-01T00:00:00.000Z', 'x')")
    before = db_path.read_bytes()
    with pytest.raises(SchemaError):
        EventStore.restore(backup, db_path)
    assert db_path.read_bytes() == before
    assert not [
        p for p in db_path.parent.iterdir() if "pre-restore" in p.name or p.name.startswith(".")
    ]
    with EventStore.open(db_path) as s:
        assert s.count() == 300


def test_files_are_private(db_path: Path) -> None:
    with EventStore.open(db_path) as s:
        s.record(event_data())
        for p in (db_path, db_path.with_name("kube9.db-wal"), db_path.with_name("kube9.db-shm")):
            assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    assert stat.S_IMODE(db_path.parent.stat().st_mode) == 0o700


def test_writers_are_not_blocked_by_a_backup(sqlite_store: EventStore, tmp_path: Path) -> None:
    store = sqlite_store
    store.record_many(event_data() for _ in range(3000))
    done = threading.Event()
    written: list[int] = []

    def write() -> None:
        while not done.is_set():
            store.record(event_data())
            written.append(1)

    t = threading.Thread(target=write)
    t.start()
    try:
        store.backup(tmp_path / "c.db")
    finally:
        done.set()
        t.join()
    assert written
