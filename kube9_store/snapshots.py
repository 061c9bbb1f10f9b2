"""Daily snapshots kept for a week (the spec's backup strategy), and restore done safely."""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.engine import URL

from kube9_store.backends import sqlite_maintenance as maintenance
from kube9_store.backends.sqlite_maintenance import BackupResult
from kube9_store.config import sqlite_file
from kube9_store.errors import Kube9StoreError, ValidationError
from kube9_store.schema import HEAD_VERSION
from kube9_store.timestamps import to_utc

if TYPE_CHECKING:
    from kube9_store.store import EventStore

S = TypeVar("S", bound="EventStore")

SNAPSHOT_PREFIX = "kube9-"
SNAPSHOT_PATTERN = re.compile(r"kube9-(\d{8}T\d{6}Z)\.db")
SNAPSHOT_TIME = "%Y%m%dT%H%M%SZ"


def take_snapshot(store: EventStore, directory: Path, *, keep_days: int = 7) -> BackupResult:
    """Write ``kube9-<UTC time>.db`` into ``directory``, then prune snapshots older than
    ``keep_days`` (judged by the time in their names, so copies keep their age)."""
    if isinstance(keep_days, bool) or not isinstance(keep_days, int) or keep_days < 1:
        raise ValidationError.single("keep_days", f"must be an integer >= 1, got {keep_days!r}")
    now = to_utc(store.clock())
    result = store.backup(directory / f"{SNAPSHOT_PREFIX}{now.strftime(SNAPSHOT_TIME)}.db")
    cutoff = now - timedelta(days=keep_days)
    pruned = []
    for path in sorted(directory.iterdir()):
        match = SNAPSHOT_PATTERN.fullmatch(path.name)
        if match is None or path == result.path:
            continue
        taken = to_utc(_parse_snapshot_time(match.group(1)))
        if taken < cutoff:
            path.unlink()
            pruned.append(path)
    return replace(result, pruned=pruned)


def _parse_snapshot_time(text: str) -> datetime:
    return datetime.strptime(text, SNAPSHOT_TIME)


def restore(store_cls: type[S], backup_path: Path, url: URL, **open_kwargs: Any) -> S:
    """Verify, swap in atomically, reopen (migrating if behind); undo the swap on failure."""
    db_path = sqlite_file(url)
    if db_path is None:
        raise Kube9StoreError("restore is for SQLite database files; use pg_restore on a server")
    if not backup_path.is_file():
        raise ValidationError.single("backup_path", f"{backup_path} is not a file")
    aside = maintenance.restore(backup_path, db_path, head_version=HEAD_VERSION)
    try:
        return store_cls.open(url, **open_kwargs)
    except BaseException:
        if aside is not None:
            for current, kept in (
                (db_path, aside),
                (maintenance.wal_path(db_path), maintenance.wal_path(aside)),
                (maintenance.shm_path(db_path), maintenance.shm_path(aside)),
            ):
                if kept.exists():
                    os.replace(kept, current)
                else:
                    with contextlib.suppress(FileNotFoundError):
                        current.unlink()
        raise
