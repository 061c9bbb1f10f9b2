"""``query events list --follow``: the newest matching events, then each new one as it is
stored, by any process, until Ctrl-C or until the reader of stdout goes away.

Every POLL_SECONDS one indexed read asks for what was stored after the last event seen:
on SQLite the rows past the last rowid (the order writes commit in, so an event written with
an older timestamp, or by a writer whose clock lags, still shows), on PostgreSQL the events
after the last (created_at, id). Between reads the process sleeps in ``poll()`` on stdout,
which also wakes it at once when a pipe's reader closes (``| head -1``), so a follow that
nobody reads any more ends without waiting for an event to write.
"""

from __future__ import annotations

import os
import select
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import click

from kube9_store.cli.common import open_store
from kube9_store.cli.exit_codes import ExitCode

if TYPE_CHECKING:
    from kube9_store.events.models import EventFilter
    from kube9_store.store.eventstore import EventStore

#: How often the database is asked for new events (the latency of a follow, at most).
POLL_SECONDS = 0.25
#: Events read per poll at most (the rest follow at the next, without sleeping).
BATCH = 1000


def follow_events(
    db: str | None,
    flt: EventFilter,
    backlog: int,
    fmt: str,
    width: int | None,
    columns: Sequence[str] | None,
    *,
    interval: float = POLL_SECONDS,
) -> None:
    """Print the ``backlog`` newest events matching ``flt`` (oldest first), then every new
    match as it is stored, in ``fmt``: a table or CSV with one header, JSON as one object
    per line, YAML as one document per event."""
    try:
        with open_store(db, read_only=True) as store:
            reader = _NewEvents(store, flt)
            shown = [e.to_dict() for e in reversed(store.query(flt, backlog))]
            printer = _Printer(fmt, width, columns, shown)
            wait = _waiter(interval)
            while True:
                events = reader.next_batch()
                if events:
                    printer.show([e.to_dict() for e in events])
                if len(events) < BATCH and not wait():
                    break  # stdout was closed
        _stdout_gone()
    except KeyboardInterrupt:
        return  # Ctrl-C is how a follow ends
    except BrokenPipeError:
        _stdout_gone()


def _stdout_gone() -> None:
    """The reader of stdout went away: say nothing more, exit as a pipe's writer does."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(ExitCode.BROKEN_PIPE)


def _waiter(interval: float) -> Callable[[], bool]:
    """A sleep of ``interval`` that returns False at once if stdout's reader has gone."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        fd = -1
    if fd < 0:

        def nap() -> bool:
            time.sleep(interval)
            return True

        return nap
    poller = select.poll()
    poller.register(fd, 0)  # errors and hang-ups only: always reported

    def wait() -> bool:
        return not poller.poll(interval * 1000)

    return wait


class _NewEvents:
    """Reads the events stored after the last one it returned (none at first: it starts
    after the newest event stored when it was made)."""

    def __init__(self, store: EventStore, flt: EventFilter) -> None:
        from sqlalchemy import bindparam

        from kube9_store.schema.sortkey import BY_ROWID, BY_TEXT, ROWID
        from kube9_store.store.filters import shape_and_values, statement_for

        self.store = store
        # a backend whose events are keyed by rowid (SQLite) follows the rowid
        self.by_rowid = store.backend.sort_key is BY_ROWID
        self._trusted = store.read_model.trusted
        if self.by_rowid:
            shape, self.values = shape_and_values(flt, limit=BATCH, oldest_first=True)
            stmt = statement_for(shape, BY_TEXT, store.read_model)
            stmt = (
                stmt.add_columns(ROWID)
                .where(bindparam("after_rowid") < ROWID)
                .order_by(None)
                .order_by(ROWID)
            )
            with store.engine.connect() as conn:
                newest = conn.exec_driver_sql("SELECT max(rowid) FROM events").scalar()
            self.values["after_rowid"] = int(newest or 0)
        else:
            shape, self.values = shape_and_values(
                flt, cursor=("", ""), limit=BATCH, oldest_first=True
            )
            stmt = statement_for(shape, BY_TEXT, store.read_model)
            newest_events = store.query(None, 1)
            last = (newest_events[0].created_at, newest_events[0].id) if newest_events else ("", "")
            self.values["cursor_created_at"], self.values["cursor_id"] = last
        self.stmt = stmt

    def next_batch(self) -> list[Any]:
        from kube9_store.events.rows import event_from_tuple
        from kube9_store.gates.inbound import checked_events

        with self.store.engine.connect() as conn:
            rows = [tuple(r) for r in conn.execute(self.stmt, self.values)]
        if not rows:
            return []
        if self.by_rowid:
            self.values["after_rowid"] = rows[-1][-1]
            rows = [r[:-1] for r in rows]
        else:
            self.values["cursor_created_at"], self.values["cursor_id"] = rows[-1][9], rows[-1][0]
        if self._trusted:
            return [event_from_tuple(r) for r in rows]
        return checked_events(rows)


class _Printer:
    """Prints events in a format that can go on: one table header, one CSV header."""

    def __init__(
        self,
        fmt: str,
        width: int | None,
        columns: Sequence[str] | None,
        first: list[dict[str, Any]],
    ) -> None:
        from kube9_store.lean.rendering import TableLayout

        self.fmt = fmt
        self.layout = TableLayout(first, width, columns, typical=True) if fmt == "table" else None
        if self.layout is not None:
            self._out(self.layout.header())
        elif fmt == "csv":
            from kube9_store.lean.rendering import to_csv

            self._out(to_csv([]))
        self.show(first)

    def show(self, events: list[dict[str, Any]]) -> None:
        if not events:
            sys.stdout.flush()
            return
        if self.layout is not None:
            lines = [self.layout.row(e) for e in events]
        elif self.fmt == "csv":
            from kube9_store.lean.rendering import to_csv

            lines = [to_csv(events).split("\n", 1)[1]]
        elif self.fmt == "yaml":
            from kube9_store.lean.rendering import to_yaml

            lines = [f"---\n{to_yaml(e)}" for e in events]
        else:
            from kube9_store.cli.common import one_line_json

            lines = [one_line_json(e) for e in events]
        for line in lines:
            self._out(line)
        sys.stdout.flush()

    @staticmethod
    def _out(line: str) -> None:
        click.echo(line)
