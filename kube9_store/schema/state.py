"""Reading a database's schema version without Alembic (cheap enough for every open)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, inspect, select, text

from kube9_store.errors import SchemaError
from kube9_store.schema.tables import (
    HEAD_REVISION,
    HEAD_VERSION,
    LEGACY_REVISIONS,
    is_legacy_revision,
    is_own_revision,
    metadata,
    schema_version,
)

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
    #: The id ``alembic_version`` holds for kube9_store's branch when it is one of the ids
    #: the revisions had before they were a labelled branch (``revision`` is the new id).
    legacy_revision: str | None = None
    #: The rows of ``alembic_version`` that are an application's own branches, not ours.
    other_revisions: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.tables

    @property
    def at_package_head(self) -> bool:
        """At this package's head, with every table the head has."""
        return (
            self.revision == HEAD_REVISION
            and self.legacy_revision is None
            and self.version == HEAD_VERSION
            and self.tables >= HEAD_TABLES
        )

    def missing(self, expected: frozenset[str]) -> list[str]:
        """The ``expected`` tables this database lacks, sorted."""
        return sorted(expected - self.tables)


def read_state(conn: Connection) -> SchemaState:
    """Read the Alembic revision, the spec's schema version and the table names (no writes).

    ``alembic_version`` holds one row per branch head: kube9_store's is the one whose id
    starts with ``kube9_store_`` (or an id from before the revisions were a branch); the other
    rows are an application's, whose Alembic environment includes kube9_store's revisions."""
    tables = frozenset(t for t in inspect(conn).get_table_names() if not t.startswith("sqlite_"))
    revision: str | None = None
    legacy: str | None = None
    others: tuple[str, ...] = ()
    if "alembic_version" in tables:
        rows = list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
        ours = [r for r in rows if is_own_revision(r)]
        if len(ours) > 1:
            raise SchemaError(
                f"alembic_version holds several revisions of kube9_store's branch {ours}; "
                "expected one"
            )
        if ours:
            revision = ours[0]
            others = tuple(sorted(r for r in rows if r != revision))
        elif len(rows) == 1:
            revision = rows[0]  # a database of one chain: an id from before the branch, or not ours
        else:
            others = tuple(sorted(rows))
    version: int | None = None
    if "schema_version" in tables:
        version = conn.execute(select(func.max(schema_version.c.version))).scalar()
    if revision is not None and is_legacy_revision(revision, version):
        legacy, revision = revision, LEGACY_REVISIONS[revision]
    return SchemaState(
        revision=revision,
        version=version,
        tables=tables,
        legacy_revision=legacy,
        other_revisions=others,
    )


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
