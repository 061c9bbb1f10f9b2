"""kube9_store inside an application's own Alembic environment (examples/app): its revisions as
the labelled branch ``kube9_store``, beside the application's, on both backends; databases
stamped with the ids from before the branch; autogenerate against ``kube9_store.metadata``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL

import kube9_store
from kube9_store import EventStore, SchemaError
from kube9_store.backends import backend_for
from kube9_store.schema.migrate import Migrator
from kube9_store.schema.tables import HEAD_REVISION, HEAD_VERSION, LEGACY_REVISIONS, REVISION_PREFIX
from tests.helpers import REPO

#: The sample application's Alembic runs as processes, on both backends: the slow suite
#: (``pytest -m slow``), which CI runs.
pytestmark = pytest.mark.slow

#: The revision one step below head, and the schema versions it has.
BELOW_HEAD = f"{REVISION_PREFIX}{HEAD_VERSION - 1:04d}"
BELOW_VERSIONS = list(range(1, HEAD_VERSION))

EXAMPLE = REPO / "examples" / "app"
NO_DB_ENV = {k: v for k, v in os.environ.items() if k not in ("KUBE9_DB_URL", "DB_PATH")}


def alembic(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alembic", *args],
        cwd=cwd,
        env=NO_DB_ENV,
        capture_output=True,
        text=True,
        check=False,
    )


def ok(run: subprocess.CompletedProcess[str]) -> str:
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout + run.stderr


def versions(url: URL) -> tuple[set[str], list[int]]:
    """alembic_version's rows and schema_version's versions."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
            found = conn.execute(text("SELECT version FROM schema_version ORDER BY 1")).scalars()
            return rows, list(found)
    finally:
        engine.dispose()


@pytest.fixture
def app(tmp_path: Path, backend_url: URL) -> Path:
    """The sample application, copied, its alembic.ini pointed at this test's database."""
    where = tmp_path / "app"
    shutil.copytree(EXAMPLE, where, ignore=shutil.ignore_patterns("*.db", "__pycache__"))
    ini = where / "alembic.ini"
    url = backend_url.render_as_string(hide_password=False).replace("%", "%%")
    lines = [
        f"sqlalchemy.url = {url}" if line.startswith("sqlalchemy.url") else line
        for line in ini.read_text().splitlines()
    ]
    ini.write_text("\n".join(lines) + "\n")
    return where


def test_the_sample_application_upgrades_downgrades_and_checks(app: Path, backend_url: URL) -> None:
    ok(alembic(app, "upgrade", "heads"))
    assert versions(backend_url) == ({"0002", HEAD_REVISION}, list(range(1, HEAD_VERSION + 1)))
    assert "No new upgrade operations detected." in ok(alembic(app, "check"))

    with EventStore.open(backend_url) as store:  # several rows: it reads its own branch's
        recorded = store.record({"event_type": "system", "severity": "info", "title": "up"})
        assert store.count() == 1
    assert versions(backend_url)[0] == {"0002", HEAD_REVISION}  # the open wrote no revision

    ok(alembic(app, "downgrade", "kube9_store@-1"))
    assert versions(backend_url) == ({"0002", BELOW_HEAD}, BELOW_VERSIONS)
    with pytest.raises(SchemaError, match="alembic upgrade heads"):
        EventStore.open(backend_url)  # behind, and only the application's env knows 0002
    with EventStore.open(backend_url, read_only=True) as store:
        assert store.get(recorded.id) == recorded

    ok(alembic(app, "downgrade", "app@-1"))  # the application's revisions leave ours alone
    assert versions(backend_url) == ({"0001", BELOW_HEAD}, BELOW_VERSIONS)

    ok(alembic(app, "upgrade", "heads"))
    assert versions(backend_url) == ({"0002", HEAD_REVISION}, list(range(1, HEAD_VERSION + 1)))
    assert "No new upgrade operations detected." in ok(alembic(app, "check"))
    with EventStore.open(backend_url) as store:
        assert store.get(recorded.id) == recorded


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
def test_an_application_leaving_kube9_tables_out_uses_include_object(
    app: Path, backend_url: URL
) -> None:
    sys.path.insert(0, str(app))
    try:
        from app_models import metadata as app_metadata
    finally:
        sys.path.remove(str(app))
    ok(alembic(app, "upgrade", "heads"))
    engine = create_engine(backend_url)
    try:
        with engine.connect() as conn:
            alone = compare_metadata(MigrationContext.configure(conn), app_metadata)
            included = MigrationContext.configure(
                conn, opts={"include_object": kube9_store.include_object}
            )
            assert compare_metadata(included, app_metadata) == []
    finally:
        engine.dispose()
    assert {d[1].name for d in alone if d[0] == "remove_table"} >= {"events", "schema_version"}


def test_metadata_is_the_one_the_store_and_orm_use() -> None:
    from kube9_store.orm import Base
    from kube9_store.schema import tables as schema

    assert kube9_store.metadata is schema.metadata is Base.metadata


# -- databases stamped before the revisions were a branch ------------------------------------


def stamp_as_before(url: URL, revision: str) -> None:
    """A database as the chain left it before it was a branch: at ``revision`` under its
    old id (``0002``), schema_version as that chain kept it."""
    backend = backend_for(url)
    try:
        Migrator(backend).upgrade(LEGACY_REVISIONS[revision])
    finally:
        backend.dispose()
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :old"), {"old": revision})
    finally:
        engine.dispose()


@pytest.mark.parametrize("old", ["0002", "0004"])
def test_a_database_stamped_with_an_old_id_opens_and_upgrades(backend_url: URL, old: str) -> None:
    stamp_as_before(backend_url, old)
    assert versions(backend_url) == ({old}, list(range(1, int(old) + 1)))
    with EventStore.open(backend_url, read_only=True) as store:
        assert store.count() == 0  # read as its revision, nothing written
    assert versions(backend_url)[0] == {old}
    with EventStore.open(backend_url) as store:
        store.record({"event_type": "system", "severity": "info", "title": "after"})
    assert versions(backend_url) == ({HEAD_REVISION}, list(range(1, HEAD_VERSION + 1)))


def test_alembic_upgrade_renames_an_old_id(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    url = URL.create("sqlite", database=str(db))
    stamp_as_before(url, "0003")
    ok(alembic(REPO, "-x", f"db={db}", "upgrade", "head"))
    assert versions(url) == ({HEAD_REVISION}, list(range(1, HEAD_VERSION + 1)))


def test_an_application_row_0001_is_not_taken_for_ours(tmp_path: Path) -> None:
    """A database of an application alone, its own revision called 0001: not renamed, and
    refused as not a kube9 event database."""
    db = tmp_path / "theirs.db"
    engine = create_engine(URL.create("sqlite", database=str(db)))
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)"))
        conn.execute(text("INSERT INTO alembic_version VALUES ('0001')"))
        conn.execute(text("CREATE TABLE things (id INTEGER PRIMARY KEY)"))
    engine.dispose()
    with pytest.raises(SchemaError):
        EventStore.open(db)
    assert versions_rows(db) == ["0001"]


def versions_rows(db: Path) -> list[str]:
    engine = create_engine(URL.create("sqlite", database=str(db)))
    try:
        with engine.connect() as conn:
            return list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    finally:
        engine.dispose()


def test_a_minimal_ini_runs_the_package_env(tmp_path: Path) -> None:
    ini = tmp_path / "alembic.ini"
    ini.write_text("[alembic]\nscript_location = kube9_store:migrations\n")
    db = tmp_path / "min.db"
    ok(alembic(tmp_path, "-c", str(ini), "-x", f"db={db}", "upgrade", "head"))
    url = URL.create("sqlite", database=str(db))
    assert versions(url) == ({HEAD_REVISION}, list(range(1, HEAD_VERSION + 1)))
    ok(alembic(tmp_path, "-c", str(ini), "-x", f"db={db}", "downgrade", "kube9_store@-1"))
    assert versions(url) == ({BELOW_HEAD}, BELOW_VERSIONS)


def test_offline_sql_writes_schema_version_for_kube9_revisions_only(app: Path) -> None:
    sql = ok(alembic(app, "upgrade", "heads", "--sql"))
    inserted = [line for line in sql.splitlines() if line.startswith("INSERT INTO schema_version")]
    assert [line.split("VALUES (")[1].split(",")[0] for line in inserted] == [
        str(v) for v in range(1, HEAD_VERSION + 1)
    ]
