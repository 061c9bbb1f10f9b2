"""The database schema at the head of the revision chain, in SQLAlchemy Core.

Versions 1 and 2 are the spec's tables exactly; version 3 extends the spec's indexes with the
sort key (so every filtered, newest-first page is an index range scan with no sort) and adds the
``event_counts`` table that triggers keep exact, so counting never scans the events
(see revision 0003 for the reasoning behind each index). Version 4 makes the SQLite indexes
compact: the sort key is the timestamp as integer milliseconds and the rowid (see revision 0004
and :mod:`kube9_store.sortkey`); PostgreSQL keeps the version 3 indexes. Version 5 adds the
Kubernetes ingest's occurrence keys and watch checkpoints (revision 0005_ingest).
The revisions in ``kube9_store/migrations/versions`` build this; a test checks they agree.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    cast,
    func,
    literal_column,
    text,
)

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

#: The spec's ``events`` table plus the v2 ``acknowledged`` column.
events = Table(
    "events",
    metadata,
    # The spec declares ``id TEXT PRIMARY KEY`` without NOT NULL; kept identical.
    Column("id", OrderedText, primary_key=True, nullable=True),
    Column("event_type", Text, nullable=False),
    Column("severity", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("description", Text),
    Column("object_kind", Text),
    Column("object_namespace", Text),
    Column("object_name", Text),
    Column("metadata", Text),
    Column("created_at", OrderedText, nullable=False),
    Column("acknowledged", Integer, server_default=text("0")),
)

#: Exact event counts per (event_type, severity), maintained by triggers (revision 0003).
event_counts = Table(
    "event_counts",
    metadata,
    Column("event_type", Text, primary_key=True),
    Column("severity", Text, primary_key=True),
    Column("n", Integer, nullable=False),
    sqlite_with_rowid=False,
)

#: One row per stored occurrence of a Kubernetes event (cluster, event uid, count as
#: observed): the key every ingest path inserts first, so each occurrence is stored once
#: (revision 0005_ingest, :mod:`kube9_store.ingest.writer`).
k8s_event_keys = Table(
    "k8s_event_keys",
    metadata,
    Column("cluster_uid", OrderedText, primary_key=True),
    Column("event_uid", OrderedText, primary_key=True),
    Column("count", Integer, primary_key=True, autoincrement=False),
    Column("event_id", OrderedText, nullable=False),
    Column("created_at", OrderedText, nullable=False),
)

#: Where a watch of one resource of one cluster resumes (revision 0005_ingest).
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
    Deterministic, so SQLite can index it, and it orders exactly as the stored text does.
    SQLite only: its indexes are built on it (revision 0004) and its queries repeat it."""
    seconds = cast(func.strftime(literal_column("'%s'"), value), Integer)
    millis = cast(func.substr(value, literal_column("21"), literal_column("3")), Integer)
    return seconds * literal_column("1000") + millis


#: The same tables with the indexes PostgreSQL keeps (revision 0003's: the (created_at, id)
#: sort key appended in ascending order); ``metadata`` has SQLite's. Revisions, not these
#: objects, build the tables; tests compare each with what the chain builds.
server_metadata = MetaData()
for _table in metadata.tables.values():
    _table.to_metadata(server_metadata)
_server = server_metadata.tables["events"].c
_text_key = (_server.created_at, _server.id)
Index("idx_events_type", _server.event_type, *_text_key, _server.severity)
Index("idx_events_severity", _server.severity, *_text_key, _server.event_type)
Index("idx_events_created", *_text_key)
Index(
    "idx_events_object",
    _server.object_kind,
    _server.object_namespace,
    _server.object_name,
    *_text_key,
)
Index("idx_events_object_scope", _server.object_kind, _server.object_namespace, *_text_key)
# Partial on the server too (revision 0003 creates it so); the predicate is not declared here,
# because naming a postgresql_* option would import that dialect into every CLI start.
Index("idx_events_acknowledged", *_text_key)

# The SQLite indexes at head (revision 0004): ascending keys read backwards give newest first,
# and SQLite appends the rowid to every entry, the tie-breaker of equal instants.
_time = time_key(events.c.created_at)
Index("idx_events_type", events.c.event_type, _time)
Index("idx_events_severity", events.c.severity, _time)
events.append_constraint(Index("idx_events_created", _time))  # no column to attach it by
Index(
    "idx_events_object",
    events.c.object_kind,
    events.c.object_namespace,
    events.c.object_name,
    _time,
)
Index("idx_events_object_scope", events.c.object_kind, events.c.object_namespace, _time)
events.append_constraint(
    Index("idx_events_acknowledged", _time, sqlite_where=events.c.acknowledged == 1)
)


#: Columns of ``events`` in the spec's order, as stored.
EVENT_COLUMNS: tuple[str, ...] = tuple(c.name for c in events.columns)

#: The head of the revision chain this metadata describes (a test checks it against Alembic).
HEAD_REVISION = "0005_ingest"
HEAD_VERSION = 5
