"""The durable facts of maintenance, for metrics that every process reads alike.

A retention run, a backup, a snapshot or a VACUUM is done by one process (the operator, a
CronJob, the CLI) while others (a metrics sidecar, ``kube9-store metrics``) report on it. Each
records its facts here, one number per name (the last run's time, what it deleted, running
totals by severity), so the exposition of any process reading the database says the same.

Revision ID: kube9_store_0005
Revises: kube9_store_0004
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from kube9_store.schema.versions import forget_version, record_version

revision: str = "kube9_store_0005"
down_revision: str | None = "kube9_store_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA_VERSION = 5
DESCRIPTION = "Durable maintenance facts: retention, backups, snapshots, VACUUM"


def upgrade() -> None:
    op.create_table(
        "operations_state",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Text, nullable=False),
    )
    record_version(SCHEMA_VERSION, DESCRIPTION)


def downgrade() -> None:
    forget_version(SCHEMA_VERSION)
    op.drop_table("operations_state")
