"""Incidents, opened from kube9 events.

Revision ID: 0001
Revises:
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = ("app",)
# events.id, which incidents refer to, comes with kube9_store's first revision.
depends_on: str | Sequence[str] | None = "kube9_store_0001"


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("event_id", sa.Text, sa.ForeignKey("events.id"), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
    )
    op.create_index("ix_incidents_event_id", "incidents", ["event_id"])


def downgrade() -> None:
    op.drop_index("ix_incidents_event_id", table_name="incidents")
    op.drop_table("incidents")
