"""Arguments at and past the edges of what they can hold: each is refused with the package's
ValidationError naming the argument, never a bare OverflowError, UnicodeEncodeError or
ValueError from the driver or the standard library."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kube9_store import EventStore, RetentionPolicy, ValidationError
from kube9_store.cli import cli
from tests.helpers import event_data


def _cursor(created_at: str, event_id: str) -> str:
    raw = json.dumps([created_at, event_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


CASES: list[tuple[str, Callable[[EventStore], Any], str]] = [
    ("limit 2**63", lambda s: s.query(limit=2**63), "limit"),
    ("offset 2**63", lambda s: s.query(offset=2**63), "offset"),
    ("offset 2**80", lambda s: s.query(offset=2**80), "offset"),
    ("page limit at the top", lambda s: s.page(limit=2**63 - 1), "limit"),
    ("batch size 2**70", lambda s: s.apply_retention(batch_size=2**70), "batch_size"),
    (
        "vacuum share nan",
        lambda s: s.apply_retention(vacuum_free_share=float("nan")),
        "vacuum_free_share",
    ),
    (
        "keep days 10**30",
        lambda s: s.backup_snapshot("/nonexistent", keep_days=10**30),
        "keep_days",
    ),
    ("get lone surrogate", lambda s: s.get("evt_20251202_103045_a7f3\ud800"), "event_id"),
    ("ack lone surrogate", lambda s: s.acknowledge("\udcff"), "event_id"),
    (
        "cursor lone surrogate",
        lambda s: s.query(cursor=_cursor("2025-12-02T10:30:45.000Z", "evt_\ud800")),
        "cursor",
    ),
    (
        "cursor garbage time",
        lambda s: s.query(cursor=_cursor("\udfff", "evt_20251202_103045_a7f3b9")),
        "cursor",
    ),
    (
        "retention now year 1",
        lambda s: s.apply_retention(now=__import__("datetime").datetime(1, 1, 1)),
        "now",
    ),
]


@pytest.mark.parametrize(("name", "call", "field"), CASES, ids=[c[0] for c in CASES])
def test_edge_arguments_are_named(
    sqlite_store: EventStore, name: str, call: Callable[[EventStore], Any], field: str
) -> None:
    sqlite_store.record(event_data())
    with pytest.raises(ValidationError) as info:
        call(sqlite_store)
    assert info.value.fields[0] == field, info.value
    assert sqlite_store.count() == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"busy_timeout": float("nan")}, "busy_timeout"),
        ({"busy_timeout": float("inf")}, "busy_timeout"),
        ({"busy_timeout": 10**400}, "busy_timeout"),
        ({"info_warning_days": 10**30}, "info_warning_days"),
    ],
)
def test_edge_settings_are_named(db_path: Path, kwargs: dict[str, Any], field: str) -> None:
    def make() -> object:
        if "busy_timeout" in kwargs:
            return EventStore.open(db_path, **kwargs)
        return RetentionPolicy(**kwargs)

    with pytest.raises(ValidationError) as info:
        make()
    assert info.value.fields == [field]
    assert not db_path.exists()


def _cli(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cli, list(args), env=env)


def test_cli_edge_values_name_the_flag_or_variable(db_path: Path) -> None:
    with EventStore.open(db_path, metrics=False) as store:
        store.record(event_data())
    db = ["--db", str(db_path)]
    r = _cli("query", "events", "list", "--offset", "99999999999999999999", *db)
    assert r.exit_code == 1
    assert json.loads(r.stderr)["details"].startswith("--offset"), r.stderr
    for variable in ("EVENT_RETENTION_INFO_WARNING_DAYS", "EVENT_RETENTION_ERROR_CRITICAL_DAYS"):
        for value in ("99999999999999", "999999999999999999999999", "3000000"):
            r = _cli("retention", "run", *db, env={variable: value})
            assert r.exit_code == 1, r.stdout
            assert json.loads(r.stderr)["details"].startswith(variable), r.stderr
    r = _cli("query", "events", "get", "evt_\udcff", *db)
    assert r.exit_code == 1
    assert "Traceback" not in r.output
    r = _cli("events", "ack", "\udcff", *db)
    assert r.exit_code == 1
    assert "Traceback" not in r.output
