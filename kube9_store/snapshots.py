"""Daily snapshots kept for a week (the spec's backup strategy)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from kube9_store import checks
from kube9_store.results import BackupResult
from kube9_store.timestamps import to_utc

SNAPSHOT_PREFIX = "kube9-"
SNAPSHOT_PATTERN = re.compile(r"kube9-(\d{8}T\d{6}Z)\.db")
SNAPSHOT_TIME = "%Y%m%dT%H%M%SZ"


def take_snapshot(
    backup: Callable[[Path], BackupResult],
    directory: Path,
    *,
    now: datetime,
    keep_days: int = 7,
) -> BackupResult:
    """Write ``kube9-<UTC time>.db`` into ``directory`` with ``backup``, then prune snapshots
    older than ``keep_days`` (judged by the time in their names, so copies keep their age)."""
    checks.days("keep_days", keep_days)
    at = to_utc(now)
    result = backup(directory / f"{SNAPSHOT_PREFIX}{at.strftime(SNAPSHOT_TIME)}.db")
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
