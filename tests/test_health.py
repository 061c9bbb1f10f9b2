"""``health`` as a probe: bounded checks on a real file, the last file check that maintenance
recorded (failed, stale, never run), nothing written, ``--full`` finding a damaged page, the
CLI's lean path and the full CLI giving the same answer, and what it checks on PostgreSQL."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import URL

from kube9_store import EventStore
from kube9_store.cli import cli
from kube9_store.cli.exit_codes import ExitCode
from kube9_store.lean.read import MAINTENANCE_FACTS, Declined, answer
from kube9_store.operations import checked
from kube9_store.operations.health import check_health
from kube9_store.operations.state import READ, Facts, check_facts, record_with_engine
from kube9_store.results import IntegrityResult
from tests.helpers import event_data, file_fingerprint

DAY = checked.DAY_S


def _filled(path: Path, n: int = 400) -> str:
    """A database of ``n`` events spread over pages, vacuumed; the newest event's id."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with EventStore.open(path, metrics=False) as s:
        s.record_many(
            event_data(
                description="d" * 900, created_at=f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}.000Z"
            )
            for i in range(n)
        )
        s.vacuum()
        return s.query(limit=1)[0].id


def _record(path: Path, result: IntegrityResult, at: float) -> None:
    """What a maintenance run of ``result``'s kind at ``at`` leaves (as a writable store does)."""
    facts = check_facts(result)
    facts.set = {k: (at if k.endswith("last_timestamp") else v) for k, v in facts.set.items()}
    with EventStore.open(path, metrics=False) as s:
        record_with_engine(s.backend.writer, facts)


def _cli(args: list[str]) -> tuple[int, str]:
    r = CliRunner().invoke(cli, args)
    return r.exit_code, r.stdout


#: The volume's figures, which other processes change between two runs.
LIVE = re.compile(r"(volume )[0-9.]+")


def _both(path: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    """The full CLI's exit code and report; the lean path answers the same when healthy and
    declines (leaving it to the full CLI, which gives the exit code) otherwise."""
    args = ["health", *extra, "--db", str(path)]
    code, out = _cli(args)
    if code == ExitCode.OK:
        assert LIVE.sub(r"\1N", answer(args, {}) + "\n") == LIVE.sub(r"\1N", out)
    else:
        with pytest.raises(Declined):
            answer(args, {})
    return code, json.loads(out)


def test_a_healthy_database_reads_only_bounded_parts(db_path: Path) -> None:
    newest = _filled(db_path)
    report = check_health(db_path)
    assert report.status == "ok"
    assert list(report.checks) == [
        "open",
        "query",
        "schema",
        "newest",
        "storage",
        "last_check",
        "quick_check",
    ]
    assert report.checks["query"]["detail"] == "400 events"
    assert report.checks["newest"]["detail"] == f"newest event {newest} at 2026-01-01T00:06:39.000Z"
    assert report.checks["quick_check"]["skipped"] is True
    code, body = _both(db_path)
    assert code == ExitCode.OK and body["status"] == "ok"


def test_never_checked_is_ok_with_a_note(db_path: Path) -> None:
    _filled(db_path, 10)
    code, body = _both(db_path)
    assert code == ExitCode.OK
    last = body["checks"]["last_check"]
    assert last["degraded"] is False and last["last"] == {}
    assert "no file check recorded yet" in last["detail"]


def test_a_recorded_passing_check_is_reported(db_path: Path) -> None:
    _filled(db_path, 10)
    with EventStore.open(db_path, metrics=False) as s:
        assert s.integrity_check(full=True).ok  # a writable store records it
    code, body = _both(db_path)
    assert code == ExitCode.OK
    last = body["checks"]["last_check"]
    assert last["last"]["integrity_check"]["ok"] is True
    assert last["detail"].startswith("integrity_check ok at ")


def test_a_failed_recorded_check_makes_health_degraded(db_path: Path) -> None:
    """A page of old events damaged: the bounded probe does not read it, the daily
    quick_check does and records that it failed, and health then says so."""
    _filled(db_path)
    with open(db_path, "r+b") as f:  # a leaf page of old events, far from the newest
        f.seek(4096 * 20)
        f.write(b"\xff" * 4096)
    assert check_health(db_path).status == "ok"  # not read by the probe
    with EventStore.open(db_path, metrics=False) as s:
        result = s.integrity_check()
    assert not result.ok
    code, body = _both(db_path)
    assert code == ExitCode.PARTIAL and body["status"] == "degraded"
    last = body["checks"]["last_check"]
    assert last["degraded"] is True
    assert last["detail"].startswith("quick_check failed at ")
    assert last["last"]["quick_check"]["ok"] is False
    code, body = _both(db_path, "--full")
    assert code == ExitCode.ERROR and body["checks"]["quick_check"]["ok"] is False


@pytest.mark.parametrize(
    ("runs", "degraded_by"),
    [
        ([("quick", 3 * DAY, True)], "last quick_check at"),
        ([("full", 9 * DAY, True)], "last integrity_check at"),
        ([("quick", 3 * DAY, True), ("full", 1 * DAY, True)], None),  # the stronger covers it
        ([("full", 5 * DAY, True)], None),  # weekly, within eight days
        ([("full", 1 * DAY, False)], "integrity_check failed at"),
        ([("full", 2 * DAY, False), ("quick", 1 * DAY, True)], "integrity_check failed at"),
        ([("quick", 2 * DAY, False), ("full", 1 * DAY, True)], None),  # cleared by a later full
        ([("quick", 1 * DAY, False)], "quick_check failed at"),
    ],
)
def test_failed_and_stale_checks(
    db_path: Path, runs: list[tuple[str, float, bool]], degraded_by: str | None
) -> None:
    _filled(db_path, 5)
    now = time.time()
    for kind, age, ok in runs:
        result = IntegrityResult(ok=ok, problems=[] if ok else ["page 9: bad"], full=kind == "full")
        _record(db_path, result, now - age)
    code, body = _both(db_path)
    last = body["checks"]["last_check"]
    if degraded_by is None:
        assert code == ExitCode.OK and last["degraded"] is False, last
    else:
        assert code == ExitCode.PARTIAL and body["status"] == "degraded"
        assert degraded_by in last["detail"], last


def test_health_writes_nothing(db_path: Path) -> None:
    _filled(db_path, 50)
    with EventStore.open(db_path, metrics=False) as s:
        s.integrity_check()
    directory = db_path.parent
    listing = sorted(p.name for p in directory.iterdir())
    assert not any(name.endswith(("-wal", "-shm")) for name in listing)
    before = file_fingerprint(db_path)
    for args in (["health"], ["health", "--full"]):
        assert answer([*args, "--db", str(db_path)], {})
        code, _ = _cli([*args, "--db", str(db_path)])
        assert code == ExitCode.OK
    check_health(db_path, full=True)
    assert file_fingerprint(db_path) == before
    assert sorted(p.name for p in directory.iterdir()) == listing


def test_a_check_records_only_from_a_store_that_can_write(db_path: Path) -> None:
    _filled(db_path, 5)
    before = file_fingerprint(db_path)
    with EventStore.open(db_path, read_only=True, metrics=False) as s:
        assert s.integrity_check().ok
        assert not any(k.startswith("check.") for k in s.maintenance_facts())
    assert file_fingerprint(db_path) == before
    r = CliRunner().invoke(cli, ["db", "check", "--db", str(db_path)])
    assert r.exit_code == 0 and file_fingerprint(db_path) == before
    r = CliRunner().invoke(cli, ["db", "check", "--full", "--record", "--db", str(db_path)])
    assert r.exit_code == 0, r.output
    with EventStore.open(db_path, read_only=True, metrics=False) as s:
        facts = s.maintenance_facts()
    assert facts[checked.fact_name(checked.FULL, "ok")] == 1.0
    assert abs(facts[checked.fact_name(checked.FULL, "last_timestamp")] - time.time()) < 60


def test_full_finds_a_damaged_page_and_db_check_reports_it(db_path: Path) -> None:
    _filled(db_path)
    with open(db_path, "r+b") as f:
        f.seek(4096 * 20)
        f.write(os.urandom(4096))
    report = check_health(db_path, full=True)
    assert report.status == "failing"
    assert report.checks["quick_check"]["ok"] is False
    r = CliRunner().invoke(cli, ["db", "check", "--db", str(db_path)])
    assert r.exit_code == ExitCode.ERROR
    assert json.loads(r.stdout)["ok"] is False


def test_the_lean_path_reads_the_facts_as_the_store_does() -> None:
    assert str(READ.compile(dialect=sqlite.dialect())) == MAINTENANCE_FACTS


def test_postgresql_health_says_what_it_checks(pg_url: URL) -> None:
    with EventStore.open(pg_url, metrics=False) as s:
        s.record(event_data())
    for full in (False, True):
        report = check_health(pg_url, full=full)
        assert report.status == "ok", report.checks
        assert set(report.checks) == {"open", "query", "schema", "newest", "storage", "last_check"}
        assert "the server checks its own pages" in report.checks["last_check"]["detail"]
    r = CliRunner().invoke(cli, ["health", "--full", "--db", pg_url.render_as_string(False)])
    assert r.exit_code == 0, r.output


def test_recorded_facts_are_what_the_judge_reads() -> None:
    facts = Facts(
        set=checked.recorded(IntegrityResult(ok=False, problems=["a", "b"], full=True), 0)
    )
    assert facts.set == {
        "check.integrity_check.last_timestamp": 0.0,
        "check.integrity_check.ok": 0.0,
        "check.integrity_check.problems": 2.0,
    }
    entry = checked.judge(facts.set, 1.0)
    assert entry["degraded"] is True
    assert entry["last"] == {
        "integrity_check": {"at": "1970-01-01T00:00:00.000Z", "ok": False, "problems": 2}
    }
