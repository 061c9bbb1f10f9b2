"""Initial schema with events table (the spec's version 1, exactly).

Revision ID: kube9_store_0001
Revises:
Create Date: 2025-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from kube9_store.schema.versions import record_version

revision: str = "kube9_store_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = ("kube9_store",)
depends_on: str | Sequence[str] | None = None

SCHEMA_VERSION = 1
DESCRIPTION = "Initial schema with events table"

#: TEXT compared byte by byte on every backend (PostgreSQL's default collation follows the
#: locale), so ids and timestamps order the same everywhere.
ORDERED_TEXT = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "schema_version",
        sa.Column("version", sa.Integer, primary_key=True, nullable=True, autoincrement=False),
        sa.Column("applied_at", sa.Text, nullable=False),
        sa.Column("description", sa.Text),
    )
    op.create_table(
        "events",
        sa.Column("id", ORDERED_TEXT, primary_key=True, nullable=True),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("severity", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("object_kind", sa.Text),
        sa.Column("object_namespace", sa.Text),
        sa.Column("object_name", sa.Text),
        sa.Column("metadata", sa.Text),
        sa.Column("created_at", ORDERED_TEXT, nullable=False),
    )
    op.create_index("idx_events_type", "events", ["event_type"])
    op.create_index("idx_events_severity", "events", ["severity"])
    op.create_index("idx_events_created", "events", [sa.text("created_at DESC")])
    op.create_index(
        "idx_events_object", "events", ["object_kind", "object_namespace", "object_name"]
    )
    record_version(SCHEMA_VERSION, DESCRIPTION)


def downgrade() -> None:
    op.drop_table("events")
    op.drop_table("schema_version")
