"""``query events list --follow``: new events from another process appear within a second,
filtered and formatted as asked; Ctrl-C and a closed pipe end it quietly."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import pytest

from kube9_store import EventStore
from kube9_store.cli.exit_codes import ExitCode
from tests.helpers import event_data

#: Followers and writers in processes of their own: the slow suite
#: (``pytest -m slow``), which CI runs.
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent


def _default_sigint() -> None:
    """In the child: Ctrl-C as a terminal delivers it, even when the test run itself was
    started in the background (where a shell ignores SIGINT, and children inherit that)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _follow(db: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
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
            *args,
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,  # unbuffered: select() sees every line not yet read
        preexec_fn=_default_sigint,
    )


def _line(stream: IO[bytes], timeout: float) -> bytes:
    """The next line of ``stream``, or b"" when none comes within ``timeout`` seconds."""
    ready, _, _ = select.select([stream], [], [], timeout)
    return stream.readline() if ready else b""


def _interrupt(proc: subprocess.Popen[bytes]) -> int:
    """Ctrl-C, and the exit code; a process that does not stop is killed so that the test's
    own failure, if any, is the one reported."""
    proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError("the follow process did not stop on Ctrl-C") from None


def _record_elsewhere(db: Path, **fields: str) -> None:
    """Record one event from another process (a writer of its own)."""
    code = (
        "import sys, json; from kube9_store import EventStore\n"
        "with EventStore.open(sys.argv[1], metrics=False) as s: s.record(json.loads(sys.argv[2]))"
    )
    subprocess.run(
        [sys.executable, "-c", code, str(db), json.dumps(event_data(**fields))],
        cwd=REPO,
        check=True,
    )


def test_new_events_of_another_process_appear_filtered_within_a_second(db_path: Path) -> None:
    with EventStore.open(db_path, metrics=False) as store:
        store.record(event_data(title="before", event_type="cluster"))
    proc = _follow(db_path, "--type", "cluster", "--format", "json", "--limit", "5")
    assert proc.stdout is not None and proc.stderr is not None
    try:
        assert json.loads(_line(proc.stdout, 10))["title"] == "before"
        _record_elsewhere(db_path, title="not shown", event_type="operator")
        _record_elsewhere(
            db_path, title="older clock", event_type="cluster", created_at="2020-01-01T00:00:00Z"
        )
        line = _line(proc.stdout, 10)  # how soon is measured in benchmarks/test_follow.py
        assert json.loads(line)["title"] == "older clock"  # stored order, whatever its time
        _record_elsewhere(db_path, title="after", event_type="cluster")
        assert json.loads(_line(proc.stdout, 10))["title"] == "after"
        assert _line(proc.stdout, 0.6) == b""
    finally:
        code = _interrupt(proc)
    assert code in (ExitCode.OK, ExitCode.INTERRUPTED)
    assert b"Traceback" not in proc.stderr.read()


@pytest.mark.parametrize("fmt", ["table", "csv", "yaml"])
def test_other_formats_print_one_header_then_rows(db_path: Path, fmt: str) -> None:
    with EventStore.open(db_path, metrics=False) as store:
        store.record(event_data(title="first"))
    proc = _follow(db_path, "--format", fmt)
    assert proc.stdout is not None and proc.stderr is not None
    try:
        first = [_line(proc.stdout, 10) for _ in range(2)]
        _record_elsewhere(
            db_path,
            title="second",
            object_kind="Pod",
            object_name="web-0",
            object_namespace="default",
        )
        lines = b"".join(first) + b"".join(iter(lambda: _line(proc.stdout, 2), b""))
    finally:
        _interrupt(proc)
    text = lines.decode()
    assert "first" in text and "second" in text
    if fmt == "table":
        assert text.count("TITLE") == 1 and "Pod/web-0" in text
    elif fmt == "csv":
        assert text.count("id,event_type") == 1
    else:
        assert text.count("---") == 2
    assert b"Traceback" not in proc.stderr.read()


def test_a_closed_pipe_ends_the_follow_quietly(db_path: Path) -> None:
    with EventStore.open(db_path, metrics=False) as store:
        store.record_many([event_data(title=f"e{i}") for i in range(3)])
    started = time.monotonic()
    r = subprocess.run(
        f"{sys.executable} -m kube9_store query events list --follow --db {db_path} | head -1",
        shell=True,
        cwd=REPO,
        capture_output=True,
        timeout=20,
        env={**os.environ, "PYTHONUNBUFFERED": "0"},
    )
    assert time.monotonic() - started < 15
    assert r.stdout.count(b"\n") == 1
    assert b"Traceback" not in r.stderr and b"Exception" not in r.stderr, r.stderr


def test_follow_refuses_paging(db_path: Path) -> None:
    EventStore.open(db_path, metrics=False).close()
    proc = _follow(db_path, "--offset", "3")
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == ExitCode.ERROR
    assert json.loads(err)["details"].startswith("--follow")


def test_the_reader_of_new_events_on_every_backend(store: EventStore) -> None:
    from kube9_store.cli.follow import _NewEvents
    from kube9_store.events.models import EventFilter

    store.record(event_data(title="old", event_type="cluster"))
    reader = _NewEvents(store, EventFilter.parse({"event_type": ["cluster"]}))
    assert reader.next_batch() == []
    store.record(event_data(title="skipped", event_type="operator"))
    store.record_many(event_data(title=f"n{i}", event_type="cluster") for i in range(3))
    # (equal instants on PostgreSQL come in id order, as the store orders them)
    assert sorted(e.title for e in reader.next_batch()) == ["n0", "n1", "n2"]
    assert reader.next_batch() == []
    store.record(event_data(title="n3", event_type="cluster"))
    assert [e.title for e in reader.next_batch()] == ["n3"]
