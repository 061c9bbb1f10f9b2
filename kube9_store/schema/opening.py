"""Opening a database: one look at its state, one decision, and the revision chain run only when
the decision is to migrate.

The look is :meth:`Backend.survey <kube9_store.backends.Backend.survey>`: the database held,
and its revision, schema version, tables (and, where it says something about its lineage, its
columns and structure) read without writing. The decision is :func:`judge`, which knows every
kind of database that reaches it:

- at head (or at the requested revision): read as it is, nothing written;
- this package's own, behind head (an earlier revision, or a spec v1/v2 file made with the
  spec's plain SQL whose structure is exactly that version's): migrated by a read-write open
  (adopted first when made without Alembic), read with what its schema has by a read-only one;
- another lineage's: a ``schema_version`` table and an ``events`` table with the spec's columns,
  but versions and structure that are not this package's (the reference kube9-operator's own
  migrations add tables of their own, rename the indexes and never add ``acknowledged``). Read,
  never written, stamped or migrated; ``kube9-store copy`` brings its events into a kube9_store
  database;
- anything else (newer, inconsistent, shared with an application's chain for a write, not an
  event database): refused with what was found, untouched.

Alembic (:mod:`kube9_store.schema.migrate`) is imported only to migrate, to compare a database
made without Alembic with what the chain builds, or to read extra revisions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kube9_store.backends import Backend
from kube9_store.errors import SchemaError
from kube9_store.events.fields import FIELDS
from kube9_store.schema.facts import SPEC_COLUMNS
from kube9_store.schema.readmodel import HEAD_MODEL, ReadModel
from kube9_store.schema.state import (
    CHAIN_TABLES,
    HEAD_TABLES,
    PACKAGE_CHAIN,
    Chain,
    SchemaState,
    difference,
)
from kube9_store.schema.tables import BRANCH

#: The tables every kube9 event database has; any others belong to the program that made it.
EVENT_TABLES = frozenset({"schema_version", "events", "event_counts", "alembic_version"})


@dataclass(frozen=True)
class Verdict:
    """What opening does with a database: read it with ``model``, or run the chain."""

    model: ReadModel = HEAD_MODEL
    #: The chain must run (up to the target) before the database is read.
    migrate: bool = False
    #: The revision to stamp first (adopting a database made with the spec's plain SQL).
    stamp_first: str | None = None


#: Nothing to do: the database is read as it is.
AS_IS = Verdict()


def open_database(
    backend: Backend,
    *,
    migrate: bool = True,
    extra_version_locations: Sequence[str] = (),
    target: str = "head",
) -> ReadModel:
    """Hold ``backend``'s database and make it ready for the store: at the chain's head
    (migrated first when behind and ``migrate``), and say how the store reads it. A read-only
    backend is never migrated: a database behind head, or of another lineage, is read with
    what its schema has.

    ``target`` other than head stops the upgrade at that revision (``db upgrade --revision``).
    On failure the backend's connections are closed and its hold let go.
    """
    writing = not backend.settings.read_only
    try:
        state = backend.survey()
        if not writing or (target == "head" and not extra_version_locations):
            verdict = judge(state, backend, PACKAGE_CHAIN, writing=writing, allowed=migrate)
            if not verdict.migrate:
                if verdict.model is not HEAD_MODEL:
                    backend.read_as_found()
                return verdict.model
        from kube9_store.schema.migrate import Migrator

        migrator = Migrator(backend, extra_version_locations=extra_version_locations)
        target = migrator.chain.check_revision(target)
        with backend.migrating() as state:  # again, under the lock: another may have migrated
            verdict = judge(
                state, backend, migrator.chain, writing=True, target=target, allowed=migrate
            )
            if verdict.migrate:
                with backend.translated("migration failed"):
                    migrator.upgrade(target, stamp_first=verdict.stamp_first)
        return HEAD_MODEL
    except BaseException:
        backend.dispose()
        backend.release(refused=True)
        raise


def judge(
    state: SchemaState,
    backend: Backend,
    chain: Chain,
    *,
    writing: bool,
    target: str = "head",
    allowed: bool = True,
) -> Verdict:
    """The one decision about a database in ``state``: read it as it is, migrate it (when
    ``writing``; ``allowed`` False refuses instead, naming the upgrade command), or refuse it
    (SchemaError naming what was found). ``backend`` is asked nothing but its name and, for a
    database made without Alembic, a reference structure built on a scratch database."""
    location = backend.location
    if state.is_empty and not writing:
        raise SchemaError(
            f"{location} holds no event database yet; create it with "
            f"`kube9-store db upgrade --db {location}`"
        )
    check_known(state, chain)
    if state.revision in (chain.head, target) and state.legacy_revision is None:
        return AS_IS  # at head (or at the requested revision), its version as the chain says
    if writing:
        refuse_shared(state, chain, f"migrate {location}")
    foreign = _foreign(state, backend, chain) if state.made_without_alembic else None
    if foreign is not None:
        if writing:
            raise _never_written(location, foreign)
        notice = f"{location} is {foreign}; it is read as it is and never written. "
        return Verdict(_model(state, foreign=True, notice=notice + copy_hint(location)))
    if not state.is_empty and state.version is None:
        _refuse_unversioned(state)
    where = chain.describe_state(state)
    if not writing:
        if "events" not in state.tables:
            raise SchemaError(f"{location} is at {where} but has no events table")
        notice = (
            f"{location} is at {where}, behind this package's head (revision {chain.head}, "
            f"schema version {chain.head_version}); answering from what its schema has; "
            f"upgrade it with `kube9-store db upgrade --db {location}`"
        )
        return Verdict(_model(state, trusted=state.revision is not None, notice=notice))
    if not allowed:
        raise SchemaError(
            f"the database is at {where}, behind this package's {chain.describe(chain.head)}; "
            "run `kube9-store db upgrade`"
        )
    version = state.version
    stamp = chain.revision_for_version(version) if version and state.revision is None else None
    return Verdict(migrate=True, stamp_first=stamp)


def check_known(state: SchemaState, chain: Chain) -> None:
    """Refuse a database at a revision ``chain`` does not have (a newer package's), one whose
    ``schema_version`` disagrees with its revision, or one without its revision's tables."""
    if state.revision is None:
        return
    if state.revision not in chain.versions:
        raise SchemaError(
            f"the database is at revision {state.revision!r}, which this package does not "
            f"know (its head is {chain.head}, schema version {chain.head_version}): it was "
            "migrated by a newer kube9_store; upgrade the package instead"
        )
    if state.version != chain.versions[state.revision]:
        raise SchemaError(
            f"schema_version says {state.version} but Alembic says revision "
            f"{state.revision} (schema version {chain.versions[state.revision]}); refusing "
            "to migrate an inconsistent database"
        )
    expected = CHAIN_TABLES | (HEAD_TABLES if state.revision == chain.head else frozenset())
    missing = state.missing(expected)
    if missing:
        raise SchemaError(
            f"the database is at {chain.describe(state.revision)} but has no "
            f"{', '.join(missing)} table; refusing to touch it"
        )


def refuse_shared(state: SchemaState, chain: Chain, action: str) -> None:
    """Refuse to move a database whose ``alembic_version`` also holds an application's
    branches: only the application's Alembic environment, which includes kube9_store's
    revisions, knows every revision of it."""
    if state.other_revisions:
        raise SchemaError(
            f"cannot {action}: the database's alembic_version also holds revisions of "
            f"another chain ({', '.join(state.other_revisions)}), an application's that "
            "includes kube9_store's branch; run its Alembic environment instead "
            f"(`alembic upgrade heads`, or `alembic downgrade {BRANCH}@-1`). kube9_store's "
            f"branch is at {chain.describe(state.revision)}"
        )


def refuse_other_lineage(state: SchemaState, backend: Backend, chain: Chain) -> None:
    """For moving a database along the chain by request (``db downgrade``): refuse one of
    another lineage. Leaves every other case to the move."""
    if not state.made_without_alembic:
        return
    try:
        foreign = _foreign(state, backend, chain)
    except SchemaError:
        return
    if foreign is not None:
        raise _never_written(backend.location, foreign)


def copy_hint(location: str) -> str:
    return f"To keep its events in a kube9_store database: `kube9-store copy {location} NEW_DB`."


def _never_written(location: str, foreign: str) -> SchemaError:
    return SchemaError(
        f"{location} is {foreign}: kube9_store reads it (queries, export, and as the source "
        "of a copy) but never writes, stamps or migrates it. " + copy_hint(location)
    )


def _model(
    state: SchemaState, *, notice: str, trusted: bool = False, foreign: bool = False
) -> ReadModel:
    return ReadModel(
        acknowledged="acknowledged" in state.columns,
        absent=frozenset(
            f.name for f in FIELDS if f.name != "acknowledged" and f.name not in state.columns
        ),
        counts="event_counts" in state.tables and not foreign,
        trusted=trusted,
        foreign=foreign,
        at_head=False,
        notice=notice,
    )


def _refuse_unversioned(state: SchemaState) -> None:
    if "schema_version" not in state.tables:
        found = ", ".join(sorted(state.tables))
        raise SchemaError(
            f"the database holds tables ({found}) but no schema_version table; expected an "
            "empty database or a kube9 event database; refusing to touch it"
        )
    raise SchemaError("schema_version is empty; expected one row per applied version")


def _foreign(state: SchemaState, backend: Backend, chain: Chain) -> str | None:
    """For a database made without Alembic: None when it is this package's lineage made with
    the spec's plain SQL (exactly its version's structure: adoptable), a description of it
    when it is another lineage's; refuses anything else."""
    version = state.version
    assert version is not None  # made without Alembic
    spec_shaped = state.columns in (SPEC_COLUMNS, (*SPEC_COLUMNS, "acknowledged"))
    revision = chain.revision_for_version(version)
    if revision is not None:
        differs = _structure_difference(state, backend, revision)
        if differs is None:
            return None
        if not spec_shaped:
            raise SchemaError(
                f"{backend.location} says schema version {version} but its structure differs "
                f"from that version: {differs}; refusing it"
            )
        detail = f"schema version {version}, but {differs}"
    elif spec_shaped:
        detail = f"schema version {version}, which is not one of this package's"
    elif version > chain.head_version:
        raise SchemaError(
            f"the database is at schema version {version}, newer than this package knows "
            f"(head: schema version {chain.head_version}); upgrade the package instead"
        )
    else:
        raise SchemaError(f"schema version {version} is not one this package knows")
    own = sorted(state.tables - EVENT_TABLES)
    tables = f", with tables of its own ({', '.join(own)})" if own else ""
    return (
        "an event database of another lineage (the reference kube9-operator's, or a program "
        f"like it): its events table has the spec's columns, but it is at {detail}{tables}"
    )


def _structure_difference(state: SchemaState, backend: Backend, revision: str) -> str | None:
    """How the spec tables of the database differ from what the chain builds at
    ``revision`` (None when they are the same)."""
    if state.structure is None:
        raise backend.cannot_adopt()
    from kube9_store.schema.migrate import reference_structure

    expected = reference_structure(backend, revision)
    return None if state.structure == expected else difference(state.structure, expected)
