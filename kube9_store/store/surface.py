"""Which store methods the asyncio store offers, declared once on the methods themselves.

``@offered("write", "record event")`` on a method of the sync store is all a new method needs
to appear on :class:`~kube9_store.aio.store.AsyncEventStore` as a coroutine of the same signature:
``python -m kube9_store.aio.codegen`` writes ``aio/surface.py`` from these marks, and a test
fails while that file is not what the generator makes now.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, TypeVar

#: How a coroutine runs its method: ``read`` in a reader thread (a cancelled caller abandons
#: it), ``write`` in the writer thread (a cancelled caller is told what became of it),
#: ``grouped`` as ``write`` but the concurrent calls of one argument each run together in one
#: writer-thread job through the store's ``_<name>_each`` (one group commit for them all),
#: and ``finish`` in a reader thread but never abandoned halfway (work that changes files).
Kind = Literal["read", "write", "grouped", "finish"]

F = TypeVar("F", bound=Callable[..., object])

#: The mark's attribute on a method: (kind, the action named in errors).
ATTRIBUTE = "__kube9_offered__"


def offered(kind: Kind, action: str) -> Callable[[F], F]:
    """Mark a store method as offered by the asyncio store; ``action`` names it in errors."""

    def mark(fn: F) -> F:
        setattr(fn, ATTRIBUTE, (kind, action))
        return fn

    return mark
