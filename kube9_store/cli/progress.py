"""Progress of long work on stderr: click's own progress bar with the rate and an estimate of
the time left, drawn only when stderr is a terminal and ``--quiet`` was not given (a pipe, a
file or ``kubectl exec`` without a TTY gets nothing)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def quiet_option(func: F) -> F:
    """``--quiet``: no progress bar, even in a terminal."""
    return click.option(
        "--quiet", "-q", is_flag=True, help="No progress bar on stderr (drawn only in a terminal)."
    )(func)


class ProgressBar:
    """A callable taking ``(done, total)``, as the library reports long work; the bar appears
    at the first report with a known total. Use as a context manager so the bar is closed."""

    def __init__(self, label: str, *, quiet: bool, unit: str = "events") -> None:
        self.label = label
        self.unit = unit
        self.enabled = not quiet and sys.stderr.isatty()
        self._bar: Any = None
        self._started = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        if self._bar is None:
            self._bar = click.progressbar(
                length=total,
                label=self.label,
                file=sys.stderr,
                show_eta=True,
                show_percent=True,
                item_show_func=self._rate,
            )
            self._bar.__enter__()
        self._bar.update(max(0, done - self._bar.pos), current_item=done)

    def _rate(self, done: int | None) -> str:
        elapsed = time.monotonic() - self._started
        if not done or elapsed <= 0:
            return ""
        return f"{done / elapsed:,.0f} {self.unit}/s"

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.__exit__(exc_type, exc, tb)
            self._bar = None
