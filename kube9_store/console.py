"""The ``kube9-store`` console script (and ``python -m kube9_store``): a command the lean read
path may answer goes to it (:mod:`kube9_store.lean.read`, which answers or hands it on to the
full CLI); everything else, and any ``--help``, goes straight to the full CLI, without
importing the lean path first."""

from __future__ import annotations

import sys

#: The first word of every command the lean read path answers (a test checks them).
LEAN_FIRST_WORDS = frozenset({"query", "events", "db", "health"})
HELP = frozenset({"-h", "--help"})


def main() -> None:
    argv = sys.argv[1:]
    if argv and argv[0] in LEAN_FIRST_WORDS and not HELP.intersection(argv):
        from kube9_store.lean.read import main as lean

        lean()
    else:
        from kube9_store.cli import main as full

        full()
