"""The concurrency workload of tests/test_reliability.py, for minutes instead of seconds:
one writer, four readers and a maintainer (acknowledge, retention, backups) on one file.

    KUBE9_SOAK_SECONDS=300 python -m pytest benchmarks/test_soak.py -s
"""

from __future__ import annotations

import os
from pathlib import Path

from benchmarks.conftest import RESULTS
from kube9_store import EventStore
from tests import workload


def test_soak(tmp_path: Path) -> None:
    seconds = float(os.environ.get("KUBE9_SOAK_SECONDS", "20"))
    path = tmp_path / "kube9.db"
    workload.preload(path)
    (tmp_path / "backups").mkdir()
    out = workload.run(path, tmp_path / "backups", seconds=seconds)
    print(
        f"\nsoak {seconds:.0f}s: {len(out.written)} events written, {out.queries} queries served,"
        f" {out.maintenance}, errors: {len(out.errors)}"
    )
    RESULTS[(f"soak {seconds:.0f}s (counts, not ms)", 0, "sqlite")] = {
        "events written": float(len(out.written)),
        "queries served": float(out.queries),
        "errors": float(len(out.errors)),
    }
    assert out.errors == []
    with EventStore.open(path, metrics=False) as store:
        assert store.count() == len(out.written)
        assert {e.id for e in store.query(limit=None)} >= set(out.written)
        assert store.integrity_check(full=True).ok
