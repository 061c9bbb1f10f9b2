"""Which lineage a database belongs to, told from its structure, and what a read-only store can
read of one that is not at this package's head.

Three kinds of database reach the read path:

- this package's own, behind head (an earlier revision, or a spec v1/v2 file made with the
  spec's plain SQL whose structure is exactly that version's): read with what its schema has,
  and upgradable with ``kube9-store db upgrade``;
- another lineage's: a ``schema_version`` table and an ``events`` table with the spec's columns,
  but versions and structure that are not this package's (the reference kube9-operator's own
  migrations add tables of their own, rename the indexes and never add ``acknowledged``).
  Such a database is read, never written, stamped or migrated; ``kube9-store copy`` brings its
  events into a kube9_store database;
- anything else, which is refused as before.
"""

from __future__ import annotations

from kube9_store.backends import Backend
from kube9_store.errors import SchemaError
from kube9_store.schema.facts import SPEC_COLUMNS
from kube9_store.schema.migrate import Migrator
from kube9_store.schema.readmodel import ReadModel
from kube9_store.schema.state import SchemaState, difference
from kube9_store.schema.tables import HEAD_REVISION, HEAD_VERSION

#: The tables every kube9 event database has; any others belong to the program that made it.
EVENT_TABLES = frozenset({"schema_version", "events", "event_counts", "alembic_version"})


def structure_difference(backend: Backend, revision: str) -> str | None:
    """How the spec tables of ``backend``'s database differ from this package's at
    ``revision`` (None when they are the same)."""
    found = backend.structure()
    reference = backend.scratch()
    try:
        Migrator(reference).upgrade(revision)
        expected = reference.structure()
    finally:
        reference.dispose()
    return None if found == expected else difference(found, expected)


def read_model(backend: Backend, state: SchemaState) -> ReadModel:
    """What a read-only store reads from a database that is not at this package's head.
    Raises SchemaError, naming what was found, for a database it cannot read."""
    migrator = Migrator(backend)
    upgrade = f"upgrade it with `kube9-store db upgrade --db {backend.location}`"
    if state.is_empty:
        raise SchemaError(
            f"{backend.location} holds no event database yet; create it with "
            f"`kube9-store db upgrade --db {backend.location}`"
        )
    if state.revision is not None:
        migrator.check_known(state)  # refuses a newer or inconsistent database
        return _behind(backend, state, migrator.describe_state(state), upgrade, trusted=True)
    foreign = _foreign_description(backend, state, migrator)
    if foreign is None:
        # this package's own lineage, made with the spec's plain SQL: adoptable
        return _behind(backend, state, migrator.describe_state(state), upgrade, trusted=False)
    return ReadModel(
        acknowledged="acknowledged" in backend.columns("events"),
        counts=False,
        trusted=False,
        foreign=True,
        at_head=False,
        notice=(
            f"{backend.location} is {foreign}; it is read as it is and never written. "
            f"{copy_hint(backend.location)}"
        ),
    )


def refuse_other_lineage(backend: Backend, state: SchemaState, migrator: Migrator) -> None:
    """For a read-write open: refuse a database of another lineage, saying how to bring its
    events into a kube9_store database. Leaves every other case to the migration plan."""
    if state.revision is not None or state.is_empty:
        return
    foreign = _foreign_description(backend, state, migrator, quiet=True)
    if foreign is not None:
        raise SchemaError(
            f"{backend.location} is {foreign}: kube9_store reads it (queries, export, and as "
            "the source of a copy) but never writes, stamps or migrates it. "
            + copy_hint(backend.location)
        )


def copy_hint(location: str) -> str:
    return f"To keep its events in a kube9_store database: `kube9-store copy {location} NEW_DB`."


def _behind(
    backend: Backend, state: SchemaState, where: str, upgrade: str, *, trusted: bool
) -> ReadModel:
    if "events" not in state.tables:
        raise SchemaError(f"{backend.location} is at {where} but has no events table")
    return ReadModel(
        acknowledged="acknowledged" in backend.columns("events"),
        counts="event_counts" in state.tables,
        trusted=trusted,
        at_head=False,
        notice=(
            f"{backend.location} is at {where}, behind this package's head (revision "
            f"{HEAD_REVISION}, schema version {HEAD_VERSION}); answering from what its schema "
            f"has; {upgrade}"
        ),
    )


def _foreign_description(
    backend: Backend, state: SchemaState, migrator: Migrator, *, quiet: bool = False
) -> str | None:
    """None for a plain-SQL database of this package's lineage; a description of it for a
    database of another lineage. Raises (the migration plan's refusals) for anything else,
    unless ``quiet``, which returns None and leaves the refusing to the plan."""
    try:
        if "schema_version" not in state.tables or state.version is None:
            migrator.plan(state)  # refuses: foreign tables without a version, or no rows
            return None  # an empty database: the plan creates it
        columns = backend.columns("events")
        spec_shaped = columns in (SPEC_COLUMNS, (*SPEC_COLUMNS, "acknowledged"))
        revision = migrator.revision_for_version(state.version)
        if revision is not None:
            differs = structure_difference(backend, revision)
            if differs is None:
                return None
            if not spec_shaped:
                raise SchemaError(
                    f"{backend.location} says schema version {state.version} but its "
                    f"structure differs from that version: {differs}; refusing it"
                )
            detail = f"schema version {state.version}, but {differs}"
        elif spec_shaped:
            detail = f"schema version {state.version}, which is not one of this package's"
        else:
            migrator.plan(state)  # refuses a newer version
            raise SchemaError(f"schema version {state.version} is not one this package knows")
    except SchemaError:
        if quiet:
            return None
        raise
    own = sorted(state.tables - EVENT_TABLES)
    tables = f", with tables of its own ({', '.join(own)})" if own else ""
    return (
        "an event database of another lineage (the reference kube9-operator's, or a program "
        f"like it): its events table has the spec's columns, but it is at {detail}{tables}"
    )
