"""What a store can read from the database it opened, decided once at open: whether the
events table has ``acknowledged``, whether ``event_counts`` is kept, and whether the rows were
written by this package. Statements are compiled from it, so no call asks again.

A database at this package's head has everything. One behind head (a spec v1 or v2 file, or
one stopped at an earlier revision) or of another lineage (the reference operator's own) is
opened read-only and read with what its schema has: no ``acknowledged`` column reads as false,
no counter table means counting the events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, literal_column

from kube9_store.events.fields import BY_NAME, FIELDS, fallback_sql
from kube9_store.schema.tables import events


@dataclass(frozen=True)
class ReadModel:
    """How the events of one opened database are read."""

    #: The events table has the ``acknowledged`` column (spec v2 and later).
    acknowledged: bool = True
    #: ``event_counts`` exists and triggers keep it exact (revision 0003 and later).
    counts: bool = True
    #: The rows were written by this package, so they are read without checking them again.
    trusted: bool = True
    #: The database belongs to another lineage (it is never written, stamped or migrated).
    foreign: bool = False
    #: The database is at this package's head (so its indexes serve the backend's sort key;
    #: older ones are read in (created_at, id) order, which their indexes have or come near).
    at_head: bool = True
    #: What a reader should be told about the database (behind head, or not ours); None at head.
    notice: str | None = None

    #: Event columns the events table lacks besides ``acknowledged`` (each reads as its
    #: field's fallback, :attr:`kube9_store.events.fields.Field.fallback`).
    absent: frozenset[str] = frozenset()

    @property
    def acknowledged_column(self) -> ColumnElement[Any]:
        """``events.acknowledged``, or its fallback where the column does not exist."""
        return self.column("acknowledged")

    def column(self, name: str) -> ColumnElement[Any]:
        """The events column ``name``, or its field's fallback where the table lacks it."""
        if self.lacks(name):
            return literal_column(fallback_sql(BY_NAME[name]))
        return events.c[name]

    def lacks(self, name: str) -> bool:
        """Whether the events table lacks the column of event field ``name``."""
        return name in self.absent or (name == "acknowledged" and not self.acknowledged)

    @property
    def columns(self) -> tuple[ColumnElement[Any], ...]:
        """The events columns in table order, as a SELECT list (a column the table lacks
        reads as its field's fallback, under the field's name)."""
        return tuple(
            self.column(f.name).label(f.name) if self.lacks(f.name) else events.c[f.name]
            for f in FIELDS
        )


#: A database at this package's head.
HEAD_MODEL = ReadModel()
