"""Importing Kubernetes events: idempotent under concurrency, never losing a distinct event to an
id collision, and skipping (by index) only the items that are malformed."""

from __future__ import annotations

import json
import multiprocessing
import traceback
from typing import Any

import pytest
from sqlalchemy.engine import URL

from kube9_store import EventStore
from kube9_store.transfer.k8s import import_events, to_new_event

FORK = multiprocessing.get_context("fork")

#: Two Kubernetes event uids whose first-choice ids collide in the same second.
COLLIDING_UIDS = ("0f5c2a9e-000000026386", "0f5c2a9e-000000093395")


def k8s_event(
    uid: str, *, name: str = "web-1", namespace: str = "default", **extra: Any
) -> dict[str, Any]:
    return {
        "kind": "Event",
        "metadata": {"uid": uid, "name": f"{name}.17d", "namespace": namespace},
        "involvedObject": {"kind": "Pod", "name": name, "namespace": namespace},
        "reason": "BackOff",
        "message": f"Back-off restarting failed container in {name}",
        "type": "Warning",
        "count": 1,
        "lastTimestamp": "2025-12-02T10:00:00Z",
        **extra,
    }


def document(items: list[Any]) -> str:
    return json.dumps({"kind": "EventList", "items": items})


def test_colliding_ids_of_distinct_events_lose_neither(store: EventStore) -> None:
    a, b = (k8s_event(uid, name=f"pod-{i}") for i, uid in enumerate(COLLIDING_UIDS))
    assert to_new_event(a).id == to_new_event(b).id  # the case this test is about
    first = import_events(store, document([a, b]))
    assert (first.imported, first.already_present) == (2, 0)
    stored = store.query(limit=None)
    assert sorted(e.metadata["k8s_uid"] for e in stored if e.metadata) == sorted(COLLIDING_UIDS)
    again = import_events(store, document([b, a]))
    assert (again.imported, again.already_present) == (0, 2)
    assert store.count() == 2


def test_colliding_ids_across_imports_lose_neither(store: EventStore) -> None:
    a, b = (k8s_event(uid, name=f"pod-{i}") for i, uid in enumerate(COLLIDING_UIDS))
    assert import_events(store, document([a])).imported == 1
    second = import_events(store, document([b, a]))
    assert (second.imported, second.already_present) == (1, 1)
    assert store.count() == 2


@pytest.mark.parametrize(
    "bad",
    [
        {"metadata": {"uid": "uid-\ud800", "name": "x"}},
        {
            "metadata": {"name": "x", "namespace": "ns-\udcff"},
            "involvedObject": {"kind": "Pod", "name": "web-1", "namespace": "ns-\udcff"},
        },
        {"reason": "Back\ud83dOff"},
        {"metadata": {"uid": "uid-a", "annotations": {"note\ud800": "x", "y": "\udcff"}}},
        {"involvedObject": {"kind": "Pod", "name": "web-\udfff"}},
    ],
)
def test_a_malformed_item_is_skipped_by_index(store: EventStore, bad: dict[str, Any]) -> None:
    items = [k8s_event("good-1"), {**k8s_event("bad"), **bad}, k8s_event("good-2", name="web-2")]
    report = import_events(store, document(items))
    assert report.imported == 2
    assert [p["index"] for p in report.invalid] == [1]
    assert store.count() == 2


def _import(url: str, text: str, barrier: Any, out: Any) -> None:
    try:
        with EventStore.open(url, metrics=False) as store:
            barrier.wait(30)
            report = import_events(store, text)
        out.put(("ok", report.imported, report.already_present))
    except BaseException:
        out.put(("error", traceback.format_exc(), 0))


def test_two_imports_of_the_same_events_at_once_both_succeed(backend_url: URL) -> None:
    url = backend_url.render_as_string(hide_password=False)
    EventStore.open(url, metrics=False).close()
    total = 0
    for round_ in range(3):
        items = [k8s_event(f"r{round_}-{i}", name=f"pod-{i}", count=i + 1) for i in range(300)]
        text = document(items)
        barrier, out = FORK.Barrier(2), FORK.Queue()
        procs = [FORK.Process(target=_import, args=(url, text, barrier, out)) for _ in range(2)]
        for p in procs:
            p.start()
        results = [out.get(timeout=120) for _ in procs]
        for p in procs:
            p.join(30)
        assert [r[0] for r in results] == ["ok", "ok"], results
        assert sum(r[1] for r in results) == 300
        assert all(r[1] + r[2] == 300 for r in results)
        total += 300
    with EventStore.open(url, metrics=False) as store:
        assert store.count() == total
        assert sum(store.count_by_type().values()) == total
