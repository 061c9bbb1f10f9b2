"""Reading events: get, query, keyset pages, iteration and counts."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from kube9_store import checks
from kube9_store.errors import SchemaError
from kube9_store.events.event import Event
from kube9_store.events.models import EventFilter
from kube9_store.store.core import StoreCore
from kube9_store.store.filters import (
    Page,
    Shape,
    check_count,
    counted_only,
    counted_statement,
    decode_cursor,
    encode_cursor,
    shape_and_values,
    statement_for,
)
from kube9_store.store.instrumentation import instrumented
from kube9_store.store.statements import CompiledSQL
from kube9_store.store.surface import offered


class StoreReads(StoreCore):
    """The store's queries."""

    # -- reading -----------------------------------------------------------------------------

    @offered("read", "get event")
    @instrumented("select")
    def get(self, event_id: str) -> Event | None:
        """The event with this id, or None."""
        checks.text("event_id", event_id)
        rows = self._run.fetch(self.sql.get, {"id": event_id}, "get event")
        return self._to_event(rows[0]) if rows else None

    @offered("read", "query events")
    @instrumented("select")
    def query(
        self,
        flt: EventFilter | Mapping[str, Any] | None = None,
        limit: int | None = 50,
        offset: int = 0,
        *,
        cursor: str | None = None,
    ) -> list[Event]:
        """Matching events, newest first, one page (equal instants: newest stored first on
        SQLite, by id descending on PostgreSQL): at most ``limit`` events, 50 unless given.

        ``limit=None`` returns every match at once; :meth:`iter` walks every match a page at a
        time. ``cursor`` (from :meth:`page`) starts just after that event: keyset pagination,
        as fast a thousand pages deep as on the first.
        """
        f = EventFilter.parse(flt) if flt is not None else None
        if limit is not None:
            check_count("limit", limit, 1)
        check_count("offset", offset, 0)
        key = decode_cursor(cursor) if cursor is not None else None
        shape, values = shape_and_values(f, cursor=key, limit=limit, offset=offset)
        return self._to_events(self._run.fetch(self._compiled(shape), values, "query events"))

    def _compiled(self, shape: Shape) -> CompiledSQL:
        """The statement for a query shape, compiled once per store for its read model."""
        compiled = self._shapes.get(shape)
        if compiled is None:
            compiled = CompiledSQL.of(
                statement_for(shape, self.sort_key, self.read_model), self.engine.dialect
            )
            self._shapes[shape] = compiled
        return compiled

    @offered("read", "page events")
    def page(
        self,
        flt: EventFilter | Mapping[str, Any] | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """One keyset page and the cursor of the next (None when this is the last)."""
        check_count("limit", limit, 1)
        rows = self.query(flt, limit + 1, cursor=cursor)
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(rows, encode_cursor(rows[-1]) if more else None)

    def iter(
        self, flt: EventFilter | Mapping[str, Any] | None = None, *, page_size: int = 500
    ) -> Iterator[Event]:
        """Every matching event, newest first, fetched ``page_size`` at a time with keyset
        paging, so memory stays bounded however many match. Events recorded meanwhile that
        are newer than those already read are not visited."""
        checks.whole_number("page_size", page_size, 1, checks.MAX_INT64 - 1)
        f = EventFilter.parse(flt) if flt is not None else None
        return self._pages(f, page_size)

    def _pages(self, flt: EventFilter | None, page_size: int) -> Iterator[Event]:
        cursor: str | None = None
        while True:
            page = self.page(flt, page_size, cursor)
            yield from page.events
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    @offered("read", "count events")
    @instrumented("select")
    def count(self, flt: EventFilter | Mapping[str, Any] | None = None) -> int:
        """How many events match. No filter, or one on type and severity alone, is answered
        from the trigger-maintained counts without reading the events."""
        f = EventFilter.parse(flt) if flt is not None else None
        if not (self.read_model.counts and counted_only(f)):
            shape, values = shape_and_values(f, count=True)
            return int(self._run.fetch(self._compiled(shape), values, "count events")[0][0])
        if f is None or not (f.event_type or f.severity):
            return int(self._run.fetch(self.sql.count_all, {}, "count events")[0][0])
        with self._run.reading("count events") as conn:
            return int(conn.execute(counted_statement(f)).scalar_one())

    @offered("read", "count events")
    @instrumented("select")
    def count_by(
        self,
        fields: str | Sequence[str],
        flt: EventFilter | Mapping[str, Any] | None = None,
    ) -> dict[Any, int]:
        """How many events match ``flt``, per group of ``fields`` (``type``, ``severity``,
        ``kind``, ``namespace``, ``object``; see :mod:`kube9_store.store.grouping`), exact, the
        largest groups first. One field gives its values as keys; a sequence gives tuples,
        a value per field. Groups with no event are left out."""
        from kube9_store.store.grouping import group_fields, group_key, grouped_statement

        names = group_fields(fields)
        f = EventFilter.parse(flt) if flt is not None else None
        shape, values = shape_and_values(f, count=True)
        compiled = self._grouped.get((names, shape))
        if compiled is None:
            stmt = grouped_statement(names, shape, self.sort_key, self.read_model)
            compiled = CompiledSQL.of(stmt, self.engine.dialect)
            self._grouped[(names, shape)] = compiled
        rows = self._run.fetch(compiled, values, "count events")
        counts = [(group_key(names, r[:-1]), int(r[-1])) for r in rows]
        counts.sort(key=lambda kn: (-kn[1], tuple((k is None, k or "") for k in kn[0])))
        single = isinstance(fields, str)
        return {(k[0] if single else k): n for k, n in counts if n > 0}

    @offered("read", "count events")
    @instrumented("select")
    def count_by_type(self) -> dict[str, int]:
        """Events per event_type (types with none are left out)."""
        rows = self._run.fetch(self.sql.count_by["event_type"], {}, "count")
        return {k: int(n) for k, n in rows}

    @offered("read", "count events")
    @instrumented("select")
    def count_by_severity(self) -> dict[str, int]:
        """Events per severity (severities with none are left out)."""
        rows = self._run.fetch(self.sql.count_by["severity"], {}, "count")
        return {k: int(n) for k, n in rows}

    @offered("read", "count events")
    def counts_by_type_and_severity(self) -> dict[tuple[str, str], int]:
        """Events per (event_type, severity), from the trigger-maintained counts."""
        rows = self._run.fetch(self.sql.count_pairs, {}, "count events")
        return {(t, s): int(n) for t, s, n in rows}

    @offered("read", "read schema version")
    def schema_version(self) -> int:
        """The schema version recorded in the spec's schema_version table."""
        rows = self._run.fetch(self.sql.schema_version, {}, "read schema version")
        value: Any = rows[0][0] if rows else None
        try:
            return int(value)
        except (TypeError, ValueError):
            raise SchemaError(
                f"{self.location}: schema_version holds {value!r}, not a schema version number"
            ) from None
