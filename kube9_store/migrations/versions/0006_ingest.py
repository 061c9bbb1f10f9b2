"""Kubernetes ingest: occurrence keys and watch checkpoints.

``k8s_event_keys`` holds one row per stored occurrence of a Kubernetes event: the cluster, the
event's uid and its count as observed. Its primary key is what makes every ingest path exactly
once: an occurrence is stored only by the transaction that inserts its key, so a replay after a
crash, a re-list, or a second writer finds the key and stores nothing. ``created_at`` is the
stored event's time, so a later count of the same uid is always stored after the earlier ones.

``ingest_checkpoints`` holds, per cluster and watched resource, the resourceVersion a watch
resumes from; it is written in the same transaction as the batch it follows.

Cluster events stored before this revision (``import k8s-events``) get their keys under the
empty cluster uid, so importing the same document again still stores nothing new.

Revision ID: kube9_store_0006
Revises: kube9_store_0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from kube9_store.backends import revision_ddl
from kube9_store.schema.versions import apply_ddl, forget_version, record_version

revision: str = "kube9_store_0006"
down_revision: str | None = "kube9_store_0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA_VERSION = 6
DESCRIPTION = "Kubernetes ingest: occurrence keys and watch checkpoints"

#: Events read per round of the backfill (bounded memory on a large database).
BACKFILL_CHUNK = 5000


def _ordered_text() -> sa.types.TypeEngine[str]:
    return sa.Text().with_variant(sa.Text(collation="C"), "postgresql")


def upgrade() -> None:
    keys = op.create_table(
        "k8s_event_keys",
        sa.Column("cluster_uid", _ordered_text(), nullable=False),
        sa.Column("event_uid", _ordered_text(), nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("event_id", _ordered_text(), nullable=False),
        sa.Column("created_at", _ordered_text(), nullable=False),
        sa.PrimaryKeyConstraint("cluster_uid", "event_uid", "count"),
    )
    op.create_table(
        "ingest_checkpoints",
        sa.Column("cluster_uid", sa.Text, nullable=False),
        sa.Column("resource", sa.Text, nullable=False),
        sa.Column("resource_version", sa.Text, nullable=False),
        sa.Column("cluster_name", sa.Text),
        sa.Column("updated_at", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("cluster_uid", "resource"),
    )
    _backfill(keys)
    record_version(SCHEMA_VERSION, DESCRIPTION)


def _backfill(keys: sa.Table) -> None:
    """Keys for the cluster events already stored (the first occurrence of each key wins).
    Offline (``alembic upgrade --sql``) there are no rows to read: the script creates the
    tables, and events imported before it are keyed by the next import of the same events."""
    if op.get_context().as_sql:
        return
    if revision_ddl(op.get_context().dialect, revision, "upgrade"):
        apply_ddl(revision, "upgrade")  # the database's own statement for the same keys
        return
    bind = op.get_bind()
    events = sa.table("events", sa.column("id"), sa.column("metadata"), sa.column("created_at"))
    seen: set[tuple[str, int]] = set()
    after = ""
    while True:
        rows = bind.execute(
            sa.select(events.c.id, events.c.metadata, events.c.created_at)
            .where(sa.text("event_type = 'cluster'"), events.c.id > after)
            .order_by(events.c.id)
            .limit(BACKFILL_CHUNK)
        ).all()
        if not rows:
            return
        after = rows[-1][0]
        batch = []
        for event_id, metadata, created_at in rows:
            try:
                meta = json.loads(metadata) if metadata else None
            except ValueError:
                continue
            if not isinstance(meta, dict):
                continue
            uid, count = meta.get("uid", meta.get("k8s_uid")), meta.get("count")
            if not isinstance(uid, str) or type(count) is not int:
                continue
            cluster = meta.get("cluster_uid") if isinstance(meta.get("cluster_uid"), str) else ""
            key = (f"{cluster}\0{uid}", count)
            if key in seen:
                continue
            seen.add(key)
            batch.append(
                {
                    "cluster_uid": cluster,
                    "event_uid": uid,
                    "count": count,
                    "event_id": event_id,
                    "created_at": created_at,
                }
            )
        if batch:
            op.bulk_insert(keys, batch)


def downgrade() -> None:
    forget_version(SCHEMA_VERSION)
    op.drop_table("ingest_checkpoints")
    op.drop_table("k8s_event_keys")
