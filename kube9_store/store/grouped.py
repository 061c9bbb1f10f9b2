"""Group commit: concurrent single-row inserts share transactions.

A leader/follower commit, as write-ahead logs do it. The first writer that finds no commit in
progress leads: alone, it runs its insert as one autocommit statement (exactly the lone
writer's path, no thread and no wait added). Writers that arrive while a commit runs queue up
and sleep; when the commit ends, the leader hands the lead to the first of them, which takes
everything queued and inserts it in one transaction. Each writer returns once its own row is
committed (or failed), so every call stays as durable as a single statement.

One failing row never fails the others: the group first runs as one batch (the common case,
one round trip on a server); when that fails for a reason other than a busy database, the
group runs again with a savepoint per row, so each row that fails is rolled back alone and
its writer gets its own error (``benchmarks/test_concurrency.py`` and the docs' performance
notes: a savepoint per row costs more than the batch and is only paid after a failure).

Closing the store fails every queued writer with StoreClosedError (nothing of theirs was
written) after the commit in progress ends; a forked child starts with an empty queue.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Sequence
from itertools import groupby
from operator import attrgetter
from typing import Any, Protocol, TypeVar

from kube9_store.backends import Backend
from kube9_store.errors import DatabaseLockedError, ErrorKind, StoreClosedError
from kube9_store.store import forks

T = TypeVar("T")


class Runner(Protocol):
    """What a group commit runs its statements with (the store's executor)."""

    backend: Backend

    def write(self, action: str, work: Callable[[Any], T], *, one_statement: bool = ...) -> T: ...

    def write_statement(self, action: str, sql: str, params: Any) -> int: ...


#: How long closing waits for a commit in progress before it closes the connections anyway.
CLOSE_WAIT_S = 30.0

_SAVEPOINT = "kube9_row"


class Row:
    """One row to insert: its statement, parameters, lock-order key, and what became of it."""

    __slots__ = ("error", "key", "params", "sql")

    def __init__(self, sql: str, params: Any, key: Any) -> None:
        self.sql = sql
        self.params = params
        self.key = key
        self.error: BaseException | None = None


class Entry:
    """One writer's rows, and the lock it sleeps on (released when they are settled, or when
    the lead is handed to it)."""

    __slots__ = ("lead", "rows", "settled", "waiter")

    def __init__(self, rows: list[Row], waiter: threading.Lock) -> None:
        self.rows = rows
        self.waiter = waiter
        self.lead = False
        self.settled = False


class GroupCommit:
    """The queue of one store's writers waiting for a commit, and its leader's work."""

    def __init__(self, run: Runner) -> None:
        self._run = run
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._queue: list[Entry] = []
        self._committing = False
        #: Whether the last commit was shared or saw writers queue: then a writer that finds
        #: no commit in progress still goes through the queue, so the writers arriving
        #: during its commit join the next group instead of each committing alone.
        self._contended = False
        self._closed = False
        self._waiters = threading.local()
        self._process = forks.generation()

    def _waiter(self) -> threading.Lock:
        """This thread's sleeping lock, kept locked between waits."""
        waiter: threading.Lock | None = getattr(self._waiters, "lock", None)
        if waiter is None:
            waiter = self._waiters.lock = threading.Lock()
            waiter.acquire()
        return waiter

    # -- writers -----------------------------------------------------------------------------

    def insert(self, action: str, sql: str, params: Any, key: Any) -> None:
        """Insert one row, in a transaction shared with the writers around; raise its error."""
        if self._process != forks.generation():
            self._reset()  # a forked child: the parent's queue and lock are not ours
        with self._lock:
            lead = not self._committing
            if lead:
                self._committing = True
            contended = self._contended
        if lead and not contended:  # the lone writer's path: one autocommit statement
            try:
                self._run.write_statement(action, sql, params)
            finally:
                self._pass_on()
            return
        row = Row(sql, params, key)
        entry = Entry([row], self._waiter())
        with self._lock:
            if not lead and not self._committing:  # the commit ended meanwhile
                self._committing = lead = True
            entry.lead = lead
            self._queue.append(entry)
        if entry.lead:
            self._lead(action)
        else:
            self._wait(action, entry)
        if row.error is not None:
            raise row.error

    def insert_each(self, action: str, rows: Sequence[Row]) -> None:
        """Insert several writers' rows (each its own outcome, in ``Row.error``) in the
        transaction of the writers around."""
        if self._process != forks.generation():
            self._reset()
        entry = Entry(list(rows), self._waiter())
        with self._lock:
            self._queue.append(entry)
            if not self._committing:
                self._committing = True
                entry.lead = True
        if entry.lead:
            self._lead(action)
            return
        self._wait(action, entry)

    def _wait(self, action: str, entry: Entry) -> None:
        """Sleep until the entry is settled or the lead is handed to it. A writer interrupted
        (Ctrl-C) while its rows are still queued takes them out: nothing of them is written.
        One whose rows a leader has taken waits for their outcome, then re-raises, saying it."""
        try:
            entry.waiter.acquire()
        except BaseException as exc:
            with self._lock:
                queued = entry in self._queue
                if queued:
                    self._queue.remove(entry)
            if queued:
                if entry.lead:  # the lead was handed over: consume that, and hand it on
                    entry.waiter.acquire()
                    self._pass_on()
                exc.add_note(f"{action}: interrupted while queued; nothing was written")
                raise
            while True:
                try:
                    entry.waiter.acquire()
                    break
                except BaseException:  # interrupted again: the commit still has to end first
                    continue
            failed = [row.error for row in entry.rows if row.error is not None]
            exc.add_note(
                f"{action}: interrupted while being committed; "
                + (f"it failed and nothing was written ({failed[0]!r})" if failed else "stored")
            )
            raise
        if entry.lead and not entry.settled:
            self._lead(action)

    # -- the leader --------------------------------------------------------------------------

    def _lead(self, action: str) -> None:
        """Commit everything queued (this writer's rows among it), wake each writer, hand on."""
        with self._lock:
            group, self._queue = self._queue, []
        rows = [row for entry in group for row in entry.rows]
        try:
            self._commit(action, rows)
        except BaseException:
            # the leader itself was interrupted (Ctrl-C): the other writers' rows were rolled
            # back, so they go back to the queue for the next leader
            with self._lock:
                mine = [e for e in group if e.lead]
                self._queue[:0] = [e for e in group if not e.lead]
            for entry in mine:
                entry.settled = True
            self._pass_on()
            raise
        for entry in group:
            entry.settled = True
            if not entry.lead:
                entry.waiter.release()
        self._pass_on(shared=len(rows) > 1)

    def _pass_on(self, shared: bool = False) -> None:
        """Hand the lead to the first queued writer, or end the commit; once the store is
        closed, fail the queued writers instead (nothing of theirs was written)."""
        with self._lock:
            self._contended = shared or bool(self._queue)
            if not self._queue:
                self._committing = False
                self._idle.notify_all()
                return
            if not self._closed:
                first = self._queue[0]
                first.lead = True
                first.waiter.release()
                return
            refused, self._queue = self._queue, []
            self._committing = False
            self._idle.notify_all()
        for entry in refused:
            for row in entry.rows:
                row.error = StoreClosedError("the store was closed before this was written")
            entry.settled = True
            if not entry.lead:
                entry.waiter.release()

    def _commit(self, action: str, rows: list[Row]) -> None:
        """Insert ``rows`` in one transaction, setting each row's error; a lone row runs as
        one autocommit statement."""
        run = self._run
        if len(rows) == 1:
            row = rows[0]
            try:
                run.write_statement(action, row.sql, row.params)
            except Exception as exc:
                row.error = exc
            return
        # counter rows locked in one order by every writer: no deadlock on a server
        rows.sort(key=attrgetter("key"))

        def batch(con: Any) -> None:
            cur = con.cursor()
            try:
                for sql, run_rows in groupby(rows, key=attrgetter("sql")):
                    cur.executemany(sql, [r.params for r in run_rows])
            finally:
                cur.close()

        try:
            run.write(action, batch)
            return
        except DatabaseLockedError as exc:  # locked out through every retry: no row's fault
            _fail_all(rows, exc)
            return
        except Exception:  # a row's error, or the group's: each row alone tells which
            pass
        try:
            run.write(action, lambda con: _each_alone(run, action, con, rows))
        except Exception as exc:  # the transaction itself failed: no row of it is stored
            _fail_all([r for r in rows if r.error is None], exc)

    # -- closing -----------------------------------------------------------------------------

    def close(self) -> None:
        """Fail every queued writer with StoreClosedError once the commit in progress ends."""
        with self._lock:
            self._closed = True
            if self._committing:
                self._idle.wait_for(lambda: not self._committing, CLOSE_WAIT_S)


def _each_alone(run: Runner, action: str, con: Any, rows: list[Row]) -> None:
    """Every row under a savepoint of its own: a row that fails is rolled back alone and
    keeps its error; an error that ends the transaction fails the whole group."""
    backend = run.backend
    for row in rows:
        row.error = None  # a busy retry runs this again
        con.execute(f"SAVEPOINT {_SAVEPOINT}")
        try:
            con.execute(row.sql, row.params)
        except backend.errors as exc:
            if (
                backend.kind_of(exc) is ErrorKind.BUSY
                or backend.is_disconnect(exc, con)
                or not backend.in_transaction(con)
            ):
                raise
            con.execute(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
            row.error = backend.translate(exc, action)
            row.error.__cause__ = exc
        con.execute(f"RELEASE SAVEPOINT {_SAVEPOINT}")


def _fail_all(rows: list[Row], error: BaseException) -> None:
    """Give each row the group's error, an instance of its own (each writer raises it)."""
    for i, row in enumerate(rows):
        if i == 0:
            row.error = error
            continue
        own = copy.copy(error)
        own.__cause__ = error.__cause__
        row.error = own
