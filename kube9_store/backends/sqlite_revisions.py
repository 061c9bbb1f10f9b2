"""SQLite's own DDL of the revisions: what a revision runs here beyond its portable operations
(:meth:`~kube9_store.backends.base.Backend.revision_ddl`), keyed by (revision, direction).

FROZEN: the text supplied for a revision that has been released never changes, since databases
already migrated by it hold what it made; a later change of schema is a new revision with an
entry of its own. A new revision adds its entries here and calls
:func:`~kube9_store.schema.versions.apply_ddl` where they belong in its upgrade and downgrade.
"""

from __future__ import annotations

from collections.abc import Mapping

from kube9_store.backends.base import Direction

#: Revision 0003: ``event_counts`` kept exact by triggers.
_COUNT_TRIGGERS = (
    """
    CREATE TRIGGER trg_events_count_insert AFTER INSERT ON events
    BEGIN
        INSERT INTO event_counts (event_type, severity, n) VALUES (NEW.event_type, NEW.severity, 1)
        ON CONFLICT (event_type, severity) DO UPDATE SET n = n + 1;
    END
    """,
    """
    CREATE TRIGGER trg_events_count_delete AFTER DELETE ON events
    BEGIN
        UPDATE event_counts SET n = n - 1
        WHERE event_type = OLD.event_type AND severity = OLD.severity;
    END
    """,
    """
    CREATE TRIGGER trg_events_count_update AFTER UPDATE OF event_type, severity ON events
    WHEN OLD.event_type IS NOT NEW.event_type OR OLD.severity IS NOT NEW.severity
    BEGIN
        UPDATE event_counts SET n = n - 1
        WHERE event_type = OLD.event_type AND severity = OLD.severity;
        INSERT INTO event_counts (event_type, severity, n) VALUES (NEW.event_type, NEW.severity, 1)
        ON CONFLICT (event_type, severity) DO UPDATE SET n = n + 1;
    END
    """,
)
_DROP_COUNT_TRIGGERS = (
    "DROP TRIGGER IF EXISTS trg_events_count_insert",
    "DROP TRIGGER IF EXISTS trg_events_count_delete",
    "DROP TRIGGER IF EXISTS trg_events_count_update",
)

#: Revision 0004: the stored timestamp as integer milliseconds (``schema.tables.time_key``,
#: frozen here), and rowid as the tie-breaker SQLite appends to every index entry.
_TIME_KEY = (
    "CAST(strftime('%s', created_at) AS INTEGER) * 1000"
    " + CAST(substr(created_at, 21, 3) AS INTEGER)"
)
_COMPACT = {
    "idx_events_type": f"event_type, {_TIME_KEY}",
    "idx_events_severity": f"severity, {_TIME_KEY}",
    "idx_events_created": _TIME_KEY,
    "idx_events_object": f"object_kind, object_namespace, object_name, {_TIME_KEY}",
    "idx_events_object_scope": f"object_kind, object_namespace, {_TIME_KEY}",
    "idx_events_acknowledged": f"{_TIME_KEY}",
}
#: Revision 0003's indexes, restored by 0004's downgrade.
_SORTED = {
    "idx_events_type": "event_type, created_at, id, severity",
    "idx_events_severity": "severity, created_at, id, event_type",
    "idx_events_created": "created_at, id",
    "idx_events_object": "object_kind, object_namespace, object_name, created_at, id",
    "idx_events_object_scope": "object_kind, object_namespace, created_at, id",
    "idx_events_acknowledged": "created_at, id",
}
#: The partial index: acknowledged events only.
_PARTIAL = "idx_events_acknowledged"


def _rebuild(indexes: Mapping[str, str]) -> tuple[str, ...]:
    statements: list[str] = []
    for name, columns in indexes.items():
        where = " WHERE acknowledged = 1" if name == _PARTIAL else ""
        statements += [f"DROP INDEX {name}", f"CREATE INDEX {name} ON events ({columns}){where}"]
    return tuple(statements)


#: Revision 0006: keys for the cluster events stored before it, in one statement of SQLite's
#: JSON functions (PostgreSQL's is the revision's own loop): a JSON object whose ``uid``
#: (else ``k8s_uid``) is text and whose ``count`` is an integer; the cluster uid when it is
#: text, else ''; the first event by id winning.
_BACKFILL_KEYS = (
    """
    INSERT OR IGNORE INTO k8s_event_keys (cluster_uid, event_uid, count, event_id, created_at)
    SELECT cluster_uid, event_uid, count, id, created_at FROM (
        SELECT id, created_at,
            CASE WHEN json_type(metadata, '$.cluster_uid') = 'text'
                 THEN json_extract(metadata, '$.cluster_uid') ELSE '' END AS cluster_uid,
            CASE WHEN json_type(metadata, '$.uid') IS NOT NULL
                 THEN CASE WHEN json_type(metadata, '$.uid') = 'text'
                           THEN json_extract(metadata, '$.uid') END
                 WHEN json_type(metadata, '$.k8s_uid') = 'text'
                 THEN json_extract(metadata, '$.k8s_uid') END AS event_uid,
            CASE WHEN json_type(metadata, '$.count') = 'integer'
                 THEN json_extract(metadata, '$.count') END AS count
        FROM events
        WHERE event_type = 'cluster'
          AND CASE WHEN json_valid(metadata) THEN json_type(metadata) END = 'object'
        ORDER BY id
    )
    WHERE event_uid IS NOT NULL AND count IS NOT NULL
    """,
)

#: Revision 0007: ``events`` rebuilt with the time key stored once per row by SQLite itself
#: (a generated column cannot be added as STORED), rowids kept (the tie-breaker of equal
#: instants), then its indexes on that column and revision 0003's count triggers again.
_COLUMNS = """
    id TEXT,
    event_type TEXT NOT NULL,
    severity TEXT NOT NULL,
    title TEXT NOT NULL,
    description TEXT,
    object_kind TEXT,
    object_namespace TEXT,
    object_name TEXT,
    metadata TEXT,
    created_at TEXT NOT NULL,
    acknowledged INTEGER DEFAULT 0"""
_PLAIN = (
    "id, event_type, severity, title, description, object_kind, object_namespace,"
    " object_name, metadata, created_at, acknowledged"
)
_STORED = f"{_COLUMNS},\n    created_ms INTEGER GENERATED ALWAYS AS ({_TIME_KEY}) STORED"
_ON_STORED_KEY = {
    "idx_events_type": "event_type, created_ms",
    "idx_events_type_severity": "event_type, severity, created_ms",
    "idx_events_severity": "severity, created_ms",
    "idx_events_created": "created_ms",
    "idx_events_object": "object_kind, object_namespace, object_name, created_ms",
    "idx_events_object_scope": "object_kind, object_namespace, created_ms",
    "idx_events_acknowledged": "created_ms",
}


def _rebuild_table(columns: str, indexes: Mapping[str, str]) -> tuple[str, ...]:
    statements = [
        f"CREATE TABLE events_rebuilt ({columns},\n    PRIMARY KEY (id)\n)",
        f"INSERT INTO events_rebuilt (rowid, {_PLAIN}) SELECT rowid, {_PLAIN} FROM events"
        " ORDER BY rowid",
        "DROP TABLE events",
        "ALTER TABLE events_rebuilt RENAME TO events",
    ]
    for name, key in indexes.items():
        where = " WHERE acknowledged = 1" if name == _PARTIAL else ""
        statements.append(f"CREATE INDEX {name} ON events ({key}){where}")
    return (*statements, *_COUNT_TRIGGERS)


DDL: Mapping[tuple[str, Direction], tuple[str, ...]] = {
    ("kube9_store_0003", "upgrade"): _COUNT_TRIGGERS,
    ("kube9_store_0003", "downgrade"): _DROP_COUNT_TRIGGERS,
    ("kube9_store_0004", "upgrade"): _rebuild(_COMPACT),
    ("kube9_store_0004", "downgrade"): _rebuild(_SORTED),
    ("kube9_store_0006", "upgrade"): _BACKFILL_KEYS,
    ("kube9_store_0006", "downgrade"): (),  # the revision's own drop_table
    ("kube9_store_0007", "upgrade"): (
        *_rebuild_table(_STORED, _ON_STORED_KEY),
        # counted again from the (type, severity) index: exact, and a long upgrade skips
        # revision 0003's scan of the table for them
        "DELETE FROM event_counts",
        "INSERT INTO event_counts (event_type, severity, n)"
        " SELECT event_type, severity, count(*) FROM events GROUP BY event_type, severity",
    ),
    ("kube9_store_0007", "downgrade"): _rebuild_table(_COLUMNS, _COMPACT),
}
