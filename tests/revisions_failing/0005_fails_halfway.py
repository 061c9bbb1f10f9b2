"""A revision that fails after some DDL, to prove the whole revision rolls back.

It revises the package's head, whatever that is (``TEST_REVISION`` is the next number).
"""

import sqlalchemy as sa
from alembic import op

from kube9_store.schema.tables import HEAD_REVISION, HEAD_VERSION, REVISION_PREFIX
from kube9_store.schema.versions import record_version

TEST_REVISION = f"{REVISION_PREFIX}{HEAD_VERSION + 1:04d}"
revision = TEST_REVISION
down_revision = HEAD_REVISION
branch_labels = None
depends_on = None

SCHEMA_VERSION = HEAD_VERSION + 1
DESCRIPTION = "Deliberately failing revision"


def upgrade() -> None:
    op.add_column("events", sa.Column("doomed", sa.Integer))
    op.create_index("idx_events_doomed", "events", ["doomed"])
    record_version(SCHEMA_VERSION, DESCRIPTION)
    op.execute("INSERT INTO no_such_table VALUES (1)")


def downgrade() -> None:
    op.drop_index("idx_events_doomed", table_name="events")
