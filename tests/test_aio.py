"""What only the async store does: the same interface as EventStore, writes that a cancelled
caller can trust, one writer thread on SQLite, the retention task, and an event loop that keeps
ticking while the store works. (The store suite's behaviour checks run against it too, in
test_store.py.)"""

from __future__ import annotations

import asyncio
import gc
import inspect
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import URL

from kube9_store import DuplicateEventError, EventStore, ValidationError
from kube9_store.aio.store import AsyncEventStore, AsyncRetentionRunner, WriteOutcome, write_outcome
from kube9_store.errors import StoreClosedError
from kube9_store.operations.retention import RetentionPolicy
from tests.helpers import event_data

#: Public EventStore names with no coroutine (none today; a driver-level call that lends a
#: connection to a callback would belong here).
DRIVER_LEVEL: set[str] = set()
#: Properties and attributes the async store exposes as plain attributes.
ATTRIBUTES = {"engine", "url", "path", "read_only", "location", "clock", "retention"}


def run(coro: Awaitable[Any]) -> Any:
    async def main() -> Any:
        return await coro

    return asyncio.run(main())


def batch(n: int, **overrides: Any) -> list[dict[str, Any]]:
    return [event_data(title=f"e{i}", **overrides) for i in range(n)]


def public_methods(cls: type) -> dict[str, Any]:
    return {
        name: getattr(cls, name)
        for name in dir(cls)
        if not name.startswith("_") and callable(getattr(cls, name))
    }


def test_every_store_method_is_a_coroutine_with_the_same_parameters() -> None:
    sync = public_methods(EventStore)
    asynchronous = public_methods(AsyncEventStore)
    for name, method in sync.items():
        if name in DRIVER_LEVEL:
            continue
        assert name in asynchronous, f"AsyncEventStore lacks {name}"
        counterpart = asynchronous[name]
        if inspect.isgeneratorfunction(method) or name == "iter":
            assert not inspect.iscoroutinefunction(counterpart)
        else:
            assert inspect.iscoroutinefunction(counterpart), f"{name} is not a coroutine"
        theirs = inspect.signature(method).parameters
        ours = inspect.signature(counterpart).parameters
        for pname, param in theirs.items():
            if param.kind is inspect.Parameter.VAR_KEYWORD:
                continue
            assert pname in ours, f"{name}() lacks {pname}"
            assert ours[pname].kind == param.kind, f"{name}({pname}) kind differs"
            assert ours[pname].default == param.default, f"{name}({pname}) default differs"
    for attr in ATTRIBUTES:
        assert isinstance(getattr(AsyncEventStore, attr), property)


def test_the_generated_coroutines_are_what_the_store_declares_now() -> None:
    """aio_surface.py is written from the store's @offered methods; a store method changed or
    added without regenerating it fails here."""
    from kube9_store.aio import codegen as aio_codegen

    assert aio_codegen.TARGET.read_text(encoding="utf-8") == aio_codegen.generate(), (
        "kube9_store/aio/surface.py is stale: run python -m kube9_store.aio.codegen"
    )


def test_every_public_store_method_is_offered_or_named_as_not() -> None:
    """A new public method of the store is offered to asyncio code unless it is named here."""
    from kube9_store.store.surface import ATTRIBUTE

    not_offered = {"open", "close", "restore", "iter"}  # hand-written on AsyncEventStore
    for name, method in public_methods(EventStore).items():
        if name in DRIVER_LEVEL or name in not_offered:
            continue
        assert hasattr(method, ATTRIBUTE), f"EventStore.{name} is neither @offered nor excluded"


class RunningSignal:
    """A store clock that tells when a write is running: once armed, the next reading comes
    from the write's own thread (the store reads its clock after validating the batch)."""

    def __init__(self) -> None:
        self.armed = threading.Event()
        self.running = threading.Event()

    def __call__(self) -> datetime:
        if self.armed.is_set():
            self.running.set()
        return datetime.now(UTC)

    async def wait(self) -> None:
        await wait_for(self.running.is_set)


def test_a_write_cancelled_before_it_started_never_runs(db_path: Path) -> None:
    signal = RunningSignal()

    async def main() -> tuple[WriteOutcome | None, list[Any], int]:
        async with await AsyncEventStore.open(db_path, clock=signal) as store:
            signal.armed.set()
            big = asyncio.create_task(store.record_many(batch(20_000)))
            await signal.wait()  # the writer thread is busy inserting the batch
            small = asyncio.create_task(store.record(event_data(title="queued")))
            await asyncio.sleep(0)  # submitted behind the batch
            small.cancel()
            with pytest.raises(asyncio.CancelledError) as info:
                await small
            stored = await big
            return write_outcome(info.value), stored, await store.count()

    outcome, stored, count = run(main())
    assert outcome is not None
    assert (outcome.action, outcome.started, outcome.committed) == ("record event", False, False)
    assert len(stored) == 20_000
    assert count == 20_000  # the queued event was never written


def test_a_write_cancelled_while_running_completes_and_says_so(db_path: Path) -> None:
    signal = RunningSignal()

    async def main() -> tuple[BaseException, int]:
        async with await AsyncEventStore.open(db_path, clock=signal) as store:
            signal.armed.set()
            task = asyncio.create_task(store.record_many(batch(20_000)))
            await signal.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError) as info:
                await task
            assert task.cancelled()
            return info.value, await store.count()

    exc, count = run(main())
    outcome = write_outcome(exc)
    assert outcome is not None and outcome.started and outcome.committed
    assert len(outcome.result) == 20_000
    assert count == 20_000
    assert "it completed and is stored" in exc.__notes__[0]


def test_a_cancelled_write_that_fails_rolls_back_and_says_so(db_path: Path) -> None:
    taken = "evt_20251202_103045_a7f3b9"
    signal = RunningSignal()

    async def main() -> tuple[BaseException, int]:
        async with await AsyncEventStore.open(db_path, clock=signal) as store:
            await store.record(event_data(id=taken))
            signal.armed.set()
            doomed = [*batch(20_000), event_data(id=taken)]
            task = asyncio.create_task(store.record_many(doomed))
            await signal.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError) as info:
                await task
            return info.value, await store.count()

    exc, count = run(main())
    outcome = write_outcome(exc)
    assert outcome is not None and outcome.started and not outcome.committed
    assert isinstance(outcome.error, DuplicateEventError)
    assert count == 1  # nothing of the batch is stored


def test_a_timeout_around_a_write_is_a_timeout_with_the_outcome(db_path: Path) -> None:
    signal = RunningSignal()

    async def write_until_it_runs(store: AsyncEventStore) -> None:
        """A 20,000-event batch under a deadline that passes as soon as the write runs."""
        async with asyncio.timeout(None) as deadline:

            async def expire_once_running() -> None:
                await signal.wait()
                deadline.reschedule(asyncio.get_running_loop().time())

            expiry = asyncio.create_task(expire_once_running())
            try:
                await store.record_many(batch(20_000))
            finally:
                await expiry

    async def main() -> tuple[BaseException, int]:
        async with await AsyncEventStore.open(db_path, clock=signal) as store:
            signal.armed.set()
            with pytest.raises(TimeoutError) as info:
                await write_until_it_runs(store)
            return info.value, await store.count()

    exc, count = run(main())
    cause = exc.__cause__
    assert isinstance(cause, asyncio.CancelledError)
    outcome = write_outcome(cause)
    assert outcome is not None and outcome.committed
    assert count == 20_000
    assert write_outcome(ValueError("unrelated")) is None


def test_a_cancelled_read_leaves_the_store_usable(db_path: Path) -> None:
    async def main() -> int:
        async with await AsyncEventStore.open(db_path) as store:
            await store.record_many(batch(5_000))
            reads = [asyncio.create_task(store.query(limit=None)) for _ in range(8)]
            await asyncio.sleep(0)
            for task in reads:
                task.cancel()
            await asyncio.gather(*reads, return_exceptions=True)
            return len(await store.query(limit=None))

    assert run(main()) == 5_000


def test_writes_go_through_one_writer_thread_on_sqlite(db_path: Path) -> None:
    seen: set[str] = set()

    def clock() -> datetime:  # called by every write that stamps an event
        seen.add(threading.current_thread().name)
        return datetime.now(UTC)

    async def main() -> int:
        async with await AsyncEventStore.open(db_path, clock=clock, busy_timeout=0) as store:
            writes = [store.record(event_data(title=f"t{i}")) for i in range(200)]
            writes += [store.record_many(batch(50)) for _ in range(4)]
            reads = [store.count() for _ in range(50)]
            await asyncio.gather(*writes, *reads)
            return await store.count()

    assert run(main()) == 400
    assert len(seen) == 1 and next(iter(seen)).startswith("kube9-store-writer")


def test_concurrent_writes_on_a_server_all_land(pg_url: URL) -> None:
    async def main() -> tuple[int, dict[str, int]]:
        async with await AsyncEventStore.open(pg_url, max_workers=3) as store:
            await asyncio.gather(*(store.record(event_data(title=f"t{i}")) for i in range(120)))
            return await store.count(), await store.count_by_type()

    assert run(main()) == (120, {"operator": 120})


def test_a_closed_store_says_so(db_path: Path) -> None:
    async def main() -> None:
        store = await AsyncEventStore.open(db_path)
        await store.record(event_data())
        await store.close()
        await store.close()  # twice is fine
        assert store.closed
        with pytest.raises(StoreClosedError, match="closed"):
            await store.get("evt_20251202_103045_a7f3b9")
        with pytest.raises(StoreClosedError, match="closed"):
            await store.record(event_data())

    run(main())
    with EventStore.open(db_path) as sync:
        assert sync.count() == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_workers": 0}, "max_workers"),
        ({"max_workers": 10_000}, "max_workers"),
        ({"retention_every": -1}, "interval"),
        ({"retention_every": 60, "read_only": True}, "retention_every"),
    ],
)
def test_bad_async_arguments_are_named(db_path: Path, kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        run(AsyncEventStore.open(db_path, **kwargs))
    assert info.value.fields == [field]
    assert not db_path.exists()


def test_async_iter_walks_every_match(db_path: Path) -> None:
    async def main() -> tuple[list[str], list[str]]:
        async with await AsyncEventStore.open(db_path) as store:
            await store.record_many(batch(37))
            walked = [e.id async for e in store.iter(page_size=5)]
            return walked, [e.id for e in await store.query(limit=None)]

    walked, everything = run(main())
    assert walked == everything and len(walked) == 37


def test_restore_and_backup_through_the_async_store(tmp_path: Path, db_path: Path) -> None:
    async def main() -> tuple[int, int]:
        async with await AsyncEventStore.open(db_path) as store:
            await store.record_many(batch(10))
            result = await store.backup(tmp_path / "copy.db")
            await store.record_many(batch(5))
        restored = await AsyncEventStore.restore(result.path, db_path)
        async with restored:
            return result.events, await restored.count()

    assert run(main()) == (10, 10)


def expired(n: int) -> list[dict[str, Any]]:
    long_ago = datetime.now(UTC) - timedelta(days=40)
    return [event_data(title=f"old{i}", created_at=long_ago) for i in range(n)]


async def wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


def test_retention_runs_with_the_store_and_stops_with_it(db_path: Path) -> None:
    results: list[int] = []

    async def collect(result: Any) -> None:
        results.append(result.deleted)

    async def main() -> tuple[int, bool]:
        store = await AsyncEventStore.open(db_path, retention_every=0.05, on_retention=collect)
        runner = store.retention_runner
        assert runner is not None and runner.running
        await store.record_many(expired(30))
        await wait_for(lambda: sum(results) == 30)
        count = await store.count()
        await store.close()
        return count, runner.running

    count, running = run(main())
    assert count == 0 and not running
    assert sum(results) == 30


def test_retention_runner_survives_a_failed_run(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVENT_RETENTION_INFO_WARNING_DAYS", "a week")

    async def main() -> tuple[int, int]:
        async with await AsyncEventStore.open(db_path) as store:
            await store.record_many(expired(12))
            async with AsyncRetentionRunner(store, interval=0.05) as runner:
                await wait_for(lambda: runner.failures >= 2)
                assert runner.runs == 0 and await store.count() == 12
                monkeypatch.setenv("EVENT_RETENTION_INFO_WARNING_DAYS", "7")
                await wait_for(lambda: runner.runs >= 1)
            assert not runner.running
            return runner.failures, await store.count()

    failures, count = run(main())
    assert failures >= 2
    assert count == 0


def test_stopping_the_runner_lets_a_run_finish(db_path: Path) -> None:
    signal = RunningSignal()

    async def main() -> tuple[int, int]:
        async with await AsyncEventStore.open(db_path, clock=signal) as store:
            await store.record_many(expired(20_000))
            signal.armed.set()  # the next reading is the retention run's "now"
            runner = AsyncRetentionRunner(store, interval=3600)
            runner.start()
            await signal.wait()  # the first run is deleting in batches
            await runner.stop()
            return runner.runs, await store.count()

    # The run had started, so stopping waited for it and counted it.
    assert run(main()) == (1, 0)


def test_a_custom_policy_reaches_the_store(db_path: Path) -> None:
    async def main() -> int:
        policy = RetentionPolicy(info_warning_days=1, error_critical_days=2)
        async with await AsyncEventStore.open(db_path, retention=policy) as store:
            two_days = datetime.now(UTC) - timedelta(days=2)
            await store.record_many([event_data(created_at=two_days)])
            return (await store.apply_retention()).deleted

    assert run(main()) == 1


@pytest.fixture
def frozen_heap() -> Iterator[None]:
    """What a long-running service does once after start-up: move every object alive so far
    out of the garbage collector's reach (gc.freeze), so a full collection, which pauses
    every thread, scans only what the work allocates."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@pytest.mark.slow
@pytest.mark.usefixtures("frozen_heap")
def test_the_loop_keeps_ticking_while_the_store_works(
    tmp_path: Path, db_path: Path, record_property: Callable[[str, object], None]
) -> None:
    """A heartbeat every 10 ms keeps ticking while a 10,000-event batch, a backup and a VACUUM
    of a 100,000-event database run through the async store. The goal is 50 ms at worst (the
    figure reported); the assertion allows three times that, a margin for a shared machine that
    still fails on any blocking call on the loop (0.3 s for the batch, seconds for the backup or
    the VACUUM)."""
    with EventStore.open(db_path) as sync:
        for start in range(0, 100_000, 10_000):
            sync.record_many(
                event_data(
                    title=f"Pod BackOff {i}",
                    object_kind="Pod",
                    object_namespace=f"ns-{i % 6}",
                    object_name=f"pod-{i % 3000}",
                    metadata={"reason": "BackOff", "count": i, "node": f"worker-{i % 7}"},
                )
                for i in range(start, start + 10_000)
            )
    new_events = batch(10_000)  # built before the clock starts: the test's work, not the store's

    async def main(attempt: int) -> tuple[float, int, list[Any]]:
        async with await AsyncEventStore.open(db_path) as store:
            stop = asyncio.Event()
            gaps: list[float] = []

            async def heartbeat() -> None:
                last = time.perf_counter()
                while not stop.is_set():
                    await asyncio.sleep(0.01)
                    now = time.perf_counter()
                    gaps.append(now - last)
                    last = now

            beat = asyncio.create_task(heartbeat())
            await asyncio.sleep(0.05)
            work = await asyncio.gather(
                store.record_many(new_events),
                store.backup(tmp_path / f"backup-{attempt}.db"),
                store.vacuum(),
            )
            stop.set()
            await beat
            return max(gaps), len(gaps), work

    # Other processes may share the machine's cores: a stall they cause comes and goes, one
    # the store causes (a blocking call on the loop: 0.3 s for the batch, seconds for the
    # backup or the VACUUM) comes back every time. So the best of up to five attempts.
    worst_by_attempt: list[float] = []
    for attempt in range(5):
        worst, ticks, (stored, backup, _size) = run(main(attempt))
        assert len(stored) == 10_000
        assert backup.events >= 100_000 + 10_000 * attempt
        assert ticks > 20  # the work took long enough to be measured against
        worst_by_attempt.append(worst)
        if worst < 0.050:
            break
    record_property("worst_heartbeat_wait_ms", [round(w * 1000, 1) for w in worst_by_attempt])
    print(f"worst heartbeat wait per attempt: {[f'{w * 1000:.1f} ms' for w in worst_by_attempt]}")
    assert min(worst_by_attempt) < 0.150
