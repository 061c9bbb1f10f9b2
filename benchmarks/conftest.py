"""Benchmark fixtures: database sizes and backends, a private working database per size, a raw
driver connection beside the store (stdlib sqlite3, or psycopg on PostgreSQL), and a summary
table (API vs raw driver, ratio, goal, spec target).

Sizes: ``--scale 10k,100k`` (the default), ``--scale 1m``, or $KUBE9_BENCH_SCALE.
Backends: ``--backends sqlite,postgresql`` (the default) or $KUBE9_BENCH_BACKENDS; PostgreSQL
runs against $KUBE9_TEST_POSTGRES_URL (default postgres@127.0.0.1:5432/test) in a schema of
its own, and is skipped when no server answers.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy.engine import make_url

from benchmarks.datagen import NOW, Clock, build, rows, working_copy
from kube9_store import EventStore
from kube9_store.operations.retention import RetentionPolicy

PG_URL = os.environ.get(
    "KUBE9_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
SCALES = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000}

#: (spec target, goal at 1M) in milliseconds per operation, where the spec or issue names one.
TARGETS: dict[str, tuple[float | None, float | None]] = {
    "record one event": (1.0, 0.08),
    "get by id": (1.0, 0.03),
    "newest 50": (10.0, 1.0),
    "filter: type, 100 rows": (10.0, 1.0),
    "filter: severity, 100 rows": (10.0, 1.0),
    "filter: date range, 100 rows": (10.0, 1.0),
    "filter: object reference, 100 rows": (10.0, 1.0),
    "filter: combined + offset": (10.0, 2.0),
    # the same filter when 99% of the newer events are of the type but another severity
    "filter: combined, skewed": (10.0, 5.0),
    "keyset page 1000 rows deep": (10.0, 1.0),
    "count by type": (5.0, 0.5),
    "count with a filter": (10.0, None),
    # grouped counts of the last 24 hours (the issue: 10 ms at 1M for the spec's fields)
    "count by type, last 24h": (10.0, 10.0),
    "count by severity, last 24h": (10.0, 10.0),
    "retention, 1000 deletes": (100.0, 50.0),
    "record 1000 in one batch": (None, 20.0),
    # the secret scrubber, no database involved (goal: 10 µs per typical event)
    "scrub one typical event": (None, 0.010),
    # moving history, whole databases (ms per run; export: 100,000 events per second)
    "copy SQLite → SQLite": (None, 30_000.0),
    "copy SQLite → PostgreSQL": (None, 40_000.0),
    "export JSONL to a file": (None, 10_000.0),
}

#: API / raw driver on the same SQL and file: the performance goals' same-run proxy for
#: "faster than the reference operator", asserted on SQLite by ``test_ratios.py`` (measured
#: there paired, blocks of each alternating) and reported in the summary.
RATIO_GOALS: dict[str, float] = {
    "record one event": 1.35,
    "get by id": 1.6,
    "newest 50": 1.7,
    "filter: type, 100 rows": 1.7,
    "filter: severity, 100 rows": 1.7,
    "filter: date range, 100 rows": 1.7,
    "filter: object reference, 100 rows": 1.7,
    "keyset page 1000 rows deep": 1.7,
    "record 1000 in one batch": 1.4,
}

#: Goals that test_ratios.py holds under a looser ceiling on files smaller than the goals'
#: scale of 1M events (where the goal itself is asserted). A record's raw insert is cheaper
#: in a smaller file while the API's own work is not: record-one read 1.30-1.33 at 1M and
#: 10k but 1.31-1.37 at 100k (CI's file) on one machine of this class, and a machine whose
#: Python runs slower against SQLite reads higher (the README's performance section). A batch
#: of 1000 on revision 0007's stored time key: 1.36 at 1M, 1.44 at 100k.
RATIO_CEILINGS: dict[str, float] = {
    "record one event": 1.6,
    "record 1000 in one batch": 1.55,
}
#: The scale the goals are set for.
GOAL_SCALE = 1_000_000

RESULTS: dict[tuple[str, int, str], dict[str, float]] = defaultdict(dict)
#: (operation, events, backend) -> (API ms, raw ms, ratio), measured paired.
PAIRED: dict[tuple[str, int, str], tuple[float, float, float]] = {}
SIZES: dict[str, float] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--scale",
        default=os.environ.get("KUBE9_BENCH_SCALE", "10k,100k"),
        help="comma-separated database sizes: 10k, 100k, 1m",
    )
    parser.addoption(
        "--backends",
        default=os.environ.get("KUBE9_BENCH_BACKENDS", "sqlite,postgresql"),
        help="comma-separated backends: sqlite, postgresql",
    )


def scales(config: pytest.Config) -> list[int]:
    raw = str(config.getoption("--scale"))
    out = []
    for part in raw.split(","):
        key = part.strip().lower()
        if key not in SCALES:
            raise pytest.UsageError(f"--scale: {key!r} is not one of {', '.join(SCALES)}")
        out.append(SCALES[key])
    return out


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "n" in metafunc.fixturenames:
        sizes = scales(metafunc.config)
        metafunc.parametrize("n", sizes, ids=[f"{s // 1000}k" for s in sizes], scope="session")
    if "backend" in metafunc.fixturenames:
        names = [b.strip() for b in str(metafunc.config.getoption("--backends")).split(",")]
        metafunc.parametrize("backend", names, scope="session")


class RawDB:
    """The raw driver, running the same SQL as the store (written with ? placeholders)."""

    def __init__(self, con: Any, backend: str) -> None:
        self.con = con
        self.backend = backend

    def sql(self, text: str) -> str:
        return text if self.backend == "sqlite" else text.replace("?", "%s")

    def execute(self, sql: str, params: Any = ()) -> Any:
        return self.con.execute(self.sql(sql), params)

    def write(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        """One write transaction."""
        if self.backend == "sqlite":
            self.con.execute("BEGIN IMMEDIATE")
            try:
                self.con.executemany(sql, rows)
            except BaseException:
                self.con.execute("ROLLBACK")
                raise
            self.con.execute("COMMIT")
        else:
            with self.con.transaction(), self.con.cursor() as cur:
                cur.executemany(self.sql(sql), rows)

    def write_events(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        """A batch of events in one write transaction, as the store writes one: on SQLite
        from 100 rows with the count trigger set aside and the counts added per (type,
        severity); on PostgreSQL one executemany, the trigger counting."""
        if self.backend != "sqlite" or len(rows) < 100:
            self.write(sql, rows)
            return
        con = self.con
        con.execute("BEGIN IMMEDIATE")
        try:
            (trigger,) = con.execute(
                "SELECT sql FROM main.sqlite_master WHERE type = 'trigger' AND name = ?",
                ("trg_events_count_insert",),
            ).fetchone()
            con.execute("DROP TRIGGER main.trg_events_count_insert")
            con.executemany(sql, rows)
            con.executemany(
                "INSERT INTO main.event_counts (event_type, severity, n) VALUES (?, ?, ?)"
                " ON CONFLICT (event_type, severity) DO UPDATE SET n = n + excluded.n",
                [(*pair, n) for pair, n in Counter((r[1], r[2]) for r in rows).items()],
            )
            con.execute(trigger)
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")

    def close(self) -> None:
        self.con.close()


@dataclass
class Bench:
    """One size's working database on one backend, opened both ways."""

    n: int
    backend: str
    store: EventStore
    raw: RawDB
    ids: list[str]
    deep_cursor: str
    deep_key: tuple[str, str]
    path: Path | None = None
    url: Any = None
    policy: RetentionPolicy = field(default_factory=lambda: RetentionPolicy(3650, 3650))

    def query_sql(
        self,
        flt: dict[str, Any] | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
        cursor: str | None = None,
        count: bool = False,
    ) -> tuple[str, Any]:
        """The SQL text and driver parameters the store runs for this query, built by the
        store's own functions, so the raw side runs the very same statement."""
        from kube9_store.events.models import EventFilter
        from kube9_store.store.filters import decode_cursor, shape_and_values, statement_for
        from kube9_store.store.statements import CompiledSQL

        shape, values = shape_and_values(
            EventFilter.parse(flt) if flt is not None else None,
            cursor=decode_cursor(cursor) if cursor is not None else None,
            limit=limit,
            offset=offset,
            count=count,
        )
        stmt = statement_for(shape, self.store.backend.sort_key)
        compiled = CompiledSQL.of(stmt, self.store.engine.dialect)
        return compiled.sql, compiled.params(values)

    @property
    def statements(self) -> Any:
        """The store's fixed statements, compiled for its dialect."""
        from kube9_store.store.statements import Statements

        return Statements(self.store.engine.dialect, self.store.backend.sort_key)


def raw_connection(path: Path) -> sqlite3.Connection:
    """stdlib sqlite3 with the same settings the store uses."""
    con = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    for pragma in (
        "journal_mode = WAL",
        "synchronous = NORMAL",
        "foreign_keys = ON",
        "cache_size = -10000",
        "temp_store = MEMORY",
        "busy_timeout = 5000",
    ):
        con.execute(f"PRAGMA {pragma}")
    return con


@contextmanager
def working_database(n: int, backend: str, tmp: Path) -> Iterator[tuple[Any, RawDB, Path | None]]:
    """A private database of n events: a copy of the cached file, or a fresh PostgreSQL schema."""
    if backend == "sqlite":
        path = working_copy(n, tmp)
        SIZES[f"{n} events at head"] = path.stat().st_size / n
        raw = RawDB(raw_connection(path), backend)
        try:
            yield path, raw, path
        finally:
            raw.close()
        return
    import psycopg

    from tests.helpers import conninfo, pg_schema

    try:
        psycopg.connect(conninfo(make_url(PG_URL)), connect_timeout=3).close()
    except psycopg.Error as exc:
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {exc}")
    with pg_schema(PG_URL) as url:
        fill_postgresql(url, n)
        con = psycopg.connect(
            conninfo(url) + f" options=-csearch_path={url.query['options'].split('=')[1]}",
            autocommit=True,
        )
        raw = RawDB(con, backend)
        try:
            yield url, raw, None
        finally:
            raw.close()


def fill_postgresql(url: Any, n: int) -> None:
    """Build the schema with the chain, then COPY n generated events in."""
    import psycopg

    from tests.helpers import conninfo

    with EventStore.open(url, metrics=False):
        pass
    schema = url.query["options"].split("=")[1]
    with psycopg.connect(conninfo(url) + f" options=-csearch_path={schema}") as con:
        with (
            con.cursor() as cur,
            cur.copy(
                "COPY events (id, event_type, severity, title, description, object_kind,"
                " object_namespace, object_name, metadata, created_at, acknowledged) FROM STDIN"
            ) as copy,
        ):
            for row in rows(n):
                copy.write_row((*row, 0))
        con.execute("ANALYZE events")
        used = con.execute("SELECT pg_total_relation_size('events')").fetchone()
    SIZES[f"{n} events at head, postgresql"] = (used[0] if used else 0) / n


@pytest.fixture(scope="session")
def bench(n: int, backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bench]:
    with working_database(n, backend, tmp_path_factory.mktemp(f"bench-{backend}-{n}")) as (
        location,
        raw,
        path,
    ):
        store = EventStore.open(location, clock=Clock(NOW), registry=CollectorRegistry())
        rnd = random.Random(5)
        all_ids = [r[0] for r in raw.execute("SELECT id FROM events").fetchall()]
        ids = rnd.sample(all_ids, min(2000, len(all_ids)))
        page = store.query(limit=1000)
        from kube9_store.store.filters import encode_cursor

        yield Bench(
            n,
            backend,
            store,
            raw,
            ids,
            encode_cursor(page[-1]),
            (page[-1].created_at, page[-1].id),
            path=path,
            url=location,
        )
        store.close()


def record(
    name: str, n: int, impl: str, benchmark: Any, backend: str = "sqlite", per: int = 1
) -> float:
    """Keep the median (ms per operation) for the summary and return it."""
    median_ms = benchmark.stats.stats.median * 1000 / per
    RESULTS[(name, n, backend)][impl] = median_ms
    benchmark.extra_info.update(
        {"operation": name, "events": n, "backend": backend, "impl": impl, "ms": median_ms}
    )
    return median_ms


def record_ratio(name: str, n: int, backend: str, api_ms: float, raw_ms: float) -> float:
    """Keep a paired measurement for the summary and return its ratio."""
    ratio = api_ms / raw_ms
    PAIRED[(name, n, backend)] = (api_ms, raw_ms, ratio)
    return ratio


def check_spec(name: str, median_ms: float, backend: str = "sqlite") -> None:
    """The spec's targets are for its embedded SQLite; on a server they are only reported."""
    spec = TARGETS.get(name, (None, None))[0]
    if spec is not None and backend == "sqlite":
        assert median_ms < spec, f"{name}: {median_ms:.3f} ms misses the spec's {spec} ms"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    tr = terminalreporter
    if PAIRED:
        tr.section("API / raw driver, paired (median ms per call)")
        tr.write_line(
            f"{'operation':36} {'backend':>10} {'events':>8} {'api':>9} {'raw':>9} {'ratio':>6}"
            f" {'goal':>5}"
        )
        for (name, n, backend), (api_ms, raw_ms, ratio) in sorted(
            PAIRED.items(), key=lambda kv: (kv[0][2], kv[0][1], kv[0][0])
        ):
            goal = RATIO_GOALS.get(name)
            status = "" if goal is None else "met" if ratio <= goal else "missed"
            tr.write_line(
                f"{name:36} {backend:>10} {n:>8} {api_ms:>9.4f} {raw_ms:>9.4f} {ratio:>6.2f}"
                f" {goal or '':>5} {status}"
            )
    if not RESULTS and not SIZES:
        return
    tr.section("kube9_store vs the raw driver, same SQL (medians, ms per operation)")
    tr.write_line(
        f"{'operation':36} {'backend':>10} {'events':>8} {'api':>9} {'raw':>9} {'ratio':>6}"
        f" {'goal':>5} {'goal@1M':>8} {'spec':>6}"
    )
    for (name, n, backend), impls in sorted(
        RESULTS.items(), key=lambda kv: (kv[0][2], kv[0][1], kv[0][0])
    ):
        api, raw = impls.get("api"), impls.get("raw")
        ratio = f"{api / raw:.2f}" if api and raw else ""
        spec, goal = TARGETS.get(name, (None, None))
        fmt = lambda v: f"{v:.4f}" if v is not None else ""  # noqa: E731
        ratio_goal = RATIO_GOALS.get(name) if backend == "sqlite" else None
        tr.write_line(
            f"{name:36} {backend:>10} {n:>8} {fmt(api):>9} {fmt(raw):>9} {ratio:>6} "
            f"{'' if ratio_goal is None else ratio_goal:>5} "
            f"{'' if goal is None else goal:>8} {'' if spec is None else spec:>6}"
        )
        for extra, value in impls.items():
            if extra not in ("api", "raw"):
                tr.write_line(f"{'  ' + extra:36} {backend:>10} {n:>8} {value:>9.4f}")
    for label, per_event in sorted(SIZES.items()):
        tr.write_line(f"file size, {label}: {per_event:.0f} bytes per event")
    out = os.environ.get("KUBE9_BENCH_SUMMARY")
    if out:
        rows = [
            {"operation": k[0], "events": k[1], "backend": k[2], **v} for k, v in RESULTS.items()
        ]
        paired = [
            {"operation": k[0], "events": k[1], "backend": k[2], "api": a, "raw": r, "ratio": q}
            for k, (a, r, q) in PAIRED.items()
        ]
        Path(out).write_text(
            json.dumps({"results": rows, "paired": paired, "bytes_per_event": SIZES}, indent=2)
        )


__all__ = [
    "GOAL_SCALE",
    "RATIO_CEILINGS",
    "RATIO_GOALS",
    "Bench",
    "build",
    "check_spec",
    "record",
    "record_ratio",
]
