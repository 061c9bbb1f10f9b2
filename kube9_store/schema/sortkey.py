"""How each backend orders events newest first, and the keys its indexes are built on.

A page is an index range scan read backwards only when the query's ORDER BY and range
conditions use exactly the index's key. On PostgreSQL that key is ``(created_at, id)``. On
SQLite it is ``(created_ms, rowid)``: the timestamp as integer milliseconds, stored once per
row by SQLite (revision 0007; 6 bytes in an index entry instead of 24), and the rowid that
SQLite already appends to every index entry, instead of the 26-byte id text, so events with
the same instant come newest inserted first. A query's bound times are turned into the same
key by :func:`~kube9_store.schema.tables.time_key`, the stored column's expression.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, func, literal_column, select
from sqlalchemy.sql.elements import ColumnClause

from kube9_store.schema.facts import TIME_KEY_COLUMN
from kube9_store.schema.tables import events, time_key

#: Larger than any rowid: a cursor whose event is gone resumes at the start of its instant.
MAX_ROWID = 9223372036854775807


@dataclass(frozen=True)
class SortKey:
    """The newest-first order of one backend: a time key for a stored timestamp (a column or
    a bound value), the tie-breaking column, the tie-breaker of a cursor's event id, and the
    column that holds the events' time key where it is stored."""

    time: Callable[[ColumnElement[Any]], ColumnElement[Any]]
    tiebreak: ColumnElement[Any]
    tiebreak_of: Callable[[BindParameter[Any]], ColumnElement[Any]]
    stored: ColumnElement[Any] | None = None
    #: The database has an index of (type, severity, this key), so a page of several types
    #: or severities is a merge of one bounded range per pair (revision 0007).
    merges: bool = False

    def created(self) -> ColumnElement[Any]:
        """The events' time key: the stored column, or the key of ``created_at``."""
        if self.stored is not None:
            return self.stored
        return self.time(events.c.created_at)


def _same(value: ColumnElement[Any]) -> ColumnElement[Any]:
    return value


def _rowid_of(event_id: BindParameter[Any]) -> ColumnElement[Any]:
    found = select(ROWID).where(events.c.id == event_id).scalar_subquery()
    return func.coalesce(found, literal_column(str(MAX_ROWID)))


#: SQLite's rowid of the events table.
ROWID: ColumnClause[Any] = literal_column("events.rowid")

#: ``(created_at, id)``: PostgreSQL's key, and the order every backend promises.
BY_TEXT = SortKey(time=_same, tiebreak=events.c.id, tiebreak_of=_same)
#: SQLite's stored time key of the events (revision 0007).
CREATED_MS: ColumnClause[Any] = literal_column(f"events.{TIME_KEY_COLUMN}")

#: ``(created_ms, rowid)``: SQLite's compact key.
BY_ROWID = SortKey(
    time=time_key, tiebreak=ROWID, tiebreak_of=_rowid_of, stored=CREATED_MS, merges=True
)
#: ``(created_at, id)`` on a server database at head, whose indexes include (type, severity,
#: created_at, id).
BY_TEXT_AT_HEAD = SortKey(time=_same, tiebreak=events.c.id, tiebreak_of=_same, merges=True)


def _utc_text(value: ColumnElement[Any]) -> ColumnElement[Any]:
    """SQLite's reading of any ISO 8601 text (a space for ``T``, an offset, no fraction) as
    the stored form; NULL when it is not a time."""
    return func.strftime("%Y-%m-%dT%H:%M:%fZ", value)


#: ``(the time in the stored form, id)``: how SQLite reads a database another program wrote,
#: whose timestamps may be in other text forms (the inbound gate's normalisation, in SQL).
BY_NORMALISED_TEXT = SortKey(time=_utc_text, tiebreak=events.c.id, tiebreak_of=_same)
