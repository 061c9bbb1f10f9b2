"""The console script's lean read path (:mod:`kube9_store.lean.read`) against the full CLI:
the same bytes for every read command and format over varied events, the very SQL the store
compiles for every query shape, the cases it leaves to the full CLI, and a process that
imports none of the heavy libraries."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite

from kube9_store import EventStore
from kube9_store.cli import cli
from kube9_store.cli.exit_codes import ExitCode
from kube9_store.console import LEAN_FIRST_WORDS
from kube9_store.events.event import parse_metadata
from kube9_store.events.models import EventFilter, dump_metadata
from kube9_store.lean import read as quickread
from kube9_store.lean.read import Declined, Filter, answer
from kube9_store.operations.retention import ENV_MAX_DB_BYTES
from kube9_store.schema import facts
from kube9_store.schema.sortkey import BY_ROWID
from kube9_store.schema.state import HEAD_TABLES
from kube9_store.schema.tables import events, metadata
from kube9_store.store.filters import counted_statement, shape_and_values, statement_for
from kube9_store.store.statements import CompiledSQL, Statements
from tests.helpers import build_spec_db, event_data
from tests.operator_db import build_operator_db

SQLITE = sqlite.dialect()

VARIED: list[dict[str, Any]] = [
    event_data(
        event_type="cluster",
        severity="error",
        title="Überprüfung fehlgeschlagen ✓ 日本語 🚀",
        description="line one\nline two\ttab \x1b[31mred\x1b[0m \x7f del \x85 nel \x9b csi",
        object_kind="Pod",
        object_namespace="default",
        object_name="web-0",
        metadata={
            "reason": "BackOff",
            "count": 2**70,
            "ratio": 0.1,
            "tiny": 1e-7,
            "huge": 1.7976931348623157e308,
            "negative_zero": -0.0,
            "ключ": ["a", 1, True, None, {"nested": {"deeper": [1.5, -2]}}],
            'quote"and\\slash': "\u2028\u2029 separators",
            "emoji": "🙂",
        },
        created_at="2025-12-02T10:00:00.000Z",
    ),
    event_data(
        event_type="health",
        severity="critical",
        title="Probe failed",
        description=None,
        metadata=None,
        created_at="2025-12-02T10:00:00.000Z",  # the same instant: newest stored first
    ),
    event_data(
        event_type="operator",
        severity="info",
        title="T" * 200,
        object_kind="Deployment",
        object_namespace="production",
        object_name="api",
        metadata={},
        created_at="2025-12-01T23:59:59.999Z",
    ),
    event_data(
        event_type="insight",
        severity="warning",
        title="Control\x01chars\x1f in a title",
        object_kind="Node",
        object_name="node-1",
        metadata={"text": "\x00\x01 raw controls \x1b", "n": -12345678901234567890123},
        created_at="2025-11-30T08:15:00.123Z",
    ),
    event_data(
        event_type="assessment",
        severity="error",
        title="Résumé, with commas, \"quotes\" and 'apostrophes'",
        description="",
        object_kind="Pod",
        object_namespace="kube-system",
        object_name="dns",
        created_at="2025-12-03T00:00:00.000Z",
    ),
    event_data(
        event_type="system",
        severity="info",
        title="yes",  # a word YAML would read as a bool unquoted
        description="null",
        metadata={"on": "off", "date": "2025-12-01", "number_text": "0123"},
        created_at="2025-12-02T12:30:45.678Z",
    ),
]


@pytest.fixture(scope="module")
def varied_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("quickread") / "kube9.db"
    with EventStore.open(path, metrics=False) as store:
        stored = [store.record(e) for e in VARIED]
        for i in range(40):  # enough for pages and cursors
            stored.append(
                store.record(
                    event_data(
                        event_type=("cluster", "operator", "health")[i % 3],
                        severity=("info", "warning", "error", "critical")[i % 4],
                        title=f"event {i}",
                        object_kind=("Pod", "Deployment")[i % 2],
                        object_namespace=("default", "production", None)[i % 3],
                        object_name=f"app-{i % 5}",
                        metadata={"i": i, "reason": "Scheduled"} if i % 4 else None,
                        created_at=f"2025-12-0{1 + i % 3}T0{i % 10}:00:{i % 60:02d}.{i:03d}Z",
                    )
                )
            )
        for event in stored[::4]:
            store.acknowledge(event.id)
    return path


def full_cli(args: list[str]) -> str:
    """What the full CLI prints for ``args`` (exit code 0, nothing on stderr)."""
    r = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert r.exit_code == 0, (args, r.output, r.stderr)
    assert r.stderr == ""
    return r.stdout


LIST_CASES: list[list[str]] = [
    [],
    ["--limit", "3"],
    ["--limit=7", "--offset=2"],
    ["--offset", "44", "--limit", "5"],
    ["--limit", "3", "--limit", "4"],  # the last wins
    ["--type", "cluster,health"],
    ["--type", " health, cluster ,health,"],
    ["--severity", "error,critical", "--limit", "1000"],
    ["--type", "cluster", "--severity", "error"],
    ["--since", "2025-12-02"],
    ["--since", "2025-12-01T10:00:00+02:00", "--until", "2025-12-02T10:00:00Z"],
    ["--since", "36500d"],
    ["--object-kind", "Pod"],
    ["--object-kind", "Pod", "--object-namespace", "default"],
    ["--object-kind", "Pod", "--object-namespace", "default", "--object-name", "web-0"],
    ["--object-name", "app-3", "--type", "cluster,operator"],
    ["--object-namespace", "nowhere"],
    ["--acknowledged"],
    ["--unacknowledged", "--limit", "5"],
    ["--acknowledged", "--unacknowledged"],
    ["--cursor", "start", "--limit", "4"],
    ["--cursor=start", "--limit", "1000"],
    ["--cursor", "start", "--type", "cluster", "--since", "2025-12-01", "--acknowledged"],
    ["--wide"],
    ["--columns", "id,title,ack"],
    ["--columns=namespace,object,description", "--wide"],
    ["--wide", "--columns", "created"],
    ["--type", "operator", "--severity", "info", "--object-kind", "Deployment"],
]
FORMATS = ["json", "yaml", "csv", "table"]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("flags", LIST_CASES, ids=[" ".join(c) or "-" for c in LIST_CASES])
def test_list_prints_what_the_full_cli_prints(varied_db: Path, flags: list[str], fmt: str) -> None:
    args = ["query", "events", "list", *flags, "--format", fmt, "--db", str(varied_db)]
    assert answer(args, {}) + "\n" == full_cli(args)


def test_the_pages_of_a_cursor_match(varied_db: Path) -> None:
    cursor = "start"
    pages = 0
    while cursor is not None:
        args = ["query", "events", "list", "--limit", "6", "--cursor", cursor]
        args += ["--db", str(varied_db)]
        text = answer(args, {})
        assert text + "\n" == full_cli(args)
        cursor = json.loads(text)["pagination"]["next_cursor"]
        pages += 1
    assert pages == 8  # 46 events, 6 a page


@pytest.mark.parametrize("fmt", FORMATS)
def test_get_prints_what_the_full_cli_prints(varied_db: Path, fmt: str) -> None:
    with EventStore.open(varied_db, read_only=True, metrics=False) as store:
        ids = [e.id for e in store.query(limit=None)]
    for event_id in ids:
        args = ["query", "events", "get", event_id, "--format", fmt, "--db", str(varied_db)]
        assert answer(args, {}) + "\n" == full_cli(args)
    for flags in (["--wide"], ["--columns", "id,ack,description"]):
        args = ["query", "events", "get", "--db", str(varied_db), ids[0], "--format", "table"]
        assert answer([*args, *flags], {}) + "\n" == full_cli([*args, *flags])


COUNT_CASES: list[list[str]] = [
    [],
    ["--type", "cluster"],
    ["--type", "cluster,health,system"],
    ["--severity", "error,critical"],
    ["--type", "operator", "--severity", "info,warning"],
    ["--since", "2025-12-02"],
    ["--until", "2025-12-02", "--type", "cluster"],
    ["--object-kind", "Pod"],
    ["--object-namespace", "production", "--severity", "error"],
    ["--acknowledged"],
    ["--unacknowledged", "--type", "health"],
]


@pytest.mark.parametrize("flags", COUNT_CASES, ids=[" ".join(c) or "-" for c in COUNT_CASES])
def test_count_prints_what_the_full_cli_prints(varied_db: Path, flags: list[str]) -> None:
    args = ["events", "count", *flags, "--db", str(varied_db)]
    assert answer(args, {}) + "\n" == full_cli(args)


#: Figures of the volume, which other processes change between two runs.
LIVE = re.compile(r'("free_bytes": |"used_percent": |volume )[0-9.]+')


def _steady(text: str) -> str:
    return LIVE.sub(r"\1N", text)


@pytest.mark.parametrize("budget", [None, "1Ti", "1Ki"])
def test_status_and_health_print_what_the_full_cli_prints(
    varied_db: Path, budget: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no size budget, one far away and one exceeded (health then degraded: the full
    CLI's to report, with its exit code)."""
    if budget is not None:
        monkeypatch.setenv(ENV_MAX_DB_BYTES, budget)
    status = ["db", "status", "--db", str(varied_db)]
    assert _steady(answer(status, {}) + "\n") == _steady(full_cli(status))
    health = ["health", "--db", str(varied_db)]
    if budget == "1Ki":
        with pytest.raises(Declined):
            answer(health, {})
        return
    assert _steady(answer(health, {}) + "\n") == _steady(full_cli(health))
    full = ["health", "--full", "--db", str(varied_db)]
    assert _steady(answer(full, {}) + "\n") == _steady(full_cli(full))


def test_a_database_stamped_before_the_branch_is_left_to_the_full_cli(
    varied_db: Path, tmp_path: Path
) -> None:
    """A head database whose alembic_version still holds the id from before the revisions
    were a branch (the full CLI reads it with a notice until a read-write open renames the
    id), and one with an application's revision beside ours."""
    import shutil
    import sqlite3

    legacy = tmp_path / "legacy.db"
    shared = tmp_path / "shared.db"
    for path in (legacy, shared):
        shutil.copyfile(varied_db, path)
    with sqlite3.connect(legacy) as con:
        old = facts.HEAD_REVISION.removeprefix(facts.REVISION_PREFIX)
        con.execute("UPDATE alembic_version SET version_num = ?", (old,))
    with sqlite3.connect(shared) as con:
        con.execute("INSERT INTO alembic_version (version_num) VALUES ('app_0001')")
    for path in (legacy, shared):
        with pytest.raises(Declined):
            answer(["events", "count", "--db", str(path)], {})


def test_the_location_is_the_full_clis(varied_db: Path, tmp_path: Path) -> None:
    """$DB_PATH, $KUBE9_DB_URL (a sqlite:/// path) and a relative --db name the same file."""
    args = ["events", "count"]
    expected = full_cli([*args, "--db", str(varied_db)])
    assert answer(args, {"DB_PATH": str(varied_db.parent)}) + "\n" == expected
    assert answer(args, {"KUBE9_DB_URL": f"sqlite:///{varied_db}"}) + "\n" == expected
    here = Path.cwd()
    os.chdir(varied_db.parent)
    try:
        assert answer([*args, "--db", "kube9.db"], {}) + "\n" == expected
        assert answer([*args, "--db", "sqlite:///kube9.db"], {}) + "\n" == expected
    finally:
        os.chdir(here)


# -- the SQL ---------------------------------------------------------------------------------


def _filters() -> list[EventFilter]:
    out = []
    values: dict[str, list[Any]] = {
        "event_type": [None, ["cluster"], ["cluster", "health", "system"]],
        "severity": [None, ["error"], ["error", "info"]],
        "since": [None, "2025-12-01"],
        "until": [None, "2025-12-03T10:00:00Z"],
        "object_kind": [None, "Pod"],
        "object_namespace": [None, "default"],
        "object_name": [None, "web"],
        "acknowledged": [None, True, False],
    }
    for combo in itertools.product(*values.values()):
        out.append(EventFilter(**dict(zip(values, combo, strict=True))))
    return out


#: Filters the lean path leaves to the full CLI (it declines their flags).
DECLINED = ("cluster",)


def _lean(flt: EventFilter) -> Filter:
    assert all(getattr(flt, name) is None for name in DECLINED)
    return Filter(
        **{
            name: (value if value is not None else ())
            if name not in ("since", "until", "acknowledged")
            else value
            for name, value in flt.model_dump().items()
            if name not in DECLINED
        }
    )


_CURSOR = ("2025-12-02T10:00:00.000Z", "evt_20251202_100000_abcdef")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"limit": 50},
        pytest.param({"limit": 7, "offset": 3}, marks=pytest.mark.slow, id="offset"),
        pytest.param({"limit": 11, "cursor": _CURSOR}, marks=pytest.mark.slow, id="cursor"),
        {"count": True},
    ],
    ids=["page", "offset", "cursor", "count"],
)
def test_the_sql_is_the_stores_for_every_shape(kwargs: dict[str, Any]) -> None:
    """Text and parameters, for pages (with an offset or a cursor) and counts, of every
    filter shape (offsets and cursors, the slowest to compile, with the slow suites; the
    store's own tests read pages with both)."""
    checked = 0
    for flt in _filters():
        lean = _lean(flt)
        shape, values = shape_and_values(flt, **kwargs)
        compiled = CompiledSQL.of(statement_for(shape, BY_ROWID), SQLITE)
        sql, params = quickread.select_sql(lean, **kwargs)
        assert sql == compiled.sql
        assert tuple(params) == compiled.params(values)
        checked += 1
    assert checked == 3 * 3 * 2 * 2 * 2 * 2 * 2 * 3


def test_the_counts_are_the_stores() -> None:
    """From the trigger-kept counts when the filter names only types and severities."""
    statements = Statements(SQLITE, BY_ROWID)
    for flt in _filters():
        sql, params = quickread.count_sql(_lean(flt))
        if flt.since or flt.until or flt.object_kind or flt.object_namespace or flt.object_name:
            assert sql.startswith("SELECT count(*)")
            continue
        if flt.acknowledged is not None:
            assert sql.startswith("SELECT count(*)")
            continue
        if not (flt.event_type or flt.severity):
            assert (sql, tuple(params)) == (statements.count_all.sql, (0,))
            continue
        compiled = counted_statement(flt).compile(
            dialect=SQLITE, compile_kwargs={"render_postcompile": True}
        )
        assert sql == str(compiled)
        assert tuple(params) == tuple(compiled.params[n] for n in compiled.positiontup or ())
    assert statements.get.sql == quickread.GET
    assert statements.schema_version.sql == quickread.SCHEMA_VERSION


def test_the_console_script_sends_the_lean_paths_commands_to_it() -> None:
    assert {words[0] for words in quickread.COMMANDS} == LEAN_FIRST_WORDS
    assert quickread.BROKEN_PIPE == ExitCode.BROKEN_PIPE


def test_the_plain_facts_are_the_schemas() -> None:
    assert tuple(c.name for c in events.columns) == facts.EVENT_COLUMNS
    assert frozenset(metadata.tables) == facts.HEAD_TABLES == HEAD_TABLES


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**200), max_value=2**200)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=8), children, max_size=4)
        ),
        max_leaves=12,
    ).map(lambda v: {"value": v})
)
def test_stdlib_json_reads_stored_metadata_as_the_store_does(value: dict[str, Any]) -> None:
    """The lean path parses metadata with json.loads, the store with pydantic-core: for what
    the store writes, the same objects (floats to the bit, integers past 64 bits exactly)."""
    text = dump_metadata(value)
    assert text is not None
    ours, theirs = json.loads(text), parse_metadata(text)
    assert json.dumps(ours) == json.dumps(theirs)
    assert repr(ours) == repr(theirs)


# -- what the lean path leaves to the full CLI -----------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["-v", "query", "events", "list"],
        ["query", "events", "list", "--help"],
        ["query", "events", "list", "-h"],
        ["query", "events", "list", "--columns", "id,nonsense"],
        ["query", "events", "list", "--columns", "id,id"],
        ["query", "events", "list", "--follow"],
        ["query", "events", "list", "-f"],
        ["query", "events", "list", "--limit", "0"],
        ["query", "events", "list", "--limit", "1001"],
        ["query", "events", "list", "--limit", "ten"],
        ["query", "events", "list", "--limit"],
        ["query", "events", "list", "--offset", "-1"],
        ["query", "events", "list", "--type", "nonsense"],
        ["query", "events", "list", "--type", ","],
        ["query", "events", "list", "--since", "yesterday"],
        ["query", "events", "list", "--format", "xml"],
        ["query", "events", "list", "--cursor", "bogus!"],
        ["query", "events", "list", "--cursor", "start", "--offset", "3"],
        ["query", "events", "list", "--wide=yes"],
        ["query", "events", "list", "--object-name", "a\x00b"],
        ["query", "events", "list", "extra"],
        ["query", "events", "get"],
        ["query", "events", "get", "evt_20990101_000000_nosuch"],
        ["events", "count", "--by", "type"],
        ["events", "record", "--type", "operator"],
        ["db", "upgrade"],
        ["db", "status", "--verbose"],
        ["health", "extra"],
        ["health", "--full=yes"],
    ],
)
def test_it_leaves_the_rest_to_the_full_cli(varied_db: Path, args: list[str]) -> None:
    with pytest.raises(Declined):
        answer([*args, "--db", str(varied_db)], {})


@pytest.mark.parametrize(
    "db",
    ["", ":memory:", "postgresql+psycopg://postgres@127.0.0.1:5432/test", "sqlite://"],
)
def test_it_leaves_other_locations_to_the_full_cli(db: str) -> None:
    with pytest.raises(Declined):
        answer(["events", "count", "--db", db], {})


def test_it_leaves_other_databases_to_the_full_cli(tmp_path: Path) -> None:
    """Missing, empty, behind head, of another lineage: the full CLI's notices and refusals."""
    missing = tmp_path / "missing.db"
    empty = tmp_path / "empty.db"
    empty.touch()
    behind = build_spec_db(tmp_path / "v1.db", rows=3)
    foreign = build_operator_db(tmp_path / "operator.db", events=5)
    for path in (missing, empty, behind, foreign, tmp_path):
        with pytest.raises(Declined):
            answer(["query", "events", "list", "--db", str(path)], {})
    assert not (tmp_path / "v1.db-wal").exists()  # judged without a side file, as the store does


def test_a_read_leaves_the_directory_as_it_found_it(varied_db: Path, tmp_path: Path) -> None:
    """As a read-only store: no -wal or -shm stays beside a database that had none."""
    import shutil

    copy = tmp_path / "kube9.db"
    shutil.copyfile(varied_db, copy)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kube9.db"]
    answer(["query", "events", "list", "--db", str(copy)], {})
    answer(["db", "status", "--db", str(copy)], {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kube9.db"]


def test_it_waits_for_no_restore(varied_db: Path) -> None:
    """A restore holds the lock file exclusively: the full CLI waits for it or says so."""
    import fcntl

    from kube9_store.lean.sqlite import lock_path

    fd = os.open(lock_path(varied_db), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(Declined):
            answer(["events", "count", "--db", str(varied_db)], {})
    finally:
        os.close(fd)
    assert answer(["events", "count", "--db", str(varied_db)], {})


# -- whole processes -------------------------------------------------------------------------

BIN = Path(sys.executable).parent
HEAVY = (
    "sqlalchemy",
    "alembic",
    "pydantic",
    "pydantic_core",
    "prometheus_client",
    "psycopg",
    "asyncio",
    "aiosqlite",
    "greenlet",
    "click",
    "yaml",
    "orjson",
    "re2",
    "mako",
)
PROBE = """
import json, sys
args, names = json.loads(sys.argv[1]), json.loads(sys.argv[2])
sys.argv = ["kube9-store", *args]
from kube9_store.lean.read import main
try:
    main()
except SystemExit as exc:
    code = exc.code
heavy = sorted(m for m in sys.modules if m.split(".")[0] in names)
ours = sorted(m for m in sys.modules if m.startswith("kube9_store"))
print(json.dumps({"code": code, "heavy": heavy, "ours": ours}), file=sys.stderr)
"""


@pytest.mark.parametrize(
    "args",
    [
        ["query", "events", "list", "--limit=25", "--format=json"],
        ["query", "events", "list", "--object-namespace=default", "--since=2025-12-01"],
        ["events", "count", "--type", "cluster"],
        ["events", "count", "--object-kind", "Pod"],
        ["db", "status"],
        ["health"],
        ["health", "--full"],
    ],
)
def test_a_read_imports_nothing_heavy(varied_db: Path, args: list[str]) -> None:
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            PROBE,
            json.dumps([*args, "--db", str(varied_db)]),
            json.dumps(HEAVY),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    report = json.loads(r.stderr.splitlines()[-1])
    assert report["code"] == 0 and r.stdout
    assert report["heavy"] == []
    allowed = {
        "kube9_store",
        "kube9_store.operations.capacity",
        "kube9_store.gates.display",
        "kube9_store.errors",
        "kube9_store.schema.facts",
        "kube9_store.operations.health",
        "kube9_store.operations.checked",
        "kube9_store.lean.plain",
        "kube9_store.results",
        "kube9_store.operations.retention",
        "kube9_store.checks",
        "kube9_store.lean.read",
        "kube9_store.lean.rendering",
        "kube9_store.lean.sqlite",
        "kube9_store.events.timestamps",
        "kube9_store.events.fields",
    }
    packages = {m.rpartition(".")[0] for m in allowed} - {""}  # their __init__, docstrings only
    assert set(report["ours"]) <= allowed | packages


def test_the_console_script_answers_both_ways(varied_db: Path) -> None:
    """Through the installed script: a read it answers, and one it hands to the full CLI."""
    exe = BIN / "kube9-store"
    env = {k: v for k, v in os.environ.items() if k not in ("KUBE9_DB_URL", "DB_PATH")}
    args = ["query", "events", "list", "--limit", "5", "--db", str(varied_db)]
    r = subprocess.run([exe, *args], capture_output=True, env=env, timeout=60, check=False)
    assert (r.returncode, r.stderr) == (0, b"")
    assert r.stdout.decode() == full_cli(args)
    missing = ["query", "events", "get", "evt_20990101_000000_nosuch", "--db", str(varied_db)]
    r = subprocess.run([exe, *missing], capture_output=True, env=env, timeout=60, check=False)
    assert r.returncode == 1 and r.stdout == b""
    assert json.loads(r.stderr)["error"] == "Event not found"
