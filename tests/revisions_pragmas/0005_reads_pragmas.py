"""A revision that records the connection settings it runs under, for the PRAGMA tests.

Revision ID: kube9_store_0005
Revises: kube9_store_0004
"""

import sqlalchemy as sa
from alembic import op

from kube9_store.schema_versions import forget_version, record_version

revision = "kube9_store_0005"
down_revision = "kube9_store_0004"
branch_labels = None
depends_on = None

SCHEMA_VERSION = 5
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
