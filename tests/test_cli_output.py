"""What the CLI prints for people: control characters from stored text shown escaped (never
sent raw to a terminal), and failures as JSON lines, with tracebacks only under --verbose."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from click.testing import CliRunner

from kube9_store import EventStore
from kube9_store.cli import cli
from tests.helpers import build_spec_db, event_data

HOSTILE_TITLE = "Pod \x1b]0;pwned\x07BackOff \x1b[2J\x9b31m done\r\x08\x7f"


def _controls(text: str) -> set[str]:
    return {c for c in text if unicodedata.category(c) == "Cc" and c != "\n"}


@pytest.mark.parametrize("fmt", ["table", "csv"])
def test_human_formats_escape_control_characters(db_path: Path, fmt: str) -> None:
    with EventStore.open(db_path, metrics=False) as store:
        ev = store.record(event_data(title=HOSTILE_TITLE, description="line one\nline two\x1b[0m"))
    for args in (
        ["query", "events", "list", "--format", fmt],
        ["query", "events", "get", ev.id, "--format", fmt],
    ):
        r = CliRunner().invoke(cli, [*args, "--db", str(db_path)], env={"COLUMNS": "300"})
        assert r.exit_code == 0, r.stderr
        assert _controls(r.stdout) == set(), repr(r.stdout)
        assert "\\x1b" in r.stdout
        assert "BackOff" in r.stdout
    r = CliRunner().invoke(cli, ["query", "events", "get", ev.id, "--db", str(db_path)])
    assert json.loads(r.stdout)["title"] == HOSTILE_TITLE  # JSON keeps the exact text


def _failing_upgrade(tmp_path: Path) -> Path:
    """A plain-SQL database that revision 0003 cannot migrate (its table already exists)."""
    path = build_spec_db(tmp_path / "v1.db", rows=3)
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE event_counts (x INTEGER)")
    return path


def _console(*args: str) -> subprocess.CompletedProcess[str]:
    """The real command in a process of its own (no test harness capturing its logs)."""
    return subprocess.run(
        [sys.executable, "-m", "kube9_store", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_failed_migration_prints_json_lines_and_no_traceback(tmp_path: Path) -> None:
    path = _failing_upgrade(tmp_path)
    r = _console("db", "upgrade", "--db", str(path))
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    lines = [json.loads(line) for line in r.stderr.strip().splitlines()]
    errors = [line for line in lines if "error" in line]
    assert len(errors) == 1
    assert "0003" in errors[0]["details"]


def test_verbose_logs_the_traceback(tmp_path: Path) -> None:
    path = _failing_upgrade(tmp_path)
    for flag in ("-v", "--verbose"):
        r = _console(flag, "db", "upgrade", "--db", str(path))
        assert r.returncode == 1
        assert "Traceback" in r.stderr
        assert (
            json.loads(r.stderr.strip().splitlines()[-1])["error"] == "Failed to upgrade database"
        )
