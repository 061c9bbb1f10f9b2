"""Moving history: copy of a whole database SQLite -> SQLite and SQLite -> PostgreSQL, and an
export of every event to a JSON Lines file in a process of its own (its peak RSS measured).

Goals at 1M events: copy into SQLite in 30 s and into PostgreSQL in 40 s; export at 100,000
events per second or more with a peak RSS of 100 MiB at most (the RSS limit holds at every
size, so it is asserted; times are reported beside their goals).
"""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from benchmarks.conftest import PG_URL, RESULTS, record
from benchmarks.datagen import build
from kube9_store.transfer.copy import copy_events

#: The export's memory ceiling (the process: interpreter, libraries, one batch).
MAX_EXPORT_RSS_MIB = 100


def test_copy_sqlite_to_sqlite(benchmark: Any, n: int, tmp_path: Path) -> None:
    benchmark.group = f"copy, {n}"
    source = build(n)
    serial = itertools.count()

    def copy() -> None:
        result = copy_events(source, tmp_path / f"copy-{next(serial)}.db")
        assert result.complete and result.copied == n

    benchmark.pedantic(copy, rounds=1 if n >= 1_000_000 else 3)
    record("copy SQLite → SQLite", n, "api", benchmark)


def test_copy_sqlite_to_postgresql(benchmark: Any, n: int) -> None:
    import psycopg

    from tests.helpers import conninfo, pg_schema

    try:
        psycopg.connect(conninfo(make_url(PG_URL)), connect_timeout=3).close()
    except psycopg.Error as exc:
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {exc}")
    benchmark.group = f"copy, {n}"
    source = build(n)

    def copy() -> None:
        with pg_schema(PG_URL) as url:
            result = copy_events(source, url)
        assert result.complete and result.copied == n

    benchmark.pedantic(copy, rounds=1 if n >= 1_000_000 else 2)
    record("copy SQLite → PostgreSQL", n, "api", benchmark, backend="postgresql")


#: Runs the console script's entry point and, at exit, reports the process's peak resident
#: set (VmHWM: of this program alone, unlike a child's ru_maxrss, which can include the pages
#: of the parent it was forked from).
PEAK_RSS = (
    "import atexit, sys\n"
    "def peak():\n"
    "    with open('/proc/self/status') as f:\n"
    "        sys.stderr.write(next(l for l in f if l.startswith('VmHWM')))\n"
    "atexit.register(peak)\n"
    "from kube9_store.cli import main\n"
    "sys.argv = ['kube9-store', *sys.argv[1:]]\n"
    "main()\n"
)


def test_export_jsonl_to_a_file(benchmark: Any, n: int, tmp_path: Path) -> None:
    """``kube9-store export --output FILE`` as a user runs it, in a process of its own."""
    benchmark.group = f"export, {n}"
    source = build(n)
    target = tmp_path / "events.jsonl"
    peaks: list[int] = []

    def export() -> None:
        args = ["export", "--db", str(source), "--output", str(target), "--quiet"]
        r = subprocess.run(
            [sys.executable, "-c", PEAK_RSS, *args], capture_output=True, text=True, check=False
        )
        assert r.returncode == 0, r.stderr
        peaks.append(int(r.stderr.split()[-2]))  # "VmHWM:   73512 kB"

    benchmark.pedantic(export, rounds=1 if n >= 1_000_000 else 3)
    with target.open("rb") as f:
        assert sum(1 for _ in f) == n
    name = "export JSONL to a file"
    median_ms = record(name, n, "api", benchmark)
    peak_mib = max(peaks) / 1024
    RESULTS[(name, n, "sqlite")]["peak RSS, MiB"] = peak_mib
    RESULTS[(name, n, "sqlite")]["events per second"] = n / (median_ms / 1000)
    assert peak_mib <= MAX_EXPORT_RSS_MIB, f"export peaked at {peak_mib:.0f} MiB"
