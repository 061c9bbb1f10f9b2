"""Daily snapshots kept for a week (the spec's backup strategy)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from kube9_store import checks
from kube9_store.errors import DestinationExistsError
from kube9_store.events.timestamps import to_utc
from kube9_store.results import BackupResult

SNAPSHOT_PREFIX = "kube9-"
SNAPSHOT_PATTERN = re.compile(r"kube9-(\d{8}T\d{6}Z)(?:-\d+)?\.db")
SNAPSHOT_TIME = "%Y%m%dT%H%M%SZ"
#: How many names one second offers (``kube9-<time>.db``, then ``-2`` ...).
SAME_SECOND_NAMES = 1000


def take_snapshot(
    backup: Callable[[Path], BackupResult],
    directory: Path,
    *,
    now: datetime,
    keep_days: int = 7,
) -> BackupResult:
    """Write ``kube9-<UTC time>.db`` into ``directory`` with ``backup`` (``kube9-<time>-2.db``
    and so on when a snapshot of that second exists), then prune snapshots older than
    ``keep_days`` (judged by the time in their names, so copies keep their age)."""
    checks.days("keep_days", keep_days)
    at = to_utc(now)
    result = _backup_under_a_free_name(backup, directory, at.strftime(SNAPSHOT_TIME))
    cutoff = at - timedelta(days=keep_days)
    pruned = []
    for path in sorted(directory.iterdir()):
        match = SNAPSHOT_PATTERN.fullmatch(path.name)
        if match is None or path == result.path:
            continue
        taken = to_utc(datetime.strptime(match.group(1), SNAPSHOT_TIME))
        if taken < cutoff:
            path.unlink()
            pruned.append(path)
    return replace(result, pruned=pruned)


def _backup_under_a_free_name(
    backup: Callable[[Path], BackupResult], directory: Path, stamp: str
) -> BackupResult:
    """The backup never replaces a file, so a name taken meanwhile just means the next one."""
    for n in range(1, SAME_SECOND_NAMES):
        try:
            return backup(directory / _name(stamp, n))
        except DestinationExistsError:
            continue
    return backup(directory / _name(stamp, SAME_SECOND_NAMES))


def _name(stamp: str, n: int) -> str:
    return f"{SNAPSHOT_PREFIX}{stamp}{'' if n == 1 else f'-{n}'}.db"
