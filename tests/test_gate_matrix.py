"""The hazard x surface matrix: every command that reads, writes or creates files (the
registry :data:`SURFACES`), run under every hazard that applies to it (the registry
:data:`HAZARDS`): a permissive umask, a symlink at the path it creates, a dangling symlink at
the lock path, its destination the same file as its source, a garbage database, another
program's database with hostile rows, a database behind head, a garbage ``schema_version``,
hostile input files, a read-only filesystem and a full volume. Every error the CLI reports
must have left the library as the package's own. What must
hold is the gates' promises (docs/gates.md): files owner-only, nothing written through a
link, a refused or only-read file left as it was, only the package's errors (one JSON line
on stderr, never a traceback), no control byte and no secret on a terminal.

A command or API entry point added to the package and missing from the registries fails
:func:`test_every_surface_is_registered`. Kills at each step are the fault matrix's
(test_fault_matrix.py); a concurrent delete during a walk is test_gates.py's. The matrix runs
in about 30 seconds (``pytest tests/test_gate_matrix.py``); the filesystem hazards, which mount
a tmpfs each, carry the ``slow`` mark."""

from __future__ import annotations

import functools
import inspect
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import click
import pytest
from click.testing import CliRunner

import kube9_store
from kube9_store import EventStore, NewEvent
from kube9_store.aio.store import AsyncEventStore
from kube9_store.cli import cli, common
from kube9_store.cli.exit_codes import ExitCode
from tests.helpers import REPO, SPEC_V1_SQL, event_data

SECRET = "hunter2-very-secret"
HOSTILE = "esc \x1b[2J csi \x9b31m bell \x07"
RAW_CONTROLS = ("\x1b", "\x9b", "\x07")
EVENT_ID = "evt_20250101_000000_aaaaaa"


@dataclass
class Env:
    """One case's directory: the database ``db``, another one ``src`` (a copy's source),
    ``out`` (a path a command creates), and an input file for imports."""

    root: Path
    db: Path
    src: Path
    out: Path
    jsonl: Path
    k8s: Path


@dataclass(frozen=True)
class Surface:
    """A command: its arguments in an environment, whether it only reads the database, and
    the file it creates (None: none) and reads from besides the database (None: none)."""

    name: str
    args: Callable[[Env], list[str]]
    reads_only: bool = False
    creates: Callable[[Env], Path] | None = None
    source: Callable[[Env], Path] | None = None
    stdin: str | None = None
    tags: frozenset[str] = field(default_factory=frozenset)


def _db(env: Env) -> list[str]:
    return ["--db", str(env.db)]


SURFACES = [
    Surface(
        "query events list",
        lambda e: ["query", "events", "list", "--format", "csv", *_db(e)],
        reads_only=True,
    ),
    Surface(
        "query events get",
        lambda e: ["query", "events", "get", EVENT_ID, "--format", "table", *_db(e)],
        reads_only=True,
    ),
    Surface("events count", lambda e: ["events", "count", *_db(e)], reads_only=True),
    Surface("db status", lambda e: ["db", "status", *_db(e)], reads_only=True),
    Surface("db check", lambda e: ["db", "check", *_db(e)], reads_only=True),
    Surface("db check --record", lambda e: ["db", "check", "--record", *_db(e)]),
    Surface("health", lambda e: ["health", *_db(e)], reads_only=True),
    Surface("health --full", lambda e: ["health", "--full", *_db(e)], reads_only=True),
    Surface("metrics", lambda e: ["metrics", *_db(e)], reads_only=True),
    Surface("export", lambda e: ["export", "--format", "csv", *_db(e)], reads_only=True),
    Surface("export --format jsonl", lambda e: ["export", *_db(e)], reads_only=True),
    Surface(
        "export --output",
        lambda e: ["export", *_db(e), "--output", str(e.out)],
        reads_only=True,
        creates=lambda e: e.out,
    ),
    Surface(
        "events record",
        lambda e: [
            "events",
            "record",
            *_db(e),
            "--type",
            "cluster",
            "--severity",
            "info",
            "--title",
            "t",
        ],
    ),
    Surface("events ack", lambda e: ["events", "ack", EVENT_ID, *_db(e)]),
    Surface("import jsonl", lambda e: ["import", "jsonl", str(e.jsonl), *_db(e)]),
    Surface("import k8s-events", lambda e: ["import", "k8s-events", str(e.k8s), *_db(e)]),
    Surface("db upgrade", lambda e: ["db", "upgrade", *_db(e)]),
    Surface("db downgrade", lambda e: ["db", "downgrade", "--revision", "0003", "--yes", *_db(e)]),
    Surface("db recount", lambda e: ["db", "recount", *_db(e)]),
    Surface("db vacuum", lambda e: ["db", "vacuum", *_db(e)]),
    Surface("retention run", lambda e: ["retention", "run", "-q", *_db(e)]),
    Surface(
        "db backup",
        lambda e: ["db", "backup", str(e.out), *_db(e)],
        reads_only=True,
        creates=lambda e: e.out,
    ),
    Surface(
        "db restore",
        lambda e: ["db", "restore", str(e.src), "--yes", *_db(e)],
        source=lambda e: e.src,
    ),
    Surface(
        "copy",
        lambda e: ["copy", "-q", str(e.db), str(e.out)],
        reads_only=True,
        creates=lambda e: e.out,
    ),
    Surface("demo", lambda e: ["demo", "--db", str(e.out)], creates=lambda e: e.out),
]

#: Commands that touch no file of their own, or only through another registered surface.
NOT_FILE_SURFACES = {
    "metrics serve": "serves what `metrics` prints (same reads) until stopped",
    "ingest kubernetes": "opens the store as `events record` does (the file hazards are that "
    "opening's, played above) and runs until stopped; its own hazards (a kill at each step of "
    "a batch, two ingesters at once, every stream fault) are played by tests/test_ingest.py "
    "against a fake API server",
}

#: API entry points, by what they touch: each one of the package's public callables and store
#: methods is either a file surface (exercised here through the command listed) or not.
API_FILE_SURFACES = {
    "EventStore.open": "every command",
    "AsyncEventStore.open": "every command (the same opening)",
    "EventStore.backup": "db backup",
    "EventStore.backup_snapshot": "db backup",
    "EventStore.restore": "db restore",
    "EventStore.vacuum": "db vacuum",
    "EventStore.apply_retention": "retention run",
    "EventStore.recount": "db recount",
    "EventStore.record": "events record",
    "EventStore.record_many": "import jsonl",
    "EventStore.acknowledge": "events ack",
    "EventStore.acknowledge_many": "events ack",
    "EventStore.acknowledge_matching": "events ack",
    "copy_events": "copy",
    "export_events": "export",
    "export_to_file": "export --output",
    "import_jsonl": "import jsonl",
}
API_NOT_FILE = {  # reads of an open store (the read commands cover their gates), or values
    "EventStore.close",
    "EventStore.count",
    "EventStore.count_by",
    "EventStore.maintenance_facts",
    "EventStore.count_by_severity",
    "EventStore.count_by_type",
    "EventStore.counts_by_type_and_severity",
    "EventStore.engine",
    "EventStore.get",
    "EventStore.integrity_check",
    "EventStore.iter",
    "EventStore.location",
    "EventStore.page",
    "EventStore.query",
    "EventStore.read_only",
    "EventStore.retention",
    "EventStore.schema_version",
    "EventStore.size",
    "EventStore.size_bytes",
    "EventStore.storage_budget",
    "EventStore.url",
    "EventStore.volume",
    "AsyncEventStore.backend",
    "AsyncEventStore.clock",
    "AsyncEventStore.closed",
    "AsyncEventStore.path",
    "generate_event_id",
    "include_object",
    "write_outcome",
}


def _leaf_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[str]:
    for name, command in group.commands.items():
        path = (*prefix, name)
        if isinstance(command, click.Group):
            if command.invoke_without_command:
                yield " ".join(path)
            yield from _leaf_commands(command, path)
        else:
            yield " ".join(path)


def _api_entry_points() -> set[str]:
    names = set()
    for name in kube9_store.__all__:
        obj = getattr(kube9_store, name)
        if inspect.isfunction(obj):
            names.add(name)
    for cls in (EventStore, AsyncEventStore):
        for member in dir(cls):
            if not member.startswith("_"):
                names.add(f"{cls.__name__}.{member}")
    return names


def test_every_surface_is_registered() -> None:
    """A new command or API entry point fails here until it is put in a registry (and so in
    the matrix)."""
    registered = {s.name.split(" --")[0] for s in SURFACES} | set(NOT_FILE_SURFACES)
    assert set(_leaf_commands(cli)) - registered == set()
    api = _api_entry_points()
    known = set(API_FILE_SURFACES) | API_NOT_FILE
    mirrored = {f"AsyncEventStore.{n.split('.')[1]}" for n in known if n.startswith("EventStore.")}
    assert api - known - mirrored == set()
    commands = {s.name for s in SURFACES}
    assert (
        set(API_FILE_SURFACES.values())
        - commands
        - {"every command", "every command (the same opening)"}
        == set()
    )


# -- the environment ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A head database with a few events, one with the id the commands name, quiescent."""
    root = tmp_path_factory.mktemp("template")
    db = root / "kube9.db"
    with EventStore.open(db, metrics=False) as store:
        store.record_many([NewEvent(**event_data()) for _ in range(5)])
        store.record(event_data(id=EVENT_ID, created_at="2025-01-01T00:00:00.000Z"))
    (root / "kube9.db.lock").unlink()
    return db


def make_env(root: Path, template: Path, *, database: Path | None = None) -> Env:
    root.mkdir(parents=True, exist_ok=True)
    env = Env(
        root=root,
        db=root / "kube9.db",
        src=root / "src.db",
        out=root / "out.db",
        jsonl=root / "in.jsonl",
        k8s=root / "k8s.json",
    )
    shutil.copyfile(database or template, env.db)
    shutil.copyfile(template, env.src)
    env.jsonl.write_text(
        json.dumps(
            {
                **event_data(),
                "id": "evt_20250102_000000_bbbbbb",
                "created_at": "2025-01-02T00:00:00.000Z",
            }
        )
        + "\n"
    )
    shutil.copyfile(REPO / "tests" / "data" / "events-k8s-v1.json", env.k8s)
    for path in root.iterdir():
        os.chmod(path, 0o600)
    return env


def invoke(surface: Surface, env: Env) -> Any:
    """Run the command; every error the CLI reports must have come out of the library as the
    package's own (``reporting`` turns anything into a JSON line, which would hide a builtin)."""
    reported: list[BaseException] = []
    describe = common.describe_error

    def recording(exc: BaseException) -> str:
        reported.append(exc)
        return describe(exc)

    with mock.patch.object(common, "describe_error", recording):
        result = CliRunner().invoke(
            cli, surface.args(env), input=surface.stdin, catch_exceptions=True
        )
    foreign = [e for e in reported if not isinstance(e, kube9_store.Kube9StoreError)]
    assert not foreign, f"not the package's errors: {foreign!r}"
    return result


def assert_clean_outcome(result: Any) -> None:
    """Exit 0, 1 with the package's one JSON error line, or 3 (degraded or partial: a
    database read but never written, an import that refused some lines): never a traceback or
    a builtin exception escaping."""
    assert result.exit_code in (ExitCode.OK, ExitCode.ERROR, ExitCode.PARTIAL), (
        result.exit_code,
        result.output,
        result.exception,
    )
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"escaped: {result.exception!r}")
    assert "Traceback" not in result.output
    if result.exit_code == 1:
        assert "error" in json.loads(result.stderr.strip().splitlines()[-1])


def snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    return {
        p.name: (p.stat().st_mode, p.read_bytes() if p.is_file() else b"")
        for p in root.iterdir()
        if not p.is_symlink()
    }


# -- the hazards ----------------------------------------------------------------------------


def permissive_umask(surface: Surface, env: Env, _mount: Any) -> None:
    old = os.umask(0)
    try:
        result = invoke(surface, env)
    finally:
        os.umask(old)
    assert_clean_outcome(result)
    for path in env.root.rglob("*"):
        if path.is_symlink():
            continue
        mode = path.stat().st_mode & 0o777
        assert mode & 0o077 == 0, f"{path.name} is {oct(mode)}"


def symlink_at_created_path(surface: Surface, env: Env, _mount: Any) -> None:
    assert surface.creates is not None
    victim = env.root / "victim"
    victim.write_bytes(b"keep me")
    target = surface.creates(env)
    target.symlink_to(victim)
    assert_clean_outcome(invoke(surface, env))
    assert victim.read_bytes() == b"keep me"


def dangling_lock_symlink(surface: Surface, env: Env, _mount: Any) -> None:
    lock = env.db.with_name(env.db.name + ".lock")
    lock.symlink_to(env.root / "nowhere")
    assert_clean_outcome(invoke(surface, env))
    assert not (env.root / "nowhere").exists()


def destination_is_the_source(surface: Surface, env: Env, _mount: Any, *, hard: bool) -> None:
    """The file a command creates (or restores from) is the database itself, by a symlink or
    a hard link."""
    target = surface.creates(env) if surface.creates is not None else surface.source(env)  # type: ignore[misc]
    if target.exists():
        target.unlink()
    if hard:
        os.link(env.db, target)
    else:
        target.symlink_to(env.db)
    before = env.db.read_bytes()
    result = invoke(surface, env)
    assert_clean_outcome(result)
    assert result.exit_code == 1
    assert env.db.read_bytes() == before


def garbage_database(surface: Surface, env: Env, _mount: Any) -> None:
    env.db.write_bytes(b"SQLite format 3\x00" + os.urandom(4096))
    before = snapshot(env.root)
    result = invoke(surface, env)
    assert_clean_outcome(result)
    if surface.creates is None or surface.name == "copy":
        assert result.exit_code == 1
    after = snapshot(env.root)
    assert {k: v for k, v in after.items() if k in before} == before


def hostile_foreign_database(surface: Surface, env: Env, _mount: Any) -> None:
    """Another program's database with control bytes and a password in its rows: read, never
    written; nothing it holds drives the terminal or shows the password."""
    env.db.unlink()
    con = sqlite3.connect(env.db)
    con.executescript(
        "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL,"
        " description TEXT);"
        "INSERT INTO schema_version VALUES (1, '2025-01-01T00:00:00.000Z', 'Initial');"
        "INSERT INTO schema_version VALUES (9, '2025-01-01T00:00:00.000Z', 'Theirs');"
        "CREATE TABLE events (id TEXT PRIMARY KEY, event_type TEXT NOT NULL, severity TEXT"
        " NOT NULL, title TEXT NOT NULL, description TEXT, object_kind TEXT, object_namespace"
        " TEXT, object_name TEXT, metadata TEXT, created_at TEXT);"
        "CREATE TABLE their_own (id INTEGER PRIMARY KEY);"
    )
    con.execute(
        "INSERT INTO events VALUES (?, 'cluster', 'error', ?, ?, NULL, NULL, NULL, ?, ?)",
        (EVENT_ID, HOSTILE, HOSTILE, json.dumps({"password": SECRET}), "2025-01-01 00:00:00"),
    )
    con.commit()
    con.close()
    os.chmod(env.db, 0o600)
    before = env.db.read_bytes()
    result = invoke(surface, env)
    assert_clean_outcome(result)
    for raw in RAW_CONTROLS:
        assert raw not in result.stdout and raw not in result.stderr
    assert SECRET not in result.output
    verbatim = surface.name in ("db backup", "db restore")  # a backup is the file, as it is
    if surface.creates is not None and surface.creates(env).is_file() and not verbatim:
        assert SECRET.encode() not in surface.creates(env).read_bytes()
    if not verbatim:
        assert env.db.read_bytes() == before
    assert not surface.reads_only or sorted(p.name for p in env.root.iterdir()) == sorted(
        p.name for p in env.root.iterdir() if not p.name.endswith(("-wal", "-shm"))
    )


def behind_head_database(surface: Surface, env: Env, _mount: Any) -> None:
    """A spec v1 file made with plain SQL: read as it is, adopted and migrated by a writer;
    either way only the package's outcome, and a read leaves it byte for byte."""
    env.db.unlink()
    con = sqlite3.connect(env.db)
    con.executescript(SPEC_V1_SQL)
    con.execute(
        "INSERT INTO events VALUES (?, 'cluster', 'info', ?, NULL, NULL, NULL, NULL, NULL,"
        " '2025-01-01T00:00:00.000Z')",
        (EVENT_ID, HOSTILE),
    )
    con.commit()
    con.close()
    os.chmod(env.db, 0o600)
    before = env.db.read_bytes()
    result = invoke(surface, env)
    assert_clean_outcome(result)
    for raw in RAW_CONTROLS:
        assert raw not in result.stdout and raw not in result.stderr
    if surface.reads_only:
        assert env.db.read_bytes() == before


def garbage_schema_version(surface: Surface, env: Env, _mount: Any) -> None:
    """A spec-shaped file whose ``schema_version`` holds text: the package's errors only."""
    env.db.unlink()
    con = sqlite3.connect(env.db)
    con.executescript(SPEC_V1_SQL.replace("version INTEGER PRIMARY KEY", "version"))
    con.execute("UPDATE schema_version SET version = 'garbage'")
    con.commit()
    con.close()
    os.chmod(env.db, 0o600)
    before = env.db.read_bytes()
    assert_clean_outcome(invoke(surface, env))
    if surface.reads_only:
        assert env.db.read_bytes() == before


def hostile_input(surface: Surface, env: Env, _mount: Any) -> None:
    """An import's input of garbage bytes, control characters and a secret: refused or
    skipped line by line, with the package's errors, nothing raw on the terminal."""
    junk = b"\xff\xfe{" + HOSTILE.encode() + b'"password": "' + SECRET.encode() + b'"\n[1,2]\n'
    for path in (env.jsonl, env.k8s):
        path.write_bytes(junk)
    result = invoke(surface, env)
    assert_clean_outcome(result)
    for raw in RAW_CONTROLS:
        assert raw not in result.stdout and raw not in result.stderr
    assert SECRET not in result.output


def read_only_filesystem(surface: Surface, env: Env, mount: Any) -> None:
    volume = mount(8 * 2**20)
    moved = make_env(volume, env.db)
    if surface.creates is not None:  # the created file goes elsewhere: only the db is read-only
        moved.out = env.out
    done = subprocess.run(["mount", "-o", "remount,ro", str(volume)], capture_output=True)
    assert done.returncode == 0, done.stderr
    result = invoke(surface, moved)
    assert_clean_outcome(result)
    if surface.reads_only:
        assert result.exit_code == 0, result.output


def full_volume(surface: Surface, env: Env, mount: Any) -> None:
    assert surface.creates is not None
    volume = mount(64 * 1024)
    filler = volume / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)
    env.out = volume / "out.db"
    result = invoke(surface, env)
    assert_clean_outcome(result)
    assert sorted(p.name for p in volume.iterdir()) in (["filler"], ["filler", "out.db"])
    if (volume / "out.db").exists():
        assert result.exit_code == 0  # complete, or absent


@dataclass(frozen=True)
class Hazard:
    name: str
    check: Callable[[Surface, Env, Any], None]
    applies: Callable[[Surface], bool]
    slow: bool = False


HAZARDS = [
    Hazard("permissive umask", permissive_umask, lambda s: True),
    Hazard("symlink at the created path", symlink_at_created_path, lambda s: s.creates is not None),
    Hazard("dangling symlink at the lock", dangling_lock_symlink, lambda s: s.name != "demo"),
    *(
        Hazard(
            f"destination is the source ({kind})",
            functools.partial(destination_is_the_source, hard=kind == "hard link"),
            lambda s: s.name in ("export --output", "copy", "db backup", "db restore"),
        )
        for kind in ("symlink", "hard link")
    ),
    # a restore is how a garbage database is replaced: it may (and should) succeed
    Hazard("garbage database", garbage_database, lambda s: s.name not in ("demo", "db restore")),
    Hazard("foreign database, hostile rows", hostile_foreign_database, lambda s: s.name != "demo"),
    Hazard("behind-head database", behind_head_database, lambda s: s.name != "demo"),
    Hazard("garbage schema_version", garbage_schema_version, lambda s: s.name != "demo"),
    Hazard("hostile input file", hostile_input, lambda s: s.name.startswith("import")),
    Hazard("read-only filesystem", read_only_filesystem, lambda s: s.name != "demo", slow=True),
    Hazard("full volume", full_volume, lambda s: s.creates is not None, slow=True),
]


def _cases() -> Iterator[Any]:
    for hazard in HAZARDS:
        for surface in SURFACES:
            if hazard.applies(surface):
                marks = [pytest.mark.slow] if hazard.slow else []
                yield pytest.param(
                    hazard, surface, id=f"{hazard.name} x {surface.name}", marks=marks
                )


@pytest.mark.parametrize(("hazard", "surface"), list(_cases()))
def test_matrix(
    hazard: Hazard, surface: Surface, template: Path, tmp_path: Path, small_tmpfs: Any
) -> None:
    env = make_env(tmp_path / "case", template)
    hazard.check(surface, env, small_tmpfs)
