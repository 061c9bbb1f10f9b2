"""What a user imports: every type met in a public signature of the stores is exported from
the package, and the README's claims about the typed API hold."""

from __future__ import annotations

import typing
from typing import Any, get_args, get_origin

import pytest
from prometheus_client import CollectorRegistry

import kube9_store
from kube9_store import AsyncEventStore, EventStore


def named_types(hint: Any) -> set[Any]:
    """Every class (or literal alias) a type hint mentions, recursively."""
    found: set[Any] = set()
    stack = [hint]
    while stack:
        item = stack.pop()
        if item in (kube9_store.EventType, kube9_store.Severity):
            found.add(item)
            continue
        origin = get_origin(item)
        if origin is not None:
            stack.extend(get_args(item))
            if isinstance(origin, type):
                found.add(origin)
        elif isinstance(item, type):
            found.add(item)
    return found


def test_every_type_in_a_store_signature_is_exported() -> None:
    exported = {getattr(kube9_store, name) for name in kube9_store.__all__}
    missing: set[str] = set()
    for cls in (EventStore, AsyncEventStore):
        for name in dir(cls):
            member = getattr(cls, name)
            if name.startswith("_") or not callable(member):
                continue
            namespace = {
                **vars(__import__(getattr(member, "__module__", cls.__module__), fromlist=["_"])),
                "CollectorRegistry": CollectorRegistry,  # imported only for type checkers
            }
            hints = typing.get_type_hints(member, globalns=namespace)
            for hint in hints.values():
                for found in named_types(hint):
                    module = getattr(found, "__module__", "")
                    if module.startswith("kube9_store") and found not in exported:
                        missing.add(f"{cls.__name__}.{name}: {found.__qualname__}")
    assert missing == set()


def test_literal_types_are_exported_with_their_values() -> None:
    assert get_args(kube9_store.EventType) == kube9_store.EVENT_TYPES
    assert get_args(kube9_store.Severity) == kube9_store.SEVERITIES


def test_the_public_names_are_the_imports_type_checkers_read() -> None:
    """One declaration: each import under TYPE_CHECKING in ``kube9_store/__init__.py`` is a
    public name, loaded from the module it names; nothing else is exported."""
    import ast
    import importlib
    from pathlib import Path

    tree = ast.parse(Path(kube9_store.__file__).read_text(encoding="utf-8"))
    declared = {
        alias.asname or alias.name: (node.module, alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("kube9_")
        for alias in node.names
    }
    assert all(name == home_name for name, (_, home_name) in declared.items())  # `X as X`
    assert sorted(kube9_store.__all__) == sorted([*declared, "__version__"])
    for name, (module, _) in declared.items():
        assert getattr(kube9_store, name) is getattr(importlib.import_module(module), name)
    assert set(kube9_store.__all__) <= set(dir(kube9_store))


def test_a_misspelt_name_is_an_attribute_error_naming_it() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'EventStor'"):
        kube9_store.EventStor  # noqa: B018


def test_star_import_brings_every_public_name() -> None:
    namespace: dict[str, Any] = {}
    exec("from kube9_store import *", namespace)
    assert set(kube9_store.__all__) <= set(namespace)
