"""Writing events: record one or a batch (validated, scrubbed, with ids that never collide)
and acknowledge."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from time import perf_counter
from typing import Any, Literal, overload

from sqlalchemy import bindparam, select, update

from kube9_store import checks
from kube9_store.errors import (
    DuplicateEventError,
    EventNotFoundError,
    InternalError,
    ValidationError,
)
from kube9_store.events.event import Event
from kube9_store.events.ids import event_id_at
from kube9_store.events.mappings import NewEventDict
from kube9_store.events.models import EventFilter, NewEvent, check_batch, check_event
from kube9_store.events.rows import (
    EVENT_TYPE,
    ID,
    SEVERITY,
    TYPE_AND_SEVERITY,
    first_of_each_id,
    insert_rows,
    insert_rows_if_absent,
    new_rows,
    refuse_repeated_ids,
    renew_repeated_ids,
    stored_values,
    with_fresh_id,
)
from kube9_store.events.timestamps import format_timestamp
from kube9_store.schema.tables import EVENT_COLUMNS, events
from kube9_store.secrets.redaction import report as report_redactions
from kube9_store.store.core import StoreCore
from kube9_store.store.filters import shape_and_values, where_of
from kube9_store.store.grouped import Row
from kube9_store.store.instrumentation import instrumented
from kube9_store.store.statements import CompiledSQL
from kube9_store.store.surface import offered

log = logging.getLogger(__name__)

#: How many fresh ids an insert tries before giving up on a colliding generated id.
ID_ATTEMPTS = 8
#: How many ids one existence check or acknowledgement statement sends at once.
ID_CHUNK = 500


class _Pending:
    """An event of :meth:`StoreWrites._record_each` on its way in."""

    __slots__ = (
        "created_at",
        "event_id",
        "fields",
        "given",
        "metadata_json",
        "redactions",
        "started",
        "values",
    )

    def __init__(
        self,
        fields: dict[str, Any],
        metadata_json: str | None,
        redactions: Any,
        created_at: str,
        given: str | None,
        started: float,
    ) -> None:
        self.fields = fields
        self.metadata_json = metadata_json
        self.redactions = redactions
        self.created_at = created_at
        self.given = given
        self.event_id = given or event_id_at(created_at)
        self.started = started
        self.values: tuple[Any, ...] = ()


class StoreWrites(StoreCore):
    """The store's writes."""

    # -- writing -----------------------------------------------------------------------------

    @offered("grouped", "record event")
    def record(self, event: NewEvent | NewEventDict) -> Event:
        """Validate, redact and store one event; return it as stored once it is committed.

        Concurrent calls (threads, or tasks of the asyncio store) share transactions: while
        one commits, the events that arrive queue and the next commit takes them all, and an
        event that fails fails only its own call. Alone, a call is one autocommit insert."""
        started = perf_counter()  # instrumented as @instrumented would, with one metrics call
        try:
            fields, metadata_json, redactions = check_event(event)
            created_at = fields.get("created_at") or format_timestamp(self.clock())
            given = fields.get("id")
            event_id = given or event_id_at(created_at)
            insert, as_given = self.sql.insert, self.sql.insert_binds_rows
            for _attempt in range(ID_ATTEMPTS):
                values = stored_values(fields, event_id, metadata_json, created_at)
                params = values if as_given else insert.params_of_values(EVENT_COLUMNS, values)
                try:
                    self._run.insert_grouped(
                        "record event", insert.sql, params, TYPE_AND_SEVERITY(values)
                    )
                except DuplicateEventError as exc:
                    if given is not None:
                        raise DuplicateEventError(given) from exc
                    log.info("generated id %s collided; retrying with a fresh one", event_id)
                    event_id = event_id_at(created_at)
                    continue
                break
            else:
                raise DuplicateEventError(event_id)
        except BaseException as exc:
            self.metrics.failed("insert", exc)
            raise
        # stored: counted as such even if what follows fails (a redaction log filter, say)
        self.metrics.recorded_one(values[EVENT_TYPE], values[SEVERITY], started)
        if redactions:
            report_redactions([(event_id, redactions)])
        return Event.from_row(values, fields.get("metadata"))

    def _record_each(self, batch: list[NewEvent | NewEventDict]) -> list[Event | BaseException]:
        """:meth:`record` of each event of ``batch`` as if each were its own concurrent call:
        in one group commit, each result its own (the event as stored, or the error its call
        would raise). The asyncio store records its concurrent tasks' events through this."""
        results: list[Event | BaseException | None] = []
        pending: list[tuple[int, _Pending]] = []
        insert, as_given = self.sql.insert, self.sql.insert_binds_rows
        for i, event in enumerate(batch):
            started = perf_counter()
            try:
                fields, metadata_json, redactions = check_event(event)
                created_at = fields.get("created_at") or format_timestamp(self.clock())
            except Exception as exc:
                self.metrics.failed("insert", exc)
                results.append(exc)
                continue
            given = fields.get("id")
            results.append(None)  # settled below
            pending.append(
                (i, _Pending(fields, metadata_json, redactions, created_at, given, started))
            )
        for _attempt in range(ID_ATTEMPTS):
            if not pending:
                break
            rows = []
            for _i, p in pending:
                values = p.values = stored_values(
                    p.fields, p.event_id, p.metadata_json, p.created_at
                )
                params = values if as_given else insert.params_of_values(EVENT_COLUMNS, values)
                rows.append(Row(insert.sql, params, TYPE_AND_SEVERITY(values)))
            try:
                self._run.insert_grouped_each("record event", rows)
            except Exception as exc:  # refused before any row was tried (read-only)
                for i, _p in pending:
                    results[i] = exc
                    self.metrics.failed("insert", exc)
                pending = []
                break
            retry: list[tuple[int, _Pending]] = []
            for (i, p), row in zip(pending, rows, strict=True):
                error = row.error
                if error is None:
                    results[i] = self._stored(p)
                elif isinstance(error, DuplicateEventError) and p.given is None:
                    log.info("generated id %s collided; retrying with a fresh one", p.event_id)
                    p.event_id = event_id_at(p.created_at)
                    retry.append((i, p))
                else:
                    if isinstance(error, DuplicateEventError):
                        duplicate = DuplicateEventError(p.given)
                        duplicate.__cause__ = error
                        error = duplicate
                    self.metrics.failed("insert", error)
                    results[i] = error
            pending = retry
        for i, p in pending:
            error = DuplicateEventError(p.event_id)
            self.metrics.failed("insert", error)
            results[i] = error
        return [
            r if r is not None else InternalError("an event was left unsettled") for r in results
        ]

    def _stored(self, p: _Pending) -> Event:
        """A grouped event committed: counted, its redactions reported, returned as stored."""
        values = p.values
        self.metrics.recorded_one(values[EVENT_TYPE], values[SEVERITY], p.started)
        if p.redactions:
            report_redactions([(p.event_id, p.redactions)])
        return Event.from_row(values, p.fields.get("metadata"))

    @overload
    def record_many(
        self,
        batch: Iterable[NewEvent | NewEventDict],
        *,
        skip_existing: bool = False,
        return_events: Literal[True] = True,
    ) -> list[Event]: ...

    @overload
    def record_many(
        self,
        batch: Iterable[NewEvent | NewEventDict],
        *,
        skip_existing: bool = False,
        return_events: Literal[False],
    ) -> list[str]: ...

    @offered("write", "record events")
    def record_many(
        self,
        batch: Iterable[NewEvent | NewEventDict],
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
        batch: Iterable[NewEvent | NewEventDict],
        skip_existing: bool,
        return_events: bool,
    ) -> list[Event] | list[str]:
        checked = check_batch(batch)
        if skip_existing:
            checked = first_of_each_id(checked)
        else:
            refuse_repeated_ids(checked)
        if not checked:
            return []
        rows = new_rows(checked, format_timestamp(self.clock()))
        explicit = {c[0]["id"] for c in checked if c[0].get("id") is not None}
        insert, if_absent = self.sql.insert, self.sql.insert_if_absent
        for _attempt in range(ID_ATTEMPTS):
            renew_repeated_ids(rows, checked)
            try:
                if skip_existing:
                    inserted = self._run.write(
                        "record events",
                        lambda con: insert_rows_if_absent(con, insert, if_absent, rows, explicit),
                    )
                    kept = [i for i, r in enumerate(rows) if r[ID] in inserted]
                    stored = [rows[i] for i in kept]
                    stored_checked = [checked[i] for i in kept]
                else:
                    self._run.write(
                        "record events", lambda con: insert_rows(con, self.backend, insert, rows)
                    )
                    stored, stored_checked = rows, checked
            except DuplicateEventError as exc:
                taken = self._existing_ids([r[ID] for r in rows])
                clash = taken & explicit
                if clash and not skip_existing:
                    raise DuplicateEventError(sorted(clash)[0]) from exc
                for i, r in enumerate(rows):
                    if r[ID] in taken and r[ID] not in explicit:
                        rows[i] = with_fresh_id(r)
                continue
            for (event_type, severity), n in Counter(map(TYPE_AND_SEVERITY, stored)).items():
                self.metrics.recorded(event_type, severity, n)
            report_redactions((r[ID], c[2]) for r, c in zip(stored, stored_checked, strict=True))
            if not return_events:
                return [r[ID] for r in stored]
            # metadata parsed from the stored text when first read: a batch's events often
            # are not, and freezing every one up front is work a batch need not do
            return [Event.from_row(r) for r in stored]
        raise DuplicateEventError(rows[0][ID])

    def _existing_ids(self, ids: list[str]) -> set[str]:
        found: set[str] = set()
        with self._run.reading("check event ids") as conn:
            for start in range(0, len(ids), ID_CHUNK):
                chunk = ids[start : start + ID_CHUNK]
                found.update(
                    conn.execute(select(events.c.id).where(events.c.id.in_(chunk))).scalars()
                )
        return found

    @offered("write", "acknowledge event")
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
        changed = self._run.write_statement("acknowledge event", ack.sql, params)
        if not changed and not missing_ok:
            raise EventNotFoundError(event_id)
        return bool(changed)

    @offered("write", "acknowledge events")
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

    @offered("write", "acknowledge events")
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
        where = where_of(shape, self.sort_key, self.read_model)
        if where is not None:
            stmt = stmt.where(where)
        compiled = CompiledSQL.of(stmt, self.engine.dialect)
        params = compiled.params({**values, "ack": int(acknowledged)})
        return self._run.write_statement("acknowledge events", compiled.sql, params)
