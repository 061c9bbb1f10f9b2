"""Migrating a whole database from the spec's V1 to head, and what revision 0003 costs.

The raw side runs the very SQL the revision chain emits (Alembic's offline ``--sql`` output)
on stdlib sqlite3.
"""

from __future__ import annotations

import io
import itertools
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from alembic import command

from benchmarks.conftest import SIZES, record
from benchmarks.datagen import NOW, build
from kube9_store.backends import backend_for
from kube9_store.config import sqlite_url
from kube9_store.events.ids import random_suffix
from kube9_store.events.timestamps import format_timestamp
from kube9_store.operations.admin import upgrade
from kube9_store.schema.migrate import Migrator
from kube9_store.schema.tables import REVISION_PREFIX

INSERT = (
    "INSERT INTO events (id, event_type, severity, title, description, object_kind,"
    " object_namespace, object_name, metadata, created_at, acknowledged)"
    " VALUES (?, 'cluster', 'warning', 'Pod BackOff: web', NULL, 'Pod', 'default', 'web',"
    ' \'{"reason":"BackOff"}\', ?, 0)'
)


def offline_sql(tmp: Path) -> str:
    """The SQL the chain emits for 0001 -> head (schema_version rows included)."""
    backend = backend_for(sqlite_url(tmp / "offline.db"))
    migrator = Migrator(backend)
    cfg = migrator.config()
    buffer = io.StringIO()
    cfg.output_buffer = buffer
    command.upgrade(cfg, f"{REVISION_PREFIX}0001:head", sql=True)
    backend.dispose()
    return buffer.getvalue()


@pytest.mark.parametrize("impl", ["api", "raw"])
def test_migrate_v1_to_head(benchmark: Any, n: int, impl: str, tmp_path: Path) -> None:
    name = "migrate V1 -> V2 -> head"
    benchmark.group = f"{name}, {n}"
    source = build(n, spec_v1=True)
    target = tmp_path / "migrating.db"
    script = offline_sql(tmp_path) if impl == "raw" else ""

    def setup() -> tuple[tuple[()], dict[str, Any]]:
        for suffix in ("", "-wal", "-shm"):
            Path(str(target) + suffix).unlink(missing_ok=True)
        shutil.copyfile(source, target)
        if impl == "raw":
            with sqlite3.connect(target) as con:  # what adoption does before upgrading
                con.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
                con.execute("INSERT INTO alembic_version VALUES (?)", (f"{REVISION_PREFIX}0001",))
        return (), {}

    def api() -> None:
        status = upgrade(str(target))
        assert status.at_head
        assert status.event_count == n

    def raw() -> None:
        con = sqlite3.connect(target, isolation_level=None)
        con.execute("PRAGMA journal_mode = WAL")
        con.executescript(script)
        con.close()

    rounds = 1 if n >= 1_000_000 else 3
    benchmark.pedantic(api if impl == "api" else raw, setup=setup, rounds=rounds)
    record(name, n, impl, benchmark)


@pytest.mark.parametrize("revision", ["0002", "0003"])
def test_revision_0003_cost(benchmark: Any, n: int, revision: str, tmp_path: Path) -> None:
    """Insert time and file size with the spec's indexes (V2) and with revision 0003."""
    benchmark.group = f"revision 0003 cost: insert one, {n}"
    path = tmp_path / f"{revision}.db"
    shutil.copyfile(build(n, revision=revision), path)
    size = path.stat().st_size / n
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("PRAGMA synchronous = NORMAL")
    stamp = format_timestamp(NOW)
    counter = itertools.count()

    def insert() -> None:
        next(counter)
        con.execute("BEGIN IMMEDIATE")
        con.execute(INSERT, (f"evt_20260115_120000_{random_suffix()}", stamp))
        con.execute("COMMIT")

    benchmark(insert)
    con.close()
    label = "spec indexes (V2)" if revision == "0002" else "revision 0003"
    record("insert one (raw sqlite3)", n, label, benchmark)
    SIZES[f"{n} events, {label}"] = size
    benchmark.extra_info["bytes_per_event"] = size
