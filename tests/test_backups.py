"""Backups and restores keep every previous database, honour a source's -wal, never write to the
database they copy, refuse to replace a database a store has open, clean up after a crash, and
fail with errors that name the cause."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from kube9_store import (
    DatabaseLockedError,
    DestinationExistsError,
    EventStore,
    SourceMissingError,
    StorageFullError,
    StoreClosedError,
)
from kube9_store.cli import cli
from tests import faults
from tests.helpers import build_spec_db, event_data, file_fingerprint

FORK = multiprocessing.get_context("fork")
_FIXED = datetime(2025, 12, 2, 3, 0, tzinfo=UTC)


def _kept(db_path: Path) -> list[Path]:
    """The previous databases a restore kept beside ``db_path``."""
    return sorted(
        p
        for p in db_path.parent.iterdir()
        if ".pre-restore-" in p.name and not p.name.endswith(("-wal", "-shm", "-journal"))
    )


def _titles(path: Path) -> list[str]:
    with EventStore.open(path, read_only=True, metrics=False) as store:
        return sorted(e.title for e in store.query(limit=None))


def _backup_with(tmp_path: Path, name: str, titles: list[str]) -> Path:
    source = tmp_path / f"src-{name}" / "kube9.db"
    with EventStore.open(source, metrics=False) as store:
        store.record_many(event_data(title=t) for t in titles)
        return store.backup(tmp_path / f"{name}.db").path


def test_restores_in_the_same_second_keep_every_previous_database(
    db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with EventStore.open(db_path, metrics=False) as store:
        store.record(event_data(title="the original"))
    first = _backup_with(tmp_path, "first", ["first backup"])
    second = _backup_with(tmp_path, "second", ["second backup"])
    frozen = time.gmtime()
    monkeypatch.setattr(time, "gmtime", lambda *_: frozen)
    EventStore.restore(first, db_path, metrics=False).close()
    EventStore.restore(second, db_path, metrics=False).close()
    EventStore.restore(first, db_path, metrics=False).close()
    kept = _kept(db_path)
    assert sorted(_titles(p)[0] for p in kept) == ["first backup", "second backup", "the original"]
    assert _titles(db_path) == ["first backup"]


def test_restore_brings_the_commits_in_a_sources_wal(db_path: Path, tmp_path: Path) -> None:
    """A copy taken the spec's way (the file plus its -wal, while the store is open)."""
    copy = tmp_path / "copy" / "kube9.db"
    copy.parent.mkdir()
    with EventStore.open(db_path, metrics=False) as store:
        store.record_many(event_data(title=f"in the wal {i}") for i in range(5))
        wal = db_path.with_name("kube9.db-wal")
        assert wal.stat().st_size > 0
        shutil.copyfile(db_path, copy)
        shutil.copyfile(wal, copy.with_name("kube9.db-wal"))
    source_files = sorted(os.listdir(copy.parent))
    fingerprints = [file_fingerprint(copy.parent / n) for n in source_files]
    target = tmp_path / "restored" / "kube9.db"
    with EventStore.restore(copy, target, metrics=False) as restored:
        assert sorted(e.title for e in restored.query(limit=None)) == [
            f"in the wal {i}" for i in range(5)
        ]
    assert sorted(os.listdir(copy.parent)) == source_files
    assert [file_fingerprint(copy.parent / n) for n in source_files] == fingerprints
    assert sorted(os.listdir(target.parent)) == ["kube9.db", "kube9.db.lock"]


def test_restoring_a_kept_copy_brings_its_last_commits(db_path: Path, tmp_path: Path) -> None:
    """A database whose last commits sit in its -wal when a restore keeps it."""
    with EventStore.open(db_path, metrics=False) as store:
        store.record_many(event_data(title=f"before {i}") for i in range(3))
    backup = _backup_with(tmp_path, "other", ["other"])
    keeper = FORK.Process(target=_hold_commits_in_wal, args=(str(db_path),))
    keeper.start()
    keeper.join(30)
    assert keeper.exitcode == -9
    assert db_path.with_name("kube9.db-wal").stat().st_size > 0
    EventStore.restore(backup, db_path, metrics=False).close()
    (kept,) = _kept(db_path)
    assert _titles(kept) == ["after 0", "after 1", *(f"before {i}" for i in range(3))]
    with EventStore.restore(kept, db_path, metrics=False) as store:
        assert store.count() == 5


def _hold_commits_in_wal(path: str) -> None:
    store = EventStore.open(path, metrics=False)
    store.record(event_data(title="after 0"))
    store.record(event_data(title="after 1"))
    os.kill(os.getpid(), 9)  # the commits stay in the -wal


def test_db_backup_never_migrates_its_source(tmp_path: Path) -> None:
    behind = build_spec_db(tmp_path / "v1.db", rows=20)
    before = file_fingerprint(behind)
    dest = tmp_path / "b" / "copy.db"
    r = CliRunner().invoke(cli, ["db", "backup", str(dest), "--db", str(behind)])
    assert r.exit_code == 0, r.stderr
    body = json.loads(r.stdout)
    assert (body["schema_version"], body["events"]) == (1, 20)
    assert file_fingerprint(behind) == before
    assert sorted(os.listdir(tmp_path)) == ["b", "v1.db"]
    with EventStore.open(dest, metrics=False) as copy:  # the copy migrates like the original
        assert copy.count() == 20


def _backup_into(store_path: Path, dest: Path) -> faults.Operation:
    def operation(report: Callable[[list[str]], None]) -> None:
        with EventStore.open(store_path, metrics=False) as store:
            store.backup(dest)
        report([])

    return operation


def test_the_next_backup_removes_what_a_killed_backup_left(db_path: Path, tmp_path: Path) -> None:
    with EventStore.open(db_path, metrics=False) as store:
        store.record_many(event_data() for _ in range(200))
    backups = tmp_path / "backups"
    counted = faults.run_child(_backup_into(db_path, backups / "counted.db"))
    assert counted.points
    (backups / "counted.db").unlink()
    last_file_step = max(
        i for i, label in enumerate(counted.points, 1) if label in ("os.replace", "os.link")
    )
    run = faults.run_child(_backup_into(db_path, backups / "killed.db"), kill_at=last_file_step)
    assert run.killed
    assert os.listdir(backups)  # the killed backup left its temporary file
    with EventStore.open(db_path, metrics=False) as store:
        store.backup(backups / "next.db")
    assert sorted(os.listdir(backups)) == ["next.db"]


def test_db_backup_to_an_empty_path_is_a_usage_error(
    db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    EventStore.open(db_path, metrics=False).close()
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    r = CliRunner().invoke(cli, ["db", "backup", "", "--db", str(db_path)])
    assert r.exit_code == 2
    assert os.listdir(work) == []


def test_restore_is_refused_while_a_store_has_the_database_open(
    db_path: Path, tmp_path: Path
) -> None:
    backup = _backup_with(tmp_path, "b", ["restored"])
    with EventStore.open(db_path, metrics=False) as store:
        store.record(event_data(title="live"))
        siblings = sorted(os.listdir(db_path.parent))
        with pytest.raises(DatabaseLockedError, match="open"):
            EventStore.restore(backup, db_path, metrics=False, busy_timeout=0.2)
        assert sorted(os.listdir(db_path.parent)) == siblings
        store.record(event_data(title="still live"))
    ready, go = FORK.Event(), FORK.Event()
    holder = FORK.Process(target=_hold_open, args=(str(db_path), ready, go))
    holder.start()
    try:
        assert ready.wait(30)
        with pytest.raises(DatabaseLockedError):
            EventStore.restore(backup, db_path, metrics=False, busy_timeout=0.2)
    finally:
        go.set()
        holder.join(30)
    assert _titles(db_path) == ["live", "still live"]
    EventStore.restore(backup, db_path, metrics=False).close()
    assert _titles(db_path) == ["restored"]


def _hold_open(path: str, ready: object, go: object) -> None:
    with EventStore.open(path, metrics=False):
        ready.set()  # type: ignore[attr-defined]
        go.wait(30)  # type: ignore[attr-defined]


def test_a_closed_store_refuses_every_call(db_path: Path, tmp_path: Path) -> None:
    store = EventStore.open(db_path, metrics=False)
    ev = store.record(event_data())
    store.close()
    calls: list[Callable[[], object]] = [
        lambda: store.record(event_data()),
        lambda: store.record_many([event_data()]),
        lambda: store.get(ev.id),
        lambda: store.query(),
        lambda: store.count(),
        lambda: store.count_by_type(),
        lambda: store.acknowledge(ev.id),
        lambda: store.apply_retention(),
        lambda: store.recount(),
        lambda: store.vacuum(),
        lambda: store.integrity_check(),
        lambda: store.size_bytes(),
        lambda: store.backup(tmp_path / "after-close.db"),
        lambda: store.schema_version(),
    ]
    for call in calls:
        with pytest.raises(StoreClosedError):
            call()
    store.close()  # closing twice is harmless
    assert not (tmp_path / "after-close.db").exists()


def test_error_classes_name_the_cause(db_path: Path, tmp_path: Path) -> None:
    with EventStore.open(db_path, metrics=False) as store:
        store.record(event_data())
        existing = tmp_path / "exists.db"
        existing.write_text("keep me")
        with pytest.raises(DestinationExistsError, match="already exists"):
            store.backup(existing)
        assert existing.read_text() == "keep me"
    with pytest.raises(SourceMissingError, match="does not exist"):
        EventStore.restore(tmp_path / "missing.db", db_path)


def test_snapshots_in_the_same_second_never_collide(db_path: Path, tmp_path: Path) -> None:
    with EventStore.open(db_path, metrics=False, clock=lambda: _FIXED) as store:
        store.record(event_data())
        taken = [store.backup_snapshot(tmp_path / "snaps") for _ in range(3)]
    assert len({t.path for t in taken}) == 3
    assert all(t.path.exists() for t in taken)
    assert len(os.listdir(tmp_path / "snaps")) == 3


def test_a_full_disk_fails_backup_and_restore_cleanly(
    tmp_path: Path, small_tmpfs: Callable[[int], Path]
) -> None:
    big = tmp_path / "big" / "kube9.db"
    with EventStore.open(big, metrics=False) as store:
        store.record_many(event_data(description="d" * 900) for _ in range(1500))
        backup = store.backup(tmp_path / "big.db").path
    mnt = small_tmpfs(700 * 1024)
    with EventStore.open(big, metrics=False) as store, pytest.raises(StorageFullError):
        store.backup(mnt / "backups" / "b.db")
    assert not (mnt / "backups").exists() or os.listdir(mnt / "backups") == []
    db = mnt / "data" / "kube9.db"
    with EventStore.open(db, metrics=False) as store:
        store.record(event_data(title="previous"))
    before = sorted(os.listdir(db.parent))
    with pytest.raises(StorageFullError):
        EventStore.restore(backup, db, metrics=False)
    assert sorted(os.listdir(db.parent)) == before
    assert _titles(db) == ["previous"]
