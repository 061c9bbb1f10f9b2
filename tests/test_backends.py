"""The same revision chain, CLI contract and concurrency guarantees on every backend
(SQLite files and PostgreSQL schemas, from the one backend list in conftest)."""

from __future__ import annotations

import json
import multiprocessing
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import inspect, text
from sqlalchemy.engine import URL

from kube9_store import EventStore, Kube9StoreError, MigrationError
from kube9_store.backends import backend_for
from kube9_store.cli import cli
from kube9_store.operations.health import check_health
from kube9_store.schema.migrate import Migrator
from kube9_store.schema.tables import HEAD_REVISION, HEAD_VERSION, REVISION_PREFIX
from tests.helpers import TESTS, event_data

FAILING = str(TESTS / "revisions_failing")


def _state(url: URL) -> tuple[str | None, list[int], set[str]]:
    engine = backend_for(url).engine
    try:
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
            rev = (
                conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
                if "alembic_version" in tables
                else None
            )
            versions = (
                list(conn.execute(text("SELECT version FROM schema_version ORDER BY 1")).scalars())
                if "schema_version" in tables
                else []
            )
            return rev, versions, tables
    finally:
        engine.dispose()


def _server_pk_not_null(diff: Any, dialect: str) -> bool:
    """The spec declares its primary keys without NOT NULL, as SQLite allows; PostgreSQL makes
    every primary key column NOT NULL, which is the only difference autogenerate may report."""
    item = diff[0] if isinstance(diff, list) else diff
    return (
        dialect == "postgresql"
        and item[0] == "modify_nullable"
        and (item[2], item[3]) in {("events", "id"), ("schema_version", "version")}
    )


@pytest.mark.filterwarnings("ignore:.*expression-based index")
def test_chain_up_down_up_keeps_schema_version_in_sync(backend_url: URL) -> None:
    backend = backend_for(backend_url)
    engine = backend.engine
    migrator = Migrator(backend)
    try:
        for v in range(1, HEAD_VERSION + 1):
            migrator.upgrade(f"{REVISION_PREFIX}{v:04d}")
            assert _state(backend_url)[:2] == (f"{REVISION_PREFIX}{v:04d}", list(range(1, v + 1)))
        migrator.downgrade("base")
        rev, versions, tables = _state(backend_url)
        assert (rev, versions) == (None, [])
        assert not tables & {"events", "schema_version", "event_counts"}
        migrator.upgrade("head")
        assert _state(backend_url)[:2] == (HEAD_REVISION, list(range(1, HEAD_VERSION + 1)))
        with engine.connect() as conn:
            diff = [
                d
                for d in compare_metadata(MigrationContext.configure(conn), backend.head_metadata)
                if d[0] != "remove_table" and not _server_pk_not_null(d, engine.dialect.name)
            ]
        assert diff == []
    finally:
        engine.dispose()


def test_failing_revision_rolls_back_on_every_backend(backend_url: URL) -> None:
    with EventStore.open(backend_url) as s:
        s.record(event_data(title="kept"))
    with pytest.raises(MigrationError) as info:
        EventStore.open(backend_url, extra_version_locations=[FAILING])
    assert info.value.revision == f"{REVISION_PREFIX}{HEAD_VERSION + 1:04d}"
    engine = backend_for(backend_url).engine
    try:
        with engine.connect() as conn:
            columns = {c["name"] for c in inspect(conn).get_columns("events")}
    finally:
        engine.dispose()
    assert "doomed" not in columns
    assert _state(backend_url)[:2] == (HEAD_REVISION, list(range(1, HEAD_VERSION + 1)))
    with EventStore.open(backend_url) as s:
        assert [e.title for e in s.query()] == ["kept"]


def _open_and_record(url: str, barrier: Any) -> None:
    barrier.wait()
    with EventStore.open(url, metrics=False) as s:
        s.record(event_data(title="racer"))


@pytest.mark.slow
def test_concurrent_openers_migrate_once(backend_url: URL) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(3)
    url = backend_url.render_as_string(hide_password=False)
    procs = [ctx.Process(target=_open_and_record, args=(url, barrier)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    assert _state(backend_url)[:2] == (HEAD_REVISION, list(range(1, HEAD_VERSION + 1)))
    with EventStore.open(backend_url) as s:
        assert s.count() == 3


def _writer(url: str, worker: int, rounds: int, out: Any) -> None:
    ids: list[str] = []
    with EventStore.open(url, metrics=False) as s:
        for i in range(rounds):
            if i % 2:
                batch = [
                    event_data(event_type=t, severity=v, title=f"w{worker}-{i}")
                    for t, v in (("cluster", "error"), ("health", "info"), ("cluster", "info"))
                ]
                ids.extend(e.id for e in s.record_many(batch))
            else:
                ids.append(s.record(event_data(title=f"w{worker}-{i}")).id)
    out.put(ids)


@pytest.mark.slow
def test_several_writer_processes_lose_nothing_and_count_exactly(backend_url: URL) -> None:
    with EventStore.open(backend_url):
        pass
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    url = backend_url.render_as_string(hide_password=False)
    procs = [ctx.Process(target=_writer, args=(url, w, 60, out)) for w in range(4)]
    for p in procs:
        p.start()
    written: list[str] = []
    for _ in procs:
        written.extend(out.get(timeout=120))
    for p in procs:
        p.join(30)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    with EventStore.open(backend_url) as s:
        assert {e.id for e in s.query(limit=None)} == set(written)
        assert s.count() == len(written) == 4 * (30 + 30 * 3)
        with s.engine.connect() as conn:
            truth = dict(
                conn.execute(text("SELECT event_type, COUNT(*) FROM events GROUP BY 1")).all()
            )
        assert s.count_by_type() == truth


def test_cli_contract_on_every_backend(backend_url: URL) -> None:
    db = backend_url.render_as_string(hide_password=False)
    runner = CliRunner()
    r = runner.invoke(cli, ["db", "upgrade", "--db", db])
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["at_head"] is True
    r = runner.invoke(
        cli,
        [
            "events",
            "record",
            "--db",
            db,
            "--type",
            "cluster",
            "--severity",
            "error",
            "--title",
            "Image pull failed",
            "--object-kind",
            "Pod",
        ],
    )
    event = json.loads(r.stdout)
    r = runner.invoke(
        cli,
        [
            "query",
            "events",
            "list",
            "--db",
            db,
            "--type",
            "cluster",
            "--since",
            "1h",
            "--limit",
            "5",
        ],
    )
    body = json.loads(r.stdout)
    assert body["pagination"] == {"total": 1, "limit": 5, "offset": 0, "returned": 1}
    assert body["events"][0] == event
    r = runner.invoke(cli, ["query", "events", "get", "evt_20990101_000000_abcdef", "--db", db])
    assert r.exit_code == 1
    assert json.loads(r.stderr) == {
        "error": "Event not found",
        "event_id": "evt_20990101_000000_abcdef",
    }
    r = runner.invoke(cli, ["events", "count", "--by", "type", "--db", db])
    assert json.loads(r.stdout) == {"by_type": {"cluster": 1}}
    r = runner.invoke(cli, ["health", "--db", db])
    assert r.exit_code == 0, r.stdout
    r = runner.invoke(cli, ["retention", "run", "--db", db])
    assert json.loads(r.stdout)["deleted"] == 0


def test_sqlite_only_maintenance_says_so_on_a_server(pg_url: URL, tmp_path: Any) -> None:
    with EventStore.open(pg_url) as s:
        for action in (lambda: s.backup(tmp_path / "b.db"), s.vacuum, s.integrity_check):
            with pytest.raises(Kube9StoreError, match="pg_dump"):
                action()
        assert s.size_bytes().database_bytes > 0
    assert check_health(pg_url).ok


def test_postgresql_orders_text_bytewise(pg_url: URL) -> None:
    """Ids and timestamps use the C collation, so ordering matches SQLite's."""
    with EventStore.open(pg_url) as s:
        ids = [
            "evt_20251202_103045_a00000",
            "evt_20251202_103045_0zzzzz",
            "evt_20251202_103045_z00000",
        ]
        s.record_many(event_data(id=i, created_at="2025-12-02T10:30:45.000Z") for i in ids)
        assert [e.id for e in s.query()] == sorted(ids, reverse=True)
