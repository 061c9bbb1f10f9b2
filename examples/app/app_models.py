"""The sample application's own tables: incidents opened from kube9 events."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, MetaData, Table, Text

from kube9_store.schema.tables import events

metadata = MetaData()

incidents = Table(
    "incidents",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("event_id", Text, ForeignKey(events.c.id), nullable=False),
    Column("note", Text, nullable=False),
    Column("resolved", Integer, nullable=False, server_default="0"),
    Index("ix_incidents_event_id", "event_id"),
)
