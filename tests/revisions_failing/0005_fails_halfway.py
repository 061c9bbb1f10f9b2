"""A revision that fails after some DDL, to prove the whole revision rolls back.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SCHEMA_VERSION = 5
DESCRIPTION = "Deliberately failing revision"


def upgrade() -> None:
    op.add_column("events", sa.Column("doomed", sa.Integer))
    op.create_index("idx_events_doomed", "events", ["doomed"])
    op.execute("INSERT INTO no_such_table VALUES (1)")


def downgrade() -> None:
    op.drop_index("idx_events_doomed", table_name="events")
