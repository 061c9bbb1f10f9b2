"""Databases that are not at this package's head: the reference operator's own (another
lineage, recognised from its structure) and this package's behind head. Every read command
answers from what their schema has; nothing is ever written, stamped or created beside them."""

from __future__ import annotations

import json
import os
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy.engine import URL

from kube9_store import EventStore, Kube9StoreError, SchemaError
from kube9_store.cli import cli
from kube9_store.operations.admin import status, upgrade
from tests.helpers import build_spec_db, event_data, file_fingerprint
from tests.operator_db import build_operator_db, operator_events

N = 3000
ROWS = operator_events(N)


@pytest.fixture
def operator_db(tmp_path: Path) -> Path:
    return build_operator_db(tmp_path / "operator" / "kube9.db", events=N)


def untouched(path: Path) -> tuple[Any, list[str]]:
    """The file's bytes, times and size, and what lies beside it."""
    return file_fingerprint(path), sorted(os.listdir(path.parent))


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_every_read_command_answers_and_leaves_the_file_as_it_was(
    operator_db: Path, tmp_path: Path
) -> None:
    before = untouched(operator_db)
    db = str(operator_db)

    r = run("query", "events", "list", "--db", db, "--limit", "1000")
    assert r.exit_code == 0, r.stderr
    body = json.loads(r.stdout)
    assert body["pagination"] == {"total": N, "limit": 1000, "offset": 0, "returned": 1000}
    newest = sorted(ROWS, key=lambda row: (row[9], row[0]), reverse=True)
    assert [e["id"] for e in body["events"]] == [row[0] for row in newest[:1000]]
    assert all(e["acknowledged"] is False for e in body["events"])
    notice = json.loads(r.stderr.strip())["notice"]
    assert "another lineage" in notice and f"kube9-store copy {db}" in notice

    first = ROWS[5]
    r = run("query", "events", "get", first[0], "--db", db)
    got = json.loads(r.stdout)
    assert (got["title"], got["created_at"], got["metadata"]) == (
        first[3],
        first[9],
        json.loads(first[8]) if first[8] else None,
    )

    by_type = Counter(row[1] for row in ROWS)
    r = run("events", "count", "--by", "type", "--db", db)
    assert json.loads(r.stdout) == {"by_type": dict(sorted(by_type.items()))}
    r = run("events", "count", "--by", "severity", "--db", db)
    assert json.loads(r.stdout)["by_severity"] == dict(Counter(row[2] for row in ROWS))
    r = run("events", "count", "--type", "cluster", "--severity", "error", "--db", db)
    assert json.loads(r.stdout) == {
        "count": sum(1 for row in ROWS if row[1] == "cluster" and row[2] == "error")
    }

    r = run("db", "status", "--db", db)
    st = json.loads(r.stdout)
    assert (st["lineage"], st["schema_version"], st["event_count"]) == ("other", 6, N)
    assert st["at_head"] is False and "kube9-store copy" in st["note"]

    for args in (["db", "check"], ["db", "check", "--full"]):
        r = run(*args, "--db", db)
        assert r.exit_code == 0, r.output
        assert json.loads(r.stdout)["ok"] is True

    r = run("db", "backup", str(tmp_path / "backup.db"), "--db", db)
    assert r.exit_code == 0, r.output
    backup = json.loads(r.stdout)
    assert (backup["events"], backup["schema_version"]) == (N, 6)

    r = run("retention", "run", "--dry-run", "--db", db)
    assert r.exit_code == 0, r.output
    assert untouched(operator_db) == before


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ({"event_type": "insight"}, lambda row: row[1] == "insight"),
        ({"severity": ["error", "critical"]}, lambda row: row[2] in ("error", "critical")),
        ({"since": "2025-12-02T10:00:00Z"}, lambda row: row[9] >= "2025-12-02T10:00:00.000Z"),
        (
            {"object_kind": "Pod", "object_namespace": "default"},
            lambda row: row[5] == "Pod" and row[6] == "default",
        ),
        ({"acknowledged": True}, lambda row: False),
        ({"acknowledged": False}, lambda row: True),
    ],
)
def test_filters_and_keyset_pages_on_the_operator_database(
    operator_db: Path, flt: dict[str, Any], expected: Any
) -> None:
    want = sorted((row for row in ROWS if expected(row)), key=lambda r: (r[9], r[0]))
    with EventStore.open(operator_db, read_only=True, metrics=False) as store:
        assert store.read_model.foreign and not store.read_model.acknowledged
        assert store.count(flt) == len(want)
        seen = [e.id for e in store.iter(flt, page_size=97)]
    assert seen == [row[0] for row in reversed(want)]


def test_a_read_write_open_refuses_and_points_at_copy(operator_db: Path) -> None:
    before = untouched(operator_db)
    with pytest.raises(SchemaError, match=r"another lineage.*kube9-store copy") as info:
        EventStore.open(operator_db)
    assert "assessments" in str(info.value)
    r = CliRunner().invoke(
        cli, ["events", "record", "--db", str(operator_db), "--type", "system"], input=None
    )
    assert r.exit_code == 1
    r = run(
        "events",
        "record",
        "--db",
        str(operator_db),
        "--type",
        "system",
        "--severity",
        "info",
        "--title",
        "x",
    )
    assert r.exit_code == 1 and "kube9-store copy" in r.stderr
    r = run("db", "upgrade", "--db", str(operator_db))
    assert r.exit_code == 1 and "never writes, stamps or migrates" in r.stderr
    assert untouched(operator_db) == before


def test_recognised_by_structure_not_by_version_number(tmp_path: Path) -> None:
    """The operator's lineage at its version 1 (before its own tables) still differs from the
    spec's v1 by its index names; at version 3 it would say a version this package has."""
    for version in (1, 3):
        path = build_operator_db(tmp_path / f"v{version}" / "kube9.db", events=20)
        con = sqlite3.connect(path)
        con.execute("DELETE FROM schema_version WHERE version > ?", (version,))
        for table in ("assessments", "collections"):
            con.execute(f"DROP TABLE {table}")
        con.commit()
        con.close()
        with EventStore.open(path, read_only=True, metrics=False) as store:
            assert store.read_model.foreign
            assert store.count() == 20
            assert f"schema version {version}" in (store.read_model.notice or "")
        with pytest.raises(SchemaError, match="idx_events_event_type"):
            EventStore.open(path)


def test_a_live_operator_database_is_read_through_its_wal(operator_db: Path) -> None:
    """While the operator has the file open (its -wal and -shm beside it), reads see what it
    committed and still write nothing."""
    writer = sqlite3.connect(operator_db)
    try:
        writer.execute("PRAGMA journal_mode = WAL")
        extra = operator_events(N + 1)[-1]
        writer.execute(
            "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ("evt_20301231_000000_zzzzzz", *extra[1:9], "2030-12-31T00:00:00.000Z"),
        )
        writer.commit()
        before = untouched(operator_db)
        with EventStore.open(operator_db, read_only=True, metrics=False) as store:
            assert store.count() == N + 1
            assert store.query(limit=1)[0].id == "evt_20301231_000000_zzzzzz"
        assert untouched(operator_db) == before
    finally:
        writer.close()


def test_unparseable_metadata_is_named_by_event(tmp_path: Path) -> None:
    bad = ("evt_20251203_000000_badbad", "system", "info", "odd", None, None, None, None)
    path = build_operator_db(
        tmp_path / "kube9.db",
        events=5,
        extra_rows=[(*bad, "{not json", "2025-12-03T00:00:00.000Z")],
    )
    with EventStore.open(path, read_only=True, metrics=False) as store:
        with pytest.raises(Kube9StoreError, match=r"evt_20251203_000000_badbad.*not JSON"):
            store.get("evt_20251203_000000_badbad")
        assert store.get(ROWS[0][0]) is not None


@pytest.mark.parametrize("revision", ["kube9_store_0001", "kube9_store_0002", "kube9_store_0003"])
def test_own_database_behind_head_is_read_as_its_schema_has_it(
    db_path: Path, revision: str
) -> None:
    upgrade(db_path, revision)
    con = sqlite3.connect(db_path)
    has_ack = revision != "kube9_store_0001"
    cols = "id, event_type, severity, title, created_at" + (", acknowledged" if has_ack else "")
    for i in range(30):
        values = [f"evt_20251202_1000{i:02d}_aaaaaa", "system", "info", f"e{i}"]
        values.append(f"2025-12-02T10:00:{i:02d}.000Z")
        if has_ack:
            values.append(i % 3 == 0)
        con.execute(f"INSERT INTO events ({cols}) VALUES ({','.join('?' * len(values))})", values)
    con.commit()
    con.close()
    before = untouched(db_path)
    with EventStore.open(db_path, read_only=True, metrics=False) as store:
        model = store.read_model
        assert (model.foreign, model.trusted, model.acknowledged) == (False, True, has_ack)
        assert f"revision {revision}" in (model.notice or "")
        assert "kube9-store db upgrade" in (model.notice or "")
        assert store.count() == 30
        assert store.count_by_type() == {"system": 30}
        assert store.count({"acknowledged": True}) == (10 if has_ack else 0)
        assert [e.title for e in store.query(limit=3)] == ["e29", "e28", "e27"]
    assert untouched(db_path) == before
    r = run("db", "status", "--db", str(db_path))
    assert json.loads(r.stdout)["lineage"] == "kube9_store"


def test_spec_v2_file_keeps_its_acknowledged_values(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    build_spec_db(db_path, version=2, rows=10)
    con = sqlite3.connect(db_path)
    con.execute("UPDATE events SET acknowledged = 1 WHERE title LIKE '%3'")
    con.commit()
    con.close()
    with EventStore.open(db_path, read_only=True, metrics=False) as store:
        assert not store.read_model.trusted and not store.read_model.foreign
        assert [e.title for e in store.query({"acknowledged": True})] == ["Pod BackOff 3"]


@pytest.mark.postgresql
def test_postgresql_database_behind_head_is_read(pg_url: URL) -> None:
    upgrade(pg_url, "0002")
    with EventStore.open(pg_url, read_only=True, metrics=False) as store:
        assert store.read_model.counts is False
        assert store.count() == 0
    assert status(pg_url).lineage == "kube9_store"
    with EventStore.open(pg_url, metrics=False) as store:  # upgrades it
        store.record(event_data())
    with EventStore.open(pg_url, read_only=True, metrics=False) as store:
        assert store.read_model.at_head and store.count() == 1
