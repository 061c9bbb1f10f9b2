"""A revision that fails after some DDL, to prove the whole revision rolls back.

Revision ID: kube9_store_0005
Revises: kube9_store_0004
"""

import sqlalchemy as sa
from alembic import op

from kube9_store.schema_versions import record_version

revision = "kube9_store_0005"
down_revision = "kube9_store_0004"
branch_labels = None
depends_on = None

SCHEMA_VERSION = 5
DESCRIPTION = "Deliberately failing revision"


def upgrade() -> None:
    op.add_column("events", sa.Column("doomed", sa.Integer))
    op.create_index("idx_events_doomed", "events", ["doomed"])
    record_version(SCHEMA_VERSION, DESCRIPTION)
    op.execute("INSERT INTO no_such_table VALUES (1)")


def downgrade() -> None:
    op.drop_index("idx_events_doomed", table_name="events")
