"""Killing a child process at chosen points of an operation.

A *point* is the start of any SQL statement SQLite runs in the child (its trace callback, so the
statements of migrations, triggers and PRAGMAs count too) or a file-system step the package
takes (rename, replace, link, unlink, fsync). A counting run lists the points of an operation;
each kill run forks a child that dies by SIGKILL just before point K, or after a random delay.
The child reports what its writes returned through a pipe, so the parent knows what must
survive."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import random
import signal
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

FORK = multiprocessing.get_context("fork")

#: File-system calls that count as kill points.
FILE_CALLS = ("rename", "replace", "link", "unlink", "fsync")

#: Called in the child with a function that reports returned ids to the parent.
Operation = Callable[[Callable[[list[str]], None]], None]


def _arm(kill_at: int | None, labels: list[str]) -> None:
    """Count (and, at ``kill_at``, die at) every statement start and file step from now on."""

    def tick(label: str) -> None:
        labels.append(label)
        if kill_at is not None and len(labels) >= kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    real_connect = sqlite3.connect

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        con = real_connect(*args, **kwargs)
        con.set_trace_callback(lambda sql: tick("sql " + " ".join(sql.split())[:60]))
        return con

    sqlite3.connect = connect  # type: ignore[assignment]
    sqlite3.dbapi2.connect = connect  # type: ignore[assignment]  # what SQLAlchemy calls
    for name in FILE_CALLS:
        real = getattr(os, name)

        def step(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            tick("os." + _name)
            return _real(*args, **kwargs)

        setattr(os, name, step)


def _child(operation: Operation, kill_at: int | None, conn: Any) -> None:
    labels: list[str] = []

    def report(ids: list[str]) -> None:
        conn.send(("returned", ids))

    _arm(kill_at, labels)
    operation(report)
    conn.send(("points", labels))
    conn.close()
    os._exit(0)


@dataclass
class Run:
    """What one child did before it finished or was killed."""

    returned: set[str] = field(default_factory=set)
    points: list[str] | None = None  # the labels of every point, when it finished
    killed: bool = False


def run_child(
    operation: Operation, *, kill_at: int | None = None, delay: float | None = None
) -> Run:
    """Run ``operation`` in a forked child; kill it before point ``kill_at`` or after ``delay``
    seconds (whichever comes first), and collect what it reported."""
    parent, child = FORK.Pipe(duplex=False)
    proc = FORK.Process(target=_child, args=(operation, kill_at, child))
    proc.start()
    child.close()
    run = Run()
    if delay is not None:
        time.sleep(delay)
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)  # type: ignore[arg-type]
    proc.join(120)
    if proc.is_alive():
        os.kill(proc.pid, signal.SIGKILL)  # type: ignore[arg-type]
        proc.join(10)
        raise AssertionError("the child hung")
    with contextlib.suppress(EOFError, OSError):
        while parent.poll(0):
            kind, value = parent.recv()
            if kind == "returned":
                run.returned.update(value)
            else:
                run.points = value
    parent.close()
    run.killed = proc.exitcode == -signal.SIGKILL
    if not run.killed and proc.exitcode != 0:
        raise AssertionError(f"the child failed with exit code {proc.exitcode}")
    return run


def choose_points(labels: list[str], budget: int | None, rnd: random.Random) -> list[int]:
    """Kill points (1-based) to test: all of them when ``budget`` is None, else every file
    step plus an even spread of statements, ``budget`` points at most."""
    everything = list(range(1, len(labels) + 1))
    if budget is None or budget >= len(everything):
        return everything
    files = [i for i in everything if labels[i - 1].startswith("os.")]
    chosen = set(files[:budget])
    rest = [i for i in everything if i not in chosen]
    room = budget - len(chosen)
    if room > 0 and rest:
        step = len(rest) / room
        chosen.update(rest[int(k * step)] for k in range(room))
    return sorted(chosen)


#: Per operation: (points it has, points tested, random moments tested), for the run's summary.
TESTED: dict[str, tuple[int, int, int]] = {}


def record_tested(operation: str, points: int, tested: int, randoms: int) -> None:
    TESTED[operation] = (points, tested, randoms)


def summary() -> list[str]:
    return [
        f"{name}: {tested} of {points} kill points, plus {randoms} random moments"
        for name, (points, tested, randoms) in sorted(TESTED.items())
    ]
