"""The database schema at the head of the revision chain, in SQLAlchemy Core.

Versions 1 and 2 are the spec's tables exactly; version 3 extends the spec's indexes with the
sort key (so every filtered, newest-first page is an index range scan with no sort) and adds the
``event_counts`` table that triggers keep exact, so counting never scans the events
(see revision 0003 for the reasoning behind each index). Version 4 makes the SQLite indexes
compact: the sort key is the timestamp as integer milliseconds and the rowid (see revision 0004
and :mod:`kube9_store.schema.sortkey`); PostgreSQL keeps the version 3 indexes. Version 5 adds
``operations_state``: the durable facts of maintenance (retention, backups, VACUUM), so every
process's metrics tell the same (see :mod:`kube9_store.operations.state`).
Version 6 adds the Kubernetes ingest's occurrence keys and watch checkpoints. Version 7 stores
SQLite's time key once per row (``created_ms``, the indexes' last column there) and adds
``idx_events_type_severity`` on both backends (see revision 0007).
The revisions in ``kube9_store/migrations/versions`` build this; a test checks they agree.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    DDL,
    Column,
    ColumnElement,
    Computed,
    Float,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    cast,
    event,
    func,
    literal_column,
    text,
)
from sqlalchemy.schema import CreateIndex

from kube9_store.events.fields import FIELDS, Field, column_nullable
from kube9_store.schema.facts import BRANCH as BRANCH

# The plain facts, declared where they can be read without SQLAlchemy (re-exported here).
from kube9_store.schema.facts import EVENT_COLUMNS as EVENT_COLUMNS
from kube9_store.schema.facts import HEAD_REVISION as HEAD_REVISION
from kube9_store.schema.facts import HEAD_VERSION as HEAD_VERSION
from kube9_store.schema.facts import REVISION_PREFIX as REVISION_PREFIX
from kube9_store.schema.facts import TIME_KEY_COLUMN, TIME_KEY_SQL

metadata = MetaData()

#: TEXT compared byte by byte on every backend (PostgreSQL's default collation follows the
#: locale), so ids and timestamps order the same everywhere.
OrderedText = Text().with_variant(Text(collation="C"), "postgresql")

#: The spec's ``schema_version`` table; one row per applied schema version.
schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True, nullable=True, autoincrement=False),
    Column("applied_at", Text, nullable=False),
    Column("description", Text),
)

_STORED_AS: dict[str, Any] = {
    "text": Text,
    "ordered_text": OrderedText,
    "integer": Integer,
    "json": Text,
}


def event_column(field: Field) -> Column[Any]:
    """The ``events`` column of a declared event field."""
    default = text(field.server_default) if field.server_default is not None else None
    return Column(
        field.name,
        _STORED_AS[field.storage],
        primary_key=field.primary_key,
        nullable=column_nullable(field),
        server_default=default,
    )


#: The spec's ``events`` table plus the v2 ``acknowledged`` column: one column per declared
#: event field (:mod:`kube9_store.events.fields`).
events = Table("events", metadata, *(event_column(f) for f in FIELDS))

#: Exact event counts per (event_type, severity), maintained by triggers (revision 0003).
event_counts = Table(
    "event_counts",
    metadata,
    Column("event_type", Text, primary_key=True),
    Column("severity", Text, primary_key=True),
    Column("n", Integer, nullable=False),
    sqlite_with_rowid=False,
)

#: The last retention run, backup, snapshot and VACUUM, and what retention deleted, written by
#: whichever process did the work (revision 0005); one number per fact.
operations_state = Table(
    "operations_state",
    metadata,
    Column("name", Text, primary_key=True),
    Column("value", Float, nullable=False),
    Column("updated_at", Text, nullable=False),
)

#: One row per stored occurrence of a Kubernetes event (cluster, event uid, count as
#: observed): the key every ingest path inserts first, so each occurrence is stored once
#: (revision 0006, :mod:`kube9_store.ingest.writer`).
k8s_event_keys = Table(
    "k8s_event_keys",
    metadata,
    Column("cluster_uid", OrderedText, primary_key=True),
    Column("event_uid", OrderedText, primary_key=True),
    Column("count", Integer, primary_key=True, autoincrement=False),
    Column("event_id", OrderedText, nullable=False),
    Column("created_at", OrderedText, nullable=False),
)

#: Where a watch of one resource of one cluster resumes (revision 0006).
ingest_checkpoints = Table(
    "ingest_checkpoints",
    metadata,
    Column("cluster_uid", Text, primary_key=True),
    Column("resource", Text, primary_key=True),
    Column("resource_version", Text, nullable=False),
    Column("cluster_name", Text),
    Column("updated_at", Text, nullable=False),
)


def time_key(value: ColumnElement[Any]) -> ColumnElement[int]:
    """A stored-form timestamp (``YYYY-MM-DDTHH:MM:SS.mmmZ``) as integer milliseconds since
    1970, in exact integer arithmetic: whole seconds from strftime, milliseconds from the text.
    Deterministic, and it orders exactly as the stored text does. SQLite only: the stored
    ``created_ms`` column is this of ``created_at`` (revision 0007), and queries compare it
    with this of their bound times."""
    # the expression of facts.TIME_KEY_SQL, built with SQLAlchemy's operators for a bound value
    seconds = cast(func.strftime(literal_column("'%s'"), value), Integer)
    millis = cast(func.substr(value, literal_column("21"), literal_column("3")), Integer)
    return seconds * literal_column("1000") + millis


# The indexes differ by backend, and both sets live in this one MetaData:
# - PostgreSQL keeps revision 0003's: (columns, created_at, id), ascending; declared on the
#   tables below with ``ddl_if(dialect="postgresql")``, so ``create_all`` makes them only there
#   and Alembic's autogenerate compares them there (their predicate and the SQLite set are not
#   its business: see :mod:`kube9_store.schema.autogen`).
# - SQLite has revision 0007's compact (columns, stored time key) indexes on the generated
#   column ``created_ms`` that only SQLite's ``events`` has. They are declared on a copy of the
#   tables (``sqlite_metadata``, what the SQLite backend and the tests compare with) and made
#   by ``create_all`` on SQLite through the ``after_create`` hook of ``events``.
# Revisions, not these objects, build the tables; tests compare each with what the chain builds.
_pg = events.c
_text_key = (_pg.created_at, _pg.id)
#: The partial index's predicate (acknowledged events only), on both backends.
ACKNOWLEDGED_ONLY = "acknowledged = 1"
for _index in (
    Index("idx_events_type", _pg.event_type, *_text_key, _pg.severity),
    Index("idx_events_type_severity", _pg.event_type, _pg.severity, *_text_key),
    Index("idx_events_severity", _pg.severity, *_text_key, _pg.event_type),
    Index("idx_events_created", *_text_key),
    Index("idx_events_object", _pg.object_kind, _pg.object_namespace, _pg.object_name, *_text_key),
    Index("idx_events_object_scope", _pg.object_kind, _pg.object_namespace, *_text_key),
):
    _index.ddl_if(dialect="postgresql")
# Partial on the server too; created by the DDL hook below rather than declared with
# ``postgresql_where``, because naming a postgresql_* option would import that dialect into
# every CLI start. Alembic compares an index's columns, not its predicate.
Index("idx_events_acknowledged", *_text_key).ddl_if(callable_=lambda *_a, **_k: False)

#: The same tables with SQLite's ``events`` at head (revision 0007): the time key stored once
#: per row by SQLite itself, ascending keys read backwards for newest first, and the rowid
#: SQLite appends to every index entry as the tie-breaker of equal instants.
sqlite_metadata = MetaData()
for _table in metadata.tables.values():
    _table.to_metadata(sqlite_metadata)
_lite_events = sqlite_metadata.tables["events"]
for _index in list(_lite_events.indexes):
    _lite_events.indexes.discard(_index)
_lite_events.append_column(
    Column(
        TIME_KEY_COLUMN,
        Integer,
        Computed(text(TIME_KEY_SQL.format("created_at")), persisted=True),
    )
)
_lite = _lite_events.c
_time = _lite[TIME_KEY_COLUMN]
Index("idx_events_type", _lite.event_type, _time)
Index("idx_events_type_severity", _lite.event_type, _lite.severity, _time)
Index("idx_events_severity", _lite.severity, _time)
Index("idx_events_created", _time)
Index("idx_events_object", _lite.object_kind, _lite.object_namespace, _lite.object_name, _time)
Index("idx_events_object_scope", _lite.object_kind, _lite.object_namespace, _time)
Index("idx_events_acknowledged", _time, sqlite_where=_lite.acknowledged == 1)


# ``create_all``: SQLite's indexes on SQLite, the partial index on PostgreSQL.
for _index in sorted(_lite_events.indexes, key=lambda i: str(i.name)):
    event.listen(events, "after_create", CreateIndex(_index).execute_if(dialect="sqlite"))
event.listen(
    events,
    "after_create",
    DDL(  # type: ignore[no-untyped-call]
        f"CREATE INDEX idx_events_acknowledged ON events (created_at, id) WHERE {ACKNOWLEDGED_ONLY}"
    ).execute_if(dialect="postgresql"),
)


#: Kept for callers of the earlier name: the MetaData whose indexes are PostgreSQL's.
server_metadata = metadata


#: The ids the revisions had before they became a labelled branch; a database stamped with
#: one is read as the new id and renamed at its next read-write open or ``alembic upgrade``.
LEGACY_REVISIONS: dict[str, str] = {f"{n:04d}": f"{REVISION_PREFIX}{n:04d}" for n in range(1, 5)}


def is_legacy_revision(revision: str, version: int | None) -> bool:
    """Whether the only row of ``alembic_version``, with ``schema_version`` at ``version``, is
    kube9_store's from before the branch (an application's own ``0001`` is not: its database
    has no kube9_store schema version to match)."""
    return revision in LEGACY_REVISIONS and version == int(revision)


def is_own_revision(revision: str) -> bool:
    """Whether an ``alembic_version`` row belongs to kube9_store's branch (an id from before
    the branch is told by being the table's only row)."""
    return revision.startswith(REVISION_PREFIX)
