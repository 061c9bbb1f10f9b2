"""Reading a database's schema version without Alembic (cheap enough for every open)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, inspect, select, text

from kube9_store.errors import SchemaError
from kube9_store.schema import HEAD_REVISION, HEAD_VERSION, metadata, schema_version

#: The tables every revision of the chain has.
CHAIN_TABLES = frozenset({"schema_version", "events"})
#: The tables a database at the head of the chain has.
HEAD_TABLES = frozenset(metadata.tables)


@dataclass(frozen=True)
class SchemaState:
    """What a database says about its schema."""

    revision: str | None
    version: int | None
    tables: frozenset[str]

    @property
    def is_empty(self) -> bool:
        return not self.tables

    @property
    def at_package_head(self) -> bool:
        """At this package's head, with every table the head has."""
        return (
            self.revision == HEAD_REVISION
            and self.version == HEAD_VERSION
            and self.tables >= HEAD_TABLES
        )

    def missing(self, expected: frozenset[str]) -> list[str]:
        """The ``expected`` tables this database lacks, sorted."""
        return sorted(expected - self.tables)


def read_state(conn: Connection) -> SchemaState:
    """Read the Alembic revision, the spec's schema version and the table names (no writes)."""
    tables = frozenset(t for t in inspect(conn).get_table_names() if not t.startswith("sqlite_"))
    revision: str | None = None
    if "alembic_version" in tables:
        revisions = list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
        if len(revisions) > 1:
            raise SchemaError(f"alembic_version holds several revisions {revisions}; expected one")
        revision = revisions[0] if revisions else None
    version: int | None = None
    if "schema_version" in tables:
        version = conn.execute(select(func.max(schema_version.c.version))).scalar()
    return SchemaState(revision=revision, version=version, tables=tables)


def difference(found: dict[str, Any], expected: dict[str, Any]) -> str:
    """A short human account of how two structures (``Backend.structure``) differ."""
    notes: list[str] = []
    for table in sorted(expected.keys() | found.keys()):
        f, e = found.get(table), expected.get(table)
        if f is None or not f["columns"]:
            notes.append(f"table {table} is missing")
            continue
        if e is None:
            notes.append(f"unexpected table {table}")
            continue
        if f["columns"] != e["columns"]:
            notes.append(f"{table} columns are {f['columns']}, expected {e['columns']}")
        for name in sorted(e["indexes"].keys() - f["indexes"].keys()):
            notes.append(f"index {name} is missing")
        for name in sorted(f["indexes"].keys() - e["indexes"].keys()):
            notes.append(f"unexpected index {name}")
        for name in sorted(e["indexes"].keys() & f["indexes"].keys()):
            if e["indexes"][name] != f["indexes"][name]:
                notes.append(f"index {name} differs")
    return "; ".join(notes) or "no difference"
