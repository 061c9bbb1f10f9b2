"""Bulk writes on SQLite, with revision 0003's per-row count trigger set aside.

A batch of ``record_many`` (from ``INSERT_COUNTED_MIN`` rows) is inserted with the trigger
dropped and its counts added in one statement per (event_type, severity). Bulk
insert-if-absent (copy, ``import jsonl``): the batch goes into a temporary staging table
first, rows whose id is already stored (or repeated in the batch) are dropped there, and the
rest go into ``events`` in one INSERT ... SELECT, their counts added to ``event_counts`` in one
statement.

Every insert into ``events`` fires revision 0003's count trigger, which upserts a counter row
and makes SQLite keep a statement journal per row: at a million events that is more than a
third of the load's time. Inside the caller's write transaction (BEGIN IMMEDIATE: no other
writer can run) the trigger is dropped, the rows inserted, the counts added, and the trigger
created again from its own stored SQL, so every other connection only ever sees it in place;
an interrupted batch rolls back whole, trigger included.

The index pages a bulk load touches (each object reference is its own insertion point) do not
fit the spec's 10 MB page cache; a load batch runs with a larger one, given back after it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from operator import itemgetter
from typing import Any

from kube9_store.schema.tables import EVENT_COLUMNS

#: The per-row count trigger of revision 0003 that a bulk load stands in for.
COUNT_INSERT_TRIGGER = "trg_events_count_insert"
STAGING = "kube9_load_staging"
_COLUMNS = ", ".join(EVENT_COLUMNS)
_PLACEHOLDERS = ", ".join("?" for _ in EVENT_COLUMNS)
_TYPE_AND_SEVERITY = itemgetter(EVENT_COLUMNS.index("event_type"), EVENT_COLUMNS.index("severity"))

_TRIGGER_SQL = "SELECT sql FROM main.sqlite_master WHERE type = 'trigger' AND name = ?"
_CREATE_STAGING = (
    f"CREATE TEMP TABLE IF NOT EXISTS {STAGING} AS SELECT {_COLUMNS} FROM main.events WHERE 0"
)
_STAGE = f"INSERT INTO temp.{STAGING} ({_COLUMNS}) VALUES ({_PLACEHOLDERS})"
#: Keep only the first row of each id, and only ids not stored yet.
_DROP_PRESENT = (
    f"DELETE FROM temp.{STAGING} WHERE id IN (SELECT id FROM main.events)"
    f" OR rowid NOT IN (SELECT min(rowid) FROM temp.{STAGING} GROUP BY id)"
)
_INSERT = f"INSERT INTO main.events ({_COLUMNS}) SELECT {_COLUMNS} FROM temp.{STAGING}"
_COUNT = (
    "INSERT INTO main.event_counts (event_type, severity, n)"
    f" SELECT event_type, severity, count(*) FROM temp.{STAGING} WHERE true"
    " GROUP BY event_type, severity"
    " ON CONFLICT (event_type, severity) DO UPDATE SET n = n + excluded.n"
)
_CLEAR = f"DELETE FROM temp.{STAGING}"
_ADD_COUNTS = (
    "INSERT INTO main.event_counts (event_type, severity, n) VALUES (?, ?, ?)"
    " ON CONFLICT (event_type, severity) DO UPDATE SET n = n + excluded.n"
)
#: From this many rows a batch is inserted with the count trigger set aside (measured faster
#: from about 50 rows; each time, every other connection prepares its statements again once,
#: the schema having changed).
INSERT_COUNTED_MIN = 100
#: The page cache of a bulk batch (KiB, as PRAGMA cache_size takes a negative number).
BULK_CACHE_KIB = 256 * 1024


def insert_counted(con: Any, sql: str, rows: Sequence[Sequence[Any]]) -> bool:
    """Insert ``rows`` (tuples in table order) with ``sql`` inside the caller's write
    transaction, the count trigger set aside and their counts added per (event_type,
    severity). False when ``events`` has no count trigger to stand in for (nothing done)."""
    found = con.execute(_TRIGGER_SQL, (COUNT_INSERT_TRIGGER,)).fetchone()
    if found is None:
        return False
    counts = Counter(map(_TYPE_AND_SEVERITY, rows))
    con.execute(f"DROP TRIGGER main.{COUNT_INSERT_TRIGGER}")
    cur = con.cursor()
    try:
        cur.executemany(sql, rows)
        cur.executemany(_ADD_COUNTS, [(*pair, n) for pair, n in counts.items()])
    finally:
        cur.close()
    con.execute(found[0])
    return True


def load_rows(con: Any, rows: Sequence[Sequence[Any]]) -> int | None:
    """Insert the rows whose ids are absent; how many were new. None when ``events`` has no
    count trigger to stand in for (the caller then inserts row by row)."""
    found = con.execute(_TRIGGER_SQL, (COUNT_INSERT_TRIGGER,)).fetchone()
    if found is None:
        return None
    cache = int(con.execute("PRAGMA cache_size").fetchone()[0])
    con.execute(f"PRAGMA cache_size = {-BULK_CACHE_KIB:d}")
    try:
        con.execute(_CREATE_STAGING)
        con.execute(_CLEAR)
        con.executemany(_STAGE, rows)
        con.execute(_DROP_PRESENT)
        con.execute(f"DROP TRIGGER main.{COUNT_INSERT_TRIGGER}")
        inserted = int(con.execute(_INSERT).rowcount)
        con.execute(_COUNT)
        con.execute(found[0])
        con.execute(_CLEAR)
    finally:
        con.execute(f"PRAGMA cache_size = {cache:d}")
    return inserted
