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
    ("postgresql", "kube9_store_0003", "upgrade"): "93e325356cb074b8",
    ("postgresql", "kube9_store_0003", "downgrade"): "11c9f1d4e0a31366",
    ("postgresql", "kube9_store_0004", "upgrade"): "e3b0c44298fc1c14",  # none
    ("postgresql", "kube9_store_0004", "downgrade"): "e3b0c44298fc1c14",  # none
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
    assert all(table[key] and all(s.strip() for s in table[key]) for key in table)


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
