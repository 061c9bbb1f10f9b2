"""Fixtures: a fresh database per test (a SQLite file in tmp_path, or a PostgreSQL schema of
its own), for every backend of the one backend list in :mod:`tests.helpers`."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import URL, make_url

from kube9_store import EventStore
from kube9_store.config import sqlite_url
from tests import faults
from tests.helpers import BACKENDS, PG_URL, conninfo, pg_schema


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kube9 fault matrix")
    group.addoption(
        "--fault-points",
        default=os.environ.get("KUBE9_FAULT_POINTS", "24"),
        help="kill points tested per operation in the fault matrix: a number or 'all' "
        "(default 24, or $KUBE9_FAULT_POINTS)",
    )
    group.addoption(
        "--fault-random",
        type=int,
        default=int(os.environ.get("KUBE9_FAULT_RANDOM", "4")),
        help="random-moment kills per operation (default 4, or $KUBE9_FAULT_RANDOM)",
    )


@pytest.fixture(scope="session")
def fault_budget(pytestconfig: pytest.Config) -> tuple[int | None, int]:
    """(kill points per operation, None for all; random kills per operation)."""
    points = str(pytestconfig.getoption("--fault-points"))
    return (None if points == "all" else int(points)), int(pytestconfig.getoption("--fault-random"))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    lines = faults.summary()
    if lines:
        terminalreporter.section("fault matrix: kill points tested per operation")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "kube9.db"


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The PostgreSQL server for the tests, or a skip (a failure when it is required)."""
    import psycopg

    url = make_url(PG_URL)
    try:
        psycopg.connect(conninfo(url), connect_timeout=3).close()
    except psycopg.Error as exc:
        message = (
            f"PostgreSQL is not reachable at {url.render_as_string()} ({exc}). Start a server "
            "or point KUBE9_TEST_POSTGRES_URL at one to run the PostgreSQL cases."
        )
        if os.environ.get("KUBE9_REQUIRE_POSTGRES"):
            pytest.fail(message + " KUBE9_REQUIRE_POSTGRES is set, so this is a failure.")
        pytest.skip(message)
    return PG_URL


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[URL]:
    with pg_schema(pg_server) as url:
        yield url


@pytest.fixture(params=BACKENDS)
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> URL:
    """A fresh, empty database on each backend."""
    if request.param == "postgresql":
        return request.getfixturevalue("pg_url")  # type: ignore[no-any-return]
    (tmp_path / "data").mkdir(exist_ok=True)
    return sqlite_url(tmp_path / "data" / "kube9.db")


@pytest.fixture
def store(backend_url: URL) -> Iterator[EventStore]:
    with EventStore.open(backend_url) as s:
        yield s


@pytest.fixture
def sqlite_store(db_path: Path) -> Iterator[EventStore]:
    """A store on a SQLite file, for tests about the file itself."""
    with EventStore.open(db_path) as s:
        yield s


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that ask for a PostgreSQL schema directly carry the backend's mark too, so
    ``-m "not postgresql"`` selects exactly the cases that need no server."""
    for item in items:
        if "pg_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgresql)


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Callable[[int], Path]]:
    """Mounts small tmpfs filesystems (root only) and unmounts them afterwards."""
    import subprocess

    mounted: list[Path] = []

    def mount(size: int) -> Path:
        target = tmp_path / f"tmpfs{len(mounted)}"
        target.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(target)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs (needs root): {done.stderr.strip()}")
        mounted.append(target)
        return target

    yield mount
    for target in reversed(mounted):
        subprocess.run(["umount", "-l", str(target)], check=False)
