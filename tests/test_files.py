"""The files behind a SQLite store: creation that survives a crash at any moment, hot journals
recovered before a database is judged, owner-only modes at every level whatever the umask, and
databases that say they are at head but are not whole."""

from __future__ import annotations

import os
import signal
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kube9_store import (
    DatabaseMissingError,
    DatabaseUnavailableError,
    EventStore,
    SchemaError,
)
from kube9_store.backends.sqlite_temporaries import private_directory
from kube9_store.cli import cli
from kube9_store.operations.health import check_health
from tests import faults
from tests.helpers import build_spec_db, event_data, file_fingerprint


def _open_new(path: Path) -> faults.Operation:
    def operation(report: Callable[[list[str]], None]) -> None:
        with EventStore.open(path, metrics=False) as store:
            report([store.record(event_data(title="first")).id])

    return operation


@pytest.mark.slow
def test_a_crash_while_creating_never_locks_the_database_out(tmp_path: Path) -> None:
    """Killed at each of the first points of creating a new database, the next open works."""
    counted = faults.run_child(_open_new(tmp_path / "count" / "kube9.db"))
    assert counted.points
    for k in range(1, min(len(counted.points), 40) + 1):
        path = tmp_path / f"k{k}" / "kube9.db"
        run = faults.run_child(_open_new(path), kill_at=k)
        assert run.killed
        with EventStore.open(path, metrics=False) as store:
            assert store.integrity_check(full=True).ok
            store.record(event_data(title="after the crash"))
            assert store.count() == 1


def _hot_journal(path: Path) -> None:
    """Leave ``path`` (a rollback-journal database) with a hot journal: a writer killed in the
    middle of a transaction that spilled pages to the file."""
    code = f"""
import os, signal, sqlite3
con = sqlite3.connect({str(path)!r}, isolation_level=None)
con.execute("PRAGMA cache_size = 1")
con.execute("BEGIN")
con.execute("UPDATE events SET title = title || ' (changed)'")
con.execute(
    "INSERT INTO events (id, event_type, severity, title, created_at)"
    " SELECT id || 'x', event_type, severity, title, created_at FROM events"
)
os.kill(os.getpid(), signal.SIGKILL)
"""
    done = subprocess.run([sys.executable, "-c", code], check=False)
    assert done.returncode == -signal.SIGKILL
    journal = path.with_name(path.name + "-journal")
    assert journal.exists() and journal.stat().st_size > 0


def test_a_hot_journal_is_recovered_before_the_database_is_judged(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    build_spec_db(db_path, rows=2000)  # rollback-journal mode, as the reference operator's SQL
    _hot_journal(db_path)
    with EventStore.open(db_path, metrics=False) as store:
        assert store.count() == 2000
        assert not any("changed" in e.title for e in store.query(limit=None))
        assert store.integrity_check(full=True).ok
    assert not db_path.with_name(db_path.name + "-journal").exists()


def test_read_only_open_of_a_hot_journal_says_how_to_recover(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    build_spec_db(db_path, rows=2000)
    with EventStore.open(db_path, metrics=False):
        pass  # now at head
    with sqlite3.connect(db_path) as con:
        con.execute("PRAGMA journal_mode = DELETE")
    _hot_journal(db_path)
    before = file_fingerprint(db_path)
    with pytest.raises(DatabaseUnavailableError, match=r"hot journal.*db upgrade"):
        EventStore.open(db_path, read_only=True, metrics=False)
    assert file_fingerprint(db_path) == before


@pytest.fixture
def open_umask() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("open_umask")
def test_every_created_directory_is_private_under_a_permissive_umask(tmp_path: Path) -> None:
    with EventStore.open(tmp_path / "a" / "b" / "kube9.db", metrics=False) as store:
        store.record(event_data())
        store.backup(tmp_path / "x" / "y" / "backup.db")
        store.backup_snapshot(tmp_path / "s" / "t")
    for directory in ("a", "a/b", "x", "x/y", "s", "s/t"):
        assert _mode(tmp_path / directory) == 0o700, directory
    for file in [
        tmp_path / "a" / "b" / "kube9.db",
        tmp_path / "x" / "y" / "backup.db",
        *(tmp_path / "s" / "t").iterdir(),
    ]:
        assert _mode(file) == 0o600, file


def _head_without(db_path: Path, table: str) -> None:
    with EventStore.open(db_path, metrics=False) as store:
        store.record(event_data())
    with sqlite3.connect(db_path) as con:
        con.execute(f"DROP TABLE {table}")
        con.execute("PRAGMA journal_mode = DELETE")


@pytest.mark.parametrize("table", ["events", "event_counts"])
def test_a_database_at_head_missing_a_table_is_refused_untouched(db_path: Path, table: str) -> None:
    _head_without(db_path, table)
    before = file_fingerprint(db_path)
    siblings = sorted(os.listdir(db_path.parent))
    with pytest.raises(SchemaError, match=f"{table}"):
        EventStore.open(db_path, metrics=False)
    with pytest.raises(SchemaError, match=f"{table}"):
        EventStore.open(db_path, read_only=True, metrics=False)
    assert file_fingerprint(db_path) == before
    assert sorted(os.listdir(db_path.parent)) == siblings
    report = check_health(db_path)
    assert not report.ok
    assert file_fingerprint(db_path) == before


def test_an_empty_file_is_refused_without_advising_to_delete_it(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.touch()
    for read_only in (False, True):
        with pytest.raises(SchemaError, match="empty file") as info:
            EventStore.open(db_path, read_only=read_only, metrics=False)
        assert "remove" not in str(info.value)
        assert "delete" not in str(info.value)
    r = CliRunner().invoke(cli, ["query", "events", "list", "--db", str(db_path)])
    assert r.exit_code == 1
    assert "remove" not in r.stderr
    assert db_path.stat().st_size == 0


def test_opening_a_missing_database_read_only_says_it_is_missing(tmp_path: Path) -> None:
    with pytest.raises(DatabaseMissingError, match="does not exist"):
        EventStore.open(tmp_path / "nowhere" / "kube9.db", read_only=True)
    assert not (tmp_path / "nowhere").exists()


def _make_directories(directory: str, barrier: Any) -> None:
    barrier.wait()
    private_directory(Path(directory))


@pytest.mark.slow
def test_processes_making_the_same_directories_at_once_all_succeed(tmp_path: Path) -> None:
    """Stores opened at the same new path at the same moment each make its directories; one
    that sees another's directory appear between two looks must not take it for a file."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    for round_ in range(60):
        directory = tmp_path / str(round_) / "a" / "b"
        barrier = ctx.Barrier(4)
        procs = [
            ctx.Process(target=_make_directories, args=(str(directory), barrier)) for _ in range(4)
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join(30)
        assert [p.exitcode for p in procs] == [0, 0, 0, 0], round_
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
