"""The executor's connections: one held per thread, given back when the thread ends or the store
closes, never shared with a forked child, and dropped when a write was interrupted."""

from __future__ import annotations

import gc
import multiprocessing
import threading
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from kube9_store import DatabaseUnavailableError, EventStore
from kube9_store.backends import backend_for
from kube9_store.store.executor import Executor
from kube9_store.store.statements import Statements
from tests.helpers import event_data


def test_each_thread_reuses_one_connection(store: EventStore) -> None:
    pool = store.engine.pool
    for _ in range(20):
        store.count()
        store.get("evt_20251202_103045_a7f3b9")
    assert pool.checkedout() == 1  # type: ignore[attr-defined]


def test_connections_of_ended_threads_go_back_to_the_pool(store: EventStore) -> None:
    def work() -> None:
        store.record(event_data())
        store.count()

    threads = [threading.Thread(target=work) for _ in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    gc.collect()
    assert store.count() == 30
    assert store.engine.pool.checkedout() <= 1  # type: ignore[attr-defined]


def test_a_closed_store_fails_cleanly(backend_url: URL) -> None:
    store = EventStore.open(backend_url, metrics=False)
    store.record(event_data())
    engine = store.engine
    store.close()
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    for call in (
        store.count,
        lambda: store.record(event_data()),
        lambda: store.count({"since": "2025-12-01"}),
    ):
        with pytest.raises(DatabaseUnavailableError, match="closed"):
            call()


def _record_in_child(store: EventStore, queue: multiprocessing.Queue[str]) -> None:
    queue.put(store.record(event_data(title="from the child")).id)


def test_a_forked_child_gets_its_own_connection(tmp_path: Path) -> None:
    with EventStore.open(tmp_path / "kube9.db", metrics=False) as store:
        store.record(event_data(title="from the parent"))  # the parent holds a connection
        ctx = multiprocessing.get_context("fork")
        queue: multiprocessing.Queue[str] = ctx.Queue()
        child = ctx.Process(target=_record_in_child, args=(store, queue))
        child.start()
        child_id = queue.get(timeout=30)
        child.join(30)
        assert child.exitcode == 0
        store.record(event_data(title="parent again"))
        assert store.get(child_id) is not None
        assert store.count() == 3


def test_an_interrupted_write_leaves_no_open_transaction(backend_url: URL) -> None:
    EventStore.open(backend_url, metrics=False).close()
    backend = backend_for(backend_url)
    executor = Executor(backend)
    insert = Statements(backend.engine.dialect).insert
    row = {
        "id": "evt_20251202_103045_a7f3b9",
        "event_type": "system",
        "severity": "info",
        "title": "t",
        "description": None,
        "object_kind": None,
        "object_namespace": None,
        "object_name": None,
        "metadata": None,
        "created_at": "2025-12-02T10:30:45.000Z",
        "acknowledged": 0,
    }

    def interrupted(con: object) -> None:
        con.execute(insert.sql, insert.params(row))  # type: ignore[attr-defined]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        executor.write("record", interrupted)
    executor.write("record", lambda con: con.execute(insert.sql, insert.params(row)))
    count = Statements(backend.engine.dialect).count_all
    assert executor.fetch(count, {}, "count")[0][0] == 1
    executor.close()
    backend.dispose()
