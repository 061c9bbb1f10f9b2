"""A verified online backup of the whole database (backup API, fsync, integrity_check, rename)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from benchmarks.conftest import record
from benchmarks.datagen import working_copy
from kube9_store import EventStore


def test_backup_whole_database(benchmark: Any, n: int, tmp_path: Path) -> None:
    benchmark.group = f"backup, {n}"
    source = working_copy(n, tmp_path)
    serial = itertools.count()
    with EventStore.open(source, metrics=False) as store:

        def backup() -> None:
            result = store.backup(tmp_path / f"backup-{next(serial)}.db")
            assert result.events == n

        benchmark.pedantic(backup, rounds=1 if n >= 1_000_000 else 3)
    record("backup (online, verified)", n, "api", benchmark)
