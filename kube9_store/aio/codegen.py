"""Writes ``aio/surface.py``: the asyncio store's coroutines, one per store method marked
``@offered`` (see :mod:`kube9_store.store.surface`), with the method's own signature, overloads and
first docstring paragraph, each running the method in the thread its mark names.

    python -m kube9_store.aio.codegen          # rewrite kube9_store/aio/surface.py
    python -m kube9_store.aio.codegen --check  # exit 1 when the file is stale

The generator reads the store's source (not the imported classes), so the coroutines carry
the annotations exactly as written, and a test compares the file with what it makes now.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).parent.parent
#: The store's parts whose marked methods the asyncio store offers, in the order they appear.
SOURCES = ("store/writes.py", "store/reads.py", "store/maintenance.py")
TARGET = PACKAGE / "aio" / "surface.py"

HEADER = '''"""The asyncio store's coroutines, generated from the store's methods marked
``@offered``. Do not edit: ``python -m kube9_store.aio.codegen`` writes this file (see
:mod:`kube9_store.store.surface`), and a test fails while it is stale.
"""

from __future__ import annotations

'''


@dataclass
class Method:
    name: str
    kind: str
    action: str
    overloads: list[ast.FunctionDef]
    impl: ast.FunctionDef


def _mark(fn: ast.FunctionDef) -> tuple[str, str] | None:
    for dec in fn.decorator_list:
        if (
            isinstance(dec, ast.Call)
            and isinstance(dec.func, ast.Name)
            and dec.func.id == "offered"
            and all(isinstance(a, ast.Constant) for a in dec.args)
        ):
            kind, action = (a.value for a in dec.args if isinstance(a, ast.Constant))
            return str(kind), str(action)
    return None


def _is_overload(fn: ast.FunctionDef) -> bool:
    return any(isinstance(d, ast.Name) and d.id == "overload" for d in fn.decorator_list)


def _methods(tree: ast.Module) -> list[Method]:
    found: list[Method] = []
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        pending: dict[str, list[ast.FunctionDef]] = {}
        for node in cls.body:
            if not isinstance(node, ast.FunctionDef):
                continue
            if _is_overload(node):
                pending.setdefault(node.name, []).append(node)
                continue
            mark = _mark(node)
            if mark is not None:
                found.append(Method(node.name, *mark, pending.pop(node.name, []), node))
    return found


def _imports(tree: ast.Module) -> dict[str, tuple[str, bool]]:
    """Each imported name: (its import line, whether only type checking imports it)."""
    names: dict[str, tuple[str, bool]] = {}

    def take(node: ast.stmt, typing_only: bool) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                names[alias.asname or alias.name] = (f"import {alias.name}", typing_only)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module != "__future__":
            for alias in node.names:
                name = alias.asname or alias.name
                names[name] = (f"from {node.module} import {alias.name}", typing_only)

    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for inner in node.body:
                take(inner, True)
        else:
            take(node, False)
    return names


def _signature(fn: ast.FunctionDef) -> str:
    args = ast.unparse(fn.args)
    returns = f" -> {ast.unparse(fn.returns)}" if fn.returns is not None else ""
    return f"async def {fn.name}({args}){returns}"


def _call_arguments(fn: ast.FunctionDef) -> str:
    a = fn.args
    parts = [p.arg for p in [*a.posonlyargs, *a.args][1:]]  # without self
    if a.vararg is not None:
        parts.append(f"*{a.vararg.arg}")
    parts += [f"{p.arg}={p.arg}" for p in a.kwonlyargs]
    if a.kwarg is not None:
        parts.append(f"**{a.kwarg.arg}")
    return "".join(f", {p}" for p in parts)


def _summary(fn: ast.FunctionDef) -> str:
    doc = ast.get_docstring(fn) or f"See :meth:`EventStore.{fn.name}`."
    first = doc.split("\n\n", 1)[0].replace("\n", " ")
    return " ".join(first.split())


def _wrap(text: str, indent: str, width: int = 100) -> list[str]:
    """A docstring's text in quotes, as lines of at most ``width`` characters."""
    lines: list[str] = []
    line = ""
    for word in f'"""{text}"""'.split():
        if line and len(indent) + len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    return [indent + line for line in lines]


def _grouped_call(m: Method, source_methods: set[str]) -> str:
    """The call of a ``grouped`` method: its one argument handed to ``_<name>_each``."""
    each = f"_{m.name}_each"
    arguments = _call_arguments(m.impl)
    if each not in source_methods or m.overloads or arguments.count(",") != 1:
        raise SystemExit(
            f"{m.name}: a grouped method takes one argument, has no overloads, and its store "
            f"part defines {each}(list of arguments) -> list of results or errors"
        )
    return f"self._grouped({m.action!r}, self.store.{each}{arguments})"


def _used_names(nodes: list[ast.AST]) -> set[str]:
    return {n.id for node in nodes for n in ast.walk(node) if isinstance(n, ast.Name)}


def generate() -> str:
    """The text of ``aio/surface.py`` as the store's source makes it now."""
    methods: list[Method] = []
    imports: dict[str, tuple[str, bool]] = {}
    source_methods: set[str] = set()
    for source in SOURCES:
        tree = ast.parse((PACKAGE / source).read_text(encoding="utf-8"))
        methods += _methods(tree)
        imports.update(_imports(tree))
        source_methods |= {
            fn.name
            for cls in tree.body
            if isinstance(cls, ast.ClassDef)
            for fn in cls.body
            if isinstance(fn, ast.FunctionDef)
        }

    body: list[str] = []
    annotations: list[ast.AST] = []
    defaults: list[ast.AST] = []
    for m in methods:
        for fn in [*m.overloads, m.impl]:
            annotations += [a for a in ast.walk(fn.args) if isinstance(a, ast.arg)]
            if fn.returns is not None:
                annotations.append(fn.returns)
            defaults += [d for d in [*fn.args.defaults, *fn.args.kw_defaults] if d is not None]
        for fn in m.overloads:
            body += ["    @overload", f"    {_signature(fn)}: ...", ""]
        text = _summary(m.impl)
        one_line = f'        """{text}"""'
        docstring = [one_line] if len(one_line) <= 100 else _wrap(text, "        ")
        call = f"self._{m.kind}({m.action!r}, self.store.{m.name}{_call_arguments(m.impl)})"
        if m.kind == "grouped":
            call = _grouped_call(m, source_methods)
        if m.overloads:  # mypy cannot pick an overload for a callable handed on: the impl's
            call = (
                f"self._{m.kind}(\n            {m.action!r},\n"
                f"            self.store.{m.name},  # type: ignore[arg-type]\n"
                + "".join(f"            {a},\n" for a in _call_arguments(m.impl)[2:].split(", "))
                + "        )"
            )
        body += [f"    {_signature(m.impl)}:", *docstring, f"        return await {call}", ""]

    # Names are imported as their sources import them, so the coroutines' type hints resolve
    # at run time too (typing.get_type_hints); what a source imports only for type checkers
    # stays so here.
    used = _used_names(defaults) | _used_names(annotations)
    if any(m.overloads for m in methods):
        used.add("overload")
    lines_rt = sorted(
        {imports[n][0] for n in used if n in imports and not imports[n][1]}
        | {"from kube9_store.store.eventstore import EventStore"}
    )
    lines_tc = sorted({imports[n][0] for n in used if n in imports and imports[n][1]})
    lines_rt.append("from kube9_store.aio.workers import AsyncWorkers")
    out = [HEADER.rstrip("\n"), ""]
    out += _merge(lines_rt)
    if lines_tc:
        out += ["from typing import TYPE_CHECKING", "", "if TYPE_CHECKING:"]
        out += ["    " + line for line in _merge(lines_tc)]
    out += [
        "",
        "",
        "class AsyncStoreMethods(AsyncWorkers):",
        '    """Every offered method of the store, as a coroutine."""',
        "",
        "    store: EventStore",
        "",
        *body,
    ]
    while out[-1] == "":
        out.pop()
    return _format("\n".join(out) + "\n")


def _merge(lines: list[str]) -> list[str]:
    """``from m import a`` lines of one module as one line, modules in order (the import
    sorter orders them afterwards)."""
    by_module: dict[str, list[str]] = {}
    plain = [line for line in lines if line.startswith("import ")]
    for line in lines:
        if line.startswith("import "):
            continue
        module, name = line[len("from ") :].split(" import ")
        by_module.setdefault(module, []).append(name)
    return plain + [
        f"from {module} import {', '.join(sorted(set(names), key=str.lower))}"
        for module, names in sorted(by_module.items())
    ]


def _format(text: str) -> str:
    """The file as the project's linter and formatter leave it (imports sorted, formatted)."""
    import subprocess

    ruff = str(Path(sys.executable).parent / "ruff")
    for command in (["check", "--select", "I", "--fix", "--quiet"], ["format"]):
        text = subprocess.run(
            [ruff, *command, "--stdin-filename", str(TARGET), "-"],
            input=text,
            capture_output=True,
            text=True,
            check=True,
            cwd=PACKAGE.parent,
        ).stdout
    return text


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = generate()
    if "--check" in args:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != text:
            print(f"{TARGET} is stale: run python -m kube9_store.aio.codegen", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
