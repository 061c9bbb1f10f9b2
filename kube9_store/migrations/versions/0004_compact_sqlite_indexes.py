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

from kube9_store.schema.versions import (
    apply_ddl,
    forget_version,
    rebuilt_later,
    record_version,
)

revision: str = "kube9_store_0004"
down_revision: str | None = "kube9_store_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA_VERSION = 4
DESCRIPTION = "Compact SQLite indexes: integer-millisecond time key, rowid tie-breaker"


def upgrade() -> None:
    if not rebuilt_later():  # revision 0007 builds SQLite's indexes anew
        apply_ddl(revision, "upgrade")  # SQLite's compact indexes (nothing on PostgreSQL)
    record_version(SCHEMA_VERSION, DESCRIPTION)


def downgrade() -> None:
    forget_version(SCHEMA_VERSION)
    apply_ddl(revision, "downgrade")
