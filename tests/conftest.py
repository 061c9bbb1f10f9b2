"""Shared fixtures: a fresh database file per test, the spec's SQL, event factories."""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import URL, make_url

from kube9_store import EventStore
from kube9_store.config import sqlite_url

#: Every backend the store suites run against. PostgreSQL cases need a server: they skip with
#: instructions when none answers, unless $KUBE9_REQUIRE_POSTGRES is set (CI sets it).
BACKENDS = ["sqlite", "postgresql"]
PG_URL = os.environ.get(
    "KUBE9_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)

REPO = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent

#: The spec's version 1, verbatim (tables, indexes, initial row).
SPEC_V1_SQL = """
CREATE TABLE IF NOT EXISTS schema_version (
  version INTEGER PRIMARY KEY,
  applied_at TEXT NOT NULL,
  description TEXT
);
INSERT INTO schema_version (version, applied_at, description)
VALUES (1, '2025-12-02T00:00:00.000Z', 'Initial schema with events table');
CREATE TABLE IF NOT EXISTS events (
  id TEXT PRIMARY KEY,
  event_type TEXT NOT NULL,
  severity TEXT NOT NULL,
  title TEXT NOT NULL,
  description TEXT,
  object_kind TEXT,
  object_namespace TEXT,
  object_name TEXT,
  metadata TEXT,
  created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_events_type ON events(event_type);
CREATE INDEX IF NOT EXISTS idx_events_severity ON events(severity);
CREATE INDEX IF NOT EXISTS idx_events_created ON events(created_at DESC);
CREATE INDEX IF NOT EXISTS idx_events_object ON events(object_kind, object_namespace, object_name);
"""

#: The spec's example migration V1 -> V2, verbatim.
SPEC_V2_SQL = """
ALTER TABLE events ADD COLUMN acknowledged INTEGER DEFAULT 0;
CREATE INDEX IF NOT EXISTS idx_events_acknowledged ON events(acknowledged);
INSERT INTO schema_version (version, applied_at, description)
VALUES (2, datetime('now'), 'Added acknowledged field to events table');
"""


def build_spec_db(path: Path, *, version: int = 1, rows: int = 0) -> Path:
    """A database made the way the reference operator makes it: raw SQL, no Alembic."""
    con = sqlite3.connect(path)
    con.executescript(SPEC_V1_SQL)
    if rows:
        con.executemany(
            "INSERT INTO events (id, event_type, severity, title, description, object_kind,"
            " object_namespace, object_name, metadata, created_at)"
            " VALUES (?, 'cluster', 'warning', ?, NULL, 'Pod', 'default', ?, '{\"n\": 1}', ?)",
            (
                (
                    f"evt_20251202_{i // 3600 % 24:02d}{i // 60 % 60:02d}{i % 60:02d}_{i:06d}",
                    f"Pod BackOff {i}",
                    f"pod-{i}",
                    f"2025-12-02T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}.000Z",
                )
                for i in range(rows)
            ),
        )
    if version >= 2:
        con.executescript(SPEC_V2_SQL)
    con.commit()
    con.close()
    return path


def file_fingerprint(path: Path) -> tuple[str, int, int]:
    data = path.read_bytes()
    st = path.stat()
    return hashlib.sha256(data).hexdigest(), st.st_mtime_ns, st.st_size


def event_data(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "event_type": "operator",
        "severity": "info",
        "title": "Operator started",
        "description": "Operator v1.0.0 started in free tier with 4Gi memory",
        "metadata": {"version": "1.0.0", "tier": "free"},
    }
    base.update(overrides)
    return base


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "kube9.db"


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The PostgreSQL server for the tests, or a skip (a failure when it is required)."""
    import psycopg

    url = make_url(PG_URL)
    try:
        psycopg.connect(_conninfo(url), connect_timeout=3).close()
    except psycopg.Error as exc:
        message = (
            f"PostgreSQL is not reachable at {url.render_as_string()} ({exc}). Start a server "
            "or point KUBE9_TEST_POSTGRES_URL at one to run the PostgreSQL cases."
        )
        if os.environ.get("KUBE9_REQUIRE_POSTGRES"):
            pytest.fail(message + " KUBE9_REQUIRE_POSTGRES is set, so this is a failure.")
        pytest.skip(message)
    return PG_URL


def _conninfo(url: URL) -> str:
    parts = {
        "host": url.host or "127.0.0.1",
        "port": url.port or 5432,
        "dbname": url.database or "postgres",
        "user": url.username or "postgres",
    }
    if url.password:
        parts["password"] = url.password
    return " ".join(f"{k}={v}" for k, v in parts.items())


@contextlib.contextmanager
def pg_schema(server: str) -> Iterator[URL]:
    """A URL whose tables live in a fresh schema of their own, dropped afterwards."""
    import psycopg

    base = make_url(server)
    schema = f"kube9_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_conninfo(base), autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield base.update_query_dict({"options": f"-csearch_path={schema}"})
    finally:
        with psycopg.connect(_conninfo(base), autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[URL]:
    with pg_schema(pg_server) as url:
        yield url


@pytest.fixture(params=BACKENDS)
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> URL:
    """A fresh, empty database on each backend."""
    if request.param == "postgresql":
        return request.getfixturevalue("pg_url")  # type: ignore[no-any-return]
    (tmp_path / "data").mkdir(exist_ok=True)
    return sqlite_url(tmp_path / "data" / "kube9.db")


@pytest.fixture
def store(backend_url: URL) -> Iterator[EventStore]:
    with EventStore.open(backend_url) as s:
        yield s


@pytest.fixture
def sqlite_store(db_path: Path) -> Iterator[EventStore]:
    """A store on a SQLite file, for tests about the file itself."""
    with EventStore.open(db_path) as s:
        yield s
