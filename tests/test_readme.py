"""The documented kopf-style handlers, run as written: the code block is taken from the docs
and its handlers are called directly, the way kopf would call them, without a cluster."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from kube9_store import AsyncEventStore, EventStore
from tests.helpers import REPO


def readme_block(containing: str) -> str:
    """The one Python example of the README or docs/ that contains ``containing``."""
    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    text = "\n".join(p.read_text(encoding="utf-8") for p in pages)
    blocks = [b for b in re.findall(r"```python\n(.*?)```", text, re.DOTALL) if containing in b]
    assert len(blocks) == 1, f"expected one documented example containing {containing!r}"
    return blocks[0]


@pytest.fixture
def handlers() -> Iterator[dict[str, Any]]:
    namespace: dict[str, Any] = {"__name__": "readme_example"}
    exec(compile(readme_block("async def kubernetes_event"), "docs/api.md", "exec"), namespace)
    try:
        yield namespace
    finally:
        gc.unfreeze()  # the example freezes the heap at start-up; other tests start clean


def sample_events() -> list[dict[str, Any]]:
    path = REPO / "kube9_store" / "data" / "k8s-events-sample.json"
    items: list[dict[str, Any]] = json.loads(path.read_text())["items"]
    return items


def test_the_kopf_handlers_record_kubernetes_and_operator_events(
    handlers: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.delenv("KUBE9_DB_URL", raising=False)
    monkeypatch.setenv("DB_PATH", str(tmp_path / "data"))
    logger = logging.getLogger("kopf.objects")
    items = sample_events()
    broken = {"kind": "Event", "metadata": {"name": "x"}}  # no involvedObject, no reason

    async def operator_lifetime() -> tuple[bool, bool]:
        memo = SimpleNamespace()
        await handlers["startup"](memo=memo, logger=logger, retry=0, activity="startup")
        store = memo.events
        assert isinstance(store, AsyncEventStore)
        runner_started = store.retention_runner is not None and store.retention_runner.running
        for body in [*items, broken, *items[:5]]:  # kopf may deliver an event again
            await handlers["kubernetes_event"](
                body=body, memo=memo, logger=logger, type=None, event={"object": body}
            )
        await handlers["cleanup"](memo=memo, logger=logger)
        return runner_started, store.closed

    with caplog.at_level(logging.WARNING, logger="kopf.objects"):
        runner_started, closed = asyncio.run(operator_lifetime())
    assert runner_started and closed
    assert any(
        "not recorded" in r.message and "involvedObject" in r.message for r in caplog.records
    )
    with EventStore.open(tmp_path / "data" / "kube9.db") as store:
        by_type = store.count_by_type()
        started = store.query({"event_type": "operator"})
        pods = store.query({"object_kind": "Pod"}, limit=None)
    assert by_type == {"operator": 1, "cluster": len(items)}
    assert started[0].title == "Operator started" and started[0].metadata == {"version": "1.0.0"}
    assert {e.object_name for e in pods} >= {items[0]["involvedObject"]["name"]}
