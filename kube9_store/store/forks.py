"""Which process this is, without a system call: a generation number that changes in the child
of every fork, so state a parent process made (pooled connections, buffered randomness) is
never reused by its child."""

from __future__ import annotations

import os

_generation = 0


def _forked() -> None:
    global _generation
    _generation += 1


os.register_at_fork(after_in_child=_forked)


def generation() -> int:
    """This process's fork generation (a child's differs from its parent's)."""
    return _generation
