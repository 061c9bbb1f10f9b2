"""Grouped counts: exact under every filter, on both backends, from the API and the CLI."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kube9_store import EventStore, ValidationError
from kube9_store.aio.store import AsyncEventStore
from kube9_store.cli import cli
from kube9_store.cli.events import BY_FIELDS
from kube9_store.store.grouping import GROUP_FIELDS

T0 = datetime(2026, 1, 10, tzinfo=UTC)
TYPES = ("cluster", "operator", "insight", "health")
SEVERITIES = ("info", "warning", "error", "critical")
OBJECTS = (
    (None, None, None),
    ("Node", None, "node-1"),
    ("Pod", "default", "web-0"),
    ("Pod", "default", "web-1"),
    ("Pod", "prod", "web-0"),
    ("Deployment", "prod", "api"),
)


def _events(n: int = 300) -> list[dict[str, Any]]:
    rnd = random.Random(5)
    out = []
    for i in range(n):
        kind, ns, name = rnd.choice(OBJECTS)
        out.append(
            {
                "event_type": rnd.choice(TYPES),
                "severity": rnd.choice(SEVERITIES),
                "title": f"event {i}",
                "object_kind": kind,
                "object_namespace": ns,
                "object_name": name,
                "created_at": T0 + timedelta(minutes=7 * i),
            }
        )
    return out


def _value(e: dict[str, Any], field: str) -> str | None:
    if field == "object":
        parts = (e["object_kind"], e["object_namespace"], e["object_name"])
        if all(p is None for p in parts):
            return None
        return "/".join(p or "" for p in parts)
    return e[GROUP_FIELDS[field][0]]


def _expected(events: list[dict[str, Any]], fields: list[str], keep: Any) -> dict[Any, int]:
    return dict(Counter(tuple(_value(e, f) for f in fields) for e in events if keep(e)))


FILTERS: list[tuple[dict[str, Any], Any]] = [
    ({}, lambda e: True),
    ({"severity": ["error", "critical"]}, lambda e: e["severity"] in ("error", "critical")),
    (
        {"since": "2026-01-11T00:00:00Z", "until": "2026-01-11T12:00:00Z"},
        lambda e: T0 + timedelta(days=1) <= e["created_at"] < T0 + timedelta(days=1.5),
    ),
    (
        {"event_type": ["cluster"], "since": "2026-01-11T00:00:00Z"},
        lambda e: e["event_type"] == "cluster" and e["created_at"] >= T0 + timedelta(days=1),
    ),
    ({"object_namespace": ["default"]}, lambda e: e["object_namespace"] == "default"),
    ({"object_kind": ["Pod"], "acknowledged": False}, lambda e: e["object_kind"] == "Pod"),
]


def test_every_grouping_under_every_filter_is_exact(store: EventStore) -> None:
    events = _events()
    store.record_many(events)
    for (flt, keep), n in itertools.product(FILTERS, (1, 2)):
        for fields in itertools.permutations(GROUP_FIELDS, n):
            got = store.count_by(list(fields), flt)
            assert got == _expected(events, list(fields), keep), (fields, flt)
            assert list(got.values()) == sorted(got.values(), reverse=True)
    single = store.count_by("namespace", {"since": "2026-01-11T00:00:00Z"})
    assert None in single and all(not isinstance(k, tuple) for k in single)
    assert store.count_by("event_type") == store.count_by_type()


def test_acknowledged_filter_and_alias_names(store: EventStore) -> None:
    ids = [e.id for e in store.record_many(_events(40))]
    for event_id in ids[:10]:
        store.acknowledge(event_id)
    assert sum(store.count_by("severity", {"acknowledged": True}).values()) == 10
    assert sum(store.count_by(["kind", "type"], {"acknowledged": False}).values()) == 30
    assert store.count_by(["object_kind"]) == store.count_by(["kind"])


@pytest.mark.parametrize("fields", [[], "colour", ["type", "type"], [3], "object,type"])
def test_bad_fields_name_the_argument(sqlite_store: EventStore, fields: Any) -> None:
    with pytest.raises(ValidationError) as info:
        sqlite_store.count_by(fields)
    assert info.value.fields == ["fields"]


def test_the_async_store_counts_the_same(db_path: Path) -> None:
    with EventStore.open(db_path, metrics=False) as store:
        store.record_many(_events(50))
        expected = store.count_by(["type", "severity"], {"since": "2026-01-10T01:00:00Z"})

    async def run() -> dict[Any, int]:
        async with await AsyncEventStore.open(db_path, metrics=False) as astore:
            return await astore.count_by(["type", "severity"], {"since": "2026-01-10T01:00:00Z"})

    assert asyncio.run(run()) == expected


def test_cli_count_by_honours_every_filter(db_path: Path) -> None:
    events = _events()
    with EventStore.open(db_path, metrics=False) as store:
        store.record_many(events)
    db = ["--db", str(db_path)]
    runner = CliRunner()
    r = runner.invoke(
        cli,
        ["events", "count", *db, "--by", "type", "--severity", "error", "--since", "2026-01-11"],
    )
    assert r.exit_code == 0, r.output
    want = Counter(
        e["event_type"]
        for e in events
        if e["severity"] == "error" and e["created_at"] >= T0 + timedelta(days=1)
    )
    assert json.loads(r.stdout) == {"by_type": dict(want)}
    r = runner.invoke(cli, ["events", "count", *db, "--by", "namespace"])
    by_ns = json.loads(r.stdout)["by_namespace"]
    assert by_ns["<none>"] == sum(1 for e in events if e["object_namespace"] is None)
    r = runner.invoke(
        cli,
        ["events", "count", *db, "--by", "kind,severity", "--by", "object", "--type", "cluster"],
    )
    assert r.exit_code == 0, r.output
    body = json.loads(r.stdout)
    assert body["by"] == ["kind", "severity", "object"]
    assert body["total"] == sum(1 for e in events if e["event_type"] == "cluster")
    expected = _expected(
        events, ["kind", "severity", "object"], lambda e: e["event_type"] == "cluster"
    )
    assert {(g["kind"], g["severity"], g["object"]): g["count"] for g in body["groups"]} == expected
    r = runner.invoke(cli, ["events", "count", *db, "--by", "colour"])
    assert r.exit_code == 2


def test_the_cli_choices_are_the_library_fields() -> None:
    assert set(BY_FIELDS) == set(GROUP_FIELDS)
