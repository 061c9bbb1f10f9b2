"""The durable facts of maintenance, kept in the database's ``operations_state`` table
(revision 0005): when retention last ran and what it deleted, the running totals it deleted by
severity and for the size budget, the budget's state, the last backup, snapshot and VACUUM,
and the last file checks' time and result (named in :mod:`kube9_store.operations.checked`,
which ``health`` judges them with). Whichever process does the work writes them; every
process's metrics read them, so the operator's exposition, ``kube9-store metrics`` and a
``metrics serve`` sidecar agree.

A fact is one number under a name. Timestamps are Unix seconds; totals only grow.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select, text

from kube9_store.events.timestamps import format_timestamp, utcnow
from kube9_store.operations import checked
from kube9_store.results import IntegrityResult, RetentionResult
from kube9_store.schema.tables import operations_state

log = logging.getLogger(__name__)

RETENTION_LAST_RUN = "retention.last_run_timestamp"
RETENTION_LAST_DELETED = "retention.last_run_deleted"
#: Totals by severity: ``retention.deleted.<severity>``, ``retention.budget_deleted.<severity>``.
RETENTION_DELETED = "retention.deleted."
BUDGET_DELETED = "retention.budget_deleted."
BUDGET_BYTES = "budget.bytes"
BUDGET_USED = "budget.used_bytes"
VACUUM_LAST = "vacuum.last_timestamp"
#: Totals of maintenance skipped: ``skipped.<operation>.<reason>``.
SKIPPED = "skipped."
BACKUP_LAST = "backup.last_timestamp"
SNAPSHOT_LAST = "snapshot.last_timestamp"

_SET = (
    "INSERT INTO operations_state (name, value, updated_at) VALUES (:name, :value, :at) "
    "ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
)
_ADD = (
    "INSERT INTO operations_state (name, value, updated_at) VALUES (:name, :value, :at) "
    "ON CONFLICT (name) DO UPDATE SET value = operations_state.value + excluded.value, "
    "updated_at = excluded.updated_at"
)
READ = select(operations_state.c.name, operations_state.c.value)


@dataclass
class Facts:
    """Facts to record: values that replace the stored ones, and amounts added to totals."""

    set: dict[str, float] = field(default_factory=dict)
    add: dict[str, float] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.set or self.add)


def retention_facts(result: RetentionResult, used_bytes: int | None = None) -> Facts:
    """What a retention run (not a dry run) leaves to record."""
    facts = Facts()
    if result.dry_run:
        return facts
    facts.set[RETENTION_LAST_RUN] = time.time()
    facts.set[RETENTION_LAST_DELETED] = float(result.deleted)
    for severity, n in result.by_severity.items():
        _add(facts, RETENTION_DELETED + severity, n)
    for severity, n in result.budget_by_severity.items():
        _add(facts, RETENTION_DELETED + severity, n)
        _add(facts, BUDGET_DELETED + severity, n)
    if result.budget_bytes is not None:
        facts.set[BUDGET_BYTES] = float(result.budget_bytes)
        if used_bytes is not None:
            facts.set[BUDGET_USED] = float(used_bytes)
    if result.vacuumed:
        facts.set[VACUUM_LAST] = time.time()
    if result.vacuum_skipped is not None:
        _add(facts, SKIPPED + "vacuum.not_enough_space", 1)
    return facts


def _add(facts: Facts, name: str, n: int) -> None:
    facts.add[name] = facts.add.get(name, 0.0) + n


def now_fact(name: str) -> Facts:
    """The fact that something happened now (a backup, a snapshot, a VACUUM)."""
    return Facts(set={name: time.time()})


def check_facts(result: IntegrityResult) -> Facts:
    """What a finished quick_check or integrity_check leaves to record: when, and its result."""
    return Facts(set=checked.recorded(result, time.time()))


def write_facts(conn: Any, facts: Facts) -> None:
    """Record ``facts`` on a SQLAlchemy connection inside its transaction."""
    at = format_timestamp(utcnow())
    for sql, values in ((_SET, facts.set), (_ADD, facts.add)):
        if values:
            rows = [{"name": k, "value": float(v), "at": at} for k, v in sorted(values.items())]
            conn.execute(text(sql), rows)


def record_with_engine(engine: Engine, facts: Facts) -> None:
    """Record ``facts`` in one transaction of ``engine``; a failure is logged, not raised
    (the work they describe is done, and a fact is no reason to fail it)."""
    if not facts:
        return
    try:
        with engine.begin() as conn:
            write_facts(conn, facts)
    except Exception as exc:
        log.warning("could not record maintenance facts %s: %s", sorted(facts.set), exc)


def read_facts(conn: Any) -> dict[str, float]:
    """Every recorded fact, by name."""
    return {str(name): float(value) for name, value in conn.execute(READ)}


def totals(facts: Mapping[str, float], prefix: str) -> dict[str, float]:
    """The totals under ``prefix``, by what follows it."""
    return {k[len(prefix) :]: v for k, v in facts.items() if k.startswith(prefix)}
