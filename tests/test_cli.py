"""The CLI: the reference operator's query contract (in-process and through the real console
script), read-only queries, admin commands, import and demo."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kube9_store import EventStore
from kube9_store.cli import cli
from kube9_store.cli.demo import sample_text
from kube9_store.schema.tables import HEAD_REVISION, HEAD_VERSION
from tests.helpers import TESTS, build_spec_db, event_data, file_fingerprint

CONTRACT_FIELDS = {
    "id",
    "event_type",
    "severity",
    "title",
    "description",
    "object_kind",
    "object_namespace",
    "object_name",
    "metadata",
    "created_at",
    "acknowledged",
}


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def populated(db_path: Path) -> Path:
    with EventStore.open(db_path) as s:
        s.record_many(
            [
                event_data(
                    event_type="cluster",
                    severity="warning",
                    title=f"Pod BackOff {i}",
                    object_kind="Pod",
                    object_namespace="default",
                    object_name=f"web-{i}",
                    created_at=f"2025-12-02T10:{i:02d}:00Z",
                )
                for i in range(30)
            ]
            + [
                event_data(
                    created_at="2025-12-03T00:00:00Z",
                    severity="critical",
                    title="Node NotReady",
                    event_type="cluster",
                    object_kind="Node",
                    object_name="worker-3",
                )
            ]
        )
    return db_path


def invoke(runner: CliRunner, *args: str, input: str | None = None) -> Any:
    return runner.invoke(cli, list(args), input=input, catch_exceptions=False)


def error_line(result: Any) -> dict[str, Any]:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return json.loads(lines[0])


def test_list_json_contract(runner: CliRunner, populated: Path) -> None:
    r = invoke(
        runner,
        "query",
        "events",
        "list",
        "--db",
        str(populated),
        "--limit",
        "5",
        "--offset",
        "2",
        "--type",
        "cluster",
    )
    assert r.exit_code == 0, r.stderr
    body = json.loads(r.stdout)
    assert set(body) == {"events", "pagination"}
    assert body["pagination"] == {"total": 31, "limit": 5, "offset": 2, "returned": 5}
    first = body["events"][0]
    assert set(first) == CONTRACT_FIELDS
    assert isinstance(first["metadata"], dict)
    assert [e["title"] for e in body["events"]] == [
        f"Pod BackOff {i}" for i in (28, 27, 26, 25, 24)
    ]


def test_the_extension_invocation(runner: CliRunner, populated: Path) -> None:
    r = invoke(
        runner,
        "query",
        "events",
        "list",
        f"--db={populated}",
        "--object-namespace=default",
        "--object-kind=Pod",
        "--since=2025-12-02T10:20:00.000Z",
        "--limit=25",
        "--format=json",
    )
    body = json.loads(r.stdout)
    assert body["pagination"] == {"total": 10, "limit": 25, "offset": 0, "returned": 10}


@pytest.mark.parametrize(
    ("args", "total"),
    [
        (["--severity", "warning,critical"], 31),
        (["--severity", "critical"], 1),
        (["--since", "2025-12-03"], 1),
        (["--until", "2025-12-02T10:05:00Z"], 5),
        (["--object-name", "worker-3"], 1),
        (["--unacknowledged"], 31),
        (["--acknowledged"], 0),
        (["--since", "3650d"], 31),
        (["--since", "1h"], 0),
    ],
)
def test_list_filters(runner: CliRunner, populated: Path, args: list[str], total: int) -> None:
    r = invoke(runner, "query", "events", "list", "--db", str(populated), *args)
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["pagination"]["total"] == total


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--limit", "0"], "--limit"),
        (["--limit", "1001"], "--limit"),
        (["--limit", "ten"], "--limit"),
        (["--offset", "-3"], "--offset"),
        (["--type", "kernel"], "--type"),
        (["--severity", "info,loud"], "--severity"),
        (["--since", "last tuesday"], "--since"),
        (["--until", "99x"], "--until"),
        (["--format", "xml"], "--format"),
        (["--cursor", "nonsense"], "--cursor"),
    ],
)
def test_invalid_flag_values_name_the_flag(
    runner: CliRunner, populated: Path, args: list[str], flag: str
) -> None:
    r = invoke(runner, "query", "events", "list", "--db", str(populated), *args)
    assert r.exit_code == 1
    err = error_line(r)
    assert err["error"] == "Failed to list events"
    assert err["details"].startswith(flag)
    assert "Traceback" not in r.output


def test_usage_errors_exit_2(runner: CliRunner, populated: Path) -> None:
    r = runner.invoke(cli, ["query", "events", "list", "--no-such-flag"])
    assert r.exit_code == 2
    r = runner.invoke(cli, ["query", "events", "get"])
    assert r.exit_code == 2


def test_get_and_not_found(runner: CliRunner, populated: Path) -> None:
    with EventStore.open(populated) as s:
        ev = s.query(limit=1)[0]
    r = invoke(runner, "query", "events", "get", ev.id, "--db", str(populated))
    assert json.loads(r.stdout) == ev.to_dict()
    r = invoke(
        runner, "query", "events", "get", "evt_20990101_000000_abcdef", "--db", str(populated)
    )
    assert r.exit_code == 1
    assert error_line(r) == {"error": "Event not found", "event_id": "evt_20990101_000000_abcdef"}


@pytest.mark.parametrize("fmt", ["yaml", "table", "csv"])
def test_other_formats(runner: CliRunner, populated: Path, fmt: str) -> None:
    r = invoke(
        runner, "query", "events", "list", "--db", str(populated), "--format", fmt, "--limit", "3"
    )
    assert r.exit_code == 0
    if fmt == "yaml":
        import yaml

        assert yaml.safe_load(r.stdout)["pagination"]["returned"] == 3
    elif fmt == "csv":
        lines = r.stdout.strip().splitlines()
        assert lines[0].startswith("id,event_type,severity,title")
        assert len(lines) == 4
    else:
        lines = r.stdout.splitlines()
        assert lines[0].split() == [
            *("ID", "TYPE", "SEVERITY", "NAMESPACE", "OBJECT", "TITLE", "CREATED")
        ]
        assert len(lines) == 4
        assert lines[1].endswith("2025-12-03 00:00:00")  # CREATED, readable


def test_keyset_paging_through_the_cli(runner: CliRunner, populated: Path) -> None:
    seen: list[str] = []
    cursor = "start"
    while cursor:
        r = invoke(
            runner,
            "query",
            "events",
            "list",
            "--db",
            str(populated),
            "--limit",
            "7",
            "--cursor",
            cursor,
        )
        body = json.loads(r.stdout)
        seen.extend(e["id"] for e in body["events"])
        cursor = body["pagination"]["next_cursor"]
    assert len(seen) == len(set(seen)) == 31


def test_queries_never_write(runner: CliRunner, populated: Path) -> None:
    before = file_fingerprint(populated)
    for args in (
        ["query", "events", "list"],
        ["query", "events", "get", "evt_20990101_000000_abcdef"],
        ["events", "count", "--by", "type"],
        ["db", "status"],
        ["db", "check"],
        ["retention", "run", "--dry-run"],
    ):
        runner.invoke(cli, [*args, "--db", str(populated)])
    assert file_fingerprint(populated) == before


def test_query_on_missing_database_creates_nothing(runner: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "absent" / "kube9.db"
    r = invoke(runner, "query", "events", "list", "--db", str(target))
    assert r.exit_code == 1
    assert "db upgrade" in error_line(r)["details"]
    assert not target.parent.exists()


def test_query_on_behind_database_answers_and_says_how_to_upgrade(
    runner: CliRunner, db_path: Path
) -> None:
    db_path.parent.mkdir(parents=True)
    build_spec_db(db_path, rows=3)
    before = file_fingerprint(db_path)
    siblings = sorted(os.listdir(db_path.parent))
    r = invoke(runner, "query", "events", "list", "--db", str(db_path))
    assert r.exit_code == 0, r.stderr
    body = json.loads(r.stdout)
    assert body["pagination"]["total"] == 3
    assert all(e["acknowledged"] is False for e in body["events"])
    notice = json.loads(r.stderr.strip())["notice"]
    assert "schema version 1 (created without Alembic)" in notice
    assert f"kube9-store db upgrade --db {db_path}" in notice
    assert file_fingerprint(db_path) == before
    assert sorted(os.listdir(db_path.parent)) == siblings


def test_db_commands(runner: CliRunner, db_path: Path, tmp_path: Path) -> None:
    r = invoke(runner, "db", "upgrade", "--db", str(db_path), "--revision", "0002")
    assert json.loads(r.stdout)["schema_version"] == 2
    status = json.loads(invoke(runner, "db", "status", "--db", str(db_path)).stdout)
    assert status["revision"] == "kube9_store_0002"
    assert status["at_head"] is False
    up = json.loads(invoke(runner, "db", "upgrade", "--db", str(db_path)).stdout)
    assert (up["revision"], up["schema_version"], up["at_head"]) == (
        HEAD_REVISION,
        HEAD_VERSION,
        True,
    )
    r = runner.invoke(
        cli, ["db", "downgrade", "--db", str(db_path), "--revision", "0001"], input="n\n"
    )
    assert r.exit_code == 1
    assert json.loads(invoke(runner, "db", "status", "--db", str(db_path)).stdout)["at_head"]
    r = invoke(runner, "db", "downgrade", "--db", str(db_path), "--revision", "0001", "--yes")
    assert json.loads(r.stdout)["schema_version"] == 1
    r = invoke(runner, "db", "upgrade", "--db", str(db_path), "--revision", "0099")
    assert r.exit_code == 1
    assert error_line(r)["details"].startswith("revision:")
    invoke(runner, "db", "upgrade", "--db", str(db_path))
    check = json.loads(invoke(runner, "db", "check", "--full", "--db", str(db_path)).stdout)
    assert check == {"ok": True, "problems": [], "full": True}
    import sqlite3

    con = sqlite3.connect(db_path)  # closed: a restore refuses while another program has it open
    with con:
        con.execute("INSERT INTO event_counts VALUES ('system', 'info', 7)")
    con.close()
    r = runner.invoke(cli, ["db", "check", "--full", "--db", str(db_path)])
    assert r.exit_code == 1
    assert "db recount" in json.loads(r.stdout)["problems"][0]
    assert json.loads(invoke(runner, "db", "recount", "--db", str(db_path)).stdout) == {
        "by_type": {}
    }
    assert json.loads(invoke(runner, "db", "check", "--full", "--db", str(db_path)).stdout)["ok"]
    vac = json.loads(invoke(runner, "db", "vacuum", "--db", str(db_path)).stdout)
    assert vac["after"]["free_bytes"] == 0
    dest = tmp_path / "backups" / "manual.db"
    b = json.loads(invoke(runner, "db", "backup", str(dest), "--db", str(db_path)).stdout)
    assert b["path"] == str(dest)
    assert dest.exists()
    (tmp_path / "snaps").mkdir()
    snap = json.loads(
        invoke(runner, "db", "backup", str(tmp_path / "snaps"), "--db", str(db_path)).stdout
    )
    assert Path(snap["path"]).name.startswith("kube9-")
    r = invoke(runner, "db", "restore", str(dest), "--db", str(db_path), "--yes")
    assert json.loads(r.stdout)["events"] == 0


def test_events_record_ack_count(runner: CliRunner, db_path: Path) -> None:
    r = invoke(
        runner,
        "events",
        "record",
        "--db",
        str(db_path),
        "--type",
        "operator",
        "--severity",
        "info",
        "--title",
        "Operator started",
        "--metadata",
        '{"version": "1.0.0", "password": "p"}',
    )
    ev = json.loads(r.stdout)
    assert ev["metadata"] == {"version": "1.0.0", "password": "[REDACTED]"}
    batch = json.dumps([event_data(title="a"), event_data(title="b", severity="error")])
    r = invoke(runner, "events", "record", "--db", str(db_path), "--json", "-", input=batch)
    assert [e["title"] for e in json.loads(r.stdout)] == ["a", "b"]
    r = invoke(runner, "events", "ack", ev["id"], "--db", str(db_path))
    assert json.loads(r.stdout) == {"acknowledged": [ev["id"]], "not_found": []}
    r = invoke(runner, "events", "ack", "evt_20990101_000000_abcdef", "--db", str(db_path))
    assert r.exit_code == 1
    assert json.loads(invoke(runner, "events", "count", "--db", str(db_path)).stdout) == {
        "count": 3
    }
    r = invoke(runner, "events", "count", "--by", "severity", "--db", str(db_path))
    assert json.loads(r.stdout) == {"by_severity": {"error": 1, "info": 2}}
    r = invoke(runner, "events", "count", "--acknowledged", "--db", str(db_path))
    assert json.loads(r.stdout) == {"count": 1}


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--type", "operator", "--severity", "info"], "--title"),
        (["--type", "os", "--severity", "info", "--title", "x"], "--type"),
        (
            ["--type", "operator", "--severity", "info", "--title", "x", "--metadata", "{"],
            "--metadata",
        ),
        (
            ["--type", "operator", "--severity", "info", "--title", "x", "--metadata", "[1]"],
            "--metadata",
        ),
    ],
)
def test_record_validation_names_the_field(
    runner: CliRunner, db_path: Path, args: list[str], flag: str
) -> None:
    r = invoke(runner, "events", "record", "--db", str(db_path), *args)
    assert r.exit_code == 1
    assert error_line(r)["details"].startswith(flag)


def test_import_k8s_events_is_idempotent(runner: CliRunner, db_path: Path, tmp_path: Path) -> None:
    sample = tmp_path / "events.json"
    sample.write_text(sample_text())
    first = json.loads(
        invoke(runner, "import", "k8s-events", str(sample), "--db", str(db_path)).stdout
    )
    assert first == {"read": 12, "imported": 12, "already_present": 0, "invalid": []}
    again = json.loads(
        invoke(runner, "import", "k8s-events", str(sample), "--db", str(db_path)).stdout
    )
    assert again == {"read": 12, "imported": 0, "already_present": 12, "invalid": []}
    with EventStore.open(db_path) as s:
        oom = s.query({"object_name": "prometheus-0"})[0]
        assert (oom.severity, oom.title, oom.object_namespace) == (
            "critical",
            "Pod OOMKilled: prometheus-0",
            "monitoring",
        )
        node = s.query({"object_kind": "Node"})[0]
        assert (node.severity, node.object_namespace) == ("critical", None)
        pull = s.query({"object_name": "api-6d9f7b5c4-7qwzt", "severity": "error"}, limit=None)
        assert {e.title for e in pull} == {
            "Pod Failed: api-6d9f7b5c4-7qwzt",
            "Pod ImagePullBackOff: api-6d9f7b5c4-7qwzt",
        }
        backoff = s.query({"object_name": "worker-queue-5f8c9d7b6-m8n2r"})[0]
        assert backoff.severity == "warning"
        assert backoff.metadata is not None
        assert backoff.metadata["count"] == 14
        assert backoff.created_at == "2025-12-02T10:09:30.000Z"
        assert backoff.metadata["first_timestamp"] == "2025-12-02T10:03:00Z"
        assert s.count_by_severity() == {"critical": 2, "error": 4, "info": 4, "warning": 2}


def test_import_events_k8s_io_v1(runner: CliRunner, db_path: Path) -> None:
    src = str(TESTS / "data" / "events-k8s-v1.json")
    r = json.loads(invoke(runner, "import", "k8s-events", src, "--db", str(db_path)).stdout)
    assert r["imported"] == 2
    with EventStore.open(db_path) as s:
        oom = s.query({"severity": "critical"})[0]
        assert oom.title == "Pod OOMKilled: web-0"
        assert oom.created_at == "2025-12-03T08:04:00.654Z"
        assert oom.metadata is not None
        assert oom.metadata["count"] == 4


def test_import_skips_malformed_items_by_index(runner: CliRunner, db_path: Path) -> None:
    items = json.loads(sample_text())["items"][:3]
    items.insert(1, {"kind": "Event", "reason": "Oops"})
    items.insert(3, "not an object")
    doc = json.dumps({"kind": "EventList", "items": items})
    r = invoke(runner, "import", "k8s-events", "-", "--db", str(db_path), input=doc)
    assert r.exit_code == 3  # partial
    body = json.loads(r.stdout)
    assert body["imported"] == 3
    assert [p["index"] for p in body["invalid"]] == [1, 3]
    warnings = [json.loads(line) for line in r.stderr.strip().splitlines()]
    assert [w["index"] for w in warnings] == [1, 3]


def test_import_rejects_non_json(runner: CliRunner, db_path: Path) -> None:
    r = invoke(runner, "import", "k8s-events", "-", "--db", str(db_path), input="{nope")
    assert r.exit_code == 1
    assert error_line(r)["details"].startswith("file")


def test_demo(runner: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "demo.db"
    r = invoke(runner, "demo", "--db", str(target))
    assert r.exit_code == 0, r.stderr
    assert "Imported 12 Kubernetes events" in r.stdout
    assert "Operator health degraded" in r.stdout or "Operator he" in r.stdout
    with EventStore.open(target) as s:
        assert s.count() == 16
        assert s.query(limit=1)[0].title == "Operator health degraded"


def test_retention_cli(runner: CliRunner, populated: Path) -> None:
    dry = json.loads(invoke(runner, "retention", "run", "--dry-run", "--db", str(populated)).stdout)
    assert dry["by_severity"] == {"info": 0, "warning": 30, "error": 0, "critical": 1}
    assert dry["dry_run"] is True
    real = json.loads(invoke(runner, "retention", "run", "--db", str(populated)).stdout)
    assert real["deleted"] == 31
    with EventStore.open(populated) as s:
        assert s.count() == 0


def test_retention_env_errors_name_the_variable(
    runner: CliRunner, populated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVENT_RETENTION_INFO_WARNING_DAYS", "soon")
    r = invoke(runner, "retention", "run", "--db", str(populated))
    assert r.exit_code == 1
    assert error_line(r)["details"].startswith("EVENT_RETENTION_INFO_WARNING_DAYS")
    r = invoke(runner, "query", "events", "list", "--db", str(populated))  # reads are unaffected
    assert r.exit_code == 0


# -- the real console script -------------------------------------------------------------------


def console(*args: str, env: dict[str, str] | None = None, input: str | None = None):
    exe = shutil.which("kube9-store", path=str(Path(sys.executable).parent))
    assert exe is not None, "the console script is installed with the package"
    base = {k: v for k, v in os.environ.items() if k not in ("KUBE9_DB_URL", "DB_PATH")}
    return subprocess.run(
        [exe, *args],
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        input=input,
        timeout=60,
        check=False,
    )


def test_console_script_contract(populated: Path) -> None:
    r = console(
        "query",
        "events",
        "list",
        "--limit=2",
        "--format=json",
        env={"DB_PATH": str(populated.parent)},
    )
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    assert body["pagination"] == {"total": 31, "limit": 2, "offset": 0, "returned": 2}
    assert all(set(e) == CONTRACT_FIELDS for e in body["events"])
    r = console(
        "query",
        "events",
        "get",
        "evt_20990101_000000_abcdef",
        env={"KUBE9_DB_URL": f"sqlite:///{populated}"},
    )
    assert r.returncode == 1
    assert json.loads(r.stderr) == {
        "error": "Event not found",
        "event_id": "evt_20990101_000000_abcdef",
    }
    r = console("query", "events", "list", "--limit", "5000", "--db", str(populated))
    assert r.returncode == 1
    assert json.loads(r.stderr)["details"].startswith("--limit")
    assert "Traceback" not in r.stderr


def test_python_dash_m_and_version(populated: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "kube9_store", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0
    assert "kube9-store" in r.stdout
    r = console("events", "count", "--db", str(populated))
    assert json.loads(r.stdout) == {"count": 31}


def test_every_command_help_has_an_example() -> None:
    import click

    def walk(cmd: click.Command, path: list[str]) -> list[tuple[list[str], click.Command]]:
        if isinstance(cmd, click.Group):
            return [x for name, sub in cmd.commands.items() for x in walk(sub, [*path, name])]
        return [(path, cmd)]

    leaves = walk(cli, [])
    assert len(leaves) >= 15
    for path, cmd in leaves:
        assert "Example" in (cmd.help or ""), " ".join(path)
        assert "kube9-store" in (cmd.help or ""), " ".join(path)
