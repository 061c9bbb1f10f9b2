"""Writing events: record one or a batch (validated, scrubbed, with ids that never collide)
and acknowledge."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from operator import itemgetter
from typing import Any, Literal, overload

from sqlalchemy import bindparam, select, update

from kube9_store import checks
from kube9_store.errors import DuplicateEventError, EventNotFoundError, ValidationError
from kube9_store.event import Event
from kube9_store.filters import shape_and_values, statement_for
from kube9_store.ids import event_id_at
from kube9_store.instrumentation import instrumented
from kube9_store.models import EventFilter, NewEvent, parse_batch
from kube9_store.redaction import report as report_redactions
from kube9_store.rows import (
    event_from_new,
    first_of_each_id,
    insert_rows,
    insert_rows_if_absent,
    new_row,
    new_rows,
    refuse_repeated_ids,
    renew_repeated_ids,
)
from kube9_store.schema import events
from kube9_store.statements import CompiledSQL
from kube9_store.store_core import StoreCore
from kube9_store.timestamps import format_timestamp

log = logging.getLogger(__name__)

#: How many fresh ids an insert tries before giving up on a colliding generated id.
ID_ATTEMPTS = 8
_TYPE_AND_SEVERITY = itemgetter("event_type", "severity")
#: How many ids one existence check or acknowledgement statement sends at once.
ID_CHUNK = 500


class StoreWrites(StoreCore):
    """The store's writes."""

    # -- writing -----------------------------------------------------------------------------

    @instrumented("insert")
    def record(self, event: NewEvent | Mapping[str, Any]) -> Event:
        """Validate, redact and store one event in its own transaction; return it as stored."""
        new = NewEvent.parse(event)
        row = new_row(new, format_timestamp(self.clock()))
        insert = self.sql.insert
        for _attempt in range(ID_ATTEMPTS):
            try:
                self._run.write(
                    "record event",
                    lambda con: con.execute(insert.sql, insert.params(row)),
                    one_statement=True,
                )
                self.metrics.recorded(new.event_type, new.severity)
                if new.redactions:
                    report_redactions([(row["id"], new.redactions)])
                return event_from_new(row, new)
            except DuplicateEventError as exc:
                if new.id is not None:
                    raise DuplicateEventError(new.id) from exc
                log.info("generated id %s collided; retrying with a fresh one", row["id"])
                row["id"] = event_id_at(row["created_at"])
        raise DuplicateEventError(row["id"])

    @overload
    def record_many(
        self,
        batch: Iterable[NewEvent | Mapping[str, Any]],
        *,
        skip_existing: bool = False,
        return_events: Literal[True] = True,
    ) -> list[Event]: ...

    @overload
    def record_many(
        self,
        batch: Iterable[NewEvent | Mapping[str, Any]],
        *,
        skip_existing: bool = False,
        return_events: Literal[False],
    ) -> list[str]: ...

    def record_many(
        self,
        batch: Iterable[NewEvent | Mapping[str, Any]],
        *,
        skip_existing: bool = False,
        return_events: bool = True,
    ) -> list[Event] | list[str]:
        """Store a batch in one transaction: every event or none of them.

        ``skip_existing`` makes re-recording idempotent, also when several writers record the
        same events at once: events whose explicit id is already stored (or repeated in the
        batch) are left out by the insert itself, and only the ones stored are returned.
        ``return_events=False`` returns the stored ids instead of the events (for producers
        that keep nothing else: it saves building an Event per row).
        """
        return self._record_many(batch, skip_existing, return_events)

    @instrumented("insert")
    def _record_many(
        self,
        batch: Iterable[NewEvent | Mapping[str, Any]],
        skip_existing: bool,
        return_events: bool,
    ) -> list[Event] | list[str]:
        news = parse_batch(batch)
        if skip_existing:
            news = first_of_each_id(news)
        else:
            refuse_repeated_ids(news)
        if not news:
            return []
        now = format_timestamp(self.clock())
        rows = new_rows(news, now)
        explicit = {n.id for n in news if n.id is not None}
        insert, if_absent = self.sql.insert, self.sql.insert_if_absent
        for _attempt in range(ID_ATTEMPTS):
            renew_repeated_ids(rows, news)
            try:
                if skip_existing:
                    inserted = self._run.write(
                        "record events",
                        lambda con: insert_rows_if_absent(con, insert, if_absent, rows, explicit),
                    )
                    kept = [i for i, r in enumerate(rows) if r["id"] in inserted]
                    stored = [rows[i] for i in kept]
                    stored_news = [news[i] for i in kept]
                else:
                    self._run.write("record events", lambda con: insert_rows(con, insert, rows))
                    stored, stored_news = rows, news
                for (event_type, severity), n in Counter(map(_TYPE_AND_SEVERITY, stored)).items():
                    self.metrics.recorded(event_type, severity, n)
                report_redactions(
                    (r["id"], n.redactions) for r, n in zip(stored, stored_news, strict=True)
                )
                if not return_events:
                    return [r["id"] for r in stored]
                return list(map(event_from_new, stored, stored_news))
            except DuplicateEventError as exc:
                taken = self._existing_ids([r["id"] for r in rows])
                clash = taken & explicit
                if clash and not skip_existing:
                    raise DuplicateEventError(sorted(clash)[0]) from exc
                for r in rows:
                    if r["id"] in taken and r["id"] not in explicit:
                        r["id"] = event_id_at(r["created_at"])
        raise DuplicateEventError(rows[0]["id"])

    def _existing_ids(self, ids: list[str]) -> set[str]:
        found: set[str] = set()
        with self._run.reading("check event ids") as conn:
            for start in range(0, len(ids), ID_CHUNK):
                chunk = ids[start : start + ID_CHUNK]
                found.update(
                    conn.execute(select(events.c.id).where(events.c.id.in_(chunk))).scalars()
                )
        return found

    @instrumented("update")
    def acknowledge(
        self, event_id: str, acknowledged: bool = True, *, missing_ok: bool = True
    ) -> bool:
        """Mark an event (un)acknowledged; False when no event has that id (or, with
        ``missing_ok=False``, EventNotFoundError)."""
        checks.text("event_id", event_id)
        if not isinstance(acknowledged, bool):
            raise ValidationError.single("acknowledged", "must be True or False")
        ack = self.sql.acknowledge
        params = ack.params({"id": event_id, "ack": int(acknowledged)})
        changed = self._run.write(
            "acknowledge event",
            lambda con: con.execute(ack.sql, params).rowcount,
            one_statement=True,
        )
        if not changed and not missing_ok:
            raise EventNotFoundError(event_id)
        return bool(changed)

    @instrumented("update")
    def acknowledge_many(self, event_ids: Iterable[str], acknowledged: bool = True) -> int:
        """Mark every event whose id is given (un)acknowledged in one transaction (one
        statement per 500 ids); returns how many of the ids are stored events."""
        if isinstance(event_ids, str | bytes) or not isinstance(event_ids, Iterable):
            raise ValidationError.single("event_ids", "must be a collection of event ids")
        ids = list(dict.fromkeys(event_ids))
        for i, event_id in enumerate(ids):
            if not isinstance(event_id, str):
                raise ValidationError.single(f"event_ids[{i}]", "must be a string")
            if not event_id.isascii():
                try:
                    event_id.encode("utf-8")
                except UnicodeEncodeError:
                    raise ValidationError.single(
                        f"event_ids[{i}]", "must be valid Unicode (it holds a lone surrogate)"
                    ) from None
        if not isinstance(acknowledged, bool):
            raise ValidationError.single("acknowledged", "must be True or False")
        if not ids:
            return 0
        chunks = [ids[start : start + ID_CHUNK] for start in range(0, len(ids), ID_CHUNK)]
        compiled = {
            n: CompiledSQL.of(
                update(events)
                .where(events.c.id.in_([bindparam(f"id_{i}") for i in range(n)]))
                .values(acknowledged=bindparam("ack")),
                self.engine.dialect,
            )
            for n in {len(chunk) for chunk in chunks}
        }

        def work(con: Any) -> int:
            changed = 0
            for chunk in chunks:
                stmt = compiled[len(chunk)]
                values: dict[str, Any] = {f"id_{i}": v for i, v in enumerate(chunk)}
                values["ack"] = int(acknowledged)
                changed += con.execute(stmt.sql, stmt.params(values)).rowcount
            return changed

        return self._run.write("acknowledge events", work, one_statement=len(chunks) == 1)

    @instrumented("update")
    def acknowledge_matching(
        self, flt: EventFilter | Mapping[str, Any], acknowledged: bool = True
    ) -> int:
        """Mark every event matching ``flt`` (un)acknowledged in one statement; returns how
        many matched. An empty filter matches every event."""
        f = EventFilter.parse(flt)
        if not isinstance(acknowledged, bool):
            raise ValidationError.single("acknowledged", "must be True or False")
        shape, values = shape_and_values(f)
        stmt = update(events).values(acknowledged=bindparam("ack"))
        where = statement_for(shape, self.sort_key, self.read_model).whereclause
        if where is not None:
            stmt = stmt.where(where)
        compiled = CompiledSQL.of(stmt, self.engine.dialect)
        params = compiled.params({**values, "ack": int(acknowledged)})
        return int(
            self._run.write(
                "acknowledge events",
                lambda con: con.execute(compiled.sql, params).rowcount,
                one_statement=True,
            )
        )
