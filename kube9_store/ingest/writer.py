"""Storing Kubernetes event occurrences exactly once, by key.

Model: one stored event per observed occurrence of a Kubernetes event (its uid at one count),
and one row of ``k8s_event_keys`` per stored event, keyed by (cluster uid, event uid, count).
An occurrence is stored only by the transaction that inserts its key, so replaying a batch
after a crash, a re-list, ``import k8s-events`` of the same events, or a second writer at once
store nothing twice (on PostgreSQL the second insert of a key waits for the first transaction
and then finds the key). An observation whose count is not above the highest stored for its uid
adds nothing (the count it reports is already stored or superseded), and a stored occurrence
is always later than the earlier counts of its uid (moved by a millisecond where Kubernetes'
second-precision timestamps tie), so the newest stored event of a uid holds its last count.

Each batch's keys, events, and (for the watch) the resume point go in one transaction.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, delete, exists, func, select, update

from kube9_store.errors import Kube9StoreError
from kube9_store.events.models import NewEvent, check_batch
from kube9_store.events.rows import ID, TYPE_AND_SEVERITY, stored_values
from kube9_store.events.timestamps import format_timestamp, parse_timestamp
from kube9_store.ingest.identity import key_uid, stable_id
from kube9_store.schema.tables import EVENT_COLUMNS, events, ingest_checkpoints, k8s_event_keys
from kube9_store.secrets.redaction import report as report_redactions
from kube9_store.store.statements import CompiledSQL

log = logging.getLogger(__name__)

#: How many ids of its sequence an occurrence tries before the batch fails (ids of different
#: occurrences collide with odds of one in 36**6 within a second).
ID_ATTEMPTS = 16
#: Uids per statement when reading what is stored.
UID_CHUNK = 250
#: Rows per multi-row insert on PostgreSQL.
BULK_CHUNK = 100
#: The steps of a batch's transaction, in order, where a crash hook can stop it.
STEPS = ("keys", "events", "checkpoint", "commit", "committed")

#: A step hook: called with each step name (tests stop a batch there).
StepHook = Callable[[str], None]


@dataclass(frozen=True)
class Checkpoint:
    """Where a watch of ``resource`` in cluster ``cluster_uid`` resumes."""

    cluster_uid: str
    resource: str
    resource_version: str
    cluster_name: str | None = None


@dataclass
class WriteResult:
    """What one batch did: occurrences stored (their event ids) and those already stored."""

    stored_ids: list[str] = field(default_factory=list)
    present: int = 0

    @property
    def stored(self) -> int:
        return len(self.stored_ids)


def occurrence_key(event: NewEvent) -> tuple[str, int]:
    """(uid, count) of a normalized Kubernetes event
    (:func:`~kube9_store.transfer.k8s.to_new_event`)."""
    meta = event.metadata or {}
    uid, count = meta.get("uid"), meta.get("count")
    if not isinstance(uid, str) or type(count) is not int:
        raise Kube9StoreError("not a normalized Kubernetes event: metadata needs uid and count")
    return uid, count


def _later(at: str) -> str:
    return format_timestamp(parse_timestamp(at) + timedelta(milliseconds=1))


class OccurrenceWriter:
    """Writes batches of normalized Kubernetes events of one cluster into ``store``."""

    def __init__(self, store: Any) -> None:
        self.store = store
        dialect = store.engine.dialect
        self._dialect = dialect
        self._insert_event = store.sql.insert_if_absent
        keys = k8s_event_keys.c
        self._insert_key = CompiledSQL.of(
            store.backend.insert_if_absent(k8s_event_keys).values(
                {c.name: bindparam(c.name) for c in k8s_event_keys.columns}
            ),
            dialect,
        )
        self._move_key = CompiledSQL.of(
            update(k8s_event_keys)
            .where(
                keys.cluster_uid == bindparam("c"),
                keys.event_uid == bindparam("u"),
                keys.count == bindparam("n"),
            )
            .values(event_id=bindparam("event_id")),
            dialect,
        )
        self._checkpoint = CompiledSQL.of(
            store.backend.upsert(ingest_checkpoints, ["cluster_uid", "resource"]), dialect
        )
        self._latest: dict[int, CompiledSQL] = {}
        #: A server takes a chunk of keys or events in one statement (a round trip each).
        self._bulk = store.backend.chunked_statements
        self._bulk_cache: dict[tuple[str, int], CompiledSQL] = {}

    def _latest_sql(self, n: int) -> CompiledSQL:
        stmt = self._latest.get(n)
        if stmt is None:
            keys = k8s_event_keys.c
            stmt = self._latest[n] = CompiledSQL.of(
                select(keys.event_uid, func.max(keys.count), func.max(keys.created_at))
                .where(
                    keys.cluster_uid == bindparam("c"),
                    keys.event_uid.in_([bindparam(f"u{i}") for i in range(n)]),
                )
                .group_by(keys.event_uid),
                self._dialect,
            )
        return stmt

    def read_checkpoint(self, cluster_uid: str, resource: str) -> tuple[str | None, str | None]:
        """The resourceVersion a watch of ``resource`` resumes from and when it was committed
        (None, None before the first commit)."""
        c = ingest_checkpoints.c
        with self.store._run.reading("read ingest checkpoint") as conn:
            row = conn.execute(
                select(c.resource_version, c.updated_at).where(
                    c.cluster_uid == cluster_uid, c.resource == resource
                )
            ).first()
        return (row[0], row[1]) if row is not None else (None, None)

    def prune_keys(self, cluster_uid: str, older_than: str) -> int:
        """Forget the keys of occurrences before ``older_than`` whose events are gone
        (retention deleted them), so the key table shrinks with the events; returns how many.
        Kubernetes keeps an event about an hour, so a key well past that cannot be met again
        by a LIST or a watch."""
        keys, ev = k8s_event_keys.c, events.c
        stmt = (
            delete(k8s_event_keys)
            .where(keys.cluster_uid == cluster_uid, keys.created_at < older_than)
            .where(~exists().where(ev.id == keys.event_id))
        )
        compiled = CompiledSQL.of(stmt, self._dialect)

        def work(con: Any) -> int:
            cur = con.cursor()
            try:
                cur.execute(compiled.sql, compiled.params({}))
                return int(cur.rowcount)
            finally:
                cur.close()

        return int(self.store._run.write("prune Kubernetes event keys", work))

    def write(
        self,
        cluster_uid: str,
        occurrences: Sequence[NewEvent],
        *,
        checkpoint: Checkpoint | None = None,
        also: Sequence[NewEvent] = (),
        hook: StepHook | None = None,
    ) -> WriteResult:
        """Store the occurrences not stored yet, ``also`` (events with an id of their own, such
        as a gap notice, stored if absent) and the checkpoint, in one transaction."""
        step: StepHook = hook or (lambda _name: None)
        ordered = sorted(occurrences, key=occurrence_key)
        checked = check_batch([*ordered, *also])
        plain = checked[len(ordered) :]
        keyed = list(zip(ordered, checked[: len(ordered)], strict=True))
        insert_event = self._insert_event
        now = format_timestamp(self.store.clock())

        def work(con: Any) -> tuple[WriteResult, list[tuple[Any, ...]], list[Any]]:
            result = WriteResult()
            latest = self._stored_latest(con, cluster_uid, {occurrence_key(e)[0] for e in ordered})
            cur = con.cursor()
            try:
                candidates: list[tuple[str, int, dict[str, Any], Any]] = []
                for event, (fields, metadata_json, found) in keyed:
                    uid, count = occurrence_key(event)
                    last_count, last_at = latest.get(uid, (None, None))
                    if last_count is not None and count <= last_count:
                        result.present += 1
                        continue
                    at = fields["created_at"]
                    if last_at is not None and at <= last_at:
                        at = _later(last_at)
                    latest[uid] = (count, at)
                    mine = dict(fields, created_at=at)
                    if at != fields["created_at"]:
                        mine["id"] = _id_for(cluster_uid, uid, count, at, 0)
                    candidates.append((uid, count, mine, (metadata_json, found)))
                inserted = self._insert_keys(cur, cluster_uid, candidates)
                plan = [p for p in candidates if (p[0], p[1]) in inserted]
                result.present += len(candidates) - len(plan)  # stored first by another writer
                step("keys")
                rows: list[tuple[Any, ...]] = []
                found_of: list[Any] = []
                plan.sort(key=lambda p: (p[2]["event_type"], p[2]["severity"], p[2]["id"]))
                for row, (_uid, _count, _mine, (_json, found)) in zip(
                    self._insert_events(cur, cluster_uid, plan), plan, strict=True
                ):
                    rows.append(row)
                    found_of.append(found)
                    result.stored_ids.append(row[ID])
                for fields, metadata_json, found in plain:
                    row = stored_values(fields, fields["id"], metadata_json, fields["created_at"])
                    cur.execute(insert_event.sql, insert_event.params_of_values(EVENT_COLUMNS, row))
                    if cur.rowcount == 1:
                        rows.append(row)
                        found_of.append(found)
                step("events")
                if checkpoint is not None:
                    cp = self._checkpoint
                    cur.execute(
                        cp.sql,
                        cp.params(
                            {
                                "cluster_uid": checkpoint.cluster_uid,
                                "resource": checkpoint.resource,
                                "resource_version": checkpoint.resource_version,
                                "cluster_name": checkpoint.cluster_name,
                                "updated_at": now,
                            }
                        ),
                    )
                step("checkpoint")
            finally:
                cur.close()
            step("commit")
            return result, rows, found_of

        done: tuple[WriteResult, list[tuple[Any, ...]], list[Any]]
        done = self.store._run.write("ingest Kubernetes events", work)
        result, rows, found_of = done
        step("committed")
        for (event_type, severity), n in Counter(map(TYPE_AND_SEVERITY, rows)).items():
            self.store.metrics.recorded(event_type, severity, n)
        report_redactions((r[ID], f) for r, f in zip(rows, found_of, strict=True) if f)
        return result

    def _insert_keys(
        self, cur: Any, cluster_uid: str, candidates: list[tuple[str, int, dict[str, Any], Any]]
    ) -> set[tuple[str, int]]:
        """Insert the candidates' keys (in key order); the (uid, count) pairs this transaction
        inserted. On PostgreSQL one statement per chunk, else one per key."""
        values = [
            {
                "cluster_uid": cluster_uid,
                "event_uid": uid,
                "count": count,
                "event_id": mine["id"],
                "created_at": mine["created_at"],
            }
            for uid, count, mine, _rest in candidates
        ]
        inserted: set[tuple[str, int]] = set()
        if self._bulk:
            for start in range(0, len(values), BULK_CHUNK):
                chunk = values[start : start + BULK_CHUNK]
                stmt = self._bulk_sql("keys", len(chunk))
                params = {f"{k}_{i}": v for i, row in enumerate(chunk) for k, v in row.items()}
                cur.execute(stmt.sql, stmt.params(params))
                inserted.update((uid, count) for uid, count in cur.fetchall())
            return inserted
        insert_key = self._insert_key
        for row in values:
            cur.execute(insert_key.sql, insert_key.params(row))
            if cur.rowcount == 1:
                inserted.add((row["event_uid"], row["count"]))
        return inserted

    def _insert_events(
        self, cur: Any, cluster_uid: str, plan: list[tuple[str, int, dict[str, Any], Any]]
    ) -> list[tuple[Any, ...]]:
        """Insert the planned events (in the order given); their rows as stored. An id taken
        by a different event moves the occurrence to the next id of its sequence."""
        if not self._bulk:
            return [
                self._insert_one(cur, cluster_uid, uid, count, mine, meta_json)
                for uid, count, mine, (meta_json, _found) in plan
            ]
        rows = [
            stored_values(mine, mine["id"], meta_json, mine["created_at"])
            for _uid, _count, mine, (meta_json, _found) in plan
        ]
        refused: list[int] = []
        for start in range(0, len(rows), BULK_CHUNK):
            chunk = rows[start : start + BULK_CHUNK]
            stmt = self._bulk_sql("events", len(chunk))
            params = {
                f"{name}_{i}": v
                for i, row in enumerate(chunk)
                for name, v in zip(EVENT_COLUMNS, row, strict=True)
            }
            cur.execute(stmt.sql, stmt.params(params))
            # rows go in in order: of rows sharing an id, the first returned one was stored
            stored = Counter(r[0] for r in cur.fetchall())
            for i, row in enumerate(chunk, start=start):
                if stored[row[ID]] > 0:
                    stored[row[ID]] -= 1
                else:
                    refused.append(i)
        for i in refused:
            uid, count, mine, (meta_json, _found) = plan[i]
            rows[i] = self._insert_one(cur, cluster_uid, uid, count, mine, meta_json, 1)
        return rows

    def _bulk_sql(self, what: str, n: int) -> CompiledSQL:
        """A multi-row insert-if-absent RETURNING the key (servers: see ``chunked_statements``)."""
        stmt = self._bulk_cache.get((what, n))
        if stmt is None:
            table = k8s_event_keys if what == "keys" else events
            names = [c.name for c in table.columns]
            rows: list[dict[str, Any]] = [
                {name: bindparam(f"{name}_{i}") for name in names} for i in range(n)
            ]
            insert = self.store.backend.insert_if_absent(table).values(rows)
            returning = (
                insert.returning(k8s_event_keys.c.event_uid, k8s_event_keys.c.count)
                if what == "keys"
                else insert.returning(events.c.id)
            )
            stmt = self._bulk_cache[(what, n)] = CompiledSQL.of(returning, self._dialect)
        return stmt

    def _insert_one(
        self,
        cur: Any,
        cluster_uid: str,
        uid: str,
        count: int,
        fields: dict[str, Any],
        metadata_json: str | None,
        first_attempt: int = 0,
    ) -> tuple[Any, ...]:
        """Insert one keyed event under the first free id of its sequence from
        ``first_attempt`` (the key follows a moved id)."""
        insert_event = self._insert_event
        at = fields["created_at"]
        event_id = fields["id"]
        for attempt in range(first_attempt, ID_ATTEMPTS):
            if attempt:
                event_id = _id_for(cluster_uid, uid, count, at, attempt)
            row = stored_values(fields, event_id, metadata_json, at)
            cur.execute(insert_event.sql, insert_event.params_of_values(EVENT_COLUMNS, row))
            if cur.rowcount == 1:
                if attempt:
                    move = self._move_key
                    cur.execute(
                        move.sql,
                        move.params({"c": cluster_uid, "u": uid, "n": count, "event_id": event_id}),
                    )
                return row
            log.info(
                "id %s of %s/%s is taken by another event; next in sequence", event_id, uid, count
            )
        raise Kube9StoreError(f"no free id for Kubernetes event {uid} count {count}")

    def _stored_latest(
        self, con: Any, cluster_uid: str, uids: set[str]
    ) -> dict[str, tuple[int | None, str | None]]:
        """The highest stored count of each uid, and its latest stored time."""
        out: dict[str, tuple[int | None, str | None]] = {}
        names = sorted(uids)
        cur = con.cursor()
        try:
            for start in range(0, len(names), UID_CHUNK):
                chunk = names[start : start + UID_CHUNK]
                stmt = self._latest_sql(len(chunk))
                values: dict[str, Any] = {f"u{i}": u for i, u in enumerate(chunk)}
                values["c"] = cluster_uid
                cur.execute(stmt.sql, stmt.params(values))
                for uid, count, at in cur.fetchall():
                    out[uid] = (count, at)
        finally:
            cur.close()
        return out


def _id_for(cluster_uid: str, uid: str, count: int, at: str, attempt: int) -> str:
    return stable_id(at, key_uid(cluster_uid, uid), count, attempt)
