"""The documented exit codes are the code's, and the commands give them."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner

from kube9_store.cli import cli
from kube9_store.cli.exit_codes import ExitCode, table
from kube9_store.store.eventstore import EventStore
from tests.helpers import event_data

DOC = Path(__file__).resolve().parent.parent / "docs" / "cli-exit-codes.md"
ROW = re.compile(r"^\| (\d+) \| (\w+) \| (.+) \|$")


def test_the_docs_table_is_the_enum() -> None:
    rows = [m.groups() for line in DOC.read_text().splitlines() if (m := ROW.match(line))]
    assert [(int(c), n, m) for c, n, m in rows] == table()
    assert [c for c, _, _ in table()] == sorted(int(c) for c in ExitCode)


def test_a_partial_import_exits_partial_and_strict_imports_nothing(tmp_path: Path) -> None:
    db = tmp_path / "k.db"
    good = {
        **event_data(),
        "id": "evt_20251202_100000_aaaaaa",
        "created_at": "2025-12-02T10:00:00Z",
    }
    lines = [json.dumps(good), "{broken", json.dumps({**good, "id": "evt_20251202_100001_bbbbbb"})]
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n")
    r = CliRunner().invoke(cli, ["import", "jsonl", str(source), "--db", str(db), "--strict"])
    assert r.exit_code == ExitCode.ERROR, r.output
    assert "line 2" in json.loads(r.stderr.splitlines()[-1])["details"]
    with EventStore.open(db, read_only=True, metrics=False) as store:
        assert store.count() == 0
    r = CliRunner().invoke(
        cli, ["import", "jsonl", "-", "--db", str(db), "--strict"], input="\n".join(lines)
    )
    assert r.exit_code == ExitCode.ERROR
    r = CliRunner().invoke(cli, ["import", "jsonl", str(source), "--db", str(db)])
    assert r.exit_code == ExitCode.PARTIAL, r.output
    assert json.loads(r.stdout)["imported"] == 2
    clean = tmp_path / "clean.jsonl"
    clean.write_text(lines[0] + "\n")
    r = CliRunner().invoke(
        cli, ["import", "jsonl", "-", "--db", str(db), "--strict"], input=clean.read_bytes()
    )
    assert r.exit_code == ExitCode.OK, r.output
    assert json.loads(r.stdout)["already_present"] == 1


def test_db_status_of_a_refused_database_is_an_error(tmp_path: Path) -> None:
    import sqlite3

    junk = tmp_path / "junk.db"
    with sqlite3.connect(junk) as conn:
        conn.execute("CREATE TABLE foo (x)")
    r = CliRunner().invoke(cli, ["db", "status", "--db", str(junk)])
    assert r.exit_code == ExitCode.ERROR
    assert json.loads(r.stdout)["lineage"] is None
    assert json.loads(r.stderr)["error"] == "Database refused"
    ours = tmp_path / "ours.db"
    EventStore.open(ours, metrics=False).close()
    assert CliRunner().invoke(cli, ["db", "status", "--db", str(ours)]).exit_code == ExitCode.OK


def test_a_dry_run_copy_exits_ok(tmp_path: Path) -> None:
    source = tmp_path / "src.db"
    with EventStore.open(source, metrics=False) as store:
        store.record(event_data())
    r = CliRunner().invoke(cli, ["copy", str(source), str(tmp_path / "dest.db"), "--dry-run"])
    assert r.exit_code == ExitCode.OK, r.output
    assert json.loads(r.stdout)["copied"] == 1
    assert not (tmp_path / "dest.db").exists()
