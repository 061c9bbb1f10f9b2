"""The asyncio store's coroutines, generated from the store's methods marked
``@offered``. Do not edit: ``python -m kube9_store.aio.codegen`` writes this file (see
:mod:`kube9_store.store.surface`), and a test fails while it is stale.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, overload

from kube9_store.aio.workers import AsyncWorkers
from kube9_store.events.event import Event
from kube9_store.events.mappings import NewEventDict
from kube9_store.events.models import EventFilter, NewEvent
from kube9_store.operations.retention import VACUUM_FREE_SHARE, RetentionPolicy
from kube9_store.results import BackupResult, IntegrityResult, RetentionResult, SizeInfo, VolumeInfo
from kube9_store.store.eventstore import EventStore
from kube9_store.store.filters import Page


class AsyncStoreMethods(AsyncWorkers):
    """Every offered method of the store, as a coroutine."""

    store: EventStore

    async def record(self, event: NewEvent | NewEventDict) -> Event:
        """Validate, redact and store one event; return it as stored once it is committed."""
        return await self._grouped("record event", self.store._record_each, event)

    @overload
    async def record_many(
        self,
        batch: Iterable[NewEvent | NewEventDict],
        *,
        skip_existing: bool = False,
        return_events: Literal[True] = True,
    ) -> list[Event]: ...

    @overload
    async def record_many(
        self,
        batch: Iterable[NewEvent | NewEventDict],
        *,
        skip_existing: bool = False,
        return_events: Literal[False],
    ) -> list[str]: ...

    async def record_many(
        self,
        batch: Iterable[NewEvent | NewEventDict],
        *,
        skip_existing: bool = False,
        return_events: bool = True,
    ) -> list[Event] | list[str]:
        """Store a batch in one transaction: every event or none of them."""
        return await self._write(
            "record events",
            self.store.record_many,  # type: ignore[arg-type]
            batch,
            skip_existing=skip_existing,
            return_events=return_events,
        )

    async def acknowledge(
        self, event_id: str, acknowledged: bool = True, *, missing_ok: bool = True
    ) -> bool:
        """Mark an event (un)acknowledged; False when no event has that id (or, with
        ``missing_ok=False``, EventNotFoundError)."""
        return await self._write(
            "acknowledge event",
            self.store.acknowledge,
            event_id,
            acknowledged,
            missing_ok=missing_ok,
        )

    async def acknowledge_many(self, event_ids: Iterable[str], acknowledged: bool = True) -> int:
        """Mark every event whose id is given (un)acknowledged in one transaction (one statement per
        500 ids); returns how many of the ids are stored events."""
        return await self._write(
            "acknowledge events", self.store.acknowledge_many, event_ids, acknowledged
        )

    async def acknowledge_matching(
        self, flt: EventFilter | Mapping[str, Any], acknowledged: bool = True
    ) -> int:
        """Mark every event matching ``flt`` (un)acknowledged in one statement; returns how many
        matched. An empty filter matches every event."""
        return await self._write(
            "acknowledge events", self.store.acknowledge_matching, flt, acknowledged
        )

    async def get(self, event_id: str) -> Event | None:
        """The event with this id, or None."""
        return await self._read("get event", self.store.get, event_id)

    async def query(
        self,
        flt: EventFilter | Mapping[str, Any] | None = None,
        limit: int | None = 50,
        offset: int = 0,
        *,
        cursor: str | None = None,
    ) -> list[Event]:
        """Matching events, newest first, one page (equal instants: newest stored first on SQLite,
        by id descending on PostgreSQL): at most ``limit`` events, 50 unless given."""
        return await self._read("query events", self.store.query, flt, limit, offset, cursor=cursor)

    async def page(
        self,
        flt: EventFilter | Mapping[str, Any] | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """One keyset page and the cursor of the next (None when this is the last)."""
        return await self._read("page events", self.store.page, flt, limit, cursor)

    async def count(self, flt: EventFilter | Mapping[str, Any] | None = None) -> int:
        """How many events match. No filter, or one on type and severity alone, is answered from the
        trigger-maintained counts without reading the events."""
        return await self._read("count events", self.store.count, flt)

    async def count_by(
        self, fields: str | Sequence[str], flt: EventFilter | Mapping[str, Any] | None = None
    ) -> dict[Any, int]:
        """How many events match ``flt``, per group of ``fields`` (``type``, ``severity``, ``kind``,
        ``namespace``, ``object``; see :mod:`kube9_store.store.grouping`), exact, the largest groups
        first. One field gives its values as keys; a sequence gives tuples, a value per field.
        Groups with no event are left out."""
        return await self._read("count events", self.store.count_by, fields, flt)

    async def count_by_type(self) -> dict[str, int]:
        """Events per event_type (types with none are left out)."""
        return await self._read("count events", self.store.count_by_type)

    async def count_by_severity(self) -> dict[str, int]:
        """Events per severity (severities with none are left out)."""
        return await self._read("count events", self.store.count_by_severity)

    async def counts_by_type_and_severity(self) -> dict[tuple[str, str], int]:
        """Events per (event_type, severity), from the trigger-maintained counts."""
        return await self._read("count events", self.store.counts_by_type_and_severity)

    async def schema_version(self) -> int:
        """The schema version recorded in the spec's schema_version table."""
        return await self._read("read schema version", self.store.schema_version)

    async def apply_retention(
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
        when the policy has a size budget and the used space exceeds it, the oldest events (info and
        warning first) down to the budget's low watermark."""
        return await self._write(
            "apply retention",
            self.store.apply_retention,
            now,
            policy=policy,
            batch_size=batch_size,
            dry_run=dry_run,
            vacuum_free_share=vacuum_free_share,
            progress=progress,
        )

    async def maintenance_facts(self) -> dict[str, float]:
        """The durable facts of maintenance recorded in the database, by name (see
        :mod:`kube9_store.operations.state`); none in a database behind head."""
        return await self._read("read maintenance facts", self.store.maintenance_facts)

    async def recount(self) -> dict[str, int]:
        """Rebuild ``event_counts`` from the events in one transaction, for when something bypassed
        the triggers (a TRUNCATE, or INSERT OR REPLACE without recursive triggers). Returns the new
        counts by type."""
        return await self._write("recount events", self.store.recount)

    async def vacuum(self) -> SizeInfo:
        """Give the space of deleted events back to the filesystem; returns the new sizes."""
        return await self._write("vacuum", self.store.vacuum)

    async def integrity_check(self, full: bool = False) -> IntegrityResult:
        """quick_check (``full=False``, daily) or integrity_check plus count check (weekly)."""
        return await self._read("integrity check", self.store.integrity_check, full)

    async def size(self) -> SizeInfo:
        """The store's size: the database, its write-ahead log, and the free space inside."""
        return await self._read("read size", self.store.size)

    async def volume(self) -> VolumeInfo | None:
        """The filesystem holding the database file (None on a server)."""
        return await self._read("read volume", self.store.volume)

    async def storage_budget(self) -> int | None:
        """The retention policy's size budget in bytes (None: no budget)."""
        return await self._read("read storage budget", self.store.storage_budget)

    async def size_bytes(self) -> SizeInfo:
        """The same as :meth:`size` (the older name)."""
        return await self._read("read size", self.store.size_bytes)

    async def backup(self, dest: str | os.PathLike[str]) -> BackupResult:
        """A consistent, verified online copy at ``dest``, which must not exist yet
        (DestinationExistsError); what crashed backups left in its directory is removed. A database
        of another lineage is copied as it is, whatever its own version numbers."""
        return await self._finish("backup", self.store.backup, dest)

    async def backup_snapshot(
        self, directory: str | os.PathLike[str], *, keep_days: int = 7
    ) -> BackupResult:
        """A timestamped backup in ``directory`` (a name of its own even when another was taken the
        same second); snapshots older than ``keep_days`` go."""
        return await self._finish(
            "backup snapshot", self.store.backup_snapshot, directory, keep_days=keep_days
        )
