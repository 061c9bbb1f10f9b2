"""``query events list --follow``: the time from a write committed by another process to its
line on the follower's stdout, and the follower's CPU while nothing is written.

    python -m pytest benchmarks/test_follow.py -s
"""

from __future__ import annotations

import itertools
import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kube9_store import EventStore

REPO = Path(__file__).resolve().parent.parent
IDLE_SECONDS = 10.0


@pytest.fixture
def follower(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    db = tmp_path / "follow.db"
    EventStore.open(db, metrics=False).close()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kube9_store",
            "query",
            "events",
            "list",
            "--follow",
            "--db",
            str(db),
            "--format",
            "json",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        bufsize=0,
    )
    try:
        time.sleep(3)  # past its start
        yield proc, db
    finally:
        proc.send_signal(2)
        proc.wait(timeout=30)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_follow_latency_and_idle_cpu(
    benchmark: Any, follower: tuple[subprocess.Popen[bytes], Path]
) -> None:
    proc, db = follower
    assert proc.stdout is not None
    before, started = _cpu_seconds(proc.pid), time.monotonic()
    time.sleep(IDLE_SECONDS)
    idle = (_cpu_seconds(proc.pid) - before) / (time.monotonic() - started)
    numbers = itertools.count()
    writer = EventStore.open(db, metrics=False)

    def one() -> None:
        n = next(numbers)
        writer.record({"event_type": "cluster", "severity": "info", "title": f"n{n}"})
        ready, _, _ = select.select([proc.stdout], [], [], 5)
        assert ready
        assert json.loads(proc.stdout.readline())["title"] == f"n{n}"

    try:
        # between writes, a pause that is no multiple of the poll interval
        benchmark.pedantic(one, setup=lambda: time.sleep(0.37), rounds=20, iterations=1)
    finally:
        writer.close()
    benchmark.extra_info["idle_cpu_percent"] = round(idle * 100, 2)
    print(f"\nfollow: idle CPU {idle * 100:.2f}% over {IDLE_SECONDS:.0f}s")
    assert benchmark.stats.stats.max < 1.0  # within a second, every time
