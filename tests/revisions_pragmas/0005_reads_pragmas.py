"""A revision that records the connection settings it runs under, for the PRAGMA tests.

It revises the package's head, whatever that is (``TEST_REVISION`` is the next number).
"""

import sqlalchemy as sa
from alembic import op

from kube9_store.schema.tables import HEAD_REVISION, HEAD_VERSION, REVISION_PREFIX
from kube9_store.schema.versions import forget_version, record_version

TEST_REVISION = f"{REVISION_PREFIX}{HEAD_VERSION + 1:04d}"
revision = TEST_REVISION
down_revision = HEAD_REVISION
branch_labels = None
depends_on = None

SCHEMA_VERSION = HEAD_VERSION + 1
DESCRIPTION = "Records the PRAGMAs seen inside a migration"


def upgrade() -> None:
    conn = op.get_bind()
    seen = {
        p: str(conn.exec_driver_sql(f"PRAGMA {p}").scalar())
        for p in (
            "journal_mode",
            "synchronous",
            "foreign_keys",
            "cache_size",
            "busy_timeout",
            "temp_store",
        )
    }
    seen["in_transaction"] = str(conn.connection.driver_connection.in_transaction)
    op.create_table("pragma_seen", sa.Column("name", sa.Text), sa.Column("value", sa.Text))
    op.execute(
        sa.text(
            "INSERT INTO pragma_seen VALUES "
            + ", ".join(f"('{k}', '{v}')" for k, v in seen.items())
        )
    )
    record_version(SCHEMA_VERSION, DESCRIPTION)


def downgrade() -> None:
    forget_version(SCHEMA_VERSION)
    op.drop_table("pragma_seen")
