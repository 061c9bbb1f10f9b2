"""The package's shape: the import graph has no cycle (imports under TYPE_CHECKING included),
and only the backends ask which database kind they talk to."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.helpers import REPO

PACKAGE = REPO / "kube9_store"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {
    _module_name(p): p
    for p in PACKAGE.rglob("*.py")
    if "migrations" not in p.relative_to(PACKAGE).parts
}


def _imports(name: str, path: Path) -> set[str]:
    """The package modules ``name`` imports, wherever the import stands."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def test_the_import_graph_has_no_cycle() -> None:
    graph = {name: _imports(name, path) for name, path in MODULES.items()}
    assert graph["kube9_store.store.eventstore"]  # the parser sees imports
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_cycle_detection_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


#: Asking which database kind this is, or talking to a driver directly.
BACKEND_QUESTIONS = re.compile(
    r"is_sqlite|dialect\.name|dialect_name|get_backend_name|[!=]= *[\"'](sqlite|postgresql)|"
    r"import sqlite3|import psycopg|from psycopg"
)


#: Beside the backends: the CLI's lean read path, which reads a SQLite file at head with the
#: standard library's driver alone (importing a backend would import SQLAlchemy) and leaves
#: every other database to the full CLI, and the SQLite file helpers both share.
SQLITE_READERS = {"kube9_store.lean.read", "kube9_store.lean.sqlite"}


def test_only_backends_ask_which_backend_it_is() -> None:
    offenders = [
        f"{_module_name(path)}:{n}: {line.strip()}"
        for name, path in MODULES.items()
        if not name.startswith("kube9_store.backends") and name not in SQLITE_READERS
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if BACKEND_QUESTIONS.search(line)
    ]
    assert offenders == []


def _empty_hooks(source: str, cls: str) -> list[str]:
    """Methods of class ``cls`` in ``source`` that do nothing (a docstring, ``pass`` or
    ``...`` alone) without being abstract: optional hooks a backend may silently lack."""
    tree = ast.parse(source)
    (klass,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls]
    found = []
    for node in klass.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        abstract = any(
            isinstance(d, ast.Attribute) and d.attr == "abstractmethod" for d in node.decorator_list
        )
        body = [
            s
            for s in node.body
            if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
            and not isinstance(s, ast.Pass)
        ]
        if not body and not abstract:
            found.append(node.name)
    return found


def test_the_backend_contract_has_no_empty_hook() -> None:
    """What differs per database is abstract: each backend says what it does there, even
    when that is nothing (a server holds no file)."""
    base = (REPO / "kube9_store" / "backends" / "base.py").read_text()
    assert _empty_hooks(base, "Backend") == []


def test_empty_hook_detection_finds_one() -> None:
    source = "class Backend:\n    def hold(self) -> None:\n        '''Optional.'''\n"
    assert _empty_hooks(source, "Backend") == ["hold"]
