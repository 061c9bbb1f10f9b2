"""Reliability: concurrent processes, SIGKILL at random moments, hostile CLI input, damaged
files and a full disk, with nothing committed ever lost."""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import random
import signal
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import make_url

from kube9_store import (
    DatabaseMissingError,
    DatabaseUnavailableError,
    EventStore,
    Kube9StoreError,
)
from kube9_store.cli import cli
from kube9_store.schema.tables import REVISION_PREFIX
from tests import workload
from tests.helpers import PG_URL, build_spec_db, event_data, file_fingerprint

#: Processes killed and raced: the slow suite (``pytest -m slow``), which CI runs.
pytestmark = pytest.mark.slow

FORK = multiprocessing.get_context("fork")


# -- concurrency --------------------------------------------------------------------------------


def test_mixed_processes_lose_nothing_and_never_see_locks(tmp_path: Path) -> None:
    path = tmp_path / "kube9.db"
    workload.preload(path)
    (tmp_path / "backups").mkdir()
    out = workload.run(path, tmp_path / "backups", seconds=3.0)
    assert out.errors == []
    assert len(out.written) >= workload.BATCH * 5
    assert out.queries > 0
    assert out.maintenance["deleted"] == workload.EXPIRED
    assert out.maintenance["backups"] >= 1
    with EventStore.open(path, metrics=False) as store:
        present = {e.id for e in store.query(limit=None)}
        assert set(out.written) <= present
        assert store.count() == len(out.written)
        assert store.integrity_check(full=True).ok


# -- crashes ------------------------------------------------------------------------------------


def _crashing_writer(path: str, conn: Any) -> None:
    store = EventStore.open(path, metrics=False)
    i = 0
    while True:
        if i % 3 == 0:
            ids = [
                e.id for e in store.record_many(event_data(title=f"b{i}-{k}") for k in range(25))
            ]
        else:
            ids = [store.record(event_data(title=f"s{i}")).id]
        conn.send(ids)  # only after the call returned
        i += 1


def test_sigkill_never_loses_a_returned_record(tmp_path: Path) -> None:
    path = tmp_path / "kube9.db"
    with EventStore.open(path, metrics=False):
        pass
    rnd = random.Random(42)
    returned: set[str] = set()
    for round_ in range(50):
        parent, child = FORK.Pipe(duplex=False)
        proc = FORK.Process(target=_crashing_writer, args=(str(path), child))
        proc.start()
        child.close()
        time.sleep(rnd.uniform(0.02, 0.25))
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(10)
        with contextlib.suppress(EOFError):
            while parent.poll(0.2):
                returned.update(parent.recv())
        parent.close()
        with EventStore.open(path, metrics=False) as store:
            check = store.integrity_check(full=True)
            assert check.ok, (round_, check.problems)
            present = {e.id for e in store.query(limit=None)}
            missing = returned - present
            assert not missing, f"round {round_}: {len(missing)} returned events lost"
    assert len(returned) > 100


def _migrate(path: str) -> None:
    from kube9_store.operations.admin import upgrade

    upgrade(path)


def _consistent(path: Path) -> tuple[str | None, list[int]]:
    with sqlite3.connect(path) as con:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        revision = (
            con.execute("SELECT version_num FROM alembic_version").fetchone()
            if "alembic_version" in tables
            else None
        )
        versions = [r[0] for r in con.execute("SELECT version FROM schema_version ORDER BY 1")]
    rev = revision[0] if revision else None
    if rev is not None:
        number = int(rev.removeprefix(REVISION_PREFIX))  # kube9_store_0003: schema version 3
        assert versions == list(range(1, number + 1)), (rev, versions)
    return rev, versions


def test_killed_migration_leaves_a_consistent_version(tmp_path: Path) -> None:
    source = build_spec_db(tmp_path / "v1.db", rows=60_000)
    rnd = random.Random(7)
    seen = set()
    for _ in range(5):
        path = tmp_path / f"m-{uuid.uuid4().hex}.db"
        path.write_bytes(source.read_bytes())
        proc = FORK.Process(target=_migrate, args=(str(path),))
        proc.start()
        time.sleep(rnd.uniform(0.05, 0.8))
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(10)
        seen.add(_consistent(path)[0])
        with EventStore.open(path, metrics=False) as store:
            assert store.count() == 60_000
            assert store.integrity_check(full=True).ok
    assert seen  # the rounds stopped the migration at one or more revisions


def _retention(path: str) -> None:
    with EventStore.open(path, metrics=False) as store:
        store.apply_retention(batch_size=200, vacuum_free_share=None)


def test_killed_retention_leaves_exact_counts(tmp_path: Path) -> None:
    path = tmp_path / "kube9.db"
    with EventStore.open(path, metrics=False) as store:
        store.record_many(event_data(created_at="2020-01-01T00:00:00Z") for _ in range(20_000))
        store.record_many(event_data() for _ in range(100))
    proc = FORK.Process(target=_retention, args=(str(path),))
    proc.start()
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(10)
    with EventStore.open(path, metrics=False) as store:
        assert store.integrity_check(full=True).ok  # includes counts == events
        assert store.count() >= 100
        assert store.count({"since": "2021-01-01"}) == 100


# -- hostile input ------------------------------------------------------------------------------

FLAGS = [
    "--type",
    "--severity",
    "--since",
    "--until",
    "--object-kind",
    "--object-namespace",
    "--object-name",
    "--limit",
    "--offset",
    "--format",
    "--cursor",
]
hostile_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40
) | st.sampled_from(
    [
        "'; DROP TABLE events; --",
        "-1",
        "0",
        "1e9",
        "2025-13-45",
        "99999d",
        "%",
        "\u202e",
        "🦄" * 10,
        "9" * 400,
    ]
)


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(args=st.lists(st.tuples(st.sampled_from(FLAGS), hostile_text), max_size=4))
def test_cli_arguments_never_crash(db_path: Path, args: list[tuple[str, str]]) -> None:
    if not db_path.exists():
        with EventStore.open(db_path, metrics=False) as s:
            s.record(event_data())
    before = file_fingerprint(db_path)
    argv = ["query", "events", "list", "--db", str(db_path)]
    for flag, value in args:
        argv.append(f"{flag}={value}")
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code in (0, 1, 2), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    if result.exit_code == 0:
        assert (
            "pagination" in json.loads(result.stdout)
            or argv.count("--format")
            or any(f.startswith("--format") for f in argv)
        )
    elif result.exit_code == 1:
        assert set(json.loads(result.stderr.strip())) >= {"error"}
    assert file_fingerprint(db_path) == before


def test_filter_values_never_reach_the_sql_text(store: EventStore) -> None:
    store.record(event_data())
    hostile = ["x' OR '1'='1", "'; DROP TABLE events; --", '" OR 1=1 --', "%", "?"]
    for value in hostile:
        for field in ("object_kind", "object_namespace", "object_name"):
            assert store.query({field: value}) == []
            assert store.count({field: value}) == 0
    statements = [c.sql for c in store._shapes.values()]
    assert statements
    for sql in statements:
        assert all(v not in sql for v in hostile if len(v) > 1)
        assert "?" in sql or "%(" in sql  # placeholders: qmark (SQLite), pyformat (psycopg)
    assert store.count() == 1


# -- damaged files ------------------------------------------------------------------------------


def _damage(path: Path, how: str) -> None:
    if how == "random bytes":
        path.write_bytes(os.urandom(16384))
    elif how == "empty file":
        path.write_bytes(b"")
    elif how == "truncated":
        with EventStore.open(path, metrics=False) as s:
            s.record_many(event_data(description="d" * 900) for _ in range(300))
            s.vacuum()
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 3])
    elif how == "corrupted page":
        with EventStore.open(path, metrics=False) as s:
            s.record_many(event_data(description="d" * 900) for _ in range(300))
            s.vacuum()
        with open(path, "r+b") as f:
            f.seek(4096 * 10)
            f.write(os.urandom(4096))
    elif how == "corrupted header":
        with EventStore.open(path, metrics=False) as s:
            s.record(event_data())
        with open(path, "r+b") as f:
            f.write(b"NOT SQLITE FORMAT")


@pytest.mark.parametrize("how", ["random bytes", "empty file", "truncated", "corrupted header"])
def test_damaged_file_is_refused_at_open_and_left_alone(db_path: Path, how: str) -> None:
    db_path.parent.mkdir(parents=True)
    _damage(db_path, how)
    before = file_fingerprint(db_path)

    def use() -> None:
        with EventStore.open(db_path, metrics=False) as s:
            s.query(limit=None)
            s.count()

    with pytest.raises(Kube9StoreError) as info:
        use()
    assert str(info.value)
    assert "Traceback" not in str(info.value)
    assert file_fingerprint(db_path) == before


def test_corrupted_page_is_reported_by_integrity_check_and_left_alone(db_path: Path) -> None:
    """Reported, and recorded for ``health`` (the one write: its row in operations_state);
    the damaged page is neither repaired nor the file replaced."""
    db_path.parent.mkdir(parents=True)
    _damage(db_path, "corrupted page")
    inode = db_path.stat().st_ino
    damaged = db_path.read_bytes()[4096 * 10 : 4096 * 11]
    try:
        with EventStore.open(db_path, metrics=False) as s:
            result = s.integrity_check(full=True)
            assert not result.ok
            assert result.problems
            assert s.maintenance_facts()["check.integrity_check.ok"] == 0.0
    except Kube9StoreError as exc:  # or refused outright, naming the damage
        assert "malformed" in str(exc) or "not a database" in str(exc)
    assert db_path.stat().st_ino == inode
    assert db_path.read_bytes()[4096 * 10 : 4096 * 11] == damaged


def test_directory_in_place_of_the_file(db_path: Path) -> None:
    db_path.mkdir(parents=True)
    with pytest.raises(DatabaseUnavailableError, match="is a directory"):
        EventStore.open(db_path)
    assert db_path.is_dir()
    assert list(db_path.iterdir()) == []


@contextlib.contextmanager
def small_filesystem(where: Path, size: str) -> Iterator[Path]:
    where.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.strip()}); needs root")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_read_only_filesystem(tmp_path: Path) -> None:
    with small_filesystem(tmp_path / "ro", "8M") as mnt:
        path = mnt / "kube9.db"
        with EventStore.open(path, metrics=False) as s:
            s.record(event_data(title="kept"))
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        before = file_fingerprint(path)
        with pytest.raises(Kube9StoreError), EventStore.open(path, metrics=False) as s:
            s.record(event_data())
        with pytest.raises(DatabaseMissingError, match="does not exist"):
            EventStore.open(mnt / "other.db", read_only=True)
        assert file_fingerprint(path) == before


def _write_until_full(path: Path, write: Callable[[EventStore, int], list[str]]) -> list[str]:
    """Call ``write(store, i)`` for i = 0, 1, ... until the disk is full; the ids of every
    write that returned. The write that failed must say the disk is full."""
    committed: list[str] = []
    failure: Kube9StoreError | None = None
    with EventStore.open(path, metrics=False) as s:
        for i in range(100_000):
            try:
                committed += write(s, i)
            except Kube9StoreError as exc:
                failure = exc
                break
    assert failure is not None
    assert "full" in str(failure).lower() or "disk" in str(failure).lower()
    return committed


def _grow(mnt: Path) -> None:
    subprocess.run(["mount", "-o", "remount,size=16M", str(mnt)], check=True)


def test_full_disk_loses_nothing_committed(tmp_path: Path) -> None:
    with small_filesystem(tmp_path / "full", "3M") as mnt:
        path = mnt / "kube9.db"
        committed = _write_until_full(
            path, lambda s, i: [s.record(event_data(title=f"e{i}", description="x" * 900)).id]
        )
        assert len(committed) >= 20
        _grow(mnt)
        with EventStore.open(path, metrics=False) as s:
            assert s.integrity_check(full=True).ok
            present = {e.id for e in s.query(limit=None)}
            assert set(committed) <= present
            s.record(event_data(title="after the disk was grown"))


def test_full_disk_during_large_batches_keeps_counts_and_trigger(tmp_path: Path) -> None:
    """Batches large enough for SQLite's path without the per-row count trigger, until the
    disk fills: the batch that failed is gone whole, trigger included, and the counts still
    equal the rows, then and after the disk is grown."""

    def batch(s: EventStore, b: int) -> list[str]:
        events = [event_data(title=f"b{b}-{k}", description="x" * 900) for k in range(150)]
        return s.record_many(events, return_events=False)

    with small_filesystem(tmp_path / "full", "3M") as mnt:
        path = mnt / "kube9.db"
        committed = _write_until_full(path, batch)
        assert len(committed) >= 300
        _grow(mnt)
        with EventStore.open(path, metrics=False) as s:
            assert s.integrity_check(full=True).ok
            present = [e.id for e in s.query(limit=None)]
            assert set(committed) == set(present)
            s.record(event_data(title="after the disk was grown"))
            assert s.count() == len(committed) + 1 == sum(s.count_by_severity().values())


def test_a_vanished_database_directory_is_a_clean_error(tmp_path: Path) -> None:
    import shutil

    path = tmp_path / "gone" / "kube9.db"
    with EventStore.open(path, metrics=False) as s:
        s.record(event_data())
        s.close()  # no pooled connection left
        shutil.rmtree(path.parent)
        with pytest.raises(DatabaseUnavailableError):
            s.get("evt_20251202_103045_a7f3b9")
        with pytest.raises(DatabaseUnavailableError):
            s.record(event_data())


def test_a_stopped_server_is_a_clean_error() -> None:
    """A PostgreSQL URL nobody answers: a package error at open, not a driver traceback."""
    dead = make_url(PG_URL).set(port=1)
    with pytest.raises(DatabaseUnavailableError):
        EventStore.open(dead, busy_timeout=1)
