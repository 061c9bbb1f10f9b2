"""Property: a file the package refuses is left exactly as it was. For every way of refusing a
file (a newer schema, foreign tables, a mismatched structure, an empty file, a corrupt file, a
database at head missing a table, a hot journal of a foreign database), through every entry
point that judges it, in rollback-journal and WAL mode: the file and its side files hash the
same before and after, and nothing appears beside it (no -wal, -shm or lock file). A database
of another lineage is refused by every writing entry point and read, as it is, by the others."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kube9_store import EventStore, Kube9StoreError
from kube9_store.cli import cli
from kube9_store.operations.admin import backup
from kube9_store.operations.health import check_health
from kube9_store.schema.tables import HEAD_VERSION
from tests.helpers import build_spec_db, event_data


def _sqlite(path: Path, wal: bool, *statements: str) -> None:
    con = sqlite3.connect(path, isolation_level=None)
    try:
        if wal:
            con.execute("PRAGMA journal_mode = WAL")
        for sql in statements:
            con.execute(sql)
    finally:
        con.close()


def _ours(path: Path, wal: bool, *statements: str) -> None:
    with EventStore.open(path, metrics=False) as store:
        store.record(event_data())
    _sqlite(path, wal, *statements, f"PRAGMA journal_mode = {'WAL' if wal else 'DELETE'}")


def newer_revision(path: Path, wal: bool) -> None:
    _ours(path, wal, "UPDATE alembic_version SET version_num = '0042'")


def newer_version(path: Path, wal: bool) -> None:
    build_spec_db(path, rows=3)
    _sqlite(path, wal, "INSERT INTO schema_version VALUES (99, '2030-01-01T00:00:00.000Z', 'x')")


def inconsistent(path: Path, wal: bool) -> None:
    later = HEAD_VERSION + 1
    _ours(
        path, wal, f"INSERT INTO schema_version VALUES ({later}, '2030-01-01T00:00:00.000Z', 'x')"
    )


def foreign(path: Path, wal: bool) -> None:
    _sqlite(path, wal, "CREATE TABLE customers (id INTEGER)", "INSERT INTO customers VALUES (1)")


def mismatched(path: Path, wal: bool) -> None:
    build_spec_db(path, rows=3)
    _sqlite(path, wal, "DROP INDEX idx_events_object", "ALTER TABLE events ADD COLUMN extra TEXT")


def empty(path: Path, wal: bool) -> None:
    path.touch()


def corrupt_header(path: Path, wal: bool) -> None:
    _ours(path, wal)
    with open(path, "r+b") as f:
        f.write(b"NOT SQLITE FORMAT")


def random_bytes(path: Path, wal: bool) -> None:
    path.write_bytes(hashlib.sha256(b"kube9").digest() * 512)


def missing_events(path: Path, wal: bool) -> None:
    _ours(path, wal, "DROP TABLE events")


def missing_counts(path: Path, wal: bool) -> None:
    _ours(path, wal, "DROP TABLE event_counts")


def foreign_hot_journal(path: Path, wal: bool) -> None:
    """A foreign rollback-journal database whose writer died mid-transaction."""
    _sqlite(path, False, "CREATE TABLE customers (id INTEGER, name TEXT)")
    _sqlite(
        path, False, *[f"INSERT INTO customers VALUES ({i}, '{'n' * 200}')" for i in range(300)]
    )
    code = f"""
import os, signal, sqlite3
con = sqlite3.connect({str(path)!r}, isolation_level=None)
con.execute("PRAGMA cache_size = 1")
con.execute("BEGIN")
con.execute("UPDATE customers SET name = 'changed'")
con.execute("INSERT INTO customers SELECT id + 1000, name FROM customers")
os.kill(os.getpid(), signal.SIGKILL)
"""
    done = subprocess.run([sys.executable, "-c", code], check=False)
    assert done.returncode == -signal.SIGKILL
    assert path.with_name(path.name + "-journal").stat().st_size > 0


REFUSALS: list[Callable[[Path, bool], None]] = [
    newer_revision,
    newer_version,
    inconsistent,
    foreign,
    mismatched,
    empty,
    corrupt_header,
    random_bytes,
    missing_events,
    missing_counts,
    foreign_hot_journal,
]


def _raises(call: Callable[[], Any]) -> None:
    try:
        result = call()
    except Kube9StoreError:
        return
    if isinstance(result, EventStore):
        result.close()
    raise AssertionError(f"not refused: {result!r}")


def _cli_fails(*args: str) -> None:
    r = CliRunner().invoke(cli, list(args))
    assert r.exit_code == 1, (args, r.output)
    assert "error" in json.loads(r.stderr.strip().splitlines()[-1])


def _unhealthy(path: Path) -> None:
    report = check_health(path)
    assert not report.ok, report.as_dict()


ENTRIES: dict[str, Callable[[Path, Path], None]] = {
    "open": lambda p, _t: _raises(lambda: EventStore.open(p, metrics=False)),
    "open read-only": lambda p, _t: _raises(lambda: EventStore.open(p, read_only=True)),
    "health": lambda p, _t: _unhealthy(p),
    "backup": lambda p, t: _raises(lambda: backup(p, t / "copy.db")),
    "restore from it": lambda p, t: _raises(lambda: EventStore.restore(p, t / "target.db")),
    "cli list": lambda p, _t: _cli_fails("query", "events", "list", "--db", str(p)),
    "cli upgrade": lambda p, _t: _cli_fails("db", "upgrade", "--db", str(p)),
    "cli count": lambda p, _t: _cli_fails("events", "count", "--db", str(p)),
    "cli record": lambda p, _t: _cli_fails(
        "events", "record", "--db", str(p), "--type", "system", "--severity", "info", "--title", "x"
    ),
}

#: Entry points that only read a file and may accept a structure the open refuses.
ACCEPTS = {("backup", "mismatched")}

#: A spec-shaped database claiming a version this package never had (no Alembic table) is of
#: another lineage, like the reference operator's: read-only entry points read it as it is
#: (and must still leave it exactly so); every writing one refuses it.
READS_ANOTHER_LINEAGE: dict[str, Callable[[Path, Path], None]] = {
    "open read-only": lambda p, _t: EventStore.open(p, read_only=True, metrics=False).close(),
    "backup": lambda p, t: _ok(lambda: backup(p, t / "copy.db")),
    "cli list": lambda p, _t: _cli_answers("query", "events", "list", "--db", str(p)),
    "cli count": lambda p, _t: _cli_answers("events", "count", "--db", str(p)),
}
ANOTHER_LINEAGE = {"newer_version"}


def _ok(call: Callable[[], Any]) -> None:
    call()


def _cli_answers(*args: str) -> None:
    r = CliRunner().invoke(cli, list(args))
    assert r.exit_code == 0, (args, r.output)
    assert "another lineage" in json.loads(r.stderr.strip().splitlines()[0])["notice"]


def _state(directory: Path) -> dict[str, str]:
    return {
        name: hashlib.sha256((directory / name).read_bytes()).hexdigest()
        for name in sorted(os.listdir(directory))
        if (directory / name).is_file()
    }


@settings(
    max_examples=90,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    refusal=st.sampled_from(REFUSALS),
    wal=st.booleans(),
    entry=st.sampled_from(sorted(ENTRIES)),
)
@pytest.mark.slow
def test_a_refused_file_is_left_exactly_as_it_was(
    refusal: Callable[[Path, bool], None], wal: bool, entry: str
) -> None:
    if (entry, refusal.__name__) in ACCEPTS:
        return
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "data"
        directory.mkdir()
        path = directory / "kube9.db"
        refusal(path, wal)
        elsewhere = Path(tmp) / "elsewhere"
        elsewhere.mkdir()
        before = _state(directory)
        reader = READS_ANOTHER_LINEAGE.get(entry)
        if refusal.__name__ in ANOTHER_LINEAGE and reader is not None:
            reader(path, elsewhere)
        else:
            ENTRIES[entry](path, elsewhere)
        assert _state(directory) == before, (refusal.__name__, wal, entry)
        made = sorted(os.listdir(elsewhere))
        assert made in ([], ["target.db.lock"]) or (entry, made) == ("backup", ["copy.db"]), made
