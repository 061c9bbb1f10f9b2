"""The read commands as the kube9 VS Code extension meets them: each a whole process (start-up,
imports, opening, the query, the output), beside the floor, a plain Python script that opens
the same file with the standard library's sqlite3 and prints the same 50 rows as JSON.

Runs are paired (the command and the floor alternate, each run timed alone), so both see the
same machine state; the ratio is the command's median run over the floor's. The peak memory of
a command is its process's maximum resident set (``getrusage(RUSAGE_CHILDREN)`` of a process
that runs only that command). The commands the CLI's lean read path answers must stay within
``FLOOR_RATIO_GOAL`` of the floor (but ``RATIO_REPORTED_ONLY``) and within ``PEAK_MIB_GOAL``;
the others are reported.

    python -m pytest benchmarks/test_cli_reads.py --scale 100k    # what CI runs
    python -m pytest benchmarks/test_cli_reads.py --scale 1m
"""

from __future__ import annotations

import itertools
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from benchmarks.conftest import record, record_ratio
from benchmarks.datagen import build

BIN = Path(sys.executable).parent
EXE = shutil.which("kube9-store", path=str(BIN))
#: The issue's goals for a read answered by the lean path.
FLOOR_RATIO_GOAL = 6.0
PEAK_MIB_GOAL = 50.0
#: Lean reads whose ratio is reported, not held to the goal: ``health --full`` runs
#: quick_check, which reads the whole file, so its time grows with the file (``health``
#: itself reads a bounded part of it and is held to the goal).
RATIO_REPORTED_ONLY = frozenset({"CLI: health --full"})

#: The floor: the newest 50 events as JSON, by the index the store reads them by.
FLOOR = """
import json, sqlite3, sys
con = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
cur = con.execute(
    "SELECT * FROM events ORDER BY CAST(strftime('%s', created_at) AS INTEGER) * 1000"
    " + CAST(substr(created_at, 21, 3) AS INTEGER) DESC, rowid DESC LIMIT 50"
)
names = [d[0] for d in cur.description]
print(json.dumps([dict(zip(names, row)) for row in cur], indent=2, ensure_ascii=False))
"""

#: Measures one command's peak resident memory: the only child of this process.
PEAK = """
import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""

#: (name, arguments, whether the lean path answers it). The extension's own call first.
COMMANDS: list[tuple[str, list[str], bool]] = [
    (
        "CLI: query events list --limit 50 --format json",
        ["query", "events", "list", "--limit", "50", "--format", "json"],
        True,
    ),
    (
        "CLI: query events list, the extension's filters",
        [
            "kube9-operator",
            "query",
            "events",
            "list",
            "--object-namespace=default",
            "--since=2026-01-10T00:00:00.000Z",
            "--object-kind=Pod",
            "--limit=25",
            "--format=json",
        ],
        True,
    ),
    (
        "CLI: query events list --format table",
        ["query", "events", "list", "--format", "table"],
        True,
    ),
    ("CLI: query events get", ["query", "events", "get", "EVENT_ID"], True),
    ("CLI: events count", ["events", "count"], True),
    (
        "CLI: events count --type cluster --since 7d",
        ["events", "count", "--type", "cluster", "--since", "2026-01-08"],
        True,
    ),
    ("CLI: db status", ["db", "status"], True),
    ("CLI: health", ["health"], True),
    ("CLI: health --full", ["health", "--full"], True),
    ("CLI: --help", ["--help"], False),
]


@pytest.fixture(scope="module")
def reads_db(n: int, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, Path]:
    """A private copy of the cached database of n events, a stored event's id, and a
    directory whose ``kube9-operator`` links to the console script (as an image makes it)."""
    import sqlite3

    directory = tmp_path_factory.mktemp(f"cli-reads-{n}")
    db = directory / "kube9.db"
    shutil.copyfile(build(n), db)
    con = sqlite3.connect(db)
    try:
        (event_id,) = con.execute("SELECT id FROM events WHERE rowid = ?", (n // 2,)).fetchone()
    finally:
        con.close()
    assert EXE is not None
    bin_dir = directory / "bin"
    bin_dir.mkdir()
    (bin_dir / "kube9-operator").symlink_to(EXE)
    return db, event_id, bin_dir


def _argv(args: list[str], db: Path, event_id: str, bin_dir: Path) -> list[str]:
    assert EXE is not None
    args = [event_id if a == "EVENT_ID" else a for a in args]
    if args[0] == "kube9-operator":
        return [str(bin_dir / "kube9-operator"), *args[1:], "--db", str(db)]
    if args == ["--help"]:
        return [EXE, *args]
    return [EXE, *args, "--db", str(db)]


def _run(argv: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, check=False)
    spent = time.perf_counter() - started
    assert done.returncode == 0, done.stderr
    assert done.stdout
    return spent


def peak_mib(argv: list[str]) -> float:
    """The process's maximum resident set, MiB (Linux reports KiB)."""
    done = subprocess.run(
        [sys.executable, "-c", PEAK, *argv], capture_output=True, text=True, check=True
    )
    return int(done.stdout) / 1024


@pytest.mark.parametrize(
    ("name", "args", "lean"), COMMANDS, ids=[c[0].removeprefix("CLI: ") for c in COMMANDS]
)
def test_read_command_beside_the_floor(
    benchmark: Any,
    n: int,
    reads_db: tuple[Path, str, Path],
    name: str,
    args: list[str],
    lean: bool,
) -> None:
    db, event_id, bin_dir = reads_db
    argv = _argv(args, db, event_id, bin_dir)
    floor = [sys.executable, "-c", FLOOR, str(db)]
    times: dict[str, list[float]] = {"command": [], "floor": []}
    order = itertools.cycle([("command", "floor"), ("floor", "command")])

    def one_round() -> None:
        for side in next(order):
            times[side].append(_run(argv if side == "command" else floor))

    for side in (argv, floor):  # the file and the interpreter in the page cache
        _run(side)
    benchmark.group = f"{name} ({n} events)"
    benchmark.pedantic(one_round, rounds=11, iterations=1)
    command_ms = statistics.median(times["command"]) * 1000
    floor_ms = statistics.median(times["floor"]) * 1000
    ratio = record_ratio(f"{name} / floor", n, "sqlite", command_ms, floor_ms)
    record(name, n, "api", benchmark)
    peak = peak_mib(argv)
    benchmark.extra_info.update(
        {"command_ms": command_ms, "floor_ms": floor_ms, "ratio": ratio, "peak_mib": peak}
    )
    print(
        f"\n{name} at {n} events: {command_ms:.1f} ms, floor {floor_ms:.1f} ms, "
        f"{ratio:.2f}x the floor, peak {peak:.1f} MiB"
    )
    if lean:
        assert peak <= PEAK_MIB_GOAL, f"{name}: peak {peak:.1f} MiB"
        if name not in RATIO_REPORTED_ONLY:
            assert ratio <= FLOOR_RATIO_GOAL, f"{name}: {ratio:.2f}x the floor"
