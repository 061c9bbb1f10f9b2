"""A database's schema state, read without Alembic (cheap enough for every open), and the
revision chain it is judged against (:class:`Chain`: the package's is known without Alembic)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Connection, func, inspect, select, text

from kube9_store.errors import SchemaError, ValidationError
from kube9_store.schema.tables import (
    HEAD_REVISION,
    HEAD_VERSION,
    LEGACY_REVISIONS,
    REVISION_PREFIX,
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
    #: The columns of ``events`` in order, read only for a database that is not at the
    #: package's head (empty at head, whose columns are the head's, and without the table).
    columns: tuple[str, ...] = ()
    #: The spec tables' structure (``Backend.structure``), read only for a database made
    #: without Alembic, where the backend can describe it (None otherwise).
    structure: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def made_without_alembic(self) -> bool:
        """A schema version but no revision of ours: the spec's plain SQL, or another lineage."""
        return self.revision is None and self.version is not None

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
    state = SchemaState(
        revision=revision,
        version=version,
        tables=tables,
        legacy_revision=legacy,
        other_revisions=others,
    )
    if state.at_package_head or "events" not in tables:
        return state
    return replace(state, columns=tuple(c["name"] for c in inspect(conn).get_columns("events")))


#: A database with no tables (or no database yet).
EMPTY = SchemaState(None, None, frozenset())


@dataclass(frozen=True)
class Chain:
    """kube9_store's revision chain as the judging of a database needs it: each revision's
    schema version and the head. :data:`PACKAGE_CHAIN` is the package's, known without
    Alembic; with extra version locations the chain is Alembic's (``Migrator.chain``)."""

    versions: Mapping[str, int]
    head: str

    @property
    def head_version(self) -> int:
        return self.versions[self.head]

    def revision_for_version(self, version: int) -> str | None:
        for rev, v in self.versions.items():
            if v == version:
                return rev
        return None

    def describe(self, revision: str | None) -> str:
        if revision is None:
            return "an empty database (no revision)"
        return f"revision {revision} (schema version {self.versions.get(revision, '?')})"

    def describe_state(self, state: SchemaState) -> str:
        """Where a database stands, including one made without Alembic."""
        if state.made_without_alembic:
            return f"schema version {state.version} (created without Alembic)"
        return self.describe(state.revision)

    def check_revision(self, revision: str, *, allow: tuple[str, ...] = ("head",)) -> str:
        """The revision id ``revision`` names (an id from before the revisions were a labelled
        branch, such as ``0002``, names its new one); refuse a revision this chain does not
        have, listing the ones it does."""
        revision = LEGACY_REVISIONS.get(revision, revision)
        if revision not in self.versions and revision not in allow:
            known = ", ".join([*sorted(self.versions), *allow])
            raise ValidationError.single("revision", f"must be one of {known}, got {revision!r}")
        return revision


#: The package's own chain: revision ``kube9_store_NNNN`` is schema version NNNN, one per
#: version up to the head (a test holds it equal to what Alembic reads from the revisions).
PACKAGE_CHAIN = Chain(
    versions={f"{REVISION_PREFIX}{n:04d}": n for n in range(1, HEAD_VERSION + 1)},
    head=HEAD_REVISION,
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
