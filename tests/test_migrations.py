"""The revision chain, schema_version bookkeeping, and migration at start-up."""

from __future__ import annotations

import logging
import multiprocessing
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import URL

from kube9_store import EventStore, MigrationError, SchemaError
from kube9_store.backends import backend_for
from kube9_store.backends.sqlite_files import describe
from kube9_store.config import sqlite_url
from kube9_store.schema.migrate import Migrator
from kube9_store.schema.tables import HEAD_REVISION, HEAD_VERSION, REVISION_PREFIX
from kube9_store.schema.tables import sqlite_metadata as metadata
from tests.helpers import REPO, TESTS, build_spec_db, file_fingerprint

FAILING = str(TESTS / "revisions_failing")
PRAGMAS = str(TESTS / "revisions_pragmas")


def schema_rows(path: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(path) as con:
        return con.execute("SELECT version, description FROM schema_version ORDER BY 1").fetchall()


def alembic_revision(path: Path) -> str | None:
    with sqlite3.connect(path) as con:
        row = con.execute("SELECT version_num FROM alembic_version").fetchone()
    return row[0] if row else None


def structure(path: Path, tables: tuple[str, ...] = ("schema_version", "events")) -> dict:
    engine = backend_for(sqlite_url(path)).engine
    try:
        with engine.connect() as conn:
            return describe(conn, tables)
    finally:
        engine.dispose()


@pytest.fixture
def migrator(db_path: Path):
    db_path.parent.mkdir(parents=True, exist_ok=True)
    backend = backend_for(sqlite_url(db_path))
    yield Migrator(backend)
    backend.dispose()


# -- the chain itself ---------------------------------------------------------------------------


def test_versions_are_one_to_n_with_a_single_head(migrator: Migrator) -> None:
    heads = migrator.script.get_heads()
    assert heads == [HEAD_REVISION]
    revisions = list(reversed(list(migrator.script.walk_revisions())))
    assert [int(r.module.SCHEMA_VERSION) for r in revisions] == list(range(1, len(revisions) + 1))
    assert [r.revision for r in revisions] == [
        f"kube9_store_{v:04d}" for v in range(1, len(revisions) + 1)
    ]
    assert migrator.head_version == HEAD_VERSION
    assert revisions[0].module.DESCRIPTION == "Initial schema with events table"


@pytest.mark.filterwarnings("ignore:.*expression-based index")
def test_metadata_matches_what_the_chain_builds(migrator: Migrator) -> None:
    """Tables and columns by Alembic's comparison; the expression indexes, which it cannot
    reflect on SQLite, by the DDL SQLite keeps (next test)."""
    migrator.upgrade("head")
    with migrator.backend.engine.connect() as conn:
        ctx = MigrationContext.configure(conn)
        diff = [d for d in compare_metadata(ctx, metadata) if d[0] != "remove_table"]
        tables = set(
            conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type='table'").scalars()
        )
    assert diff == []
    assert tables >= set(metadata.tables)


def test_metadata_indexes_equal_what_the_chain_builds(migrator: Migrator) -> None:
    """Every index of the metadata, compiled for SQLite, is the index the chain made."""
    from sqlalchemy.schema import CreateIndex

    migrator.upgrade("head")
    dialect = migrator.backend.engine.dialect
    with migrator.backend.engine.connect() as conn:
        built = dict(
            conn.exec_driver_sql(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            ).all()
        )

    def canonical(sql: str) -> str:
        return " ".join(sql.replace("(", " ( ").replace(")", " ) ").split()).lower()

    declared = {
        index.name: str(CreateIndex(index).compile(dialect=dialect))
        for table in metadata.tables.values()
        for index in table.indexes
    }
    assert set(declared) == set(built)
    for name, sql in declared.items():
        assert canonical(sql) == canonical(built[name]), name


@pytest.mark.parametrize("revision", ["0001", "0002"])
def test_chain_equals_the_spec_sql(tmp_path: Path, revision: str) -> None:
    spec = build_spec_db(tmp_path / "spec.db", version=int(revision))
    built = tmp_path / "chain.db"
    backend = backend_for(sqlite_url(built))
    Migrator(backend).upgrade(revision)
    backend.dispose()
    assert structure(built) == structure(spec)


def test_upgrade_downgrade_upgrade_is_stable(migrator: Migrator, db_path: Path) -> None:
    migrator.upgrade("head")
    first = structure(db_path, ("schema_version", "events", "event_counts"))
    migrator.downgrade("base")
    with sqlite3.connect(db_path) as con:
        left = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert left <= {"alembic_version"}
    migrator.upgrade("head")
    assert structure(db_path, ("schema_version", "events", "event_counts")) == first


def test_schema_version_follows_every_step(migrator: Migrator, db_path: Path) -> None:
    chain = [f"kube9_store_{v:04d}" for v in range(1, HEAD_VERSION + 1)]
    for i, rev in enumerate(chain, start=1):
        migrator.upgrade(rev)
        assert [v for v, _ in schema_rows(db_path)] == list(range(1, i + 1))
        assert alembic_revision(db_path) == rev
    for i in range(HEAD_VERSION - 1, 0, -1):
        migrator.downgrade(chain[i - 1])
        assert [v for v, _ in schema_rows(db_path)] == list(range(1, i + 1))
    migrator.stamp("head")
    assert [v for v, _ in schema_rows(db_path)] == list(range(1, HEAD_VERSION + 1))
    migrator.stamp("0002")
    assert [v for v, _ in schema_rows(db_path)] == [1, 2]


def test_applied_at_is_iso_utc_with_milliseconds(sqlite_store: EventStore, db_path: Path) -> None:
    with sqlite3.connect(db_path) as con:
        stamps = [r[0] for r in con.execute("SELECT applied_at FROM schema_version")]
    assert len(stamps) == HEAD_VERSION
    for s in stamps:
        assert len(s) == 24 and s[10] == "T" and s[19] == "." and s.endswith("Z")


def test_alembic_cli_from_the_repo_root(tmp_path: Path) -> None:
    target = tmp_path / "new-dir" / "cli.db"
    env = {k: v for k, v in os.environ.items() if k not in ("KUBE9_DB_URL", "DB_PATH")}
    run = subprocess.run(
        [sys.executable, "-m", "alembic", "-x", f"db={target}", "upgrade", "head"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert oct(target.stat().st_mode & 0o777) == oct(0o600)
    assert alembic_revision(target) == HEAD_REVISION
    assert [v for v, _ in schema_rows(target)] == list(range(1, HEAD_VERSION + 1))
    down = subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "kube9_store_0001"],
        cwd=REPO,
        env={**env, "KUBE9_DB_URL": f"sqlite:///{target}"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert down.returncode != 0 or alembic_revision(target) == HEAD_REVISION
    subprocess.run(
        [sys.executable, "-m", "alembic", "downgrade", f"kube9_store@-{HEAD_VERSION - 1}"],
        cwd=REPO,
        env={**env, "KUBE9_DB_URL": f"sqlite:///{target}"},
        check=True,
        capture_output=True,
    )
    assert [v for v, _ in schema_rows(target)] == [1]
    assert alembic_revision(target) == "kube9_store_0001"


# -- connection settings ------------------------------------------------------------------------

EXPECTED_PRAGMAS = {
    "journal_mode": "wal",
    "synchronous": 1,
    "foreign_keys": 1,
    "cache_size": -10000,
    "busy_timeout": 5000,
    "temp_store": 2,
}


def read_pragmas(conn) -> dict:
    return {p: conn.exec_driver_sql(f"PRAGMA {p}").scalar() for p in EXPECTED_PRAGMAS}


def test_pragmas_on_pooled_connections_and_after_reconnect(sqlite_store: EventStore) -> None:
    store = sqlite_store
    with store.engine.connect() as a, store.engine.connect() as b:
        assert read_pragmas(a) == EXPECTED_PRAGMAS
        assert read_pragmas(b) == EXPECTED_PRAGMAS
    store.engine.dispose()
    with store.engine.connect() as c:
        assert read_pragmas(c) == EXPECTED_PRAGMAS
        c.invalidate()
    with store.engine.connect() as d:
        assert read_pragmas(d) == EXPECTED_PRAGMAS


def test_pragmas_inside_a_migration(db_path: Path) -> None:
    with EventStore.open(db_path, extra_version_locations=[PRAGMAS]):
        pass
    with sqlite3.connect(db_path) as con:
        seen = dict(con.execute("SELECT name, value FROM pragma_seen"))
    assert {k: seen[k] for k in EXPECTED_PRAGMAS} == {
        k: str(v) for k, v in EXPECTED_PRAGMAS.items()
    }
    assert seen["in_transaction"] == "True"


def test_synchronous_full_is_an_option(db_path: Path) -> None:
    with EventStore.open(db_path, synchronous="FULL") as s, s.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2


# -- migration at start-up ----------------------------------------------------------------------


def test_new_database_is_built_to_head(db_path: Path) -> None:
    assert not db_path.parent.exists()
    with EventStore.open(db_path):
        pass
    assert alembic_revision(db_path) == HEAD_REVISION
    assert oct(db_path.stat().st_mode & 0o777) == oct(0o600)
    assert oct(db_path.parent.stat().st_mode & 0o777) == oct(0o700)


def test_database_at_head_is_not_written(db_path: Path) -> None:
    with EventStore.open(db_path) as s:
        s.record({"event_type": "system", "severity": "info", "title": "x"})
    before = file_fingerprint(db_path)
    with EventStore.open(db_path) as s:
        assert s.count() == 1
    assert file_fingerprint(db_path) == before


def test_behind_database_gets_each_missing_revision(migrator: Migrator, db_path: Path) -> None:
    migrator.upgrade("0001")
    with EventStore.open(db_path) as s:
        assert s.count() == 0
    assert alembic_revision(db_path) == HEAD_REVISION
    assert [v for v, _ in schema_rows(db_path)] == list(range(1, HEAD_VERSION + 1))


@pytest.mark.parametrize("version", [1, 2])
def test_plain_sql_database_is_adopted_with_its_rows(db_path: Path, version: int) -> None:
    db_path.parent.mkdir(parents=True)
    build_spec_db(db_path, version=version, rows=50)
    with EventStore.open(db_path) as s:
        assert s.count() == 50
        assert s.count_by_type() == {"cluster": 50}
        assert all(e.acknowledged is False for e in s.query(limit=None))
    rows = schema_rows(db_path)
    assert [v for v, _ in rows] == list(range(1, HEAD_VERSION + 1))
    assert alembic_revision(db_path) == HEAD_REVISION
    with sqlite3.connect(db_path) as con:
        # the original row 1 is kept as the reference operator wrote it
        assert con.execute(
            "SELECT applied_at FROM schema_version WHERE version = 1"
        ).fetchone() == ("2025-12-02T00:00:00.000Z",)


def _refused(db_path: Path, match: str) -> None:
    before = file_fingerprint(db_path)
    siblings = sorted(os.listdir(db_path.parent))
    with pytest.raises(SchemaError, match=match):
        EventStore.open(db_path)
    assert file_fingerprint(db_path) == before
    assert sorted(os.listdir(db_path.parent)) == siblings


def test_newer_schema_version_is_refused_untouched(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    build_spec_db(db_path)
    with sqlite3.connect(db_path) as con:
        con.execute("INSERT INTO schema_version VALUES (99, '2030-01-01T00:00:00.000Z', 'future')")
    # without alembic_version it was not made by this package: another lineage, read-only
    _refused(db_path, r"another lineage.*schema version 99.*kube9-store copy")


def test_unknown_alembic_revision_is_refused_untouched(db_path: Path) -> None:
    with EventStore.open(db_path):
        pass
    with sqlite3.connect(db_path) as con:
        con.execute("UPDATE alembic_version SET version_num = '0042'")
    _refused(db_path, r"revision '0042', which this package does not know")


def test_mismatched_structure_is_refused_untouched(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    build_spec_db(db_path)
    with sqlite3.connect(db_path) as con:
        con.execute("DROP INDEX idx_events_object")
        con.execute("ALTER TABLE events ADD COLUMN extra TEXT")
    _refused(db_path, r"structure differs .*index idx_events_object is missing")


def test_foreign_tables_are_refused_untouched(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    with sqlite3.connect(db_path) as con:
        con.execute("CREATE TABLE customers (id INTEGER)")
    _refused(db_path, r"tables \(customers\) but no schema_version")


def test_not_a_database_is_refused_untouched(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(os.urandom(8192))
    _refused(db_path, "not a SQLite database")


def test_empty_file_is_refused_untouched(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.touch()
    _refused(db_path, "empty file")


def test_failing_revision_rolls_back_whole(db_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with EventStore.open(db_path) as s:
        s.record({"event_type": "system", "severity": "info", "title": "kept"})
    with caplog.at_level(logging.ERROR), pytest.raises(MigrationError) as info:
        EventStore.open(db_path, extra_version_locations=[FAILING])
    failing = f"{REVISION_PREFIX}{HEAD_VERSION + 1:04d}"
    assert info.value.revision == failing
    assert f"revision {failing} failed and was rolled back" in str(info.value)
    assert any(failing in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)
    with sqlite3.connect(db_path) as con:
        columns = [r[1] for r in con.execute("PRAGMA table_info(events)")]
        indexes = [r[1] for r in con.execute("PRAGMA index_list(events)")]
    assert "doomed" not in columns
    assert "idx_events_doomed" not in indexes
    assert alembic_revision(db_path) == HEAD_REVISION
    assert [v for v, _ in schema_rows(db_path)] == list(range(1, HEAD_VERSION + 1))
    with EventStore.open(db_path) as s:
        assert [e.title for e in s.query()] == ["kept"]


def _open_in_child(path: str, barrier) -> None:
    barrier.wait()
    with EventStore.open(path) as s:
        s.record({"event_type": "system", "severity": "info", "title": "child"})


@pytest.mark.slow
def test_two_processes_opening_a_new_database_migrate_once(db_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(3)
    procs = [ctx.Process(target=_open_in_child, args=(str(db_path), barrier)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    assert [v for v, _ in schema_rows(db_path)] == list(range(1, HEAD_VERSION + 1))
    with EventStore.open(db_path) as s:
        assert s.count() == 3


@pytest.mark.slow
def test_v1_to_v2_on_a_large_dataset_keeps_every_row(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    build_spec_db(db_path, rows=100_000)
    with EventStore.open(db_path) as s:
        assert s.count() == 100_000
        assert s.count({"acknowledged": False}) == 100_000
        assert s.count_by_severity() == {"warning": 100_000}
    with sqlite3.connect(db_path) as con:
        assert con.execute("SELECT COUNT(*) FROM events WHERE acknowledged = 0").fetchone() == (
            100_000,
        )


def test_memory_database_is_migrated() -> None:
    with EventStore.open(URL.create("sqlite")) as s:
        s.record({"event_type": "system", "severity": "info", "title": "m"})
        assert s.count() == 1


def test_opening_a_database_at_head_imports_no_alembic(db_path: Path) -> None:
    """The decision is made without Alembic; the chain's machinery is imported only to run."""
    with EventStore.open(db_path):
        pass
    script = (
        "import sys\n"
        "from kube9_store import EventStore\n"
        f"for ro in (False, True):\n"
        f"    EventStore.open({str(db_path)!r}, read_only=ro, metrics=False).close()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_package_chain_known_without_alembic_is_alembic_s(migrator: Migrator) -> None:
    from kube9_store.schema.state import PACKAGE_CHAIN

    assert migrator.chain == PACKAGE_CHAIN


def test_upgrade_to_a_revision_the_chain_lacks_creates_nothing(db_path: Path) -> None:
    from kube9_store import ValidationError
    from kube9_store.operations.admin import upgrade

    db_path.parent.mkdir(parents=True, exist_ok=True)
    with pytest.raises(ValidationError, match=r"revision: must be one of .*got 'kube9_store_0042'"):
        upgrade(db_path, "kube9_store_0042")
    assert sorted(p.name for p in db_path.parent.iterdir()) == []
