"""One test per defect class the gates close (docs/gates.md): each failed before its gate
existed. The hazard x surface matrix over every command and entry point is in
test_gate_matrix.py."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, delete, text
from sqlalchemy.orm import Session

from kube9_store import EventStore, Kube9StoreError, NewEvent
from kube9_store.aio.store import AsyncEventStore, write_outcome
from kube9_store.cli import cli
from kube9_store.cli.exit_codes import ExitCode
from kube9_store.errors import (
    DatabaseUnavailableError,
    NotEnoughSpaceError,
    SchemaError,
    StoreClosedError,
    ValidationError,
)
from kube9_store.operations.admin import backup
from kube9_store.operations.retention import RetentionPolicy
from kube9_store.orm import EventCountRow, EventRow, ReadOnlyTableError, SchemaVersionRow
from kube9_store.transfer.copy import copy_events
from kube9_store.transfer.export import export_to_file
from kube9_store.transfer.jsonl import import_jsonl
from kube9_store.transfer.streaming import row_batches
from tests.helpers import SPEC_V1_SQL, event_data
from tests.operator_db import build_operator_db

SECRET = "hunter2-very-secret"
HOSTILE = "bell \x07 esc \x1b[2J csi \x9b31m"

#: A table of another program's events: the spec's v1 columns, ``created_at`` nullable.
FOREIGN_SQL = """
CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL,
  description TEXT);
INSERT INTO schema_version VALUES (1, '2025-01-01T00:00:00.000Z', 'Initial');
INSERT INTO schema_version VALUES (7, '2025-01-02T00:00:00.000Z', 'Theirs');
CREATE TABLE events (id TEXT PRIMARY KEY, event_type TEXT NOT NULL, severity TEXT NOT NULL,
  title TEXT NOT NULL, description TEXT, object_kind TEXT, object_namespace TEXT,
  object_name TEXT, metadata TEXT, created_at TEXT);
CREATE TABLE their_own (id INTEGER PRIMARY KEY, payload TEXT);
"""


def run(*args: str, input: bytes | str | None = None) -> Any:
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def foreign_db(path: Path, rows: list[tuple[Any, ...]]) -> Path:
    """Another program's database (rollback journal, tables of its own) holding ``rows``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    con.executescript(FOREIGN_SQL)
    con.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    con.commit()
    con.close()
    return path


def row(n: int, created_at: str | None, **over: Any) -> tuple[Any, ...]:
    base = {
        "id": f"evt_20250101_000000_{n:06d}",
        "event_type": "cluster",
        "severity": "error",
        "title": f"event {n}",
        "description": None,
        "object_kind": None,
        "object_namespace": None,
        "object_name": None,
        "metadata": None,
        "created_at": created_at,
    }
    base.update(over)
    return tuple(base.values())


def write_and_flush(session: Session, write: Any) -> None:
    write(session)
    session.flush()


def recorded(path: Path, n: int, at: str = "2025-01-01T00:00:00.000Z") -> list[str]:
    with EventStore.open(path, metrics=False) as store:
        got = store.record_many([NewEvent(**event_data(created_at=at)) for _ in range(n)])
    return [e.id for e in got]


# -- rows: every inbound row validated and scrubbed ---------------------------------------------


@pytest.mark.parametrize("method", ["bulk_save_objects", "bulk_insert_mappings"])
def test_the_orm_bulk_methods_validate_and_scrub(db_path: Path, method: str) -> None:
    EventStore.open(db_path, metrics=False).close()
    engine = create_engine(f"sqlite:///{db_path}")
    bad = {"event_type": "bogus", "severity": "info", "title": "t", "created_at": "yesterday"}
    good = {
        "event_type": "cluster",
        "severity": "info",
        "title": "t",
        "metadata_json": json.dumps({"password": SECRET}),
    }
    args: tuple[Any, ...] = (
        ([EventRow(**bad)],) if method == "bulk_save_objects" else (EventRow, [bad])
    )
    with Session(engine) as session, pytest.raises(ValidationError, match="event_type"):
        getattr(session, method)(*args)
    with Session(engine) as session:
        if method == "bulk_save_objects":
            session.bulk_save_objects([EventRow(**good)])
        else:
            session.bulk_insert_mappings(EventRow, [good])
        session.commit()
    engine.dispose()
    with EventStore.open(db_path, metrics=False) as store:
        (event,) = store.query()
        assert SECRET not in json.dumps(event.metadata)
        assert store.integrity_check(full=True).ok


def test_the_orm_bulk_update_may_not_skip_the_rules(db_path: Path) -> None:
    (event_id,) = recorded(db_path, 1)
    engine = create_engine(f"sqlite:///{db_path}")
    with Session(engine) as session:
        with pytest.raises(ValidationError, match="acknowledged only"):
            session.bulk_update_mappings(EventRow, [{"id": event_id, "event_type": "bogus"}])
        session.bulk_update_mappings(EventRow, [{"id": event_id, "acknowledged": True}])
        session.commit()
    engine.dispose()
    with EventStore.open(db_path, metrics=False) as store:
        got = store.get(event_id)
        assert got is not None and got.acknowledged and got.event_type != "bogus"


def test_export_of_a_foreign_database_is_scrubbed_as_copy_is(tmp_path: Path) -> None:
    meta = json.dumps({"password": SECRET, "note": "x"})
    src = foreign_db(tmp_path / "f" / "kube9.db", [row(1, "2025-01-01T00:00:00Z", metadata=meta)])
    r = run("export", "--db", str(src))
    assert r.exit_code == 0, r.output
    assert SECRET not in r.stdout and "[REDACTED]" in r.stdout
    copied = tmp_path / "c.db"
    copy_events(src, copied)
    with EventStore.open(copied, metrics=False) as store:
        line = json.loads(r.stdout.splitlines()[0])
        assert line["metadata"] == store.query()[0].metadata


@pytest.mark.parametrize("table", [EventCountRow, SchemaVersionRow])
def test_the_store_kept_tables_refuse_orm_writes(db_path: Path, table: Any) -> None:
    recorded(db_path, 2)
    engine = create_engine(f"sqlite:///{db_path}")
    name = table.__table__.name
    for write in (
        lambda s: s.execute(delete(table)),
        lambda s: s.execute(text(f"DELETE FROM {name}")),
        lambda s: s.connection().exec_driver_sql(f"DELETE FROM {name}"),
        lambda s: s.query(table).delete(),
        lambda s: s.delete(s.query(table).first()),
        lambda s: s.bulk_insert_mappings(table, [{}]),
    ):
        with Session(engine) as session, pytest.raises(ReadOnlyTableError, match=name):
            write_and_flush(session, write)
    with Session(engine) as session, pytest.raises(ReadOnlyTableError, match="alembic"):
        session.execute(text("UPDATE alembic_version SET version_num = 'x'"))
    engine.dispose()
    with EventStore.open(db_path, metrics=False) as store:
        assert store.count() == 2 and store.integrity_check(full=True).ok


# -- files ------------------------------------------------------------------------------------


def test_export_output_is_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    db = tmp_path / "kube9.db"
    recorded(db, 3)
    old = os.umask(0)
    try:
        r = run("export", "--db", str(db), "--output", str(tmp_path / "out.jsonl"))
    finally:
        os.umask(old)
    assert r.exit_code == 0, r.output
    assert (tmp_path / "out.jsonl").stat().st_mode & 0o777 == 0o600


def test_no_file_is_created_through_a_symlink(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    db = tmp_path / "kube9.db"
    recorded(db, 3)
    from kube9_store.gates.files import create_private

    planted = tmp_path / "planted"
    planted.symlink_to(victim)
    with pytest.raises(FileExistsError):
        create_private(planted)
    for pid in range(os.getpid() - 2, os.getpid() + 3):  # the old predictable names
        (tmp_path / f".out.jsonl.tmp-{pid}").symlink_to(victim)
    out = tmp_path / "out.jsonl"
    out.symlink_to(victim)  # a symlink at the target itself is replaced, never written through
    with EventStore.open(db, read_only=True, metrics=False) as store:
        export_to_file(store, out)
    assert victim.read_text() == "keep me"
    assert not out.is_symlink() and len(out.read_text().splitlines()) == 3


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
def test_copy_onto_a_link_to_its_source_is_refused(tmp_path: Path, link: str) -> None:
    src = tmp_path / "kube9.db"
    recorded(src, 3)
    dest = tmp_path / "dest.db"
    if link == "symlink":
        dest.symlink_to(src)
    else:
        os.link(src, dest)
    before = src.read_bytes()
    r = run("copy", str(src), str(dest))
    assert r.exit_code == 1 and "source database itself" in r.stderr
    assert src.read_bytes() == before


def test_read_only_commands_leave_no_side_files(tmp_path: Path) -> None:
    db = tmp_path / "kube9.db"
    recorded(db, 3)
    before = sorted(os.listdir(tmp_path))
    assert not any(n.endswith(("-wal", "-shm")) for n in before)
    for args in (["query", "events", "list"], ["export"], ["db", "status"], ["health"]):
        r = run(*args, "--db", str(db))
        assert r.exit_code in (0, 1), r.output
        assert sorted(os.listdir(tmp_path)) == before, args


def test_a_dangling_symlink_at_the_lock_path_is_a_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "kube9.db"
    recorded(db, 1)
    (tmp_path / "kube9.db.lock").unlink()
    (tmp_path / "kube9.db.lock").symlink_to(tmp_path / "nowhere")
    with pytest.raises(DatabaseUnavailableError, match="symlink"):
        EventStore.open(db, metrics=False)
    assert not (tmp_path / "nowhere").exists()


def test_a_wal_database_on_a_read_only_filesystem_can_be_queried(
    small_tmpfs: Any, tmp_path: Path
) -> None:
    import subprocess

    mount = small_tmpfs(4 * 2**20)
    db = mount / "kube9.db"
    ids = recorded(db, 3)
    done = subprocess.run(["mount", "-o", "remount,ro", str(mount)], capture_output=True)
    assert done.returncode == 0, done.stderr
    with EventStore.open(db, read_only=True, metrics=False) as store:
        assert sorted(e.id for e in store.query()) == sorted(ids)
    r = run("query", "events", "list", "--db", str(db), "--format", "json")
    assert r.exit_code == 0, r.output


# -- reads in batches -------------------------------------------------------------------------


@pytest.mark.parametrize("oldest_first", [True, False])
def test_the_keyset_walk_neither_skips_nor_repeats_under_deletes(
    db_path: Path, oldest_first: bool
) -> None:
    ids = recorded(db_path, 12)  # one instant: only the tie-breaker orders them
    with EventStore.open(db_path, read_only=True, metrics=False) as store:
        walk = row_batches(store, batch_size=4, oldest_first=oldest_first)
        first = next(walk)
        con = sqlite3.connect(db_path)  # retention between two batches
        con.execute("DELETE FROM events WHERE id = ?", (first[-1][0],))
        con.commit()
        con.close()
        seen = [r[0] for r in first] + [r[0] for batch in walk for r in batch]
    assert len(seen) == len(set(seen)) == 12
    assert set(seen) == set(ids)


def test_foreign_timestamps_in_other_forms_match_since(tmp_path: Path) -> None:
    src = foreign_db(
        tmp_path / "f" / "kube9.db",
        [
            row(1, "2025-06-01 10:00:00"),  # a space, no zone
            row(2, "2025-06-01T12:00:00+02:00"),  # an offset: 10:00Z
            row(3, "2025-05-01T00:00:00.000Z"),  # before --since
        ],
    )
    r = run("export", "--db", str(src), "--since", "2025-06-01T09:00:00Z")
    assert r.exit_code == 0, r.output
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert sorted(e["id"][-1] for e in lines) == ["1", "2"]
    assert {e["created_at"] for e in lines} == {"2025-06-01T10:00:00.000Z"}
    r = run("query", "events", "list", "--db", str(src), "--since", "2025-06-01T09:00:00Z")
    assert sorted(e["id"][-1] for e in json.loads(r.stdout)["events"]) == ["1", "2"]
    r = run("events", "count", "--db", str(src), "--since", "2025-06-01T09:00:00Z")
    assert json.loads(r.stdout)["count"] == 2
    result = copy_events(src, tmp_path / "c.db", flt={"since": "2025-06-01T09:00:00Z"})
    assert result.copied == result.matched == 2 and result.complete
    assert result.counts["by_severity"] == {"error": {"source": 2, "destination": 2}}


def test_a_foreign_export_keeps_its_direction(tmp_path: Path) -> None:
    src = foreign_db(
        tmp_path / "f" / "kube9.db", [row(n, f"2025-06-0{n} 10:00") for n in range(1, 8)]
    )
    for flags, order in (([], "1234567"), (["--newest-first"], "7654321")):
        r = run("export", "--db", str(src), "--batch-size", "3", *flags)
        assert "".join(json.loads(line)["id"][-1] for line in r.stdout.splitlines()) == order


def test_a_null_created_at_is_reported_and_skipped(tmp_path: Path) -> None:
    rows = [row(n, "2025-01-01T00:00:00.000Z") for n in range(5)] + [row(9, None)]
    src = foreign_db(tmp_path / "f" / "kube9.db", rows)
    for _ in range(2):  # a rerun too
        result = copy_events(src, tmp_path / "c.db", batch_size=2)
        assert result.invalid_count == 1 and "created_at" in result.invalid[0]["error"]
    r = run("export", "--db", str(src), "--batch-size", "2")
    assert r.exit_code == 0 and len(r.stdout.splitlines()) == 5
    assert "evt_20250101_000000_000009" in r.stderr


@pytest.mark.parametrize("journal", ["delete", "wal"])
def test_a_foreign_database_a_writer_starts_using_reads_whole(tmp_path: Path, journal: str) -> None:
    src = foreign_db(
        tmp_path / "f" / "kube9.db",
        [row(n, "2025-01-01T00:00:00.000Z", description="x" * 500) for n in range(200)],
    )
    con = sqlite3.connect(src)
    con.execute(f"PRAGMA journal_mode = {journal}")
    con.close()
    with EventStore.open(src, read_only=True, metrics=False) as store:
        assert store.count() == 200
        writer = sqlite3.connect(src)
        writer.executemany(
            "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [row(n, "2025-01-02T00:00:00.000Z", description="y" * 500) for n in range(200, 900)],
        )
        writer.execute("DELETE FROM events WHERE rowid % 3 = 0")
        writer.commit()
        writer.execute("VACUUM")
        writer.close()
        assert store.count() == 600 and len(store.query(limit=None)) == 600


# -- space ------------------------------------------------------------------------------------


def test_the_copy_estimate_covers_what_a_copy_writes(tmp_path: Path) -> None:
    src = build_operator_db(tmp_path / "op" / "kube9.db", events=3000)
    con = sqlite3.connect(src)  # the operator's other tables: not copied, not counted
    con.executemany(
        "INSERT INTO assessment_history VALUES (?, ?, ?)",
        [(i, "a", "z" * 5000) for i in range(2000)],
    )
    con.commit()
    con.close()
    from kube9_store.gates.space import copy_space

    dest = tmp_path / "dest" / "kube9.db"
    peak = 0

    def watch(_done: int, _total: int) -> None:
        nonlocal peak
        peak = max(peak, sum(p.stat().st_size for p in dest.parent.iterdir()))

    with EventStore.open(src, read_only=True, metrics=False) as store:
        room = copy_space(store, EventStore.open(dest, metrics=False).backend, store.count())
        assert room is not None
        estimate = room.needed()
        assert estimate < src.stat().st_size / 2  # the other tables are 10 MB of it
    copy_events(src, dest, batch_size=3000, progress=watch)
    assert estimate >= peak, (estimate, peak)


def test_a_copy_that_cannot_fit_is_refused_before_writing(small_tmpfs: Any, tmp_path: Path) -> None:
    src = build_operator_db(tmp_path / "op" / "kube9.db", events=3000)
    mount = small_tmpfs(2 * 2**20)
    with pytest.raises(NotEnoughSpaceError):
        copy_events(src, mount / "kube9.db")
    assert not (mount / "kube9.db").exists()


def test_a_budget_below_an_empty_database_is_refused(db_path: Path) -> None:
    recorded(db_path, 3)
    with EventStore.open(db_path, metrics=False) as store:
        with pytest.raises(ValidationError, match=r"max_bytes.*empty database"):
            store.apply_retention(policy=RetentionPolicy(max_bytes=4096))
        assert store.count() == 3


# -- errors and output ------------------------------------------------------------------------


def test_a_garbage_schema_version_is_the_packages_error(tmp_path: Path) -> None:
    db = tmp_path / "kube9.db"
    con = sqlite3.connect(db)
    con.executescript(SPEC_V1_SQL.replace("version INTEGER PRIMARY KEY", "version"))
    con.execute("UPDATE schema_version SET version = 'garbage'")
    con.commit()
    con.close()
    with (
        EventStore.open(db, read_only=True, metrics=False) as store,
        pytest.raises(SchemaError, match="garbage"),
    ):
        store.schema_version()
    r = run("db", "status", "--db", str(db))
    assert r.exit_code in (ExitCode.ERROR, ExitCode.PARTIAL) and "Traceback" not in r.output
    with pytest.raises(SchemaError, match="garbage"):
        backup(db, tmp_path / "backup.db")


def test_export_into_a_missing_directory_is_the_packages_error(tmp_path: Path) -> None:
    db = tmp_path / "kube9.db"
    recorded(db, 1)
    with (
        EventStore.open(db, read_only=True, metrics=False) as store,
        pytest.raises(ValidationError, match="output"),
    ):
        export_to_file(store, tmp_path / "missing" / "out.jsonl")


def test_export_onto_a_full_volume_is_the_packages_error(small_tmpfs: Any, tmp_path: Path) -> None:
    db = tmp_path / "kube9.db"
    with EventStore.open(db, metrics=False) as store:
        store.record_many([NewEvent(**event_data(description="d" * 900)) for _ in range(400)])
    mount = small_tmpfs(64 * 1024)
    with (
        EventStore.open(db, read_only=True, metrics=False) as store,
        pytest.raises(Kube9StoreError, match="no space"),
    ):
        export_to_file(store, mount / "out.jsonl")
    assert os.listdir(mount) == []


def test_a_closed_async_store_raises_store_closed(db_path: Path) -> None:
    async def main() -> None:
        store = await AsyncEventStore.open(db_path, metrics=False)
        await store.close()
        with pytest.raises(StoreClosedError):
            await store.count()
        with pytest.raises(StoreClosedError):
            await store.record(event_data())

    asyncio.run(main())


def test_a_retention_that_failed_after_committing_batches_says_so(db_path: Path) -> None:
    with EventStore.open(db_path, metrics=False) as store:
        store.record_many(
            [NewEvent(**event_data(severity="info", created_at="2020-01-01")) for _ in range(30)]
        )
    started = threading.Event()

    def progress(done: int, _total: int) -> None:
        started.set()
        time.sleep(0.3)
        raise RuntimeError("disk went away")

    async def main() -> None:
        store = await AsyncEventStore.open(db_path, metrics=False)
        try:
            task = asyncio.ensure_future(store.apply_retention(batch_size=10, progress=progress))
            while not started.is_set():
                await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError) as caught:
                await task
            outcome = write_outcome(caught.value)
            assert outcome is not None and not outcome.committed
            assert outcome.partial == "10 events deleted"
            assert "committing part" in outcome.describe()
        finally:
            await store.close()

    asyncio.run(main())


def test_a_password_in_the_query_string_is_never_shown(pg_url: Any, tmp_path: Path) -> None:
    url = pg_url.render_as_string(hide_password=False)
    joiner = "&" if "?" in url else "?"
    hostile = f"{url}{joiner}password={SECRET}"
    src = tmp_path / "kube9.db"
    recorded(src, 2)
    r = run("copy", str(src), hostile)
    assert SECRET not in r.stdout + r.stderr
    assert "password=***" in r.stdout


def test_control_bytes_never_reach_a_terminal_or_a_csv_cell(tmp_path: Path) -> None:
    db = tmp_path / f"odd{HOSTILE.replace('/', '')}" / "kube9.db"
    db.parent.mkdir()
    con = sqlite3.connect(db)
    con.executescript(SPEC_V1_SQL)  # behind head: every command prints a notice
    con.execute(
        "INSERT INTO events VALUES ('evt_20250101_000000_aaaaaa', 'cluster', 'info', ?, ?,"
        " NULL, NULL, NULL, NULL, '2025-01-01T00:00:00.000Z')",
        (HOSTILE, HOSTILE),
    )
    con.commit()
    con.close()
    r = run("export", "--db", str(db), "--format", "csv")
    assert r.exit_code == 0, r.output
    for raw in ("\x1b", "\x9b", "\x07"):
        assert raw not in r.stdout and raw not in r.stderr
    assert "notice" in r.stderr


def test_copying_over_another_event_with_the_same_id_is_not_complete(tmp_path: Path) -> None:
    src = tmp_path / "a.db"
    (event_id,) = recorded(src, 1)
    dest = tmp_path / "b.db"
    with EventStore.open(dest, metrics=False) as store:
        store.record(event_data(id=event_id, title="another event", created_at="2024-01-01"))
    result = copy_events(src, dest)
    assert result.conflict_count == 1 and result.conflicts == [event_id]
    assert not result.complete


def test_one_huge_jsonl_line_is_refused_in_bounded_memory(db_path: Path, tmp_path: Path) -> None:
    from kube9_store.transfer.jsonl import MAX_LINE

    huge = tmp_path / "huge.jsonl"
    good = json.dumps(
        {
            **event_data(),
            "id": "evt_20250101_000000_aaaaaa",
            "created_at": "2025-01-01T00:00:00.000Z",
        }
    )
    with open(huge, "wb") as f:
        f.write(b'{"title": "' + b"x" * (8 * MAX_LINE) + b'"}\n' + good.encode() + b"\n")
    with EventStore.open(db_path, metrics=False) as store, open(huge, "rb") as source:
        tracemalloc.start()
        report = import_jsonl(store, source)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert report.imported == 1 and report.invalid_count == 1
    assert "longer than any event" in report.invalid[0]["error"]
    assert peak < 4 * MAX_LINE, peak
