"""Added acknowledged field to events table (the spec's example version 2).

Revision ID: kube9_store_0002
Revises: kube9_store_0001
Create Date: 2025-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from kube9_store.schema.versions import forget_version, rebuilt_later, record_version

revision: str = "kube9_store_0002"
down_revision: str | None = "kube9_store_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA_VERSION = 2
DESCRIPTION = "Added acknowledged field to events table"


def upgrade() -> None:
    op.add_column("events", sa.Column("acknowledged", sa.Integer, server_default=sa.text("0")))
    if not rebuilt_later():  # revision 0007 builds SQLite's indexes anew
        op.create_index("idx_events_acknowledged", "events", ["acknowledged"])
    record_version(SCHEMA_VERSION, DESCRIPTION)


def downgrade() -> None:
    forget_version(SCHEMA_VERSION)
    op.drop_index("idx_events_acknowledged", table_name="events")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("acknowledged")
