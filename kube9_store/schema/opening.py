"""Opening a database: refuse what is not ours untouched, migrate what is behind, write nothing
to what is current, and open read-only without ever creating or migrating. The steps are the
same for every backend; what each step means for a file or a server is the backend's."""

from __future__ import annotations

from collections.abc import Sequence

from kube9_store.backends import Backend
from kube9_store.errors import SchemaError
from kube9_store.schema import lineage
from kube9_store.schema.migrate import Migrator
from kube9_store.schema.readmodel import HEAD_MODEL, ReadModel
from kube9_store.schema.state import SchemaState


def open_database(
    backend: Backend,
    *,
    migrate: bool = True,
    extra_version_locations: Sequence[str] = (),
    target: str = "head",
) -> ReadModel:
    """Make ``backend``'s database ready for the store: at the schema head (migrating it first
    when allowed), and say how the store reads it. A read-only backend is never migrated: a
    database behind head, or of another lineage, is read with what its schema has.

    ``target`` other than head stops the upgrade at that revision (``db upgrade --revision``).
    On failure the backend's connections are closed.
    """
    try:
        if backend.settings.read_only:
            return _read_model(backend)
        backend.check_location(must_exist=False)
        if target == "head" and not extra_version_locations:
            state = backend.inspect()
            if state is not None and state.at_package_head:
                return HEAD_MODEL  # the common case: no lock, no write
        with backend.translated(f"cannot migrate {backend.location}"), backend.migration_lock():
            state = backend.prepare()  # again, under the lock: another opener may have migrated
            _migrate(backend, state, migrate, extra_version_locations, target)
        return HEAD_MODEL
    except BaseException:
        backend.dispose()
        raise


def _read_model(backend: Backend) -> ReadModel:
    backend.check_location(must_exist=True)
    state = backend.inspect()
    if state is None or state.at_package_head:
        return HEAD_MODEL
    model = lineage.read_model(backend, state)
    backend.read_as_found()
    return model


def _migrate(
    backend: Backend,
    state: SchemaState,
    migrate: bool,
    extra_version_locations: Sequence[str],
    target: str,
) -> None:
    migrator = Migrator(backend, extra_version_locations=extra_version_locations)
    target = migrator.check_revision(target)
    if migrator.is_current(state) or (
        target != "head" and state.revision == target and state.legacy_revision is None
    ):
        return
    migrator.refuse_shared(state, f"migrate {backend.location}")
    lineage.refuse_other_lineage(backend, state, migrator)
    stamp_first = migrator.plan(state)
    if not migrate:
        raise SchemaError(
            f"the database is at {migrator.describe_state(state)}, behind this package's "
            f"{migrator.describe(migrator.head)}; run `kube9-store db upgrade`"
        )
    if stamp_first is not None:
        _verify_adoptable(backend, migrator, stamp_first)
    with backend.translated("migration failed"):
        migrator.upgrade(target, stamp_first=stamp_first)


def _verify_adoptable(backend: Backend, migrator: Migrator, revision: str) -> None:
    """A database made by the spec's plain SQL must have exactly that version's structure."""
    differs = lineage.structure_difference(backend, revision)
    if differs is not None:
        raise SchemaError(
            f"{backend.location} says schema version {migrator.versions[revision]} but its "
            f"structure differs from that version: {differs}; refusing to migrate it"
        )
