"""Administration outside the event API: status of any database (even one behind), and moving
it along the revision chain on request."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, select

from kube9_store.backends import sqlite
from kube9_store.backends.sqlite_maintenance import file_sizes
from kube9_store.config import DbLocation, resolve_url, sqlite_file
from kube9_store.database import open_engine
from kube9_store.engine import make_engine
from kube9_store.errors import SchemaError, translated
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

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def status(db: DbLocation | None = None) -> DatabaseStatus:
    """Read-only: never creates, migrates or writes."""
    url = resolve_url(db)
    path = sqlite_file(url)
    if path is not None:
        sqlite.check_existing(path)
        if not path.exists():
            raise SchemaError(
                f"database {path} does not exist; create it with `kube9-store db upgrade`"
            )
    engine = make_engine(url, read_only=True)
    try:
        with translated("read database status"), engine.connect() as conn:
            state = read_state(conn)
            count = (
                conn.execute(select(func.count()).select_from(events)).scalar_one()
                if "events" in state.tables
                else None
            )
            size = file_sizes(conn, path) if path is not None else (None, None)
    finally:
        engine.dispose()
    return DatabaseStatus(
        database=str(path) if path is not None else url.render_as_string(),
        schema_version=state.version,
        revision=state.revision,
        head_revision=HEAD_REVISION,
        head_schema_version=HEAD_VERSION,
        at_head=state.at_package_head,
        event_count=count,
        database_bytes=size[0],
        wal_bytes=size[1],
    )


def upgrade(db: DbLocation | None = None, revision: str = "head") -> DatabaseStatus:
    """Create or upgrade the database to ``revision`` (default: head), with the start-up
    safety checks (plain-SQL adoption, refusal of foreign or newer databases)."""
    url = resolve_url(db)
    open_engine(url, target=revision).dispose()
    return status(url)


def downgrade(db: DbLocation | None, revision: str) -> DatabaseStatus:
    """Move the database down to ``revision`` ("base" removes every table of the chain)."""
    from kube9_store.migrate import Migrator

    url = resolve_url(db)
    path = sqlite_file(url)
    if path is not None and not path.exists():
        raise SchemaError(f"database {path} does not exist")
    engine = make_engine(url)
    try:
        migrator = Migrator(engine)
        migrator.check_revision(revision, allow=("base",))
        with translated("downgrade database"):
            migrator.check_known(migrator.state())
            migrator.downgrade(revision)
    finally:
        engine.dispose()
    return status(url)
