"""export (JSON Lines and CSV, streamed) and import jsonl: the contract's fields, order,
filters, files that appear only when complete, exact round trips between databases and
backends, idempotence, malformed lines reported by line number."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import URL

from kube9_store import EVENT_TYPES, SEVERITIES, EventStore, Kube9StoreError
from kube9_store.cli import cli
from kube9_store.events.models import TITLE_MAX
from kube9_store.transfer.export import FIELDS, export_events, export_to_file
from kube9_store.transfer.jsonl import import_jsonl
from tests.helpers import event_data, pg_schema
from tests.operator_db import build_operator_db

CONTRACT = list(FIELDS)


def run(*args: str, input: bytes | str | None = None) -> Any:
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def fill(store: EventStore, n: int = 120) -> None:
    store.record_many(
        [
            event_data(
                event_type=EVENT_TYPES[i % 6],
                severity=SEVERITIES[i % 4],
                title=f'Event {i} ✓ «quoted» "x", y',
                description=None if i % 5 else "two\nlines",
                object_kind="Pod" if i % 2 else None,
                object_name=f"web-{i}" if i % 2 else None,
                metadata={"i": i, "big": 2**80 + i, "f": i / 3, "nested": {"ü": [None, True]}},
                created_at=f"2025-12-02T10:{i // 60:02d}:{i % 60:02d}.{i:03d}Z",
            )
            for i in range(n)
        ]
    )
    for event in store.query({"severity": "error"}, limit=None):
        store.acknowledge(event.id)


def jsonl(store: EventStore, **options: Any) -> bytes:
    out = io.BytesIO()
    export_events(store, out, **options)
    return out.getvalue()


def test_jsonl_lines_are_the_contract_events_oldest_first(store: EventStore) -> None:
    fill(store)
    lines = jsonl(store).splitlines()
    assert len(lines) == 120
    events = [json.loads(line) for line in lines]
    assert all(list(e) == CONTRACT for e in events)
    expected = [e.to_dict() for e in reversed(store.query(limit=None))]
    assert events == expected
    assert sum(e["acknowledged"] for e in events) == 30
    newest = [json.loads(line) for line in jsonl(store, newest_first=True).splitlines()]
    assert newest == list(reversed(expected))
    sliced = [
        json.loads(line)
        for line in jsonl(
            store, flt={"since": "2025-12-02T10:01:00Z", "severity": ["info", "error"]}
        ).splitlines()
    ]
    assert [e["id"] for e in sliced] == [
        e["id"]
        for e in expected
        if e["created_at"] >= "2025-12-02T10:01:00.000Z" and e["severity"] in ("info", "error")
    ]
    assert jsonl(store, batch_size=7) == jsonl(store)


def test_csv_has_a_header_and_every_field(store: EventStore) -> None:
    fill(store, 30)
    out = io.BytesIO()
    result = export_events(store, out, fmt="csv", batch_size=4)
    assert result.events == 30
    rows = list(csv.DictReader(io.StringIO(out.getvalue().decode("utf-8"))))
    assert list(rows[0]) == CONTRACT
    expected = [e.to_dict() for e in reversed(store.query(limit=None))]
    for row, event in zip(rows, expected, strict=True):
        assert json.loads(row["metadata"]) == event["metadata"]
        assert row["acknowledged"] == str(event["acknowledged"])
        assert row["title"] == event["title"]
        assert row["description"] == (event["description"] or "")


@pytest.mark.parametrize("target_kind", ["sqlite", "postgresql"])
def test_export_then_import_round_trips_exactly(
    store: EventStore, tmp_path: Path, target_kind: str, request: pytest.FixtureRequest
) -> None:
    fill(store)
    first = jsonl(store)
    with contextlib.ExitStack() as stack:
        if target_kind == "postgresql":
            target: Path | URL = stack.enter_context(
                pg_schema(request.getfixturevalue("pg_server"))
            )
        else:
            target = tmp_path / "other.db"
        other = stack.enter_context(EventStore.open(target, metrics=False))
        report = import_jsonl(other, io.BytesIO(first), batch_size=50)
        assert (report.read, report.imported, report.already_present) == (120, 120, 0)
        assert jsonl(other) == first
        again = import_jsonl(other, io.BytesIO(first))
        assert (again.imported, again.already_present) == (0, 120)
        assert other.count_by_type() == store.count_by_type()


def test_the_commands_pipe_into_each_other(tmp_path: Path) -> None:
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    with EventStore.open(a, metrics=False) as store:
        fill(store, 40)
    exported = run("export", "--db", str(a))
    assert exported.exit_code == 0 and exported.stderr == ""
    r = run("import", "jsonl", "-", "--db", str(b), input=exported.stdout_bytes)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["imported"] == 40
    assert run("export", "--db", str(b)).stdout_bytes == exported.stdout_bytes
    target = tmp_path / "out" / "events.jsonl"
    target.parent.mkdir()
    r = run("export", "--db", str(a), "--output", str(target), "--type", "cluster")
    summary = json.loads(r.stdout)
    assert (summary["events"], summary["output"]) == (7, str(target))
    assert len(target.read_bytes().splitlines()) == 7
    assert os.listdir(target.parent) == ["events.jsonl"]


def test_malformed_lines_are_reported_by_number(tmp_path: Path) -> None:
    db = tmp_path / "kube9.db"
    good = {
        "id": "evt_20251202_100000_aaaaaa",
        "event_type": "system",
        "severity": "info",
        "title": "ok",
        "created_at": "2025-12-02T10:00:00.000Z",
    }
    lines = [
        json.dumps(good),
        "",
        "{not json",
        "[1, 2]",
        json.dumps({k: v for k, v in good.items() if k != "id"}),
        json.dumps({**good, "id": "evt_20251202_100001_bbbbbb", "colour": "red"}),
        json.dumps({**good, "id": "evt_20251202_100002_cccccc", "acknowledged": "yes"}),
        json.dumps({**good, "id": "evt_20251202_100003_dddddd", "severity": "loud"}),
        json.dumps({**good, "id": "evt_20251202_100004_eeeeee", "acknowledged": True}),
        json.dumps({**good, "id": "evt_20251202_100005_ffffff", "title": "x" * (TITLE_MAX + 1)}),
        '{"id": "evt_20251202_100006_gggggg", "event_type": "system", "severity": "info", '
        '"title": "lone \\ud800 surrogate", "created_at": "2025-12-02T10:00:00Z"}',
        json.dumps({**good, "id": "evt_20251202_100007_hhhhhh", "title": "bell \x07 esc \x1b[2J"}),
    ]
    source = tmp_path / "events.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = run("import", "jsonl", str(source), "--db", str(db))
    assert r.exit_code == 3, r.output  # partial: the valid lines stored, the others named
    report = json.loads(r.stdout)
    assert (report["read"], report["imported"], report["invalid_count"]) == (11, 3, 8)
    assert [p["line"] for p in report["invalid"]] == [3, 4, 5, 6, 7, 8, 10, 11]
    warned = [json.loads(line) for line in r.stderr.splitlines()]
    assert [w["line"] for w in warned] == [3, 4, 5, 6, 7, 8, 10, 11]
    details = {p["line"]: p["error"] for p in report["invalid"]}
    assert "not JSON" in details[3]
    assert "id: is required" in details[5]
    assert "colour" in details[6]
    assert "acknowledged" in details[7]
    assert "severity" in details[8]
    assert "title" in details[10]
    assert details[11].startswith("invalid input: title")  # a lone surrogate
    with EventStore.open(db, read_only=True, metrics=False) as store:
        acked = store.get("evt_20251202_100004_eeeeee")
        assert acked is not None and acked.acknowledged
        controls = store.get("evt_20251202_100007_hhhhhh")
        assert controls is not None and controls.title == "bell \x07 esc \x1b[2J"
        assert b"\\u001b" in jsonl(store)  # escaped in the JSON, never raw on a terminal
    r = run("import", "jsonl", "-", "--db", str(db), input="{broken\n")
    assert r.exit_code == 1
    assert json.loads(r.stderr.splitlines()[-1])["details"] == "no valid line"


def test_an_export_to_a_file_appears_only_when_complete(tmp_path: Path) -> None:
    bad = ("evt_20251203_000000_badbad", "system", "info", "odd", None, None, None, None)
    source = build_operator_db(
        tmp_path / "op" / "kube9.db",
        events=50,
        extra_rows=[(*bad, "{not json", "2025-12-03T00:00:00.000Z")],
    )
    target = tmp_path / "out" / "events.jsonl"
    target.parent.mkdir()
    target.write_text("previous\n")

    def stop(done: int, _total: int) -> None:
        raise Kube9StoreError(f"stopped after {done}")

    with (
        EventStore.open(source, read_only=True, metrics=False) as store,
        pytest.raises(Kube9StoreError, match="stopped after 10"),
    ):
        export_to_file(store, target, batch_size=10, progress=stop)
    assert target.read_text() == "previous\n"
    assert os.listdir(target.parent) == ["events.jsonl"]
    with EventStore.open(source, read_only=True, metrics=False) as store:
        result = export_to_file(store, target)  # the bad row: reported by id, left out
    assert result.events == 50 and result.invalid_count == 1
    assert result.invalid[0]["id"] == "evt_20251203_000000_badbad"
    r = run("export", "--db", str(source), "--output", str(target), "--until", "2025-12-03")
    assert r.exit_code == 0, r.output
    lines = [json.loads(line) for line in target.read_bytes().splitlines()]
    assert len(lines) == 50 and not any(e["acknowledged"] for e in lines)


def test_progress_stays_off_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    db = tmp_path / "kube9.db"
    with EventStore.open(db, metrics=False) as store:
        fill(store, 10)
    r = run("export", "--db", str(db), "--output", str(tmp_path / "e.jsonl"))
    assert r.stderr == ""
    r = run("copy", str(db), str(tmp_path / "c.db"))
    assert r.stderr == ""


texts = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))
values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**90), 2**90)
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=10,
)
random_events = st.lists(
    st.fixed_dictionaries(
        {
            "event_type": st.sampled_from(EVENT_TYPES),
            "severity": st.sampled_from(SEVERITIES),
            "title": texts.filter(lambda s: len(s) <= TITLE_MAX),
            "description": st.none() | texts.filter(lambda s: len(s) <= 1000),
            "object_name": st.none() | texts.filter(lambda s: 0 < len(s) <= 253),
            "metadata": st.none() | st.dictionaries(texts, values, max_size=4),
        }
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_events)
def test_round_trip_property(batch: list[dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        with EventStore.open(Path(tmp) / "a.db", metrics=False) as a:
            a.record_many(batch)
            exported = jsonl(a)
            rows_a = [e.to_dict() for e in a.query(limit=None)]
        with EventStore.open(Path(tmp) / "b.db", metrics=False) as b:
            import_jsonl(b, io.BytesIO(exported))
            assert jsonl(b) == exported
            assert [e.to_dict() for e in b.query(limit=None)] == rows_a
