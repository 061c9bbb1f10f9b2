"""The fault matrix: every operation that writes a file or changes a schema, killed by SIGKILL
at many points (each statement SQLite starts and each file step, plus random moments), and then,
every time: the database opens; ``integrity_check(full=True)`` is ok (which includes the counts
equalling the events); every event whose write returned is present and whole; a batch is all
there or not at all; the previous database of a restore still exists; and whatever temporary a
crash left is removed by the next run.

CI tests a spread of points per operation (``--fault-points``, default 24, plus
``--fault-random`` random moments, default 4); ``--fault-points=all`` tests every point. The
number of points tested per operation is printed at the end of the run."""

from __future__ import annotations

import json
import random
import re
import shutil
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kube9_store import EventStore, NewEvent
from kube9_store.schema.tables import HEAD_VERSION
from kube9_store.transfer.k8s import import_events, to_new_event
from tests import faults
from tests.helpers import build_spec_db, event_data

#: Processes killed and raced: the slow suite (``pytest -m slow``), which CI runs.
pytestmark = pytest.mark.slow

DB = "kube9.db"
#: What may stay in a database's directory after any run (a restore also keeps copies).
KEPT = re.compile(r"kube9\.db\.pre-restore-\d{8}T\d{6}Z(-\d+)?")
SETTLED = re.compile(rf"kube9\.db(-wal|-shm|\.lock)?|{KEPT.pattern}|backups")
BATCH = 10
#: A batch large enough for SQLite's path that sets the count trigger aside.
LARGE_BATCH = 120


@dataclass
class Case:
    """One operation of the matrix: how to set up a round, what the child does, and what must
    hold afterwards."""

    name: str
    setup: Callable[[Path, Path], None]  # (template dir, round dir)
    operation: Callable[[Path], faults.Operation]  # round dir -> what the child runs
    check: Callable[[Path, faults.Run], None]  # round dir, what the child reported
    later: Callable[[Path], None]  # the next run, which must clean what a crash left
    settled: re.Pattern[str] = SETTLED  # names allowed in the round dir afterwards


# -- what must hold after every kill ------------------------------------------------------------


def assert_sound(path: Path, returned: set[str] | None = None) -> list[Any]:
    """The database opens, is intact with exact counts, holds every returned event whole, and
    every batch whole or not at all; returns its events."""
    with EventStore.open(path, metrics=False) as store:
        check = store.integrity_check(full=True)
        assert check.ok, check.problems
        events = store.query(limit=None)
        assert store.count() == len(events) == sum(store.count_by_type().values())
        assert store.schema_version() == HEAD_VERSION
    ids = {e.id for e in events}
    lost = (returned or set()) - ids
    assert not lost, f"{len(lost)} returned events are lost"
    for e in events:  # whole: every field as valid as when it was recorded
        NewEvent(**{k: v for k, v in e.to_dict().items() if k != "acknowledged"})
    batches = Counter(e.title.split("/")[0] for e in events if e.title.startswith("batch "))
    assert all(n == int(name.split(":")[1]) for name, n in batches.items()), batches
    con = sqlite3.connect(path)  # the count trigger a large batch sets aside is in place
    try:
        triggers = {
            r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        }
    finally:
        con.close()
    assert "trg_events_count_insert" in triggers, triggers
    return events


def assert_settled(directory: Path, pattern: re.Pattern[str]) -> None:
    left = sorted(p.name for p in directory.iterdir() if not pattern.fullmatch(p.name))
    assert left == [], f"left behind: {left}"


def _copy_database(template: Path, round_dir: Path) -> None:
    round_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template / DB, round_dir / DB)


def _build(template: Path, fill: Callable[[EventStore], None]) -> None:
    with EventStore.open(template / DB, metrics=False) as store:
        fill(store)


def _later_open(round_dir: Path) -> None:
    EventStore.open(round_dir / DB, metrics=False).close()


# -- the operations -----------------------------------------------------------------------------


def _create_op(round_dir: Path) -> faults.Operation:
    def run(report: Callable[[list[str]], None]) -> None:
        with EventStore.open(round_dir / DB, metrics=False) as store:
            report([store.record(event_data(title="first")).id])

    return run


def _create_check(round_dir: Path, run: faults.Run) -> None:
    assert_sound(round_dir / DB, run.returned)


def _migrate_setup(template: Path, round_dir: Path) -> None:
    if not (template / DB).exists():
        build_spec_db(template / DB, rows=300)
    _copy_database(template, round_dir)


def _migrate_op(round_dir: Path) -> faults.Operation:
    def run(report: Callable[[list[str]], None]) -> None:
        EventStore.open(round_dir / DB, metrics=False).close()
        report([])

    return run


def _migrate_check(round_dir: Path, run: faults.Run) -> None:
    events = assert_sound(round_dir / DB)
    assert len(events) == 300


def _empty_setup(template: Path, round_dir: Path) -> None:
    if not (template / DB).exists():
        _build(template, lambda s: None)
    _copy_database(template, round_dir)


def _record_op(round_dir: Path) -> faults.Operation:
    def run(report: Callable[[list[str]], None]) -> None:
        with EventStore.open(round_dir / DB, metrics=False) as store:
            for i in range(30):
                report([store.record(event_data(title=f"one {i}")).id])

    return run


def _record_many_op(round_dir: Path) -> faults.Operation:
    def run(report: Callable[[list[str]], None]) -> None:
        with EventStore.open(round_dir / DB, metrics=False) as store:
            for b in range(6):
                size = LARGE_BATCH if b % 2 else BATCH
                batch = [event_data(title=f"batch {b}:{size}/{k}") for k in range(size)]
                report([e.id for e in store.record_many(batch)])

    return run


def _sound_check(round_dir: Path, run: faults.Run) -> None:
    assert_sound(round_dir / DB, run.returned)


def _retention_setup(template: Path, round_dir: Path) -> None:
    if not (template / DB).exists():

        def fill(store: EventStore) -> None:
            store.record_many(
                event_data(
                    title=f"old {i}", created_at="2020-01-01T00:00:00Z", description="d" * 300
                )
                for i in range(400)
            )
            store.record_many(event_data(title=f"new {i}") for i in range(20))

        _build(template, fill)
    _copy_database(template, round_dir)


def _retention_op(round_dir: Path) -> faults.Operation:
    def run(report: Callable[[list[str]], None]) -> None:
        with EventStore.open(round_dir / DB, metrics=False) as store:
            result = store.apply_retention(batch_size=50, vacuum_free_share=0.0)
            assert result.vacuumed
        report([])

    return run


def _retention_check(round_dir: Path, run: faults.Run) -> None:
    events = assert_sound(round_dir / DB)
    titles = [e.title for e in events]
    assert sum(t.startswith("new ") for t in titles) == 20
    assert sum(t.startswith("old ") for t in titles) <= 400


def _filled_setup(template: Path, round_dir: Path) -> None:
    if not (template / DB).exists():
        _build(template, lambda s: s.record_many(event_data(title=f"kept {i}") for i in range(200)))
    _copy_database(template, round_dir)


def _backup_op(round_dir: Path) -> faults.Operation:
    def run(report: Callable[[list[str]], None]) -> None:
        with EventStore.open(round_dir / DB, metrics=False) as store:
            store.backup(round_dir / "backups" / "b.db")
        report([])

    return run


def _snapshot_op(round_dir: Path) -> faults.Operation:
    def run(report: Callable[[list[str]], None]) -> None:
        with EventStore.open(round_dir / DB, metrics=False) as store:
            store.backup_snapshot(round_dir / "backups")
        report([])

    return run


def _backup_check(round_dir: Path, run: faults.Run) -> None:
    assert len(assert_sound(round_dir / DB)) == 200
    backups = round_dir / "backups"
    for copy in backups.glob("*.db") if backups.exists() else []:
        if not copy.name.startswith("."):  # a backup under its final name is whole
            with EventStore.open(copy, read_only=True, metrics=False) as store:
                assert store.count() == 200
                assert store.integrity_check(full=True).ok


def _backup_later(round_dir: Path) -> None:
    with EventStore.open(round_dir / DB, metrics=False) as store:
        store.backup(round_dir / "backups" / "later.db")
    assert_settled(round_dir / "backups", re.compile(r"(b|later|kube9-\d{8}T\d{6}Z(-\d+)?)\.db"))


def _restore_setup(template: Path, round_dir: Path) -> None:
    if not (template / DB).exists():
        _build(
            template, lambda s: s.record_many(event_data(title=f"previous {i}") for i in range(50))
        )
        source = template / "source" / DB
        with EventStore.open(source, metrics=False) as store:
            store.record_many(event_data(title=f"restored {i}") for i in range(30))
            store.backup(template / "backup.db")
    _copy_database(template, round_dir)
    shutil.copyfile(template / "backup.db", round_dir.parent / f"{round_dir.name}-backup.db")


def _restore_op(round_dir: Path) -> faults.Operation:
    def run(report: Callable[[list[str]], None]) -> None:
        source = round_dir.parent / f"{round_dir.name}-backup.db"
        EventStore.restore(source, round_dir / DB, metrics=False).close()
        report([])

    return run


def _titles(path: Path) -> set[str]:
    with EventStore.open(path, read_only=True, metrics=False) as store:
        return {e.title for e in store.query(limit=None)}


def _restore_check(round_dir: Path, run: faults.Run) -> None:
    previous = {f"previous {i}" for i in range(50)}
    restored = {f"restored {i}" for i in range(30)}
    now = {e.title for e in assert_sound(round_dir / DB)}
    assert now in (previous, restored)
    kept = [p for p in round_dir.iterdir() if KEPT.fullmatch(p.name)]
    assert now == previous or any(_titles(p) == previous for p in kept), (
        "the previous database is lost"
    )
    if not run.killed:
        assert now == restored


def _restore_later(round_dir: Path) -> None:
    _restore_op(round_dir)(lambda ids: None)


def _import_document() -> str:
    items = [
        {
            "kind": "Event",
            "metadata": {"uid": f"uid-{i}", "name": f"web-{i}.17d", "namespace": "default"},
            "involvedObject": {"kind": "Pod", "name": f"web-{i}", "namespace": "default"},
            "reason": "BackOff",
            "message": "Back-off restarting failed container",
            "type": "Warning",
            "count": i + 1,
            "lastTimestamp": f"2025-12-02T10:{i // 60:02d}:{i % 60:02d}Z",
        }
        for i in range(200)
    ]
    return json.dumps({"kind": "EventList", "items": items})


DOCUMENT = _import_document()
IMPORT_IDS = [to_new_event(item).id for item in json.loads(DOCUMENT)["items"]]


def _import_op(round_dir: Path) -> faults.Operation:
    def run(report: Callable[[list[str]], None]) -> None:
        with EventStore.open(round_dir / DB, metrics=False) as store:
            import_events(store, DOCUMENT)
        report(IMPORT_IDS)

    return run


def _import_check(round_dir: Path, run: faults.Run) -> None:
    events = assert_sound(round_dir / DB, run.returned)
    assert len(events) in (0, 200)  # one transaction: all or none


def _import_later(round_dir: Path) -> None:
    with EventStore.open(round_dir / DB, metrics=False) as store:
        import_events(store, DOCUMENT)
        assert store.count() == 200


def _recount_op(round_dir: Path) -> faults.Operation:
    def run(report: Callable[[list[str]], None]) -> None:
        with EventStore.open(round_dir / DB, metrics=False) as store:
            store.recount()
        report([])

    return run


def _recount_check(round_dir: Path, run: faults.Run) -> None:
    assert len(assert_sound(round_dir / DB)) == 200


def _fresh(template: Path, round_dir: Path) -> None:
    round_dir.mkdir(parents=True, exist_ok=True)


CASES = [
    Case("create", _fresh, _create_op, _create_check, _later_open),
    Case("migrate", _migrate_setup, _migrate_op, _migrate_check, _later_open),
    Case("record", _empty_setup, _record_op, _sound_check, _later_open),
    Case("record_many", _empty_setup, _record_many_op, _sound_check, _later_open),
    Case("retention+vacuum", _retention_setup, _retention_op, _retention_check, _later_open),
    Case("backup", _filled_setup, _backup_op, _backup_check, _backup_later),
    Case("snapshot", _filled_setup, _snapshot_op, _backup_check, _backup_later),
    Case("restore", _restore_setup, _restore_op, _restore_check, _restore_later),
    Case("import", _empty_setup, _import_op, _import_check, _import_later),
    Case("recount", _filled_setup, _recount_op, _recount_check, _later_open),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_killed_anywhere_nothing_committed_is_lost(
    case: Case, tmp_path: Path, fault_budget: tuple[int | None, int]
) -> None:
    points, randoms = fault_budget
    template = tmp_path / "template"
    template.mkdir()
    rnd = random.Random(f"{case.name}-12")

    def one_round(name: str, **kill: Any) -> faults.Run:
        round_dir = tmp_path / name
        case.setup(template, round_dir)
        run = faults.run_child(case.operation(round_dir), **kill)
        try:
            case.check(round_dir, run)
            case.later(round_dir)
            assert_settled(round_dir, case.settled)
        except AssertionError as exc:
            raise AssertionError(f"{case.name}, {name} {kill}: {exc}") from exc
        shutil.rmtree(round_dir)
        return run

    started = time.monotonic()
    counted = one_round("count")
    duration = time.monotonic() - started
    assert counted.points, "the operation passed no kill point"
    chosen = faults.choose_points(counted.points, points, rnd)
    for k in chosen:
        run = one_round(f"k{k}", kill_at=k)
        assert run.killed, f"point {k} of {len(counted.points)} was never reached"
    for r in range(randoms):
        one_round(f"r{r}", delay=rnd.uniform(0.0, duration))
    faults.record_tested(case.name, len(counted.points), len(chosen), randoms)
