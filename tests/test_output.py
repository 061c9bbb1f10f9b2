"""The table format: every character when stdout is not a terminal, fitted to a terminal's
width (the title takes what is left) unless --wide, CREATED readable; progress bars only on a
terminal."""

from __future__ import annotations

import os
import pty
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from kube9_store import EventStore
from kube9_store.cli import cli
from kube9_store.lean.rendering import to_table
from tests.helpers import event_data

LONG = "Deployment production/checkout-service-canary scaled from 3 to 12 replicas " * 2


@pytest.fixture
def long_titles(db_path: Path) -> Path:
    with EventStore.open(db_path, metrics=False) as store:
        store.record_many(
            [
                event_data(title=LONG.strip()[:190], created_at="2025-12-02T10:05:00.123Z"),
                event_data(title="short", created_at="2025-12-02T10:06:00Z"),
            ]
        )
    return db_path


def test_a_table_is_never_cut_when_stdout_is_not_a_terminal(long_titles: Path) -> None:
    r = CliRunner().invoke(
        cli, ["query", "events", "list", "--db", str(long_titles), "--format", "table"]
    )
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert LONG.strip()[:190] in r.stdout
    assert "…" not in r.stdout
    assert lines[2].endswith("2025-12-02 10:05:00")
    assert lines[1].endswith("2025-12-02 10:06:00")


def test_within_a_width_the_title_takes_what_is_left() -> None:
    events = [
        {
            "id": "evt_20251202_100500_aaaaaa",
            "event_type": "cluster",
            "severity": "warning",
            "title": LONG,
            "created_at": "2025-12-02T10:05:00.123Z",
        }
    ]
    for width in (80, 120, 60):
        lines = to_table(events, width).splitlines()
        assert all(len(line) <= width for line in lines), width
        assert "…" in lines[1]
        title = lines[0].index("TITLE")
        assert len(lines[1]) - title >= 20 or width < 80  # the title takes what is left
    # wide enough for every default column: CREATED stays last
    assert to_table(events, 120).splitlines()[1].endswith("…  2025-12-02 10:05:00")
    # too narrow: columns go, the id first (as kubectl get events shows no name)
    narrow = to_table(events, 80).splitlines()
    assert narrow[0].split() == ["TYPE", "SEVERITY", "NAMESPACE", "OBJECT", "TITLE", "CREATED"]
    whole = to_table(events).splitlines()[1]
    assert " ".join(LONG.split()) in whole


def _in_terminal(args: list[str], columns: int) -> str:
    """Run the console script with stdout on a pseudo-terminal ``columns`` wide."""
    exe = shutil.which("kube9-store", path=str(Path(sys.executable).parent))
    assert exe is not None
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": str(columns), "LINES": "40"}
    proc = subprocess.Popen([exe, *args], stdout=follower, stderr=subprocess.PIPE, env=env)
    os.close(follower)
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert proc.wait(timeout=60) == 0, proc.stderr.read() if proc.stderr else ""
    return b"".join(chunks).decode().replace("\r\n", "\n")


def test_in_a_terminal_the_table_fits_unless_wide(long_titles: Path) -> None:
    args = ["query", "events", "list", "--db", str(long_titles), "--format", "table"]
    fitted = _in_terminal(args, 90).splitlines()
    assert all(len(line) <= 90 for line in fitted)
    assert "…" in fitted[2]
    wide = _in_terminal([*args, "--wide"], 90)
    assert LONG.strip()[:190] in wide


def test_progress_bar_only_on_a_terminal_and_not_when_quiet(
    long_titles: Path, tmp_path: Path
) -> None:
    """stderr on a pseudo-terminal: copy draws click's bar; --quiet silences it."""
    exe = shutil.which("kube9-store", path=str(Path(sys.executable).parent))
    assert exe is not None
    for quiet, drawn in ((False, True), (True, False)):
        leader, follower = pty.openpty()
        target = tmp_path / f"copy-{quiet}.db"
        proc = subprocess.Popen(
            [exe, "copy", str(long_titles), str(target), *(["--quiet"] if quiet else [])],
            stdout=subprocess.PIPE,
            stderr=follower,
        )
        os.close(follower)
        seen = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        os.close(leader)
        assert proc.wait(timeout=60) == 0
        assert (b"copying" in seen) is drawn, seen


def test_retention_reports_its_progress(db_path: Path) -> None:
    with EventStore.open(db_path, metrics=False) as store:
        store.record_many(
            [
                event_data(created_at=f"2020-01-01T00:{i // 60:02d}:{i % 60:02d}Z")
                for i in range(2500)
            ],
            return_events=False,
        )
        store.record(event_data())
        seen: list[tuple[int, int]] = []
        result = store.apply_retention(batch_size=1000, progress=lambda d, t: seen.append((d, t)))
    assert result.deleted == 2500
    assert seen[-1] == (2500, 2500)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert {t for _, t in seen} == {2500}
