"""PostgreSQL's own DDL of the revisions: what a revision runs here beyond its portable
operations (:meth:`~kube9_store.backends.base.Backend.revision_ddl`), keyed by (revision,
direction). A revision with no entry runs nothing of its own here (0004's compact indexes are
SQLite's: PostgreSQL has no rowid, and keeps the (columns, created_at, id) indexes of 0003).

FROZEN: the text supplied for a revision that has been released never changes, since databases
already migrated by it hold what it made; a later change of schema is a new revision with an
entry of its own.
"""

from __future__ import annotations

from collections.abc import Mapping

from kube9_store.backends.base import Direction

#: Revision 0003: ``event_counts`` kept exact by one trigger function.
_COUNT_TRIGGERS = (
    """
    CREATE FUNCTION kube9_count_events() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('DELETE', 'UPDATE') THEN
            UPDATE event_counts SET n = n - 1
            WHERE event_type = OLD.event_type AND severity = OLD.severity;
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            INSERT INTO event_counts (event_type, severity, n)
            VALUES (NEW.event_type, NEW.severity, 1)
            ON CONFLICT (event_type, severity) DO UPDATE SET n = event_counts.n + 1;
        END IF;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER trg_events_count_insert AFTER INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION kube9_count_events()
    """,
    """
    CREATE TRIGGER trg_events_count_delete AFTER DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION kube9_count_events()
    """,
    """
    CREATE TRIGGER trg_events_count_update AFTER UPDATE OF event_type, severity ON events
    FOR EACH ROW
    WHEN (OLD.event_type IS DISTINCT FROM NEW.event_type
          OR OLD.severity IS DISTINCT FROM NEW.severity)
    EXECUTE FUNCTION kube9_count_events()
    """,
)
_DROP_COUNT_TRIGGERS = (
    "DROP TRIGGER IF EXISTS trg_events_count_insert ON events",
    "DROP TRIGGER IF EXISTS trg_events_count_delete ON events",
    "DROP TRIGGER IF EXISTS trg_events_count_update ON events",
    "DROP FUNCTION IF EXISTS kube9_count_events()",
)

DDL: Mapping[tuple[str, Direction], tuple[str, ...]] = {
    ("kube9_store_0003", "upgrade"): _COUNT_TRIGGERS,
    ("kube9_store_0003", "downgrade"): _DROP_COUNT_TRIGGERS,
    # Revision 0007: a type with several severities reads one bounded range per severity.
    ("kube9_store_0007", "upgrade"): (
        "CREATE INDEX idx_events_type_severity ON events (event_type, severity, created_at, id)",
    ),
    ("kube9_store_0007", "downgrade"): ("DROP INDEX idx_events_type_severity",),
}
