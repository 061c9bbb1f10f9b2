"""SQLite's time key stored once per row: ``created_ms``, a generated column.

Revision 0004 indexed the time key as an expression of ``created_at``, so every insert parsed
the timestamp once per index entry (six ``strftime`` calls). Here SQLite computes it once, when
the row is written, into ``created_ms INTEGER GENERATED ALWAYS AS (...) STORED``, and the
indexes are built on that column: every writer (this package, an application's own SQL, the
sqlite3 shell) gets the same key without knowing of it. SQLite cannot add a STORED column to a
table, so ``events`` is rebuilt with its rows, rowids (the tie-breaker of equal instants) and
counters' triggers kept. ``idx_events_type_severity`` (type, severity, time key) is new: a type
with a set of severities reads one index range per severity, however many newer events of that
type have other severities.

PostgreSQL keeps its text indexes (they compute nothing per insert) and gains
``idx_events_type_severity (event_type, severity, created_at, id)`` for the same merged pages.

A run from before revision 0003 to this one or beyond skips building the SQLite indexes of
revisions 0003 and 0004, which this rebuild replaces (:func:`~kube9_store.schema.versions.
rebuilt_later`): a spec v1 file of a million events reaches head in one pass over its rows.

Revision ID: kube9_store_0007
Revises: kube9_store_0006
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

from kube9_store.schema.versions import apply_ddl, forget_version, record_version

revision: str = "kube9_store_0007"
down_revision: str | None = "kube9_store_0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA_VERSION = 7
DESCRIPTION = "SQLite's time key stored once per row; type and severity index"


def upgrade() -> None:
    apply_ddl(revision, "upgrade")  # SQLite's rebuilt events; PostgreSQL's new index
    record_version(SCHEMA_VERSION, DESCRIPTION)


def downgrade() -> None:
    forget_version(SCHEMA_VERSION)
    apply_ddl(revision, "downgrade")
