"""The Kubernetes ingester against the fake API server (tests/k8s_fake.py):

- catch-up: a LIST of ``n`` events (``--scale``/$KUBE9_BENCH_SCALE: 10k, 100k, 1m) stored from
  an empty database (SQLite, or PostgreSQL with ``--backends``) by ``kube9-store ingest kubernetes`` in a process of its own, in events
  per second from its first commit (read every 0.1 s), with that process's peak RSS (VmHWM);
- steady: 1,000 new events per second for $KUBE9_BENCH_STEADY_S seconds (default 10) while
  the ingester watches (each backend), and the time from each event's creation on the API server to the
  commit of its batch (goal: at most one second).

The figures are printed (run with ``-s``) and kept in each benchmark's extra_info.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import ApiClient, Configuration
from prometheus_client import CollectorRegistry
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from benchmarks.conftest import PG_URL
from kube9_store import EventStore
from kube9_store.events.models import NewEvent
from kube9_store.ingest.identity import ClusterIdentity
from kube9_store.ingest.loop import Ingester, IngestSettings
from kube9_store.ingest.metrics import IngestMetrics
from kube9_store.ingest.source import KubernetesEvents
from tests.k8s_fake import FakeApiServer

REPO = Path(__file__).resolve().parent.parent
STEADY_RATE = 1000
STEADY_SECONDS = float(os.environ.get("KUBE9_BENCH_STEADY_S", "10"))
LATENCY_GOAL_S = 1.0


def _counter(db: Any) -> Callable[[], int]:
    """Occurrences committed so far in ``db`` (a path or URL), read through a connection of its
    own (cheap beside the ingester)."""
    engine = create_engine(str(db) if not isinstance(db, Path) else f"sqlite:///{db}")

    def count() -> int:
        try:
            with engine.connect() as conn:
                return int(conn.execute(text("SELECT count(*) FROM k8s_event_keys")).scalar_one())
        except Exception:
            return 0

    return count


def _peak_rss_mib(pid: int) -> float:
    """The process's peak resident set (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


@contextlib.contextmanager
def _database(backend: str, tmp_path: Path, name: str) -> Iterator[Any]:
    if backend == "sqlite":
        yield tmp_path / f"{name}.db"
        return
    import psycopg

    from tests.helpers import conninfo, pg_schema

    try:
        psycopg.connect(conninfo(make_url(PG_URL)), connect_timeout=3).close()
    except psycopg.Error as exc:
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {exc}")
    with pg_schema(PG_URL) as url:
        yield url.render_as_string(hide_password=False)


def test_catch_up_from_a_list(benchmark: Any, n: int, backend: str, tmp_path: Path) -> None:
    benchmark.group = f"ingest catch-up, {n}"
    with FakeApiServer() as fake:
        for i in range(n):
            fake.cluster.add(f"pod-{i}", namespace=f"ns-{i % 50}")
        kubeconfig = fake.kubeconfig(tmp_path / "kubeconfig")
        figures: dict[str, float] = {}

        def catch_up() -> None:
            with _database(backend, tmp_path, "catch-up") as db:
                EventStore.open(db, metrics=False).close()  # the schema is not the figure
                stored_now = _counter(db)
                proc = subprocess.Popen(
                    [sys.executable, "-m", "kube9_store", "ingest", "kubernetes", "--db", str(db),
                     "--kubeconfig", str(kubeconfig), "--watch-timeout", "60"],
                    cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )  # fmt: skip
                started = None
                try:
                    while True:
                        time.sleep(0.1)
                        stored = stored_now()
                        if started is None and stored:
                            started = time.monotonic()
                        if stored >= n:
                            break
                        assert proc.poll() is None, "the ingester stopped"
                    done = time.monotonic()
                    figures["peak_rss_mib"] = _peak_rss_mib(proc.pid)
                finally:
                    proc.send_signal(signal.SIGTERM)
                    proc.wait(60)
                assert started is not None
                figures["events_per_s"] = n / max(done - started, 1e-9)

        benchmark.pedantic(catch_up, rounds=1)
    benchmark.extra_info.update({"events": n, "backend": backend, **figures})
    print(
        f"\ncatch-up of {n} events into {backend}: {figures['events_per_s']:,.0f} events/s "
        f"(from the first commit), ingester peak RSS {figures['peak_rss_mib']:.0f} MiB"
    )


class TimedIngester(Ingester):
    """Notes when each occurrence's batch committed."""

    committed_at: dict[str, float]

    def _write(
        self,
        occurrences: list[NewEvent],
        resource_version: str | None,
        also: list[NewEvent] | None = None,
        *,
        arrived: float | None = None,
    ) -> None:
        super()._write(occurrences, resource_version, also, arrived=arrived)
        now = time.monotonic()
        for e in occurrences:
            self.committed_at.setdefault(str((e.metadata or {})["uid"]), now)


def test_steady_1000_events_per_second(benchmark: Any, backend: str, tmp_path: Path) -> None:
    benchmark.group = "ingest steady"
    total = int(STEADY_RATE * STEADY_SECONDS)
    with FakeApiServer() as fake, _database(backend, tmp_path, "steady") as db:
        c = fake.cluster
        store = EventStore.open(db, metrics=False)
        source = KubernetesEvents(ApiClient(Configuration(host=fake.url)), watch_timeout=300)
        ingester = TimedIngester(
            store,
            source,
            ClusterIdentity(c.kube_system_uid),
            settings=IngestSettings(),
            metrics=IngestMetrics(CollectorRegistry()),
        )
        ingester.committed_at = {}
        created: dict[str, float] = {}
        stop = threading.Event()
        thread = threading.Thread(target=ingester.run, args=(stop,), daemon=True)
        thread.start()
        while ingester.resource_version is None:
            time.sleep(0.05)
        figures: dict[str, float] = {}

        def produce() -> None:
            start = time.monotonic()
            for i in range(total):
                due = start + i / STEADY_RATE
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                uid = c.add(f"pod-{i}", namespace=f"ns-{i % 20}")
                created[uid] = time.monotonic()
            deadline = time.monotonic() + 30
            while len(ingester.committed_at) < total and time.monotonic() < deadline:
                time.sleep(0.05)
            figures["produced_per_s"] = total / (time.monotonic() - start)

        benchmark.pedantic(produce, rounds=1)
        stop.set()
        thread.join(30)
        store.close()
    delays = sorted(ingester.committed_at[u] - t for u, t in created.items())
    assert len(delays) == total
    p50, p99, worst = delays[total // 2], delays[int(total * 0.99)], delays[-1]
    figures.update({"p50_s": p50, "p99_s": p99, "max_s": worst})
    benchmark.extra_info.update({"events": total, "backend": backend, **figures})
    print(
        f"\n{backend}: steady {STEADY_RATE}/s for {STEADY_SECONDS:.0f} s: event to commit p50 {p50 * 1000:.0f} ms, "
        f"p99 {p99 * 1000:.0f} ms, max {worst * 1000:.0f} ms (goal {LATENCY_GOAL_S:.0f} s)"
    )
