"""The table's columns: namespace and object, --columns to choose, --wide for all; JSON is
left as it was."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kube9_store import EventStore
from kube9_store.cli import cli
from kube9_store.lean.rendering import CELLS, DEFAULT_COLUMNS, to_table
from tests.helpers import event_data

POD = {"object_kind": "Pod", "object_namespace": "production", "object_name": "checkout-7d9f"}


@pytest.fixture
def db(db_path: Path) -> Path:
    with EventStore.open(db_path, metrics=False) as store:
        store.record(event_data(title="pod restarted", description="twice", **POD))
        store.record(event_data(title="node pressure", object_kind="Node", object_name="n1"))
    return db_path


def _list(db: Path, *args: str) -> list[str]:
    r = CliRunner().invoke(cli, ["query", "events", "list", "--db", str(db), *args])
    assert r.exit_code == 0, r.output
    return r.stdout.splitlines()


def test_namespace_and_object_columns_by_default(db: Path) -> None:
    lines = _list(db, "--format", "table")
    assert lines[0].split() == list(DEFAULT_COLUMNS)
    pod = next(line for line in lines if "pod restarted" in line)
    assert "production" in pod and "Pod/checkout-7d9f" in pod
    node = next(line for line in lines if "node pressure" in line)
    assert "Node/n1" in node


def test_columns_chosen_in_their_order_and_wide_shows_every_column(db: Path) -> None:
    lines = _list(db, "--format", "table", "--columns", "severity,Object,title")
    assert lines[0].split() == ["SEVERITY", "OBJECT", "TITLE"]
    assert lines[-1].split()[0] == "info"
    wide = _list(db, "--format", "table", "--wide")
    assert wide[0].split() == list(CELLS)
    assert any(line.rstrip().endswith("twice") for line in wide)
    get = CliRunner().invoke(
        cli,
        [
            "query",
            "events",
            "list",
            "--db",
            str(db),
            "--format",
            "table",
            "--columns",
            "id",
            "--limit",
            "1",
        ],
    )
    assert get.stdout.splitlines()[0] == "ID"


@pytest.mark.parametrize("value", ["colour", "id,id", ","])
def test_a_bad_column_names_the_flag(db: Path, value: str) -> None:
    r = CliRunner().invoke(
        cli, ["query", "events", "list", "--db", str(db), "--format", "table", "--columns", value]
    )
    assert r.exit_code == 1
    assert json.loads(r.stderr)["details"].startswith("--columns")


def test_json_is_unchanged_by_the_table_flags(db: Path) -> None:
    plain = _list(db)
    assert _list(db, "--wide", "--columns", "id") == plain
    body = json.loads("\n".join(plain))
    assert set(body) == {"events", "pagination"}


def test_in_a_narrow_terminal_columns_give_way_to_the_title() -> None:
    event = {
        "id": "evt_20251202_100500_aaaaaa",
        "event_type": "cluster",
        "severity": "info",
        "title": "t" * 120,
        "created_at": "2025-12-02T10:05:00.000Z",
        "object_kind": "Deployment",
        "object_namespace": "a-rather-long-namespace-name",
        "object_name": "x" * 60,
    }
    for width in (80, 100, 140, 200):
        lines = to_table([event], width).splitlines()
        assert all(len(line) <= width for line in lines), width
        title = lines[0].index("TITLE")
        assert width - title >= 20, width
        assert {"SEVERITY", "NAMESPACE", "OBJECT", "TITLE"} <= set(lines[0].split()), width
        assert ("ID" in lines[0].split()) is (width >= 140), width
    whole = to_table([event], None).splitlines()
    assert "x" * 60 in whole[1] and "t" * 120 in whole[1]
    chosen = to_table([event], 80, ["OBJECT", "TITLE"]).splitlines()
    assert chosen[0].split() == ["OBJECT", "TITLE"] and len(chosen[1]) <= 80
