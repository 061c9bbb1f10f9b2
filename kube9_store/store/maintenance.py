"""Retention (age rules and the size budget) and maintenance: counts rebuilt, VACUUM,
integrity, sizes, backups and snapshots."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import datetime
from typing import Any

from kube9_store import checks
from kube9_store.errors import NotEnoughSpaceError, ValidationError, mark_partial
from kube9_store.gates.space import check_budget
from kube9_store.operations import snapshots
from kube9_store.operations.retention import (
    VACUUM_FREE_SHARE,
    RetentionPolicy,
    apply_retention,
    enforce_budget,
)
from kube9_store.operations.state import (
    BACKUP_LAST,
    SNAPSHOT_LAST,
    VACUUM_LAST,
    Facts,
    check_facts,
    now_fact,
    read_facts,
    record_with_engine,
    retention_facts,
)
from kube9_store.results import BackupResult, IntegrityResult, RetentionResult, SizeInfo, VolumeInfo
from kube9_store.schema.tables import HEAD_VERSION, event_counts
from kube9_store.store.instrumentation import instrumented
from kube9_store.store.reads import StoreReads
from kube9_store.store.surface import offered

log = logging.getLogger(__name__)


class StoreMaintenance(StoreReads):
    """The store's retention and maintenance."""

    # -- retention and maintenance -----------------------------------------------------------

    @offered("write", "apply retention")
    @instrumented("delete")
    def apply_retention(
        self,
        now: datetime | None = None,
        *,
        policy: RetentionPolicy | None = None,
        batch_size: int = 1000,
        dry_run: bool = False,
        vacuum_free_share: float | None = VACUUM_FREE_SHARE,
        progress: Callable[[int, int], None] | None = None,
    ) -> RetentionResult:
        """Delete events past the retention policy (``now`` defaults to the store's clock), then,
        when the policy has a size budget and the used space exceeds it, the oldest events
        (info and warning first) down to the budget's low watermark.

        After a run that leaves at least ``vacuum_free_share`` of the file's pages free, the
        file is vacuumed (None disables that; servers reclaim space by themselves); when the
        filesystems lack the room VACUUM needs, it is skipped with a warning and
        ``result.vacuum_skipped`` says why. ``progress`` hears (deleted so far, expired in all)
        after each batch of the age-based deletes.
        """
        if vacuum_free_share is not None:
            checks.share("vacuum_free_share", vacuum_free_share)
        if policy is not None and not isinstance(policy, RetentionPolicy):
            raise ValidationError.single("policy", "must be a RetentionPolicy or None")
        if not isinstance(dry_run, bool):
            raise ValidationError.single("dry_run", "must be True or False")
        batch, count = self.sql.retention_batch, self.sql.retention_count
        deleted = 0  # committed batch by batch: what a run that fails partway has stored

        def delete_batch(severity: str, cutoff: str, limit: int) -> int:
            nonlocal deleted
            values = batch.params({"severity": severity, "cutoff": cutoff, "batch": limit})
            n = self._run.write_statement("apply retention", batch.sql, values)
            deleted += n
            return n

        def count_expired(severity: str, cutoff: str) -> int:
            values = {"severity": severity, "cutoff": cutoff}
            return int(self._run.fetch(count, values, "count expired")[0][0])

        chosen = policy or self.retention
        if chosen.max_bytes is not None:
            check_budget(self.backend, chosen.max_bytes)
        try:
            result = self._retain(
                chosen,
                now,
                delete_batch,
                count_expired,
                batch_size,
                dry_run,
                vacuum_free_share,
                progress,
            )
        except BaseException as exc:
            if deleted:
                mark_partial(exc, f"{deleted} events deleted")
            raise
        self.metrics.retention_ran(result)
        if not dry_run:
            used = self.backend.used_bytes() if chosen.max_bytes is not None else None
            self._record(retention_facts(result, used))
        return result

    def _retain(
        self,
        chosen: RetentionPolicy,
        now: datetime | None,
        delete_batch: Callable[[str, str, int], int],
        count_expired: Callable[[str, str], int],
        batch_size: int,
        dry_run: bool,
        vacuum_free_share: float | None,
        progress: Callable[[int, int], None] | None,
    ) -> RetentionResult:
        """The age rules, then the budget, then VACUUM when worthwhile."""
        result = apply_retention(
            chosen,
            now=now if now is not None else self.clock(),
            delete_batch=delete_batch,
            count_expired=count_expired,
            batch_size=batch_size,
            dry_run=dry_run,
            progress=progress,
        )
        if chosen.max_bytes is not None:
            result.budget_bytes = chosen.max_bytes
            result.budget_by_severity = enforce_budget(
                chosen.max_bytes,
                used_bytes=self.backend.used_bytes,
                count_events=lambda group: self.count({"severity": list(group)}),
                nth_oldest=self._nth_oldest,
                delete_batch=delete_batch,
                count_expired=count_expired,
                batch_size=batch_size,
                dry_run=dry_run,
            )
        if not dry_run and result.deleted and vacuum_free_share is not None:
            try:
                result.vacuumed = self.backend.vacuum_if_worthwhile(vacuum_free_share)
            except NotEnoughSpaceError as exc:
                result.vacuum_skipped = str(exc)
                log.warning("VACUUM after retention skipped: %s", exc)
        return result

    def _record(self, facts: Facts) -> None:
        """Keep maintenance facts in the database for every process's metrics (a store that
        cannot write, or a database without the table, keeps none)."""
        if facts and not self.read_only and self.read_model.at_head:
            record_with_engine(self.backend.writer, facts)

    @offered("read", "read maintenance facts")
    def maintenance_facts(self) -> dict[str, float]:
        """The durable facts of maintenance recorded in the database, by name (see
        :mod:`kube9_store.operations.state`); none in a database behind head."""
        if not self.read_model.at_head or self.read_model.foreign:
            return {}
        with self._run.reading("read maintenance facts") as conn:
            return read_facts(conn)

    def _nth_oldest(self, group: tuple[str, str], skip: int) -> str | None:
        values = {"severity_0": group[0], "severity_1": group[1], "skip": skip}
        rows = self._run.fetch(self.sql.nth_oldest, values, "find budget cutoff")
        return str(rows[0][0]) if rows else None

    @offered("write", "recount events")
    def recount(self) -> dict[str, int]:
        """Rebuild ``event_counts`` from the events in one transaction, for when something
        bypassed the triggers (a TRUNCATE, or INSERT OR REPLACE without recursive triggers).
        Returns the new counts by type."""
        clear, fill = self.sql.clear_counts, self.sql.fill_counts

        def rebuild(con: Any) -> None:
            # Two recounts at once must not each refill the table the other emptied.
            self.backend.exclude_writers(con, event_counts)
            con.execute(clear.sql, clear.params({}))
            con.execute(fill.sql, fill.params({}))

        self._run.write("recount events", rebuild)
        return self.count_by_type()

    @offered("write", "vacuum")
    def vacuum(self) -> SizeInfo:
        """Give the space of deleted events back to the filesystem; returns the new sizes."""
        self._run.check_writable("vacuum")
        self.backend.vacuum()
        self._record(now_fact(VACUUM_LAST))
        return self.size_bytes()

    @offered("read", "integrity check")
    def integrity_check(self, full: bool = False) -> IntegrityResult:
        """quick_check (``full=False``, daily) or integrity_check plus count check (weekly).

        A store that can write records the result and its time, which ``health`` reports
        (and is degraded by, when it failed or is old) without reading the whole file."""
        result = self.backend.integrity_check(full=full)
        self._record(check_facts(result))
        return result

    @offered("read", "read size")
    def size(self) -> SizeInfo:
        """The store's size: the database, its write-ahead log, and the free space inside."""
        return self.backend.size_info()

    @offered("read", "read volume")
    def volume(self) -> VolumeInfo | None:
        """The filesystem holding the database file (None on a server)."""
        return self.backend.volume()

    @offered("read", "read storage budget")
    def storage_budget(self) -> int | None:
        """The retention policy's size budget in bytes (None: no budget)."""
        return self.retention.max_bytes

    @offered("read", "read size")
    def size_bytes(self) -> SizeInfo:
        """The same as :meth:`size` (the older name)."""
        return self.backend.size_info()

    @offered("finish", "backup")
    def backup(self, dest: str | os.PathLike[str]) -> BackupResult:
        """A consistent, verified online copy at ``dest``, which must not exist yet
        (DestinationExistsError); what crashed backups left in its directory is removed. A
        database of another lineage is copied as it is, whatever its own version numbers."""
        head = None if self.read_model.foreign else HEAD_VERSION
        result = self.backend.backup(checks.path("dest", dest), head_version=head)
        self._record(now_fact(BACKUP_LAST))
        return result

    @offered("finish", "backup snapshot")
    def backup_snapshot(
        self, directory: str | os.PathLike[str], *, keep_days: int = 7
    ) -> BackupResult:
        """A timestamped backup in ``directory`` (a name of its own even when another was
        taken the same second); snapshots older than ``keep_days`` go."""
        result = snapshots.take_snapshot(
            self.backup,
            checks.path("directory", directory),
            now=self.clock(),
            keep_days=keep_days,
        )
        self._record(now_fact(SNAPSHOT_LAST))
        return result
