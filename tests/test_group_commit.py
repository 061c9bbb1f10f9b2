"""Group commit: concurrent records share transactions, each call gets its own event back
once it is committed, and a failing event fails only its own call (threads on EventStore,
tasks on AsyncEventStore, on every backend).

The tests make the queue deterministic by holding the database's write lock from a second
store: the first writer's insert waits on the lock, every writer after it queues behind that
commit, and releasing the lock lets the queue commit as one group."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy.engine import URL

from kube9_store import DuplicateEventError, EventStore, Kube9StoreError
from kube9_store.aio.cancellation import write_outcome
from kube9_store.aio.store import AsyncEventStore
from kube9_store.errors import StoreClosedError
from kube9_store.events.event import Event
from kube9_store.schema.tables import events
from tests.helpers import event_data

TAKEN = "evt_20251202_103045_a7f3b9"


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.005)


def queued(store: EventStore) -> int:
    """How many writers wait behind the commit in progress."""
    return len(store._run._group._queue)


@contextmanager
def writers_held(url: URL) -> Iterator[threading.Event]:
    """Hold the write lock of the events table from another store until the event is set
    (a SQLite write transaction; a table lock that conflicts with inserts on PostgreSQL)."""
    other = EventStore.open(url, metrics=False)
    holding, release = threading.Event(), threading.Event()

    def hold(con: Any) -> None:
        other.backend.exclude_writers(con, events)
        holding.set()
        release.wait(30)

    thread = threading.Thread(target=other._run.write, args=("hold", hold))
    thread.start()
    try:
        assert holding.wait(20)
        yield release
    finally:
        release.set()
        thread.join(30)
        other.close()


def titles_stored(store: EventStore) -> list[str]:
    return [e.title for e in store.query(limit=10_000)]


def test_concurrent_threads_each_get_their_own_committed_event(backend_url: URL) -> None:
    with EventStore.open(backend_url, metrics=False) as store:
        writers, calls = 8, 40

        def write(w: int) -> list[Event]:
            return [store.record(event_data(title=f"w{w} c{c}")) for c in range(calls)]

        with ThreadPoolExecutor(writers) as pool:
            returned = [e for got in pool.map(write, range(writers)) for e in got]
        assert sorted(e.title for e in returned) == sorted(
            f"w{w} c{c}" for w in range(writers) for c in range(calls)
        )
        assert len({e.id for e in returned}) == writers * calls
        for event in returned:
            assert store.get(event.id) == event
        stored = titles_stored(store)
        assert sorted(stored) == sorted(e.title for e in returned)  # each exactly once
        assert store.count() == writers * calls  # the counters agree


def test_writers_arriving_during_a_commit_queue_and_commit_together(backend_url: URL) -> None:
    with EventStore.open(backend_url, metrics=False) as store, ThreadPoolExecutor(8) as pool:
        with writers_held(backend_url):
            first = pool.submit(store.record, event_data(title="first"))
            wait_for(lambda: store._run._group._committing)
            rest = [pool.submit(store.record, event_data(title=f"q{i}")) for i in range(7)]
            wait_for(lambda: queued(store) == 7)  # none of them writes while one commits
            assert not first.done() and not any(f.done() for f in rest)
        got = [first.result(30), *(f.result(30) for f in rest)]
        assert [e.title for e in got] == ["first", *(f"q{i}" for i in range(7))]
        assert sorted(titles_stored(store)) == sorted(e.title for e in got)
        assert store.count() == 8


def test_a_failing_event_in_a_group_fails_only_its_caller(backend_url: URL) -> None:
    with EventStore.open(backend_url, metrics=False) as store, ThreadPoolExecutor(8) as pool:
        store.record(event_data(id=TAKEN, title="already there"))
        fresh = "evt_20251202_103046_b8c4d0"
        with writers_held(backend_url):
            first = pool.submit(store.record, event_data(title="first"))
            wait_for(lambda: store._run._group._committing)
            calls: dict[str, Future[Event]] = {}
            for title, overrides in [
                ("ok 1", {}),
                ("taken id", {"id": TAKEN}),
                ("ok 2", {}),
                ("fresh id", {"id": fresh}),
                ("fresh id again", {"id": fresh}),
                ("ok 3", {}),
            ]:
                calls[title] = pool.submit(store.record, event_data(title=title, **overrides))
                expected = len(calls)
                wait_for(lambda: queued(store) == expected)  # noqa: B023 - called at once
        assert first.result(30).title == "first"
        with pytest.raises(DuplicateEventError) as info:
            calls["taken id"].result(30)
        assert info.value.event_id == TAKEN
        with pytest.raises(DuplicateEventError) as again:
            calls["fresh id again"].result(30)
        assert again.value.event_id == fresh
        for title in ("ok 1", "ok 2", "fresh id", "ok 3"):
            assert calls[title].result(30).title == title
        assert store.get(fresh) is not None and store.get(fresh).title == "fresh id"  # type: ignore[union-attr]
        stored = titles_stored(store)
        assert sorted(stored) == sorted(
            ["already there", "first", "ok 1", "ok 2", "fresh id", "ok 3"]
        )
        assert store.count() == 6


def poison_title(store: EventStore, title: str) -> None:
    """A trigger that refuses events with ``title``: a row that passes validation but fails
    in the database."""
    if store.backend.name == "sqlite":
        ddl = [
            "CREATE TRIGGER poison BEFORE INSERT ON events "
            f"WHEN NEW.title = '{title}' BEGIN SELECT RAISE(ABORT, 'poisoned row'); END"
        ]
    else:
        ddl = [
            "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF NEW.title = '{title}' THEN RAISE EXCEPTION 'poisoned row'; END IF; "
            "RETURN NEW; END $$",
            "CREATE TRIGGER poison BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION poison()",
        ]
    with store.engine.begin() as conn:
        for statement in ddl:
            conn.exec_driver_sql(statement)


def test_a_row_the_database_refuses_fails_only_its_caller(backend_url: URL) -> None:
    with EventStore.open(backend_url, metrics=False) as store, ThreadPoolExecutor(8) as pool:
        poison_title(store, "poison")
        with writers_held(backend_url):
            first = pool.submit(store.record, event_data(title="first"))
            wait_for(lambda: store._run._group._committing)
            calls = []
            for title in ("ok 1", "poison", "ok 2"):
                calls.append(pool.submit(store.record, event_data(title=title)))
                expected = len(calls)
                wait_for(lambda: queued(store) == expected)  # noqa: B023 - called at once
        ok1, poisoned, ok2 = calls
        with pytest.raises(Kube9StoreError, match="poisoned row"):
            poisoned.result(30)
        assert [f.result(30).title for f in (first, ok1, ok2)] == ["first", "ok 1", "ok 2"]
        assert sorted(titles_stored(store)) == ["first", "ok 1", "ok 2"]
        assert store.count() == 3


def test_closing_while_writers_wait_fails_them_and_loses_nothing(backend_url: URL) -> None:
    store = EventStore.open(backend_url, metrics=False)
    with ThreadPoolExecutor(8) as pool:
        with writers_held(backend_url):
            first = pool.submit(store.record, event_data(title="first"))
            wait_for(lambda: store._run._group._committing)
            rest = [pool.submit(store.record, event_data(title=f"q{i}")) for i in range(5)]
            wait_for(lambda: queued(store) == 5)
            closing = pool.submit(store.close)
            time.sleep(0.05)
            assert not closing.done()  # close waits for the commit in progress
        closing.result(30)
        assert first.result(30).title == "first"  # the commit in progress completed
        for f in rest:
            with pytest.raises(StoreClosedError):
                f.result(30)
    with EventStore.open(backend_url, metrics=False) as reopened:
        assert titles_stored(reopened) == ["first"]  # the refused ones were never written


def test_concurrent_tasks_each_get_their_own_committed_event(backend_url: URL) -> None:
    async def main() -> tuple[list[Event], list[str], int]:
        async with await AsyncEventStore.open(backend_url, metrics=False) as store:

            async def write(w: int) -> list[Event]:
                return [await store.record(event_data(title=f"w{w} c{c}")) for c in range(25)]

            got = await asyncio.gather(*(write(w) for w in range(8)))
            stored = [e.title async for e in store.iter()]
            return [e for g in got for e in g], stored, await store.count()

    returned, stored, count = asyncio.run(main())
    assert sorted(e.title for e in returned) == sorted(
        f"w{w} c{c}" for w in range(8) for c in range(25)
    )
    assert sorted(stored) == sorted(e.title for e in returned)
    assert count == 200


def test_a_failing_task_event_fails_only_that_task(backend_url: URL) -> None:
    async def main() -> tuple[list[Any], list[str]]:
        async with await AsyncEventStore.open(backend_url, metrics=False) as store:
            await store.record(event_data(id=TAKEN, title="already there"))
            calls = [
                store.record(event_data(title="ok 1")),
                store.record(event_data(id=TAKEN, title="taken id")),
                store.record({"title": "no type"}),  # fails validation, alone
                store.record(event_data(title="ok 2")),
            ]
            got = await asyncio.gather(*calls, return_exceptions=True)
            return got, [e.title async for e in store.iter()]

    got, stored = asyncio.run(main())
    assert isinstance(got[0], Event) and got[0].title == "ok 1"
    assert isinstance(got[1], DuplicateEventError) and got[1].event_id == TAKEN
    assert isinstance(got[2], Exception) and "event_type" in str(got[2])
    assert isinstance(got[3], Event) and got[3].title == "ok 2"
    assert sorted(stored) == ["already there", "ok 1", "ok 2"]


def test_cancelling_one_task_leaves_the_others_events_alone(backend_url: URL) -> None:
    async def main() -> tuple[BaseException, BaseException, Event, list[str]]:
        async with await AsyncEventStore.open(backend_url, metrics=False) as store:
            sync = store.store
            with writers_held(backend_url):
                running = asyncio.create_task(store.record(event_data(title="running")))
                await asyncio.to_thread(wait_for, lambda: sync._run._group._committing)
                queued_task = asyncio.create_task(store.record(event_data(title="queued")))
                other = asyncio.create_task(store.record(event_data(title="other")))
                await asyncio.sleep(0.05)  # both wait for the writer thread's next batch
                running.cancel()
                queued_task.cancel()
                await asyncio.sleep(0.05)
                assert not running.done()  # its commit has to end first
            with pytest.raises(asyncio.CancelledError) as ran:
                await running
            with pytest.raises(asyncio.CancelledError) as never:
                await queued_task
            return ran.value, never.value, await other, [e.title async for e in store.iter()]

    ran, never, other, stored = asyncio.run(main())
    ran_outcome, never_outcome = write_outcome(ran), write_outcome(never)
    assert ran_outcome is not None and ran_outcome.started and ran_outcome.committed
    assert ran_outcome.result.title == "running"
    assert never_outcome is not None and not never_outcome.started
    assert other.title == "other"
    assert sorted(stored) == ["other", "running"]


def test_ctrl_c_while_queued_writes_nothing_and_leaves_the_store_usable(
    backend_url: URL,
) -> None:
    with EventStore.open(backend_url, metrics=False) as store, ThreadPoolExecutor(2) as pool:
        main = threading.get_ident()

        def interrupt_main_once_queued() -> None:
            wait_for(lambda: queued(store) == 1)
            signal.pthread_kill(main, signal.SIGINT)

        with writers_held(backend_url):
            first = pool.submit(store.record, event_data(title="first"))
            wait_for(lambda: store._run._group._committing)
            interrupter = pool.submit(interrupt_main_once_queued)
            with pytest.raises(KeyboardInterrupt) as info:
                store.record(event_data(title="interrupted"))
            interrupter.result(30)
        assert first.result(30).title == "first"
        assert "interrupted while queued; nothing was written" in info.value.__notes__[0]
        assert store.record(event_data(title="after")).title == "after"
        assert sorted(titles_stored(store)) == ["after", "first"]
