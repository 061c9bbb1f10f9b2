"""Benchmark fixtures: database sizes, a private working copy per size, a raw sqlite3
connection beside the store, and a summary table (API vs raw sqlite3, ratio, goal, spec target).

Sizes: ``--scale 10k,100k`` (the default), ``--scale 1m``, or $KUBE9_BENCH_SCALE.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from benchmarks.datagen import NOW, build, working_copy
from kube9_store import EventStore
from kube9_store.retention import RetentionPolicy

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
    "keyset page 1000 rows deep": (10.0, 1.0),
    "count by type": (5.0, 0.5),
    "count with a filter": (10.0, None),
    "retention, 1000 deletes": (100.0, 50.0),
    "record 1000 in one batch": (None, 20.0),
}

RESULTS: dict[tuple[str, int], dict[str, float]] = defaultdict(dict)
SIZES: dict[str, float] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--scale",
        default=os.environ.get("KUBE9_BENCH_SCALE", "10k,100k"),
        help="comma-separated database sizes: 10k, 100k, 1m",
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


@dataclass
class Bench:
    """One size's working database, opened both ways."""

    n: int
    path: Path
    store: EventStore
    raw: sqlite3.Connection
    ids: list[str]
    deep_cursor: str
    deep_key: tuple[str, str]
    policy: RetentionPolicy = field(default_factory=lambda: RetentionPolicy(3650, 3650))


def raw_connection(path: Path) -> sqlite3.Connection:
    """stdlib sqlite3 with the same settings the store uses."""
    con = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    for pragma in (
        "journal_mode = WAL",
        "synchronous = NORMAL",
        "foreign_keys = ON",
        "cache_size = -10000",
        "busy_timeout = 5000",
    ):
        con.execute(f"PRAGMA {pragma}")
    return con


@pytest.fixture(scope="session")
def bench(n: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bench]:
    path = working_copy(n, tmp_path_factory.mktemp(f"bench-{n}"))
    SIZES[f"{n} events at head"] = path.stat().st_size / n
    store = EventStore.open(path, clock=lambda: NOW, registry=CollectorRegistry())
    raw = raw_connection(path)
    rnd = random.Random(5)
    all_ids = [r[0] for r in raw.execute("SELECT id FROM events")]
    ids = rnd.sample(all_ids, min(2000, len(all_ids)))
    page = store.query(limit=1000)
    from kube9_store.filters import encode_cursor

    yield Bench(
        n, path, store, raw, ids, encode_cursor(page[-1]), (page[-1].created_at, page[-1].id)
    )
    raw.close()
    store.close()


def record(name: str, n: int, impl: str, benchmark: Any, per: int = 1) -> float:
    """Keep the median (ms per operation) for the summary and return it."""
    median_ms = benchmark.stats.stats.median * 1000 / per
    RESULTS[(name, n)][impl] = median_ms
    benchmark.extra_info.update({"operation": name, "events": n, "impl": impl, "ms": median_ms})
    return median_ms


def check_spec(name: str, median_ms: float) -> None:
    spec = TARGETS.get(name, (None, None))[0]
    if spec is not None:
        assert median_ms < spec, f"{name}: {median_ms:.3f} ms misses the spec's {spec} ms"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not RESULTS:
        return
    tr = terminalreporter
    tr.section("kube9_store vs raw sqlite3 (medians, ms per operation)")
    tr.write_line(
        f"{'operation':36} {'events':>8} {'api':>9} {'raw':>9} {'ratio':>6} {'goal@1M':>8} {'spec':>6}"
    )
    for (name, n), impls in sorted(RESULTS.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        api, raw = impls.get("api"), impls.get("raw")
        ratio = f"{api / raw:.2f}" if api and raw else ""
        spec, goal = TARGETS.get(name, (None, None))
        fmt = lambda v: f"{v:.4f}" if v is not None else ""  # noqa: E731
        tr.write_line(
            f"{name:36} {n:>8} {fmt(api):>9} {fmt(raw):>9} {ratio:>6} "
            f"{'' if goal is None else goal:>8} {'' if spec is None else spec:>6}"
        )
        for extra, value in impls.items():
            if extra not in ("api", "raw"):
                tr.write_line(f"{'  ' + extra:36} {n:>8} {value:>9.4f}")
    for label, per_event in sorted(SIZES.items()):
        tr.write_line(f"file size, {label}: {per_event:.0f} bytes per event")
    out = os.environ.get("KUBE9_BENCH_SUMMARY")
    if out:
        rows = [{"operation": k[0], "events": k[1], **v} for k, v in RESULTS.items()]
        Path(out).write_text(json.dumps({"results": rows, "bytes_per_event": SIZES}, indent=2))


__all__ = ["Bench", "build", "check_spec", "record"]
