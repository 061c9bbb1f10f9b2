"""A revision that fails after some DDL, to prove the whole revision rolls back.

Revision ID: one past the package's head
Revises: the package's head (read from kube9_store.schema, so it follows the chain)
"""

import sqlalchemy as sa
from alembic import op

from kube9_store.schema import HEAD_REVISION, HEAD_VERSION

revision = "test_after_head"
down_revision = HEAD_REVISION
branch_labels = None
depends_on = None

SCHEMA_VERSION = HEAD_VERSION + 1
DESCRIPTION = "Deliberately failing revision"


def upgrade() -> None:
    op.add_column("events", sa.Column("doomed", sa.Integer))
    op.create_index("idx_events_doomed", "events", ["doomed"])
    op.execute("INSERT INTO no_such_table VALUES (1)")


def downgrade() -> None:
    op.drop_index("idx_events_doomed", table_name="events")
