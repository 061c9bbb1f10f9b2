"""The DDL each backend supplies for the revisions (``Backend.revision_ddl``): keyed by
revisions the chain has, in both directions, frozen once released, and what the chain runs."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from kube9_store.backends import SUPPORTED_BACKENDS, backend_for, revision_ddl
from kube9_store.backends.postgresql_revisions import DDL as POSTGRESQL_DDL
from kube9_store.backends.sqlite_revisions import DDL as SQLITE_DDL
from kube9_store.config import sqlite_url
from kube9_store.errors import MigrationError
from kube9_store.schema.migrate import Migrator
from kube9_store.schema.state import PACKAGE_CHAIN

TABLES = {"sqlite": SQLITE_DDL, "postgresql": POSTGRESQL_DDL}

#: What each backend supplied for the released revisions (SHA-256 of the statements joined by
#: NUL, first 16 hex digits). Databases migrated by them hold what they made: this text never
#: changes; a new revision adds its own row here when it is released.
RELEASED = {
    ("sqlite", "kube9_store_0003", "upgrade"): "3c798549f443321f",
    ("sqlite", "kube9_store_0003", "downgrade"): "b369f22046228bba",
    ("sqlite", "kube9_store_0004", "upgrade"): "c74b38f18b3ddb13",
    ("sqlite", "kube9_store_0004", "downgrade"): "de2a70769b2d6787",
    ("sqlite", "kube9_store_0006", "upgrade"): "73c03f9e0bfad9b1",
    ("sqlite", "kube9_store_0006", "downgrade"): "e3b0c44298fc1c14",  # none
    ("sqlite", "kube9_store_0007", "upgrade"): "9742433d1d878fe8",
    ("sqlite", "kube9_store_0007", "downgrade"): "ddb54450ba2c1e4b",
    ("postgresql", "kube9_store_0003", "upgrade"): "93e325356cb074b8",
    ("postgresql", "kube9_store_0003", "downgrade"): "11c9f1d4e0a31366",
    ("postgresql", "kube9_store_0004", "upgrade"): "e3b0c44298fc1c14",  # none
    ("postgresql", "kube9_store_0004", "downgrade"): "e3b0c44298fc1c14",  # none
    ("postgresql", "kube9_store_0007", "upgrade"): "521ab44f6b3eb960",
    ("postgresql", "kube9_store_0007", "downgrade"): "5cda21b9c9a3a4f3",
}


def _digest(statements: tuple[str, ...]) -> str:
    return hashlib.sha256("\x00".join(statements).encode()).hexdigest()[:16]


def test_every_backend_has_a_ddl_table() -> None:
    assert set(TABLES) == set(SUPPORTED_BACKENDS)


@pytest.mark.parametrize("kind", sorted(TABLES))
def test_ddl_names_revisions_of_the_chain_in_both_directions(kind: str) -> None:
    table = TABLES[kind]
    revisions = {revision for revision, _ in table}
    assert revisions <= set(PACKAGE_CHAIN.versions), "DDL for a revision the chain lacks"
    assert set(table) == {(r, d) for r in revisions for d in ("upgrade", "downgrade")}
    assert all(all(s.strip() for s in table[key]) for key in table)
    # one direction may be portable only (0006 drops its tables with Alembic's operations)
    assert all(table[(r, "upgrade")] or table[(r, "downgrade")] for r in revisions)


@pytest.mark.parametrize(("kind", "revision", "direction"), sorted(RELEASED))
def test_released_revision_ddl_is_frozen(kind: str, revision: str, direction: str) -> None:
    supplied = SUPPORTED_BACKENDS[kind].revision_ddl(revision, direction)  # type: ignore[arg-type]
    assert _digest(supplied) == RELEASED[(kind, revision, direction)]


def test_a_revision_without_ddl_of_a_backend_runs_nothing_there() -> None:
    assert SUPPORTED_BACKENDS["postgresql"].revision_ddl("kube9_store_0004", "upgrade") == ()
    assert SUPPORTED_BACKENDS["sqlite"].revision_ddl("kube9_store_0001", "upgrade") == ()


def test_a_database_kind_without_a_backend_is_refused_naming_it() -> None:
    from sqlalchemy.dialects import mysql

    with pytest.raises(MigrationError, match=r"kube9_store_0003 cannot run on mysql.*sqlite"):
        revision_ddl(mysql.dialect(), "kube9_store_0003", "upgrade")


def _sqlite_master(path: Path, kind: str) -> dict[str, str]:
    with sqlite3.connect(path) as con:
        rows = con.execute("SELECT name, sql FROM sqlite_master WHERE type = ?", (kind,))
        return {name: sql for name, sql in rows if sql is not None}


def test_the_chain_runs_what_sqlite_supplies(tmp_path: Path) -> None:
    path = tmp_path / "chain.db"
    backend = backend_for(sqlite_url(path))
    backend.prepare()
    try:
        migrator = Migrator(backend)
        migrator.upgrade("kube9_store_0003")
        triggers = _sqlite_master(path, "trigger")
        supplied = SQLITE_DDL[("kube9_store_0003", "upgrade")]
        assert sorted(triggers.values()) == sorted(s.strip() for s in supplied)
        migrator.upgrade("kube9_store_0004")
        created = [s for s in SQLITE_DDL[("kube9_store_0004", "upgrade")] if "CREATE" in s]
        indexes = _sqlite_master(path, "index")
        assert all(indexes[s.split()[2]] == s for s in created)
        migrator.downgrade("kube9_store_0002")
        assert _sqlite_master(path, "trigger") == {}
    finally:
        backend.dispose()


#: Cluster events stored before revision 0006, each metadata shape the backfill must judge.
_BEFORE_0006 = [
    ("evt_a", {"uid": "u1", "count": 1}),
    ("evt_b", {"uid": "u1", "count": 1}),  # the same key again: the first by id wins
    ("evt_c", {"uid": "u1", "count": 2, "cluster_uid": "c9"}),
    ("evt_d", {"k8s_uid": "u2", "count": 3}),  # the older key name
    ("evt_e", {"uid": 7, "k8s_uid": "u3", "count": 1}),  # uid present but not text: none
    ("evt_f", {"uid": "u4", "count": True}),  # a bool is no count
    ("evt_g", {"uid": "u5", "count": 1.5}),
    ("evt_h", {"uid": "u6", "count": 4, "cluster_uid": 5}),  # a non-text cluster: ''
    ("evt_i", ["uid", "count"]),
    ("evt_j", "not json {"),
    ("evt_k", None),
    ("evt_l", {"uid": "ü-ñ", "count": -1}),
]


def _expected_keys() -> set[tuple[str, str, int, str]]:
    """The revision's rule, in Python: a JSON object whose uid (else k8s_uid) is text and
    whose count an int, keyed by (cluster, uid, count), the first event by id winning."""
    keys: dict[tuple[str, str, int], str] = {}
    for event_id, meta in sorted(_BEFORE_0006, key=lambda r: r[0]):
        if not isinstance(meta, dict):
            continue
        uid, count = meta.get("uid", meta.get("k8s_uid")), meta.get("count")
        if not isinstance(uid, str) or type(count) is not int:
            continue
        cluster = meta["cluster_uid"] if isinstance(meta.get("cluster_uid"), str) else ""
        keys.setdefault((cluster, uid, count), event_id)
    return {(c, u, n, e) for (c, u, n), e in keys.items()}


@pytest.mark.parametrize("backend_url", ["sqlite", "postgresql"], indirect=True)
def test_the_key_backfill_is_the_same_on_every_backend(backend_url: object) -> None:
    """SQLite's one statement of JSON functions and PostgreSQL's loop key the same events."""
    import json

    from sqlalchemy import text

    backend = backend_for(backend_url)  # type: ignore[arg-type]
    backend.prepare()
    try:
        migrator = Migrator(backend)
        migrator.upgrade("kube9_store_0005")
        with backend.engine.begin() as conn:
            for event_id, meta in _BEFORE_0006:
                stored = meta if isinstance(meta, str) or meta is None else json.dumps(meta)
                conn.execute(
                    text(
                        "INSERT INTO events (id, event_type, severity, title, metadata,"
                        " created_at) VALUES (:id, 'cluster', 'info', 't', :m, :at)"
                    ),
                    {"id": event_id, "m": stored, "at": "2026-01-01T00:00:00.000Z"},
                )
        migrator.upgrade("kube9_store_0006")
        with backend.engine.connect() as conn:
            rows = conn.execute(
                text("SELECT cluster_uid, event_uid, count, event_id FROM k8s_event_keys")
            ).all()
    finally:
        backend.dispose()
    assert {tuple(r) for r in rows} == _expected_keys()
