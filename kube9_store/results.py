"""What maintenance operations return: plain, backend-neutral records with ``as_dict()`` for
the CLI's JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from kube9_store.events.timestamps import format_timestamp, parse_timestamp, utcnow


@dataclass(frozen=True)
class SizeInfo:
    """How much room the store takes, in bytes.

    ``database_bytes``: the data and indexes (SQLite: page_count x page_size; PostgreSQL: the
    store's tables with their indexes and TOAST). ``wal_bytes``: the write-ahead log kept beside
    the file (SQLite only; 0 on a server, whose WAL is shared by every database).
    ``free_bytes``: space inside ``database_bytes`` that holds no data and is reused by new
    writes (SQLite's free pages; 0 where the backend does not say).
    """

    database_bytes: int
    wal_bytes: int
    free_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.database_bytes + self.wal_bytes

    def as_dict(self) -> dict[str, int]:
        return {
            "database_bytes": self.database_bytes,
            "wal_bytes": self.wal_bytes,
            "free_bytes": self.free_bytes,
            "total_bytes": self.total_bytes,
        }


@dataclass(frozen=True)
class VolumeInfo:
    """The filesystem that holds a database file: its size and free space, in bytes."""

    path: Path
    total_bytes: int
    free_bytes: int

    @property
    def used_share(self) -> float:
        """How full the filesystem is, 0..1."""
        return 1 - self.free_bytes / self.total_bytes if self.total_bytes else 1.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "total_bytes": self.total_bytes,
            "free_bytes": self.free_bytes,
            "used_percent": round(100 * self.used_share, 1),
        }


@dataclass(frozen=True)
class IntegrityResult:
    """``ok`` when the database found nothing wrong (and the event counts match the events)."""

    ok: bool
    problems: list[str]
    full: bool

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "problems": self.problems, "full": self.full}


@dataclass(frozen=True)
class BackupResult:
    """A verified backup: where, how big, what it holds, how long it took."""

    path: Path
    bytes: int
    events: int
    schema_version: int
    seconds: float
    pruned: list[Path] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "bytes": self.bytes,
            "events": self.events,
            "schema_version": self.schema_version,
            "seconds": round(self.seconds, 3),
            "pruned": [str(p) for p in self.pruned],
        }


@dataclass
class RetentionResult:
    """What a run deleted (or, dry, would delete), per severity, and how long it took.

    ``by_severity``: what the age rules removed; ``budget_by_severity``: what the size budget
    removed on top (empty without a budget or within it; a dry run's is an estimate).
    ``vacuum_skipped``: why the VACUUM that was due did not run (not enough free space).
    """

    by_severity: dict[str, int]
    cutoffs: dict[str, str]
    seconds: float
    batches: int
    dry_run: bool = False
    vacuumed: bool = False
    finished_at: str = field(default_factory=lambda: format_timestamp(utcnow()))
    budget_by_severity: dict[str, int] = field(default_factory=dict)
    budget_bytes: int | None = None
    vacuum_skipped: str | None = None

    @property
    def deleted_by_age(self) -> int:
        return sum(self.by_severity.values())

    @property
    def deleted_by_budget(self) -> int:
        return sum(self.budget_by_severity.values())

    @property
    def deleted(self) -> int:
        return self.deleted_by_age + self.deleted_by_budget

    @property
    def finished(self) -> datetime:
        """``finished_at`` as an aware datetime in UTC."""
        return parse_timestamp(self.finished_at)

    def as_dict(self) -> dict[str, Any]:
        return {
            "deleted": self.deleted,
            "deleted_by_age": self.deleted_by_age,
            "deleted_by_budget": self.deleted_by_budget,
            "budget_by_severity": self.budget_by_severity,
            "budget_bytes": self.budget_bytes,
            "vacuum_skipped": self.vacuum_skipped,
            "by_severity": self.by_severity,
            "cutoffs": self.cutoffs,
            "seconds": round(self.seconds, 4),
            "batches": self.batches,
            "dry_run": self.dry_run,
            "vacuumed": self.vacuumed,
        }


@dataclass(frozen=True)
class DatabaseStatus:
    """Where a database is on the chain, and how big it is."""

    database: str
    schema_version: int | None
    revision: str | None
    head_revision: str
    head_schema_version: int
    at_head: bool
    event_count: int | None
    database_bytes: int | None
    wal_bytes: int | None
    #: Volume, bytes per event, free pages, projection and budget (at head only).
    capacity: dict[str, Any] | None = None
    #: ``kube9_store`` (this package's, possibly behind head), ``other`` (another program's
    #: lineage, read-only), or None (no event database, or one that cannot be read).
    lineage: str | None = None
    #: What the database is when it is not at head, and what to do about it.
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
