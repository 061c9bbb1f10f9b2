"""The FastAPI example of docs/applications.md, run with httpx: NewEvent as a request body,
Event as a response model, and what a client is told when a body breaks a rule."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import REPO

DOC = REPO / "docs" / "applications.md"
SECRET = "hunter2-correct-horse-battery"


def example() -> str:
    found = re.search(r"<!-- example: fastapi -->\n```python\n(.*?)```", DOC.read_text(), re.S)
    assert found is not None, "docs/applications.md lost its FastAPI example"
    return found.group(1)


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.delenv("KUBE9_DB_URL", raising=False)
    monkeypatch.setenv("DB_PATH", str(tmp_path / "api.db"))
    namespace: dict[str, Any] = {"__name__": "kube9_fastapi_example"}
    exec(compile(example(), str(DOC), "exec"), namespace)
    with TestClient(namespace["app"]) as test_client:
        yield test_client


def test_an_event_is_recorded_and_read_back(client: TestClient) -> None:
    body = {
        "event_type": "insight",
        "severity": "warning",
        "title": "Missing resource limits",
        "metadata": {"token": SECRET, "replicas": 3},
    }
    created = client.post("/events", json=body)
    assert created.status_code == 201, created.text
    event = created.json()
    assert event["metadata"] == {"token": "[REDACTED]", "replicas": 3}
    assert event["acknowledged"] is False
    read = client.get(f"/events/{event['id']}")
    assert read.status_code == 200 and read.json() == event
    assert client.get("/events/evt_20251202_103045_abcdef").status_code == 404


def test_a_broken_body_is_told_per_field_and_never_echoed(client: TestClient) -> None:
    body = {
        "event_type": "system",
        "severity": f"loud {SECRET}",
        "title": f"password={SECRET} " * 20,  # too long
        "metadata": {"password": SECRET, "blob": "x" * 20000},  # too large
        "objekt": SECRET,
    }
    answer = client.post("/events", json=body)
    assert answer.status_code == 422
    problems = answer.json()["detail"]
    assert sorted(tuple(p["loc"]) for p in problems) == [
        ("body", "objekt"),
        ("body", "severity"),
        ("body", "title"),
    ]
    assert SECRET not in answer.text
    assert all(p.get("input") is None for p in problems)
    body.pop("objekt")
    body["severity"] = "info"
    body["title"] = "fits"
    answer = client.post("/events", json=body)
    assert answer.status_code == 422
    assert [p["loc"] for p in answer.json()["detail"]] == [["body", "metadata"]]
    assert SECRET not in answer.text


def test_openapi_names_and_types(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert {"Event", "NewEvent"} <= set(schemas)
    assert "EventFields" not in schemas
    for name in ("Event", "NewEvent"):
        metadata = schemas[name]["properties"]["metadata"]
        assert {"type": "object", "additionalProperties": True} in metadata["anyOf"]
    created_at = schemas["NewEvent"]["properties"]["created_at"]
    assert {"type": "string", "format": "date-time"} in created_at["anyOf"]
