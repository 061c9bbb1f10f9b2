"""copy: every readable source into a store on either backend, exactly, idempotently, resumable
after SIGKILL, with filters and dry runs."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL

from kube9_store import (
    EventStore,
    Kube9StoreError,
    NotEnoughSpaceError,
    SchemaError,
    StorageFullError,
    ValidationError,
)
from kube9_store.cli import cli
from kube9_store.config import sqlite_url
from kube9_store.errors import DatabaseMissingError
from kube9_store.transfer.copy import copy_events
from tests.helpers import (
    BACKENDS,
    PG_URL,
    REPO,
    build_spec_db,
    event_data,
    file_fingerprint,
    pg_schema,
)
from tests.operator_db import build_operator_db

COLUMNS = (
    "id, event_type, severity, title, description, object_kind, object_namespace, "
    "object_name, metadata, created_at"
)


def dump_rows(db: Path | URL) -> list[tuple[Any, ...]]:
    """Every event row, read with plain SQL (never through the code under test), by id; a
    file is read immutable so nothing is created beside it."""
    if isinstance(db, Path):
        url: Any = f"sqlite:///file:{db}?mode=ro&immutable=1&uri=true"
    else:
        url = db
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            ack = "acknowledged" if _has_acknowledged(conn) else "0"
            rows = conn.execute(text(f"SELECT {COLUMNS}, {ack} FROM events")).all()
    finally:
        engine.dispose()
    return sorted(tuple(r) for r in rows)


def _has_acknowledged(conn: Any) -> bool:
    result = conn.execute(text("SELECT * FROM events LIMIT 0"))
    return "acknowledged" in list(result.keys())


@pytest.fixture(params=BACKENDS)
def dest(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[URL]:
    """An empty destination on each backend (nothing created yet)."""
    if request.param == "postgresql":
        yield request.getfixturevalue("pg_url")
        return
    yield sqlite_url(tmp_path / "dest" / "kube9.db")


def as_location(url: URL) -> Path | URL:
    return Path(url.database) if url.get_backend_name() == "sqlite" and url.database else url


def filled_store(path: Path, n: int, *, acknowledged_every: int = 7) -> Path:
    """A kube9_store database of ``n`` varied events, some acknowledged."""
    with EventStore.open(path, metrics=False) as store:
        for start in range(0, n, 2000):
            store.record_many(
                [
                    event_data(
                        event_type=("cluster", "operator", "insight", "health")[i % 4],
                        severity=("info", "warning", "error", "critical")[i % 3],
                        title=f"Event {i} — ünïcode ✓",
                        object_kind="Pod" if i % 2 else None,
                        object_namespace="default" if i % 2 else None,
                        object_name=f"web-{i % 50}" if i % 2 else None,
                        metadata={
                            "i": i,
                            "big": 2**70 + i,
                            "nested": {"list": [1.5, None, True, "x"]},
                            "text": "line\nbreak\ttab",
                        },
                        created_at=f"2025-12-02T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:"
                        f"{i % 60:02d}.{i % 1000:03d}Z",
                    )
                    for i in range(start, min(n, start + 2000))
                ],
                return_events=False,
            )
        for i, event in enumerate(store.iter(page_size=1000)):
            if i % acknowledged_every == 0:
                store.acknowledge(event.id)
    return path


def test_operator_database_copies_to_each_backend(tmp_path: Path, dest: URL) -> None:
    source = build_operator_db(tmp_path / "operator" / "kube9.db", events=3000)
    before = file_fingerprint(source), sorted(os.listdir(source.parent))
    result = copy_events(source, as_location(dest))
    assert (result.matched, result.copied, result.already_present) == (3000, 3000, 0)
    assert result.complete and result.invalid_count == 0
    assert result.counts["by_event_type"]["cluster"] == {"source": 2100, "destination": 2100}
    assert dump_rows(as_location(dest)) == dump_rows(source)
    again = copy_events(source, as_location(dest))
    assert (again.copied, again.already_present, again.complete) == (0, 3000, True)
    assert (file_fingerprint(source), sorted(os.listdir(source.parent))) == before
    with EventStore.open(as_location(dest), read_only=True, metrics=False) as store:
        assert store.read_model.at_head
        assert store.count_by_type() == {"cluster": 2100, "insight": 300, "operator": 600}


def test_foreign_rows_are_validated_on_the_way_in(tmp_path: Path) -> None:
    """The operator scrubs only top-level keys and may hold what this package refuses."""
    base = ("system", "info", "t", None, None, None, None)
    extra = [
        (
            "evt_20251203_000000_secret",
            *base,
            '{"details":{"password":"hunter2"},"n":1}',
            "2025-12-03T00:00:00.000Z",
        ),
        ("evt_20251203_000001_nomsec", *base, None, "2025-12-03T00:00:01Z"),
        ("evt_20251203_000002_badtyp", "kernel", *base[1:], None, "2025-12-03T00:00:02.000Z"),
        ("evt_20251203_000003_badmet", *base, "[1, 2]", "2025-12-03T00:00:03.000Z"),
    ]
    source = build_operator_db(tmp_path / "op" / "kube9.db", events=10, extra_rows=extra)
    target = tmp_path / "dest.db"
    result = copy_events(source, target)
    assert (result.copied, result.invalid_count) == (12, 2)
    assert {p["id"] for p in result.invalid} == {
        "evt_20251203_000002_badtyp",
        "evt_20251203_000003_badmet",
    }
    assert "event_type" in result.invalid[0]["error"]
    assert not result.complete  # the destination lacks two system/info events
    with EventStore.open(target, read_only=True, metrics=False) as store:
        scrubbed = store.get("evt_20251203_000000_secret")
        assert scrubbed is not None
        assert scrubbed.metadata == {"details": {"password": "[REDACTED]"}, "n": 1}
        normalized = store.get("evt_20251203_000001_nomsec")
        assert normalized is not None and normalized.created_at == "2025-12-03T00:00:01.000Z"


def test_a_foreign_acknowledged_flag_must_be_0_or_1(tmp_path: Path) -> None:
    """A spec v2 database may hold anything in its INTEGER column; only 0, 1 and NULL (not
    acknowledged) are taken, the rest refused by name rather than read as true."""
    source = build_spec_db(tmp_path / "src.db", version=2, rows=6)
    con = sqlite3.connect(source)
    with con:
        for i, value in enumerate(["false", 2, None, 1, 0.5]):
            con.execute(
                "UPDATE events SET acknowledged = ? WHERE id = (SELECT id FROM events"
                " ORDER BY id LIMIT 1 OFFSET ?)",
                (value, i),
            )
    con.close()
    result = copy_events(source, tmp_path / "dest.db")
    assert (result.copied, result.invalid_count) == (3, 3)
    assert all("acknowledged: must be 0 or 1" in p["error"] for p in result.invalid)
    with EventStore.open(tmp_path / "dest.db", read_only=True, metrics=False) as store:
        assert sorted(e.acknowledged for e in store.query(limit=None)) == [False, False, True]


@pytest.mark.parametrize("source_kind", ["sqlite", "postgresql"])
def test_kube9_store_databases_copy_exactly_both_ways(
    tmp_path: Path, dest: URL, source_kind: str, request: pytest.FixtureRequest
) -> None:
    if source_kind == "postgresql":
        request.getfixturevalue("pg_server")
        context: Any = pg_schema(PG_URL)
    else:
        context = None
    path = filled_store(tmp_path / "src.db", 1500)
    if context is None:
        source: Path | URL = path
        copy_events(path, as_location(dest))
    else:
        with context as pg:
            copy_events(path, pg)
            source = pg
            result = copy_events(pg, as_location(dest))
            assert result.complete
            assert dump_rows(as_location(dest)) == dump_rows(path)
            return
    assert dump_rows(as_location(dest)) == dump_rows(source)
    acked = [r for r in dump_rows(as_location(dest)) if r[-1]]
    assert len(acked) == len(range(0, 1500, 7))


def test_filters_and_dry_run(tmp_path: Path, dest: URL) -> None:
    source = filled_store(tmp_path / "src.db", 600)
    flt = {"event_type": ["cluster", "insight"], "since": "2025-12-02T00:05:00Z"}
    want = [
        r
        for r in dump_rows(source)
        if r[1] in ("cluster", "insight") and r[9] >= "2025-12-02T00:05:00.000Z"
    ]
    dry = copy_events(source, as_location(dest), flt=flt, dry_run=True)
    assert (dry.dry_run, dry.matched, dry.copied) == (True, len(want), len(want))
    if dest.get_backend_name() == "sqlite":
        assert not Path(str(dest.database)).parent.exists()
    result = copy_events(source, as_location(dest), flt=flt, batch_size=37)
    assert (result.matched, result.copied) == (len(want), len(want))
    assert set(result.counts["by_event_type"]) == {"cluster", "insight"}
    assert dump_rows(as_location(dest)) == want
    later = copy_events(source, as_location(dest), dry_run=True)
    assert (later.copied, later.already_present) == (600 - len(want), len(want))


def test_refusals_write_nothing(tmp_path: Path) -> None:
    source = filled_store(tmp_path / "src.db", 10)
    with pytest.raises(ValidationError, match="destination"):
        copy_events(source, source)
    with pytest.raises(ValidationError, match="destination"):
        copy_events(source, sqlite_url(source))
    foreign = build_operator_db(tmp_path / "op" / "kube9.db", events=5)
    before = file_fingerprint(foreign), sorted(os.listdir(foreign.parent))
    for dry_run in (True, False):
        with pytest.raises(SchemaError, match="another lineage"):
            copy_events(source, foreign, dry_run=dry_run)
    assert (file_fingerprint(foreign), sorted(os.listdir(foreign.parent))) == before
    missing = tmp_path / "absent" / "kube9.db"
    with pytest.raises(DatabaseMissingError, match="does not exist"):
        copy_events(missing, tmp_path / "out.db")
    assert not (tmp_path / "out.db").exists()


def test_copy_command(tmp_path: Path) -> None:
    source = build_operator_db(tmp_path / "op" / "kube9.db", events=200)
    target = tmp_path / "dest.db"
    runner = CliRunner()
    r = runner.invoke(cli, ["copy", str(source), str(target), "--type", "operator"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert (out["matched"], out["copied"], out["complete"]) == (40, 40, True)
    assert "another lineage" in json.loads(r.stderr.strip().splitlines()[0])["notice"]
    r = runner.invoke(cli, ["copy", str(source), str(target), "--dry-run"])
    assert json.loads(r.stdout)["copied"] == 160
    r = runner.invoke(cli, ["copy", str(source), str(target), "--batch-size", "0"])
    assert r.exit_code == 2


def _copy_process(source: Path, target: Any) -> subprocess.Popen[bytes]:
    target_arg = target.render_as_string(hide_password=False) if isinstance(target, URL) else target
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "kube9_store", "copy", str(source), str(target_arg)),
            *("--batch-size", "100", "--quiet"),  # many commits: each kill point is seen
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _stored(target: Path | URL) -> int:
    """How many events ``target`` holds as seen from outside (0 while it is being made)."""
    try:
        with EventStore.open(target, read_only=True, metrics=False) as store:
            return store.count()
    except Kube9StoreError:
        return 0


def _kill_at(proc: subprocess.Popen[bytes], target: Path | URL, goal: int) -> bool:
    """SIGKILL ``proc`` as soon as ``target`` holds ``goal`` events; False when the copy ended
    first."""
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if _stored(target) >= goal:
            proc.send_signal(signal.SIGKILL)
            return True
        time.sleep(0.01)
    return False


@pytest.mark.slow
def test_sigkill_at_random_points_then_resume(tmp_path: Path, dest: URL) -> None:
    """Copies killed at random points of their progress (not of the clock, which a faster
    copy would outrun), each resumed by the next."""
    total = 12_000
    source = filled_store(tmp_path / "src.db", total)
    target = as_location(dest)
    rnd = random.Random(15)
    kills = 0
    for _ in range(6):
        goal = _stored(target) + rnd.randint(250, 2500)
        proc = _copy_process(source, target)
        if goal < total - 250 and _kill_at(proc, target, goal):
            kills += 1
        proc.wait()
        if isinstance(target, Path) and target.exists():
            with EventStore.open(target, read_only=True, metrics=False) as store:
                assert store.integrity_check(full=True).ok
    assert kills >= 3
    result = copy_events(source, target)
    assert result.complete
    assert dump_rows(target) == dump_rows(source)
    with EventStore.open(target, read_only=True, metrics=False) as store:
        assert store.count_by_severity() == {
            sev: sum(1 for r in dump_rows(source) if r[2] == sev)
            for sev in ("critical", "error", "info", "warning")
            if any(r[2] == sev for r in dump_rows(source))
        }


def test_concurrent_writer_keeps_its_counts_during_a_copy(tmp_path: Path, dest: URL) -> None:
    """The bulk path sets the per-row count trigger aside inside its own transactions: a
    writer recording at the same time must still be counted, and the trigger is in place
    afterwards."""
    source = filled_store(tmp_path / "src.db", 6000)
    target = as_location(dest)
    with EventStore.open(target, metrics=False) as live:
        done = False
        written = 0

        def write() -> None:
            nonlocal written
            while not done:
                live.record(event_data(event_type="system", severity="critical"))
                written += 1

        thread = threading.Thread(target=write)
        thread.start()
        try:
            copy_events(source, target, batch_size=500)
        finally:
            done = True
            thread.join()
        assert written > 0
        assert live.count({"event_type": "system"}) == written
        assert sum(live.count_by_type().values()) == 6000 + written
    engine = create_engine(dest if isinstance(target, URL) else f"sqlite:///{target}")
    with engine.connect() as conn:
        actual = {
            (t, s): n
            for t, s, n in conn.execute(
                text("SELECT event_type, severity, count(*) FROM events GROUP BY 1, 2")
            )
        }
        kept = {
            (t, s): n
            for t, s, n in conn.execute(
                text("SELECT event_type, severity, n FROM event_counts WHERE n > 0")
            )
        }
    engine.dispose()
    assert kept == actual
    with EventStore.open(target, metrics=False) as again:  # the trigger still counts
        again.record(event_data(event_type="health", severity="info"))
        assert again.count({"event_type": "health"}) == 1 + sum(
            n for (t, _), n in actual.items() if t == "health"
        )


@pytest.mark.slow
def test_two_copies_at_once_into_one_destination(tmp_path: Path, dest: URL) -> None:
    source = filled_store(tmp_path / "src.db", 8000)
    target = as_location(dest)
    with EventStore.open(target, metrics=False):
        pass  # created once, so both processes find it at head
    procs = [_copy_process(source, target) for _ in range(2)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    assert dump_rows(target) == dump_rows(source)
    with EventStore.open(target, read_only=True, metrics=False) as store:
        assert sum(store.count_by_type().values()) == 8000
        if isinstance(target, Path):
            assert store.integrity_check(full=True).ok


def test_a_full_disk_stops_the_copy_between_batches(tmp_path: Path, small_tmpfs: Any) -> None:
    """The destination's volume fills up mid-copy: the error says so, the batches already
    written stay whole (counts and events agree), and nothing half-written remains."""
    source = filled_store(tmp_path / "src.db", 12_000)
    volume = small_tmpfs(32 << 20)
    target = volume / "kube9.db"

    def fill_the_volume(done: int, _total: int) -> None:
        if done == 1000:  # after the first batch, something else takes the room
            st = os.statvfs(volume)
            (volume / "other.bin").write_bytes(b"\0" * (st.f_bavail * st.f_frsize - (1 << 20)))

    with pytest.raises(StorageFullError):
        copy_events(source, target, batch_size=1000, progress=fill_the_volume)
    with EventStore.open(target, read_only=True, metrics=False) as store:
        stored = store.count()
        assert 0 < stored < 12_000
        assert stored % 1000 == 0
        assert store.integrity_check(full=True).ok
        assert sum(store.count_by_type().values()) == stored


def test_a_copy_that_cannot_fit_is_refused_before_anything_is_written(
    tmp_path: Path, small_tmpfs: Any
) -> None:
    source = filled_store(tmp_path / "src.db", 12_000)
    volume = small_tmpfs(2 << 20)
    target = volume / "data" / "kube9.db"
    with pytest.raises(NotEnoughSpaceError) as info:
        copy_events(source, target, batch_size=1000)
    assert info.value.path == volume
    assert info.value.needed > info.value.free
    assert str(info.value.needed) in str(info.value) and str(volume) in str(info.value)
    assert list(volume.iterdir()) == []  # no directory, no file


def test_a_role_that_does_not_own_the_table_counts_row_by_row(tmp_path: Path, pg_url: URL) -> None:
    """Switching the count trigger off needs the table's owner; any other role with the
    rights to insert gets the per-row trigger, and the same exact result."""
    import psycopg

    from tests.helpers import conninfo

    with EventStore.open(pg_url, metrics=False):
        pass
    role = f"kube9_loader_{os.getpid()}"
    schema = str(pg_url.query["options"]).split("=")[1]
    admin = psycopg.connect(conninfo(pg_url), autocommit=True)
    try:
        admin.execute(f'CREATE ROLE "{role}" LOGIN')
        admin.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"')
        admin.execute(
            f'GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"'
        )
        admin.execute(f'GRANT TEMPORARY ON DATABASE "{pg_url.database}" TO "{role}"')
        source = filled_store(tmp_path / "src.db", 3000)
        as_loader = pg_url.set(username=role)
        result = copy_events(source, as_loader, batch_size=700)
        assert result.complete and result.copied == 3000
        assert dump_rows(pg_url) == dump_rows(source)
        with EventStore.open(pg_url, read_only=True, metrics=False) as store:
            assert store.count_by_severity() == {
                sev: n
                for sev in ("critical", "error", "info", "warning")
                if (n := sum(1 for r in dump_rows(source) if r[2] == sev))
            }
    finally:
        admin.execute(f'DROP OWNED BY "{role}"')
        admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        admin.close()
