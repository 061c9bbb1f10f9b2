"""Bulk insert-if-absent on PostgreSQL (copy, ``import jsonl``): the batch is COPYed into a
session-private staging table, then the rows whose ids are absent go into ``events`` with one
INSERT ... SELECT ... ON CONFLICT DO NOTHING.

Revision 0003's per-row count trigger updates the same few counter rows once per event, and
within one transaction each update walks that row's growing chain of versions: quadratic in the
batch. When this role owns the table, the trigger is switched off for this transaction only and
the same statement adds the counts of the rows it really inserted. ALTER TABLE holds the lock
writers need until commit, so a concurrent writer waits for the batch (and then finds the
trigger on) instead of missing its count; readers are not blocked. Otherwise the trigger runs
per row, in (type, severity) order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kube9_store.schema.tables import EVENT_COLUMNS

#: The per-row count trigger of revision 0003, which a bulk load stands in for.
COUNT_INSERT_TRIGGER = "trg_events_count_insert"
#: The session's temporary table that bulk loads COPY into.
STAGING = "kube9_load_staging"
_COLUMNS = ", ".join(EVENT_COLUMNS)
_CREATE_STAGING = (
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {STAGING} (LIKE events INCLUDING DEFAULTS)"
    " ON COMMIT DELETE ROWS"
)
_OWNS_EVENTS = "SELECT pg_has_role(relowner, 'USAGE') FROM pg_class WHERE oid = 'events'::regclass"
_INSERT_STAGED = (
    f"INSERT INTO events ({_COLUMNS}) SELECT {_COLUMNS} FROM {STAGING}"
    " ORDER BY event_type, severity ON CONFLICT (id) DO NOTHING"
)
#: Insert the staged rows that are absent and add what was inserted to event_counts, in one
#: statement (what the count trigger would do, once per (type, severity) instead of per row).
_INSERT_STAGED_COUNTED = (
    f"WITH inserted AS (INSERT INTO events ({_COLUMNS}) SELECT {_COLUMNS} FROM {STAGING}"
    " ON CONFLICT (id) DO NOTHING RETURNING event_type, severity),"
    " counted AS (INSERT INTO event_counts (event_type, severity, n)"
    " SELECT event_type, severity, count(*) FROM inserted GROUP BY event_type, severity"
    " ORDER BY event_type, severity"
    " ON CONFLICT (event_type, severity) DO UPDATE SET n = event_counts.n + excluded.n)"
    " SELECT count(*) FROM inserted"
)


def load_rows(con: Any, rows: Sequence[Sequence[Any]]) -> int:
    """Insert the rows whose ids are absent, in the caller's transaction; how many were new."""
    with con.cursor() as cur:
        cur.execute(_CREATE_STAGING)
        with cur.copy(f"COPY {STAGING} ({_COLUMNS}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        owner = cur.execute(_OWNS_EVENTS).fetchone()
        if not (owner and owner[0]):
            cur.execute(_INSERT_STAGED)
            return int(cur.rowcount)
        cur.execute(f"ALTER TABLE events DISABLE TRIGGER {COUNT_INSERT_TRIGGER}")
        inserted = cur.execute(_INSERT_STAGED_COUNTED).fetchone()
        cur.execute(f"ALTER TABLE events ENABLE TRIGGER {COUNT_INSERT_TRIGGER}")
        return int(inserted[0]) if inserted else 0
