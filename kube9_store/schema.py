"""The database schema at the head of the revision chain, in SQLAlchemy Core.

Versions 1 and 2 are the spec's tables exactly; version 3 extends the spec's indexes with the
sort key (so every filtered, newest-first page is an index range scan with no sort) and adds the
``event_counts`` table that triggers keep exact, so counting never scans the events
(see revision 0003 for the reasoning behind each index).
The revisions in ``kube9_store/migrations/versions`` build this; a test checks they agree.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, MetaData, Table, Text, text

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

# Ascending keys read backwards give newest first; new events land at the end of each range.
_sort_key = (events.c.created_at, events.c.id)

Index("idx_events_type", events.c.event_type, *_sort_key, events.c.severity)
Index("idx_events_severity", events.c.severity, *_sort_key, events.c.event_type)
Index("idx_events_created", *_sort_key)
Index(
    "idx_events_object",
    events.c.object_kind,
    events.c.object_namespace,
    events.c.object_name,
    *_sort_key,
)
Index("idx_events_object_scope", events.c.object_kind, events.c.object_namespace, *_sort_key)
# Partial on both backends (revision 0003 creates it so); only the SQLite predicate is declared
# here, because naming a postgresql_* option would import that dialect into every CLI start.
Index(
    "idx_events_acknowledged",
    *_sort_key,
    sqlite_where=events.c.acknowledged == 1,
)

#: Columns of ``events`` in the spec's order, as stored.
EVENT_COLUMNS: tuple[str, ...] = tuple(c.name for c in events.columns)

#: The head of the revision chain this metadata describes (a test checks it against Alembic).
HEAD_REVISION = "0003"
HEAD_VERSION = 3
