"""Compact SQLite indexes: integer-millisecond time key, rowid as the tie-breaker.

Revision 0003's SQLite indexes carried the 24-byte created_at text and the 26-byte id text in
every entry (and the type and severity indexes each also the other column): 457 of 731 bytes per
event at 1M events. SQLite already appends the rowid to every index entry, so the rowid breaks
ties between equal instants, and the timestamp is indexed as integer milliseconds (an exact
expression of the stored text, 6 bytes). The five sorted indexes become (columns, time key), the
partial acknowledged index (time key), and every filtered, newest-first page is still an index
range scan with no sort. PostgreSQL has no rowid: its (columns, created_at, id) indexes stay as
revision 0003 made them, and this revision only moves its schema_version.

Revision ID: kube9_store_0004
Revises: kube9_store_0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from kube9_store.schema.versions import forget_version, record_version

revision: str = "kube9_store_0004"
down_revision: str | None = "kube9_store_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA_VERSION = 4
DESCRIPTION = "Compact SQLite indexes: integer-millisecond time key, rowid tie-breaker"

#: The stored timestamp as integer milliseconds (kube9_store.schema.tables.time_key, frozen here).
TIME_KEY = (
    "CAST(strftime('%s', created_at) AS INTEGER) * 1000"
    " + CAST(substr(created_at, 21, 3) AS INTEGER)"
)
COMPACT = {
    "idx_events_type": f"event_type, {TIME_KEY}",
    "idx_events_severity": f"severity, {TIME_KEY}",
    "idx_events_created": TIME_KEY,
    "idx_events_object": f"object_kind, object_namespace, object_name, {TIME_KEY}",
    "idx_events_object_scope": f"object_kind, object_namespace, {TIME_KEY}",
    "idx_events_acknowledged": f"{TIME_KEY}",
}
#: The partial index: acknowledged events only.
PARTIAL = "idx_events_acknowledged"
#: Revision 0003's indexes, restored by the downgrade.
SORTED = {
    "idx_events_type": "event_type, created_at, id, severity",
    "idx_events_severity": "severity, created_at, id, event_type",
    "idx_events_created": "created_at, id",
    "idx_events_object": "object_kind, object_namespace, object_name, created_at, id",
    "idx_events_object_scope": "object_kind, object_namespace, created_at, id",
    "idx_events_acknowledged": "created_at, id",
}


def _rebuild(indexes: dict[str, str]) -> None:
    if op.get_context().dialect.name != "sqlite":
        return
    for name, columns in indexes.items():
        where = " WHERE acknowledged = 1" if name == PARTIAL else ""
        op.execute(f"DROP INDEX {name}")
        op.execute(f"CREATE INDEX {name} ON events ({columns}){where}")


def upgrade() -> None:
    _rebuild(COMPACT)
    record_version(SCHEMA_VERSION, DESCRIPTION)


def downgrade() -> None:
    forget_version(SCHEMA_VERSION)
    _rebuild(SORTED)
