"""Administration outside the event API: status of any database (even one behind), and moving
it along the revision chain on request."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, select

from kube9_store.backends import backend_for
from kube9_store.config import ConnectionSettings, DbLocation, resolve_url
from kube9_store.migrate import Migrator
from kube9_store.opening import open_database
from kube9_store.schema import HEAD_REVISION, HEAD_VERSION, events
from kube9_store.state import read_state


@dataclass(frozen=True)
class DatabaseStatus:
    """Where a database is on the chain, and how big it is."""

    database: str
    schema_version: int | None
    revision: str | None
    head_revision: str
    head_schema_version: int
    at_head: bool
    event_count: int | None
    database_bytes: int | None
    wal_bytes: int | None
    #: Volume, bytes per event, free pages, projection and budget (at head only).
    capacity: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def status(db: DbLocation | None = None) -> DatabaseStatus:
    """Read-only: never creates, migrates or writes."""
    backend = backend_for(resolve_url(db), ConnectionSettings(read_only=True))
    backend.check_location(must_exist=True)
    try:
        with backend.translated("read database status"), backend.engine.connect() as conn:
            state = read_state(conn)
            count = (
                conn.execute(select(func.count()).select_from(events)).scalar_one()
                if "events" in state.tables
                else None
            )
        size = backend.size_info() if "events" in state.tables else None
    finally:
        backend.dispose()
    found = None
    if state.at_package_head:
        from kube9_store.capacity import capacity
        from kube9_store.store import EventStore

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
    )


def upgrade(db: DbLocation | None = None, revision: str = "head") -> DatabaseStatus:
    """Create or upgrade the database to ``revision`` (default: head), with the start-up
    safety checks (plain-SQL adoption, refusal of foreign or newer databases)."""
    url = resolve_url(db)
    backend = backend_for(url)
    open_database(backend, target=revision)
    backend.dispose()
    return status(url)


def downgrade(db: DbLocation | None, revision: str) -> DatabaseStatus:
    """Move the database down to ``revision`` ("base" removes every table of the chain)."""
    url = resolve_url(db)
    backend = backend_for(url)
    backend.check_location(must_exist=True)
    try:
        migrator = Migrator(backend)
        migrator.check_revision(revision, allow=("base",))
        with backend.translated("downgrade database"):
            migrator.check_known(migrator.state())
            migrator.downgrade(revision)
    finally:
        backend.dispose()
    return status(url)
