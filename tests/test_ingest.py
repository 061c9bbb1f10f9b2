"""The Kubernetes ingester against a protocol-faithful fake API server (tests/k8s_fake.py),
on SQLite and PostgreSQL: every scenario compares the stored history with the server's truth.

The contract checked everywhere (:func:`check_history`): every stored Kubernetes event carries
its uid, count, reason, first and last timestamps and cluster; no two share (uid, count);
every stored occurrence existed; and the newest stored event of each uid holds its last count.
"""

from __future__ import annotations

import contextlib
import json
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
from sqlalchemy.engine import URL

from kube9_store import EventStore
from kube9_store.events.event import Event
from kube9_store.ingest.identity import ClusterIdentity
from kube9_store.ingest.loop import Ingester, IngestSettings
from kube9_store.ingest.metrics import IngestMetrics
from kube9_store.ingest.source import KubernetesEvents
from kube9_store.ingest.writer import STEPS
from kube9_store.transfer.k8s import import_events
from tests.k8s_fake import FakeApiServer

#: The ingester against a fake API server, kills at each step of a batch, two ingesters: the slow suite
#: (``pytest -m slow``), which CI runs.
pytestmark = pytest.mark.slow

FAST = IngestSettings(
    batch_max=500,
    batch_seconds=0.05,
    backoff_initial=0.05,
    backoff_max=0.2,
    silent_close_seconds=0.3,
)
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def fake() -> Iterator[FakeApiServer]:
    with FakeApiServer() as server:
        yield server


def source_for(fake: FakeApiServer, **kw: Any) -> KubernetesEvents:
    kw.setdefault("watch_timeout", 2)
    kw.setdefault("read_grace", 2.0)
    return KubernetesEvents(ApiClient(Configuration(host=fake.url)), **kw)


class Running:
    """An ingester on its own thread, with its metrics registry."""

    def __init__(
        self,
        url: Any,
        fake: FakeApiServer,
        *,
        hook: Callable[[str], None] | None = None,
        name: str | None = "fake",
        **source_kw: Any,
    ) -> None:
        self.store = EventStore.open(url, metrics=False)
        self.source = source_for(fake, **source_kw)
        self.registry = CollectorRegistry()
        self.metrics = IngestMetrics(self.registry)
        self.ingester = Ingester(
            self.store,
            self.source,
            ClusterIdentity(fake.cluster.kube_system_uid, name),
            settings=FAST,
            metrics=self.metrics,
            hook=hook,
        )
        self.stop_event = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.ingester.run(self.stop_event)
        except BaseException as exc:
            self.error = exc

    def value(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels or None) or 0.0

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(30)
        assert not self.thread.is_alive()
        self.store.close()


@contextlib.contextmanager
def ingesting(url: Any, fake: FakeApiServer, **kw: Any) -> Iterator[Running]:
    running = Running(url, fake, **kw)
    try:
        yield running
    finally:
        running.stop()
    assert running.error is None, running.error


def wait_until(cond: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def kube_events(url: Any) -> list[Event]:
    with EventStore.open(url, metrics=False) as store:
        return [e for e in store.query(limit=None) if e.metadata and "uid" in e.metadata]


def stored_pairs(url: Any) -> list[tuple[str, int]]:
    return [(e.metadata["uid"], e.metadata["count"]) for e in kube_events(url) if e.metadata]


def caught_up(url: Any, fake: FakeApiServer) -> Callable[[], bool]:
    """True once the newest stored count of every live uid is its last count."""

    def check() -> bool:
        newest: dict[str, int] = {}
        for uid, count in stored_pairs(url):
            newest[uid] = max(newest.get(uid, 0), count)
        return all(newest.get(u) == fake.cluster.last_count[u] for u in fake.cluster.live)

    return check


def check_history(url: Any, fake: FakeApiServer, *, complete: bool) -> list[Event]:
    """The observable contract; ``complete``: nothing was lost either (stored == truth)."""
    truth = fake.cluster.truth
    events = kube_events(url)
    pairs = []
    newest: dict[str, Event] = {}
    for e in events:  # newest first
        meta = e.metadata or {}
        for key in ("uid", "count", "reason", "first_timestamp", "last_timestamp"):
            assert key in meta, (key, meta)
        assert meta["cluster_uid"] == fake.cluster.kube_system_uid
        pairs.append((meta["uid"], meta["count"]))
        newest.setdefault(meta["uid"], e)
    assert len(pairs) == len(set(pairs)), "an occurrence is stored twice"
    assert set(pairs) <= truth, "a stored occurrence never existed"
    for uid in fake.cluster.live:
        assert uid in newest, f"live event {uid} is missing"
        assert newest[uid].metadata["count"] == fake.cluster.last_count[uid]  # type: ignore[index]
    if complete:
        assert set(pairs) == truth
    return events


def gap_events(url: Any) -> list[Event]:
    with EventStore.open(url, metrics=False) as store:
        return [
            e
            for e in store.query({"event_type": "system"}, limit=None)
            if e.metadata and "gap_before_resource_version" in e.metadata
        ]


def changes(fake: FakeApiServer, uids: list[str], n: int = 20) -> None:
    """Repetitions (some in the same second), events.k8s.io series, a new event, an expiry."""
    c = fake.cluster
    for u in uids[:n]:
        c.bump(u)
        c.bump(u, same_second=True)
    s = c.add("series-pod", series=True)
    c.bump(s)
    c.bump(s)
    c.add("late-pod", namespace="other")
    c.expire(uids[n])


# -- the main path ------------------------------------------------------------------------------


def test_list_then_watch_stores_every_occurrence_once(
    backend_url: URL, fake: FakeApiServer
) -> None:
    c = fake.cluster
    uids = [c.add(f"pod-{i}") for i in range(1200)]  # three LIST pages of 500
    with ingesting(backend_url, fake) as run:
        wait_until(caught_up(backend_url, fake), what="the LIST")
        changes(fake, uids)
        wait_until(caught_up(backend_url, fake), what="the watch")
        assert run.value("kube9_ingest_relists_total", reason="start") == 1
        assert run.value("kube9_ingest_active") == 1
    events = check_history(backend_url, fake, complete=True)
    assert len(events) == len(c.truth)
    assert sum(1 for r in c.requests if r.startswith("list")) == 3
    # same-second repetitions: the later count is still the later event
    with EventStore.open(backend_url, metrics=False) as store:
        assert store.count({"cluster": c.kube_system_uid}) == len(events)
        assert store.count({"cluster": "fake"}) == len(events)
        assert store.count({"cluster": "another-cluster"}) == 0
        # import k8s-events of the same cluster's dump stores nothing new
        _rv, items = c.snapshot(None)
        doc = json.dumps({"kind": "EventList", "items": items})
        report = import_events(store, doc, ClusterIdentity(c.kube_system_uid))
        assert (report.imported, report.already_present) == (0, len(items))
        assert store.count() == len(events)


def test_restart_resumes_from_the_checkpoint(backend_url: URL, fake: FakeApiServer) -> None:
    c = fake.cluster
    uids = [c.add(f"pod-{i}") for i in range(50)]
    with ingesting(backend_url, fake):
        wait_until(caught_up(backend_url, fake))
    changes(fake, uids)  # while no ingester runs
    lists = sum(1 for r in c.requests if r.startswith("list"))
    with ingesting(backend_url, fake) as run:
        wait_until(caught_up(backend_url, fake))
        assert run.value("kube9_ingest_relists_total", reason="start") == 0
    assert sum(1 for r in c.requests if r.startswith("list")) == lists  # no new LIST
    check_history(backend_url, fake, complete=True)


def test_bookmarks_move_the_checkpoint(db_path: Path, fake: FakeApiServer) -> None:
    c = fake.cluster
    c.bookmarks = True
    c.add("pod-a")
    with ingesting(db_path, fake) as run:
        wait_until(caught_up(db_path, fake))
        c.add("pod-b")
        wait_until(caught_up(db_path, fake))
        wait_until(lambda: run.ingester.resource_version == str(c.rv))
    check_history(db_path, fake, complete=True)


def test_one_namespace_only(db_path: Path, fake: FakeApiServer) -> None:
    c = fake.cluster
    mine = [c.add(f"pod-{i}", namespace="payments") for i in range(5)]
    for i in range(5):
        c.add(f"other-{i}", namespace="default")
    with ingesting(db_path, fake, namespace="payments"):
        wait_until(lambda: len(stored_pairs(db_path)) == 5)
        c.bump(mine[0])
        c.bump(c.add("elsewhere", namespace="default"))
        wait_until(lambda: len(stored_pairs(db_path)) == 6)
    assert {uid for uid, _ in stored_pairs(db_path)} == set(mine)
    assert c.requests and all("/namespaces/payments/events?" in r for r in c.requests)


def test_two_clusters_share_one_database(backend_url: URL, fake: FakeApiServer) -> None:
    with FakeApiServer() as other:
        a = [fake.cluster.add(f"pod-{i}") for i in range(20)]
        b = [other.cluster.add(f"pod-{i}") for i in range(30)]
        with ingesting(backend_url, fake, name="east"), ingesting(backend_url, other, name="west"):
            wait_until(caught_up(backend_url, fake))
            wait_until(caught_up(backend_url, other))
            fake.cluster.bump(a[0])
            other.cluster.bump(b[0])
            wait_until(caught_up(backend_url, fake))
            wait_until(caught_up(backend_url, other))
        with EventStore.open(backend_url, metrics=False) as store:
            east = store.query({"cluster": "east"}, limit=None)
            west = store.query({"cluster": other.cluster.kube_system_uid}, limit=None)
            both = store.count({"cluster": ["east", "west"]})
        assert len(east) == len(fake.cluster.truth) == 21
        assert len(west) == len(other.cluster.truth) == 31
        assert both == 52
        assert {e.metadata["cluster_uid"] for e in east if e.metadata} == {
            fake.cluster.kube_system_uid
        }


# -- the API server's ways of ending a watch ----------------------------------------------------


@pytest.mark.parametrize("stale", ["http", "stream"])
def test_410_relists_and_records_the_gap(backend_url: URL, fake: FakeApiServer, stale: str) -> None:
    c = fake.cluster
    c.stale = stale
    uids = [c.add(f"pod-{i}") for i in range(30)]
    with ingesting(backend_url, fake) as run:
        wait_until(caught_up(backend_url, fake))
        before_rv = run.ingester.resource_version
    lost = c.add("short-lived")
    c.expire(lost)  # created and expired while no one watched: unrecoverable
    changes(fake, uids)
    c.compact()
    with ingesting(backend_url, fake) as run:
        wait_until(caught_up(backend_url, fake))
        wait_until(lambda: run.value("kube9_ingest_gaps_total") == 1)
        assert run.value("kube9_ingest_relists_total", reason="expired") == 1
    check_history(backend_url, fake, complete=False)
    assert lost not in {uid for uid, _ in stored_pairs(backend_url)}
    [gap] = gap_events(backend_url)
    assert gap.severity == "warning"
    meta = gap.metadata or {}
    assert meta["gap_before_resource_version"] == before_rv
    assert meta["gap_after_resource_version"] == str(c.rv)
    assert meta["gap_before_time"] and meta["gap_after_time"]
    assert meta["cluster_uid"] == c.kube_system_uid


def test_410_in_the_middle_of_a_stream(db_path: Path, fake: FakeApiServer) -> None:
    c = fake.cluster
    uids = [c.add(f"pod-{i}") for i in range(10)]
    with ingesting(db_path, fake) as run:
        wait_until(caught_up(db_path, fake))
        c.faults.append("stream410")  # the next watch: two events, then an ERROR line
        changes(fake, uids, n=5)
        wait_until(lambda: run.value("kube9_ingest_relists_total", reason="expired") == 1)
        wait_until(caught_up(db_path, fake))
    check_history(db_path, fake, complete=False)
    assert len(gap_events(db_path)) == 1


def test_an_empty_200_is_a_silent_close_and_relists(backend_url: URL, fake: FakeApiServer) -> None:
    c = fake.cluster
    c.stale = "empty"
    uids = [c.add(f"pod-{i}") for i in range(10)]
    with ingesting(backend_url, fake):
        wait_until(caught_up(backend_url, fake))
    changes(fake, uids, n=5)
    c.compact()
    with ingesting(backend_url, fake) as run:
        wait_until(caught_up(backend_url, fake))
        assert run.value("kube9_ingest_silent_closes_total") >= 1
        assert run.value("kube9_ingest_relists_total", reason="silent_close") >= 1
    check_history(backend_url, fake, complete=False)


def test_a_disconnect_in_the_middle_of_a_line_loses_nothing(
    backend_url: URL, fake: FakeApiServer
) -> None:
    c = fake.cluster
    uids = [c.add(f"pod-{i}") for i in range(10)]
    with ingesting(backend_url, fake) as run:
        wait_until(caught_up(backend_url, fake))
        c.faults.append("cut")
        changes(fake, uids, n=6)
        wait_until(lambda: run.value("kube9_ingest_watch_ends_total", how="broken") >= 1)
        wait_until(caught_up(backend_url, fake))
    check_history(backend_url, fake, complete=True)


def test_too_large_resource_version_relists(db_path: Path, fake: FakeApiServer) -> None:
    c = fake.cluster
    uids = [c.add(f"pod-{i}") for i in range(10)]
    with ingesting(db_path, fake) as run:
        wait_until(caught_up(db_path, fake))
        c.faults.append("too_large")
        changes(fake, uids, n=3)
        wait_until(
            lambda: (
                run.value("kube9_ingest_relists_total", reason="too_large_resource_version") == 1
            )
        )
        wait_until(caught_up(db_path, fake))
    check_history(db_path, fake, complete=False)
    assert gap_events(db_path) == []


def test_a_server_error_retries_the_watch(db_path: Path, fake: FakeApiServer) -> None:
    c = fake.cluster
    uids = [c.add(f"pod-{i}") for i in range(10)]
    with ingesting(db_path, fake) as run:
        wait_until(caught_up(db_path, fake))
        c.faults.extend(["error500", "error500"])
        wait_until(lambda: run.value("kube9_ingest_watch_ends_total", how="unavailable") == 2)
        changes(fake, uids, n=3)
        wait_until(caught_up(db_path, fake))
        assert run.value("kube9_ingest_relists_total", reason="start") == 1
        assert (
            sum(
                run.value("kube9_ingest_relists_total", reason=r)
                for r in ("expired", "silent_close", "timeout")
            )
            == 0
        )
    check_history(db_path, fake, complete=True)


def test_a_hung_watch_times_out_and_relists(db_path: Path, fake: FakeApiServer) -> None:
    c = fake.cluster
    uids = [c.add(f"pod-{i}") for i in range(5)]
    with ingesting(db_path, fake, watch_timeout=1, read_grace=0.5) as run:
        wait_until(caught_up(db_path, fake))
        c.faults.append("hang")
        wait_until(
            lambda: run.value("kube9_ingest_relists_total", reason="timeout") == 1, timeout=20
        )
        wait_until(lambda: fake.open_watches == 1)  # watching again after the re-list
        changes(fake, uids, n=2)
        wait_until(caught_up(db_path, fake))
    check_history(db_path, fake, complete=True)


def test_a_quiet_watch_closed_at_its_timeout_is_resumed(db_path: Path, fake: FakeApiServer) -> None:
    c = fake.cluster
    c.add("pod-a")
    with ingesting(db_path, fake, watch_timeout=1) as run:
        wait_until(caught_up(db_path, fake))
        wait_until(
            lambda: run.value("kube9_ingest_watch_ends_total", how="closed") >= 2, timeout=10
        )
        assert run.value("kube9_ingest_relists_total", reason="start") == 1
        assert run.value("kube9_ingest_silent_closes_total") == 0
        c.add("pod-b")
        wait_until(caught_up(db_path, fake))
    check_history(db_path, fake, complete=True)


def test_an_expired_continue_token_restarts_the_list(backend_url: URL, fake: FakeApiServer) -> None:
    c = fake.cluster
    for i in range(1100):
        c.add(f"pod-{i}")
    c.continue_expired_before = c.continues_issued + 2  # the first continue token expires
    with ingesting(backend_url, fake) as run:
        wait_until(caught_up(backend_url, fake))
        assert run.value("kube9_ingest_relists_total", reason="continue_expired") == 1
        assert run.value("kube9_ingest_events_total", result="present") == 500  # page one again
    check_history(backend_url, fake, complete=True)


# -- crashes and concurrency --------------------------------------------------------------------


class Crash(BaseException):
    """A crash injected at a step of a batch."""


@pytest.mark.parametrize("step", STEPS)
def test_a_crash_at_any_step_of_a_batch_stores_nothing_twice(
    backend_url: URL, fake: FakeApiServer, step: str
) -> None:
    c = fake.cluster
    uids = [c.add(f"pod-{i}") for i in range(20)]
    seen = {"n": 0}

    def hook(name: str) -> None:
        if name == step:
            seen["n"] += 1
            if seen["n"] == 2:  # the first batch of the watch, after the LIST's
                raise Crash(step)

    running = Running(backend_url, fake, hook=hook)
    wait_until(lambda: seen["n"] >= 1)
    changes(fake, uids, n=8)
    running.thread.join(30)
    assert isinstance(running.error, Crash)
    running.store.close()
    with ingesting(backend_url, fake):
        wait_until(caught_up(backend_url, fake))
    check_history(backend_url, fake, complete=True)


CHILD = """
import os, signal, sys
from kubernetes.client import ApiClient, Configuration
from prometheus_client import CollectorRegistry
from kube9_store import EventStore
from kube9_store.ingest.identity import ClusterIdentity
from kube9_store.ingest.loop import Ingester, IngestSettings
from kube9_store.ingest.metrics import IngestMetrics
from kube9_store.ingest.source import KubernetesEvents

url, host, uid, step, nth = sys.argv[1:6]
calls = 0

def hook(name):
    global calls
    if name == step:
        calls += 1
        if calls == int(nth):
            os.kill(os.getpid(), signal.SIGKILL)

store = EventStore.open(url, metrics=False)
source = KubernetesEvents(ApiClient(Configuration(host=host)), watch_timeout=2, read_grace=2.0)
settings = IngestSettings(batch_seconds=0.05, backoff_initial=0.05, backoff_max=0.2)
Ingester(store, source, ClusterIdentity(uid), settings=settings, metrics=IngestMetrics(CollectorRegistry()), hook=hook).run()
"""


@pytest.mark.parametrize("step", STEPS)
def test_sigkill_at_any_step_of_a_batch(backend_url: URL, fake: FakeApiServer, step: str) -> None:
    c = fake.cluster
    uids = [c.add(f"pod-{i}") for i in range(700)]  # two LIST pages
    EventStore.open(backend_url, metrics=False).close()
    changes(fake, uids, n=10)
    url = backend_url.render_as_string(hide_password=False)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, url, fake.url, c.kube_system_uid, step, "2"], cwd=REPO
    )
    assert child.wait(60) == -signal.SIGKILL
    with ingesting(backend_url, fake, name=None):
        wait_until(caught_up(backend_url, fake))
    check_history(backend_url, fake, complete=False)  # the LIST showed each uid's last count


def test_two_ingesters_at_once_one_active(backend_url: URL, fake: FakeApiServer) -> None:
    c = fake.cluster
    uids = [c.add(f"pod-{i}") for i in range(600)]
    first = Running(backend_url, fake)
    second = Running(backend_url, fake)
    try:
        wait_until(caught_up(backend_url, fake))
        assert first.value("kube9_ingest_active") + second.value("kube9_ingest_active") == 1
        active, standby = (first, second) if first.value("kube9_ingest_active") else (second, first)
        active.stop()
        changes(fake, uids)
        wait_until(lambda: standby.value("kube9_ingest_active") == 1)
        wait_until(caught_up(backend_url, fake))
    finally:
        for r in (first, second):
            if r.thread.is_alive():
                r.stop()
    check_history(backend_url, fake, complete=True)


def test_two_writers_of_the_same_cluster_at_once_store_each_occurrence_once(
    backend_url: URL, fake: FakeApiServer
) -> None:
    """The keys alone (no ingest lock): an import and an ingester of the same events race."""
    c = fake.cluster
    for i in range(800):
        c.add(f"pod-{i}")
    _rv, items = c.snapshot(None)
    doc = json.dumps({"kind": "EventList", "items": items})
    with ingesting(backend_url, fake), EventStore.open(backend_url, metrics=False) as store:
        report = import_events(store, doc, ClusterIdentity(c.kube_system_uid))
        wait_until(caught_up(backend_url, fake))
    assert report.imported + report.already_present == 800
    check_history(backend_url, fake, complete=True)


# -- the command line ---------------------------------------------------------------------------


def test_cli_ingests_until_sigterm(tmp_path: Path, fake: FakeApiServer) -> None:
    c = fake.cluster
    for i in range(30):
        c.add(f"pod-{i}")
    db = tmp_path / "cli.db"
    kubeconfig = fake.kubeconfig(tmp_path / "kubeconfig", context="lab")
    cli = [sys.executable, "-m", "kube9_store"]
    proc = subprocess.Popen(
        [
            *cli,
            "ingest",
            "kubernetes",
            "--db",
            str(db),
            "--kubeconfig",
            str(kubeconfig),
            "--context",
            "lab",
            "--cluster-name",
            "lab",
            "--watch-timeout",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        wait_until(lambda: db.exists() and caught_up(db, fake)(), timeout=60)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(30)
    assert proc.returncode == 0, err
    summary = json.loads(out)
    assert summary["cluster_uid"] == c.kube_system_uid and summary["stored"] == 30
    listed = subprocess.run(
        [
            *cli,
            "query",
            "events",
            "list",
            "--db",
            str(db),
            "--cluster",
            "lab",
            "--limit",
            "1000",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    rows = json.loads(listed.stdout)
    rows = rows["events"] if isinstance(rows, dict) else rows
    assert len(rows) == 30
    assert {r["metadata"]["cluster_name"] for r in rows} == {"lab"}
    other = subprocess.run(
        [
            *cli,
            "query",
            "events",
            "list",
            "--db",
            str(db),
            "--cluster",
            "elsewhere",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    again = json.loads(other.stdout)
    assert (again["events"] if isinstance(again, dict) else again) == []


def test_cli_refuses_a_missing_kubeconfig(tmp_path: Path) -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "kube9_store",
            "ingest",
            "kubernetes",
            "--db",
            str(tmp_path / "x.db"),
            "--kubeconfig",
            str(tmp_path / "none"),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ},
        check=False,
    )
    assert run.returncode == 1
    assert "--kubeconfig" in json.loads(run.stderr.strip().splitlines()[-1])["details"]


# -- the schema: keys for what was imported before --------------------------------------------


def test_the_revision_keys_events_imported_before_it(db_path: Path, fake: FakeApiServer) -> None:
    """A document imported at revision 0004 (ids from uid, count and time) gets keys from
    revision kube9_store_0006, so importing it again stores nothing new."""
    from kube9_store.backends import backend_for
    from kube9_store.config import sqlite_url
    from kube9_store.schema.migrate import Migrator

    c = fake.cluster
    uids = [c.add(f"pod-{i}") for i in range(5)]
    c.bump(uids[0])
    _rv, items = c.snapshot(None)
    doc = json.dumps({"kind": "EventList", "items": items})
    db_path.parent.mkdir(parents=True, exist_ok=True)
    backend = backend_for(sqlite_url(db_path))
    try:
        Migrator(backend).upgrade("0004")
        import sqlite3

        from kube9_store.transfer.k8s import to_new_event

        with sqlite3.connect(db_path) as con:
            for item in items:
                e = to_new_event(item)
                meta = {k: v for k, v in (e.metadata or {}).items() if k != "uid"}  # 0004's keys
                con.execute(
                    "INSERT INTO events (id, event_type, severity, title, metadata, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (e.id, e.event_type, e.severity, e.title, json.dumps(meta), e.created_at),
                )
    finally:
        backend.dispose()
    with EventStore.open(db_path, metrics=False) as store:
        report = import_events(store, doc)
        assert (report.imported, report.already_present) == (0, 5)
        assert store.count() == 5


def test_import_with_a_cluster_uid_is_idempotent_with_the_ingester(
    tmp_path: Path, fake: FakeApiServer
) -> None:
    c = fake.cluster
    for i in range(40):
        c.add(f"pod-{i}")
    db = tmp_path / "both.db"
    with ingesting(db, fake):
        wait_until(caught_up(db, fake))
    _rv, items = c.snapshot(None)
    src = tmp_path / "events.json"
    src.write_text(json.dumps({"kind": "EventList", "items": items}))
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "kube9_store",
            "import",
            "k8s-events",
            str(src),
            "--db",
            str(db),
            "--cluster-uid",
            c.kube_system_uid,
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    assert json.loads(run.stdout)["imported"] == 0
    kubeconfig = fake.kubeconfig(tmp_path / "kubeconfig")
    asked = subprocess.run(
        [
            sys.executable,
            "-m",
            "kube9_store",
            "import",
            "k8s-events",
            str(src),
            "--db",
            str(db),
            "--kubeconfig",
            str(kubeconfig),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    assert json.loads(asked.stdout)["imported"] == 0  # the uid read from the cluster
    unknown = subprocess.run(
        [sys.executable, "-m", "kube9_store", "import", "k8s-events", str(src), "--db", str(db)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    assert json.loads(unknown.stdout)["imported"] == 40  # another cluster, as far as it knows


def test_keys_of_events_retention_deleted_are_forgotten(
    backend_url: URL, fake: FakeApiServer
) -> None:
    from sqlalchemy import text

    from kube9_store.ingest.writer import OccurrenceWriter

    c = fake.cluster
    for i in range(12):
        c.add(f"pod-{i}")
    with ingesting(backend_url, fake):
        wait_until(caught_up(backend_url, fake))
    with EventStore.open(backend_url, metrics=False) as store:
        gone = sorted(e.id for e in kube_events(backend_url))[:5]
        with store.engine.begin() as conn:  # what retention does to old events
            for event_id in gone:
                conn.execute(text("DELETE FROM events WHERE id = :id"), {"id": event_id})
        writer = OccurrenceWriter(store)
        assert writer.prune_keys(c.kube_system_uid, "2026-12-01T00:00:00.000Z") == 0  # too new
        assert writer.prune_keys(c.kube_system_uid, "2099-01-01T00:00:00.000Z") == 5
        assert writer.prune_keys("another-cluster", "2099-01-01T00:00:00.000Z") == 0
        with store.engine.connect() as conn:
            left = conn.execute(text("SELECT event_id FROM k8s_event_keys")).scalars().all()
        assert len(left) == 7 and not set(left) & set(gone)
