"""Administration outside the event API: status and backups of any database (even one behind),
and moving it along the revision chain on request."""

from __future__ import annotations

import os
import time
from typing import Any

from sqlalchemy import func, select

from kube9_store import checks
from kube9_store.backends import Backend, backend_for
from kube9_store.config import ConnectionSettings, DbLocation, resolve_url
from kube9_store.errors import SchemaError
from kube9_store.events.timestamps import utcnow
from kube9_store.operations import snapshots
from kube9_store.operations.state import (
    BACKUP_LAST,
    SNAPSHOT_LAST,
    Facts,
    now_fact,
    record_with_engine,
)
from kube9_store.results import BackupResult
from kube9_store.results import DatabaseStatus as DatabaseStatus
from kube9_store.schema.opening import (
    check_known,
    judge,
    open_database,
    refuse_other_lineage,
    refuse_shared,
)
from kube9_store.schema.state import PACKAGE_CHAIN, SchemaState
from kube9_store.schema.tables import HEAD_REVISION, HEAD_VERSION, events


def status(db: DbLocation | None = None) -> DatabaseStatus:
    """Read-only: never creates, migrates or writes (nor anything beside a file)."""
    backend = backend_for(resolve_url(db), ConnectionSettings(read_only=True))
    backend.check_location(must_exist=True)
    backend.read_as_found()
    try:
        with backend.translated("read database status"), backend.engine.connect() as conn:
            state = backend.state_of(conn)
            count = (
                conn.execute(select(func.count()).select_from(events)).scalar_one()
                if "events" in state.tables
                else None
            )
        size = backend.size_info() if "events" in state.tables else None
        kind, note = _lineage(backend, state)
    finally:
        backend.dispose()
    found = None
    if state.at_package_head:
        from kube9_store.operations.capacity import capacity
        from kube9_store.store.eventstore import EventStore

        with EventStore.open(resolve_url(db), read_only=True, metrics=False) as store:
            found = capacity(store).as_dict()
    return DatabaseStatus(
        capacity=found,
        database=backend.location,
        schema_version=state.version,
        revision=state.revision,
        head_revision=HEAD_REVISION,
        head_schema_version=HEAD_VERSION,
        at_head=state.at_package_head,
        event_count=count,
        database_bytes=size.database_bytes if size is not None else None,
        wal_bytes=size.wal_bytes if size is not None else None,
        lineage=kind,
        note=note,
    )


def _lineage(backend: Backend, state: SchemaState) -> tuple[str | None, str | None]:
    if state.at_package_head:
        return "kube9_store", None
    try:
        model = judge(state, backend, PACKAGE_CHAIN, writing=False).model
    except SchemaError as exc:
        return None, str(exc)
    return ("other" if model.foreign else "kube9_store"), model.notice


def upgrade(db: DbLocation | None = None, revision: str = "head") -> DatabaseStatus:
    """Create or upgrade the database to ``revision`` (default: head), with the start-up
    safety checks (plain-SQL adoption, refusal of foreign or newer databases)."""
    url = resolve_url(db)
    backend = backend_for(url)
    open_database(backend, target=revision)  # lets go of the database when it refuses
    backend.close()
    return status(url)


def downgrade(db: DbLocation | None, revision: str) -> DatabaseStatus:
    """Move the database down to ``revision`` ("base" removes every table of the chain)."""
    url = resolve_url(db)
    backend = backend_for(url)
    backend.check_location(must_exist=True)
    backend.hold()
    try:
        from kube9_store.schema.migrate import Migrator

        migrator = Migrator(backend)
        revision = migrator.check_revision(revision, allow=("base",))
        state = backend.inspect()  # read-only: a database refused here is left as it was
        if state is not None:
            refuse_other_lineage(state, backend, migrator.chain)
        with backend.translated("downgrade database"):
            state = migrator.state()
            check_known(state, migrator.chain)
            refuse_shared(state, migrator.chain, f"downgrade {backend.location}")
            migrator.downgrade(revision)
    finally:
        backend.close()
    return status(url)


def backup(db: DbLocation | None, dest: str | os.PathLike[str]) -> BackupResult:
    """A verified copy of any kube9 database (even one behind, or of another lineage such as
    the reference operator's) at ``dest``, or a timestamped snapshot in ``dest`` when it is a
    directory. The database is opened read-only and never migrated: the copy holds its own
    schema version (``schema_version`` says which). One at head afterwards records the time of
    the backup in its ``operations_state`` (for every process's metrics); nothing else is
    written.
    """
    target = checks.path("dest", dest)
    backend = backend_for(resolve_url(db), ConnectionSettings(read_only=True))
    backend.hold()
    try:
        state = backend.inspect()
        if state is None or state.is_empty:
            raise SchemaError(f"{backend.location} holds no kube9 database to back up")
        head: int | None = HEAD_VERSION
        if not state.at_package_head:
            # behind head, or another lineage's (copied as it is, whatever its own versions);
            # refuses newer, inconsistent or unreadable databases
            if judge(state, backend, PACKAGE_CHAIN, writing=False).model.foreign:
                head = None
            backend.read_as_found()

        def copy(path: os.PathLike[str]) -> BackupResult:
            return backend.backup(checks.path("dest", path), head_version=head)

        if target.is_dir():
            result = snapshots.take_snapshot(copy, target, now=utcnow())
            facts = Facts(set={name: time.time() for name in (BACKUP_LAST, SNAPSHOT_LAST)})
        else:
            result = copy(target)
            facts = now_fact(BACKUP_LAST)
    finally:
        backend.close()
    if state is not None and state.at_package_head:
        _record(backend.url, facts)
    return result


def _record(url: Any, facts: Facts) -> None:
    """Keep the facts of a backup in the database (at head only: one behind has no table)."""
    writer = backend_for(url)
    try:
        record_with_engine(writer.engine, facts)
    finally:
        writer.dispose()
