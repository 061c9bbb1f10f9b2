"""Sort-key indexes and trigger-maintained event counts (performance at 1M events).

The spec's single-column indexes make every filtered, newest-first page sort all matching rows.
Each index is rebuilt under its spec name with (created_at, id) appended, so a page is an index
range scan read backwards (newest first, no sort). Ascending order makes new events land at the
end of each range, which keeps pages fuller than descending keys would. The type and severity
indexes also carry the other column, so a combined type + severity filter is checked inside the
index without a table lookup per skipped row. idx_events_object_scope serves "all Pods in a
namespace" (the VS Code extension's query); idx_events_acknowledged becomes a partial index of
the acknowledged events, the rare side (unacknowledged pages read idx_events_created).
``event_counts`` holds exact per (event_type, severity) counts kept by triggers, so counting
reads a handful of rows whoever wrote the events.

Revision ID: kube9_store_0003
Revises: kube9_store_0002
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from kube9_store.schema.versions import (
    apply_ddl,
    forget_version,
    rebuilt_later,
    record_version,
)

revision: str = "kube9_store_0003"
down_revision: str | None = "kube9_store_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA_VERSION = 3
DESCRIPTION = "Sort-key indexes and trigger-maintained event counts"

SORT_KEY = ["created_at", "id"]
SPEC_INDEXES: dict[str, list[str | sa.TextClause]] = {
    "idx_events_type": ["event_type"],
    "idx_events_severity": ["severity"],
    "idx_events_created": [sa.text("created_at DESC")],
    "idx_events_object": ["object_kind", "object_namespace", "object_name"],
    "idx_events_acknowledged": ["acknowledged"],
}
SORTED_INDEXES: dict[str, list[str | sa.TextClause]] = {
    "idx_events_type": ["event_type", *SORT_KEY, "severity"],
    "idx_events_severity": ["severity", *SORT_KEY, "event_type"],
    "idx_events_created": [*SORT_KEY],
    "idx_events_object": ["object_kind", "object_namespace", "object_name", *SORT_KEY],
}

#: All events of a kind in a namespace, newest first: what the VS Code extension asks for.
SCOPE_INDEX = "idx_events_object_scope"
SCOPE_COLUMNS: list[str | sa.TextClause] = ["object_kind", "object_namespace", *SORT_KEY]
ACK_INDEX = "idx_events_acknowledged"


def _replace_indexes(indexes: dict[str, list[str | sa.TextClause]]) -> None:
    for name, columns in indexes.items():
        op.drop_index(name, table_name="events")
        op.create_index(name, "events", columns)


def upgrade() -> None:
    if not rebuilt_later():  # revision 0007 builds SQLite's indexes anew
        _replace_indexes(SORTED_INDEXES)
        op.create_index(SCOPE_INDEX, "events", SCOPE_COLUMNS)
        op.drop_index(ACK_INDEX, table_name="events")
        op.create_index(
            ACK_INDEX,
            "events",
            SORT_KEY,
            sqlite_where=sa.text("acknowledged = 1"),
            postgresql_where=sa.text("acknowledged = 1"),
        )
    op.create_table(
        "event_counts",
        sa.Column("event_type", sa.Text, primary_key=True),
        sa.Column("severity", sa.Text, primary_key=True),
        sa.Column("n", sa.Integer, nullable=False),
        sqlite_with_rowid=False,
    )
    if not rebuilt_later():  # revision 0007 counts from its (type, severity) index
        op.execute(
            "INSERT INTO event_counts (event_type, severity, n) "
            "SELECT event_type, severity, COUNT(*) FROM events GROUP BY event_type, severity"
        )
    apply_ddl(revision, "upgrade")  # the count triggers, as each database writes them
    record_version(SCHEMA_VERSION, DESCRIPTION)


def downgrade() -> None:
    forget_version(SCHEMA_VERSION)
    apply_ddl(revision, "downgrade")
    op.drop_table("event_counts")
    op.drop_index(SCOPE_INDEX, table_name="events")
    _replace_indexes(SPEC_INDEXES)
