"""Property: every error that comes out of the package is the package's. Hypothesis hands the
public API and the CLI extreme integers, nan and infinities, lone surrogates, huge strings,
control characters and wrong types in every argument: a call either succeeds or raises a
Kube9StoreError subclass; a command exits 0, or 1 or 2 with one JSON error line on stderr that
names the flag it was given (never a traceback)."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from kube9_store import (
    EventFilter,
    EventStore,
    Kube9StoreError,
    NewEvent,
    RetentionPolicy,
    RetentionRunner,
    generate_event_id,
)
from kube9_store.cli import cli
from tests.helpers import event_data

HUGE = "x" * 100_000
EXTREME_INTS = [2**63, 2**63 - 1, -(2**63) - 1, 2**64, 10**30, -1, 0, 10**400]
ODD_TEXT = ["\ud800", "x\udcff", "\x00", "\x1b]0;t\x07", "", " ", HUGE, "evt_\ud800", "9" * 40]
WRONG = [None, [], {}, (), b"bytes", object(), Path("/"), 1.5, True, {"a": [1]}, [None]]

hostile: st.SearchStrategy[Any] = st.one_of(
    st.sampled_from(EXTREME_INTS),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([float("nan"), float("inf"), -float("inf"), 1e308]),
    st.sampled_from(ODD_TEXT),
    st.text(max_size=20),
    st.sampled_from(WRONG),
    st.datetimes(),
)

EVENT_FIELDS = [
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
]
FILTER_FIELDS = list(EventFilter.model_fields)
EVENT_ID = "evt_20251202_103045_a7f3b9"


def _calls(tmp: Path) -> dict[str, Callable[[EventStore, Any], Any]]:
    """Every public entry point, with the hostile value in one argument."""
    calls: dict[str, Callable[[EventStore, Any], Any]] = {
        "record(v)": lambda s, v: s.record(v),
        "record_many(v)": lambda s, v: s.record_many(v),
        "record_many([v])": lambda s, v: s.record_many([v]),
        "record_many(skip_existing=v)": lambda s, v: s.record_many([], skip_existing=v),
        "get(v)": lambda s, v: s.get(v),
        "acknowledge(v)": lambda s, v: s.acknowledge(v),
        "acknowledge(acknowledged=v)": lambda s, v: s.acknowledge(EVENT_ID, v),
        "query(v)": lambda s, v: s.query(v),
        "query(limit=v)": lambda s, v: s.query(limit=v),
        "query(offset=v)": lambda s, v: s.query(offset=v),
        "query(cursor=v)": lambda s, v: s.query(cursor=v),
        "page(limit=v)": lambda s, v: s.page(limit=v),
        "page(cursor=v)": lambda s, v: s.page(cursor=v),
        "count(v)": lambda s, v: s.count(v),
        "apply_retention(now=v)": lambda s, v: s.apply_retention(v),
        "apply_retention(batch_size=v)": lambda s, v: s.apply_retention(batch_size=v),
        "apply_retention(policy=v)": lambda s, v: s.apply_retention(policy=v),
        "apply_retention(dry_run=v)": lambda s, v: s.apply_retention(dry_run=v),
        "apply_retention(vacuum_free_share=v)": lambda s, v: s.apply_retention(vacuum_free_share=v),
        "integrity_check(v)": lambda s, v: s.integrity_check(v),
        "backup(v)": lambda s, v: s.backup(v),
        "backup_snapshot(v)": lambda s, v: s.backup_snapshot(v),
        "backup_snapshot(keep_days=v)": lambda s, v: s.backup_snapshot(tmp / "snaps", keep_days=v),
        "open(v)": lambda s, v: EventStore.open(v, metrics=False).close(),
        "open(read_only=v)": lambda s, v: EventStore.open(s.location, read_only=v).close(),
        "open(migrate=v)": lambda s, v: EventStore.open(s.location, migrate=v).close(),
        "open(synchronous=v)": lambda s, v: EventStore.open(s.location, synchronous=v).close(),
        "open(busy_timeout=v)": lambda s, v: EventStore.open(s.location, busy_timeout=v).close(),
        "open(clock=v)": lambda s, v: _use(EventStore.open(s.location, clock=v, metrics=False)),
        "open(retention=v)": lambda s, v: _use(
            EventStore.open(s.location, retention=v, metrics=False)
        ),
        "open(registry=v)": lambda s, v: EventStore.open(s.location, registry=v).close(),
        "open(extra_version_locations=v)": lambda s, v: EventStore.open(
            s.location, extra_version_locations=v, metrics=False
        ).close(),
        "restore(v, db)": lambda s, v: EventStore.restore(v, tmp / "restored.db").close(),
        "restore(backup, v)": lambda s, v: EventStore.restore(tmp / "backup.db", v).close(),
        "RetentionPolicy(info_warning_days=v)": lambda s, v: RetentionPolicy(info_warning_days=v),
        "RetentionPolicy(error_critical_days=v)": lambda s, v: RetentionPolicy(
            error_critical_days=v
        ),
        "RetentionPolicy.from_env": lambda s, v: RetentionPolicy.from_env(
            {"EVENT_RETENTION_INFO_WARNING_DAYS": v}
        ),
        "RetentionRunner(interval=v)": lambda s, v: RetentionRunner(s, interval=v),
        "generate_event_id(v)": lambda s, v: generate_event_id(v),
        "NewEvent(**v)": lambda s, v: NewEvent(**v) if isinstance(v, dict) else NewEvent.parse(v),
        "EventFilter.parse(v)": lambda s, v: EventFilter.parse(v),
    }
    for field in EVENT_FIELDS:
        calls[f"record({field}=v)"] = lambda s, v, f=field: s.record(event_data(**{f: v}))
        calls[f"record_many([{field}=v])"] = lambda s, v, f=field: s.record_many(
            [event_data(**{f: v})], skip_existing=True
        )
        calls[f"metadata {{{field}: v}}"] = lambda s, v, f=field: s.record(
            event_data(metadata={f: v, "nested": [{f: v}]})
        )
    for field in FILTER_FIELDS:
        calls[f"query({field}=v)"] = lambda s, v, f=field: s.query({f: v})
        calls[f"count({field}=v)"] = lambda s, v, f=field: s.count({f: v})
    return calls


def _use(store: EventStore) -> None:
    with store:
        store.record(event_data())
        store.apply_retention()


@pytest.fixture(scope="module")
def arena(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EventStore, Path]]:
    tmp = tmp_path_factory.mktemp("arena")
    old = Path.cwd()
    os.chdir(tmp)  # relative paths the property makes up land here
    try:
        with EventStore.open(tmp / "kube9.db", metrics=False) as store:
            store.record_many(event_data(title=f"seed {i}") for i in range(5))
            store.backup(tmp / "backup.db")
            yield store, tmp
    finally:
        os.chdir(old)


CALL_NAMES = sorted(_calls(Path("/nonexistent")))


@pytest.mark.parametrize("name", CALL_NAMES)
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(value=hostile)
def test_every_api_error_is_the_packages(
    arena: tuple[EventStore, Path], name: str, value: Any
) -> None:
    store, tmp = arena
    with contextlib.suppress(Kube9StoreError):
        _calls(tmp)[name](store, value)
    assert store.integrity_check(full=True).ok  # nothing half-written, counts exact


# -- the CLI ------------------------------------------------------------------------------------

FLAG_COMMANDS: dict[str, list[str]] = {
    "--type": ["query", "events", "list"],
    "--severity": ["events", "count"],
    "--since": ["query", "events", "list"],
    "--until": ["events", "count"],
    "--object-kind": ["query", "events", "list"],
    "--object-namespace": ["query", "events", "list"],
    "--object-name": ["events", "count"],
    "--limit": ["query", "events", "list"],
    "--offset": ["query", "events", "list"],
    "--cursor": ["query", "events", "list"],
    "--format": ["query", "events", "list"],
    "--title": ["events", "record", "--type", "system", "--severity", "info"],
    "--description": ["events", "record", "--type", "system", "--severity", "info", "--title", "t"],
    "--metadata": ["events", "record", "--type", "system", "--severity", "info", "--title", "t"],
    "--created-at": ["events", "record", "--type", "system", "--severity", "info", "--title", "t"],
    "--id": ["events", "record", "--type", "system", "--severity", "info", "--title", "t"],
    "--revision": ["db", "upgrade"],
}
ARGUMENT_COMMANDS: dict[str, list[str]] = {
    "EVENT_ID": ["query", "events", "get"],
    "EVENT_IDS": ["events", "ack"],
    "DEST": ["db", "backup"],
    "SRC": ["db", "restore", "--yes"],
}
#: How an error names the argument (``events ack`` takes several event ids).
NAMED_AS = {"EVENT_IDS": "EVENT_ID"}
ENV_VARIABLES = ["EVENT_RETENTION_INFO_WARNING_DAYS", "EVENT_RETENTION_ERROR_CRITICAL_DAYS"]

cli_text = st.one_of(
    st.sampled_from([str(n) for n in EXTREME_INTS] + ["nan", "inf", "-inf", "1e999", "0x10"]),
    st.sampled_from([t for t in ODD_TEXT if "\x00" not in t]),
    st.text(st.characters(blacklist_characters="\x00"), max_size=30),
    st.sampled_from(["{}", "[]", '{"a": NaN}', '{"password": "x"}', "null", "[1]", "{" * 5000]),
)


def _os_encodable(value: str) -> bool:
    try:
        os.fsencode(value)
    except UnicodeEncodeError:
        return False
    return True


def _one_json_error(result: Any, names: str) -> None:
    """Exit 0, or 1/2 with JSON lines on stderr (log lines, then one error) naming ``names``."""
    assert result.exit_code in (0, 1, 2), (result.exit_code, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output
    if result.exit_code == 0:
        return
    lines = [json.loads(line) for line in result.stderr.strip().splitlines()]
    errors = [line for line in lines if "error" in line]
    assert len(errors) == 1, result.stderr
    details = str(errors[0].get("details", ""))
    if details.startswith(("-", "DEST", "SRC", "EVENT_ID", "EVENT_RETENTION")) or (
        "Invalid value" in details
    ):
        assert names in details, (names, details)


@pytest.fixture(scope="module")
def cli_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "kube9.db"
    with EventStore.open(path, metrics=False) as store:
        store.record(event_data(created_at=datetime(2025, 12, 2, tzinfo=UTC)))
    return path


@pytest.mark.parametrize(
    "target", sorted(FLAG_COMMANDS) + sorted(ARGUMENT_COMMANDS) + ENV_VARIABLES
)
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(value=cli_text)
def test_every_cli_error_is_one_json_line_naming_the_flag(
    cli_db: Path, target: str, value: str
) -> None:
    db = ["--db", str(cli_db)]
    env: dict[str, str] = {}
    if target in FLAG_COMMANDS:
        args = [*FLAG_COMMANDS[target], *db, f"{target}={value}"]
    elif target in ARGUMENT_COMMANDS:
        args = [*ARGUMENT_COMMANDS[target], *db, "--", value]
    else:
        args = ["retention", "run", "--dry-run", *db]
        env = {target: value}
        # The environment holds bytes: only surrogates that decode undecodable bytes occur.
        assume(_os_encodable(value))
    with tempfile.TemporaryDirectory() as cwd, contextlib.chdir(cwd):  # relative paths land here
        result = CliRunner().invoke(cli, args, env=env)
    _one_json_error(result, NAMED_AS.get(target, target))


def test_the_database_flag_itself(tmp_path: Path) -> None:
    for value in ["", " ", "\udcff", "x" * 5000, "sqlite://", "nope://x", "/", "sqlite:///\x00"]:
        result = CliRunner().invoke(cli, ["query", "events", "list", "--db", value])
        _one_json_error(result, "--db")
        assert result.exit_code != 0
