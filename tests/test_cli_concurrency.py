"""Two of every writing command at once, through the real console script, on SQLite and on
PostgreSQL: no failure that a retry or an ON CONFLICT would have avoided, nothing lost, counts
exact. Restore is refused while a writer has the database open, and two restores are
serialized."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import URL

from kube9_store import EventStore
from tests.helpers import event_data

#: Processes killed and raced: the slow suite (``pytest -m slow``), which CI runs.
pytestmark = pytest.mark.slow

EXPIRED = 300


def _exe() -> str:
    exe = shutil.which("kube9-store", path=str(Path(sys.executable).parent))
    assert exe is not None
    return exe


def at_once(
    *commands: list[str], stdin: str | None = None
) -> list[subprocess.CompletedProcess[str]]:
    """Start every command, then wait for all of them."""
    procs = [
        subprocess.Popen(
            [_exe(), *argv],
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for argv in commands
    ]
    done = []
    for proc in procs:
        out, err = proc.communicate(stdin, timeout=180)
        done.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return done


def _ok(results: list[subprocess.CompletedProcess[str]]) -> list[Any]:
    for r in results:
        assert r.returncode == 0, r.stderr
        assert "Traceback" not in r.stderr
    return [json.loads(r.stdout) for r in results]


def _db(backend_url: URL) -> str:
    return backend_url.render_as_string(hide_password=False)


def _k8s_document(n: int) -> str:
    items = [
        {
            "kind": "Event",
            "metadata": {"uid": f"uid-{i}", "name": f"pod-{i}.17d", "namespace": "default"},
            "involvedObject": {"kind": "Pod", "name": f"pod-{i}", "namespace": "default"},
            "reason": "BackOff" if i % 2 else "Failed",
            "type": "Warning",
            "count": 1,
            "lastTimestamp": f"2025-12-02T10:{i // 60 % 60:02d}:{i % 60:02d}Z",
        }
        for i in range(n)
    ]
    return json.dumps({"kind": "EventList", "items": items})


def test_two_imports_at_once(backend_url: URL, tmp_path: Path) -> None:
    db = _db(backend_url)
    source = tmp_path / "events.json"
    source.write_text(_k8s_document(500))
    argv = ["import", "k8s-events", str(source), "--db", db]
    first, second = _ok(at_once(argv, argv))
    assert first["imported"] + second["imported"] == 500
    assert first["already_present"] + second["already_present"] == 500
    with EventStore.open(db, metrics=False) as store:
        assert store.count() == 500
        assert sum(store.count_by_severity().values()) == 500


def test_two_records_at_once(backend_url: URL) -> None:
    db = _db(backend_url)
    base = ["events", "record", "--db", db, "--type", "system", "--severity", "info"]
    _ok(at_once([*base, "--title", "one"], [*base, "--title", "two"]))
    same_id = ["--id", "evt_20251202_103045_a7f3b9"]
    results = at_once([*base, "--title", "x", *same_id], [*base, "--title", "y", *same_id])
    codes = sorted(r.returncode for r in results)
    assert codes == [0, 1]  # an explicit id is stored once; the other is told it exists
    loser = next(r for r in results if r.returncode == 1)
    assert "already exists" in json.loads(loser.stderr.strip().splitlines()[-1])["details"]
    with EventStore.open(db, metrics=False) as store:
        assert {e.title for e in store.query(limit=None)} >= {"one", "two"}
        assert store.count() == 3
        assert sum(store.count_by_type().values()) == 3


def test_two_acks_at_once(backend_url: URL) -> None:
    db = _db(backend_url)
    with EventStore.open(db, metrics=False) as store:
        ids = [e.id for e in store.record_many(event_data() for _ in range(20))]
    argv = ["events", "ack", *ids, "--db", db]
    for body in _ok(at_once(argv, argv)):
        assert sorted(body["acknowledged"]) == sorted(ids)
    with EventStore.open(db, metrics=False) as store:
        assert store.count({"acknowledged": True}) == 20


def test_two_retention_runs_at_once(backend_url: URL) -> None:
    db = _db(backend_url)
    with EventStore.open(db, metrics=False) as store:
        store.record_many(
            event_data(created_at="2020-01-01T00:00:00Z", description="d" * 200)
            for _ in range(EXPIRED)
        )
        store.record_many(event_data(title="recent") for _ in range(10))
    argv = ["retention", "run", "--db", db]
    first, second = _ok(at_once(argv, argv))
    assert first["deleted"] + second["deleted"] == EXPIRED
    with EventStore.open(db, metrics=False) as store:
        assert store.count() == 10
        assert store.count_by_type() == {"operator": 10}


def test_two_upgrades_and_two_recounts_at_once(backend_url: URL) -> None:
    db = _db(backend_url)
    _ok(at_once(["db", "upgrade", "--revision", "0001", "--db", db]))
    upgrades = _ok(at_once(["db", "upgrade", "--db", db], ["db", "upgrade", "--db", db]))
    assert all(u["at_head"] for u in upgrades)
    with EventStore.open(db, metrics=False) as store:
        store.record_many(event_data(severity=s) for s in ("info", "error") * 50)
    recounts = _ok(at_once(["db", "recount", "--db", db], ["db", "recount", "--db", db]))
    assert recounts == [{"by_type": {"operator": 100}}] * 2
    with EventStore.open(db, metrics=False) as store:
        assert store.count_by_severity() == {"error": 50, "info": 50}


# -- file operations (SQLite) -------------------------------------------------------------------


@pytest.mark.sqlite
def test_two_vacuums_at_once(db_path: Path) -> None:
    with EventStore.open(db_path, metrics=False) as store:
        store.record_many(event_data(description="d" * 800) for _ in range(2000))
        store.apply_retention(now=store.clock().replace(year=2099), vacuum_free_share=None)
        store.record(event_data(title="kept"))
    argv = ["db", "vacuum", "--db", str(db_path)]
    for body in _ok(at_once(argv, argv)):
        assert body["after"]["free_bytes"] == 0
    with EventStore.open(db_path, metrics=False) as store:
        assert [e.title for e in store.query()] == ["kept"]
        assert store.integrity_check(full=True).ok


@pytest.mark.sqlite
def test_two_backups_at_once(db_path: Path, tmp_path: Path) -> None:
    with EventStore.open(db_path, metrics=False) as store:
        store.record_many(event_data() for _ in range(500))
    snaps = tmp_path / "snaps"
    snaps.mkdir()
    argv = ["db", "backup", str(snaps), "--db", str(db_path)]
    a, b = _ok(at_once(argv, argv))
    assert a["path"] != b["path"]
    assert sorted(p.name for p in snaps.iterdir()) == sorted(Path(x["path"]).name for x in (a, b))
    same = ["db", "backup", str(tmp_path / "same.db"), "--db", str(db_path)]
    results = at_once(same, same)
    assert sorted(r.returncode for r in results) == [0, 1]
    loser = next(r for r in results if r.returncode == 1)
    assert "already exists" in json.loads(loser.stderr.strip().splitlines()[-1])["details"]
    with EventStore.open(tmp_path / "same.db", read_only=True, metrics=False) as copy:
        assert copy.count() == 500
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


WRITER = """
import sys, time
from kube9_store import EventStore

with EventStore.open(sys.argv[1], metrics=False) as store:
    print("ready", flush=True)
    deadline = time.monotonic() + float(sys.argv[2])
    n = 0
    while time.monotonic() < deadline:
        store.record({"event_type": "system", "severity": "info", "title": f"w{n}"})
        n += 1
    print(n, flush=True)
"""


@pytest.mark.sqlite
def test_restore_is_refused_while_a_writer_runs_and_restores_are_serialized(
    db_path: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other" / "kube9.db"
    with EventStore.open(other, metrics=False) as store:
        store.record_many(event_data(title="from the backup") for _ in range(7))
        backup = store.backup(tmp_path / "backup.db").path
    EventStore.open(db_path, metrics=False).close()
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db_path), "8"], stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout is not None
    assert writer.stdout.readline().strip() == "ready"
    restore = ["db", "restore", str(backup), "--yes", "--db", str(db_path)]
    started = time.monotonic()
    (refused,) = at_once(restore)
    written = int(writer.communicate(timeout=60)[0].strip())
    assert refused.returncode == 1, refused.stdout
    assert "open in a store" in json.loads(refused.stderr.strip().splitlines()[-1])["details"]
    assert time.monotonic() - started < 30
    with EventStore.open(db_path, metrics=False) as store:
        assert store.count() == written  # the writer lost nothing
    results = _ok(at_once(restore, restore))
    assert [r["events"] for r in results] == [7, 7]
    kept = sorted(p for p in db_path.parent.iterdir() if ".pre-restore-" in p.name)
    assert len(kept) == 2
    counts = []
    for path in kept:
        with EventStore.open(path, read_only=True, metrics=False) as store:
            counts.append(store.count())
    assert sorted(counts) == [7, written]


def test_recounts_at_once_each_rebuild_the_counts_whole(backend_url: URL) -> None:
    """Two recounts (each emptying and refilling the counts) started together, many times, in
    threads of one process with a barrier: neither refills rows the other emptied (on
    PostgreSQL a second DELETE did not see the first's new rows: duplicate key), and the counts
    stay exact."""
    rounds = 25
    with EventStore.open(backend_url, metrics=False) as store:
        store.record_many(event_data(severity=s) for s in ("info", "error") * 20)
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def recount() -> None:
            for _ in range(rounds):
                barrier.wait()
                try:
                    store.recount()
                except BaseException as exc:
                    errors.append(exc)
                barrier.wait()

        workers = [threading.Thread(target=recount) for _ in range(2)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        assert errors == []
        assert store.count_by_severity() == {"error": 20, "info": 20}
        assert store.count() == 40
