"""The kube9 VS Code extension (release 1.38), unchanged, against a container that ships
kube9_store: it runs ``kube9-operator query events list [--object-namespace=NS] [--since=ISO]
[--object-kind=KIND] --limit=25 --format=json`` through ``kubectl exec``, skips stdout lines
that are JSON log records (objects with a ``level`` key), parses the rest as one document and
reads severity, description/title, event_type, the object fields, created_at and
metadata.reason/count/first_timestamp/last_timestamp. Here ``kube9-operator`` is a symlink to
the ``kube9-store`` console script in a temporary directory on PATH, as an image would make it;
the package itself installs no ``kube9-operator``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from kube9_store import EventStore
from kube9_store.cli.demo import sample_text
from kube9_store.transfer.k8s import import_events
from tests.helpers import event_data

BIN = Path(sys.executable).parent
SAMPLE = json.loads(sample_text())["items"]


def extension_parse(stdout: str) -> Any:
    """What the extension does with the command's stdout."""
    kept = []
    for line in stdout.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            kept.append(line)
            continue
        if isinstance(record, dict) and "level" in record:
            continue  # a JSON log line of the operator
        kept.append(line)
    return json.loads("\n".join(kept))


@pytest.fixture
def operator_pod(tmp_path: Path) -> dict[str, str]:
    """A data directory as the operator's chart mounts it ($DB_PATH) and a PATH whose first
    directory holds a ``kube9-operator`` symlink to the console script."""
    data = tmp_path / "data"
    with EventStore.open(data / "kube9.db", metrics=False) as store:
        import_events(store, sample_text())
        store.record(event_data(created_at="2025-12-02T09:00:00Z"))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = shutil.which("kube9-store", path=str(BIN))
    assert script is not None
    (bin_dir / "kube9-operator").symlink_to(script)
    env = {k: v for k, v in os.environ.items() if k not in ("KUBE9_DB_URL", "DB_PATH")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["DB_PATH"] = str(data)
    return env


def ask(env: dict[str, str], *flags: str) -> Any:
    """The extension's exact argument list, through the PATH lookup a shell would do."""
    args = ["kube9-operator", "query", "events", "list", *flags, "--limit=25", "--format=json"]
    r = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    return extension_parse(r.stdout)


def test_the_alias_answers_the_extension_exactly(operator_pod: dict[str, str]) -> None:
    everything = ask(operator_pod)
    assert everything["pagination"] == {"total": 13, "limit": 25, "offset": 0, "returned": 13}
    pods = ask(
        operator_pod,
        "--object-namespace=default",
        "--since=2025-12-02T10:00:02.000Z",
        "--object-kind=Pod",
    )
    expected = [
        item
        for item in SAMPLE
        if item["involvedObject"]["kind"] == "Pod"
        and item["involvedObject"].get("namespace") == "default"
        and item["lastTimestamp"] >= "2025-12-02T10:00:02Z"
    ]
    assert pods["pagination"]["total"] == len(expected) > 0
    for event in pods["events"]:
        assert event["severity"] in ("info", "warning", "error", "critical")
        assert event["event_type"] == "cluster"
        assert event["title"] and "description" in event
        assert event["object_kind"] == "Pod" and event["object_namespace"] == "default"
        assert event["created_at"].endswith("Z")
    by_name = {i["involvedObject"]["name"] + i["reason"]: i for i in expected}
    for event in pods["events"]:
        item = by_name[event["object_name"] + event["metadata"]["reason"]]
        meta = event["metadata"]
        # the four keys the extension reads, with the meanings it gives them
        assert meta["reason"] == item["reason"]  # the Kubernetes reason
        assert meta["count"] == item["count"]  # how many times Kubernetes saw it
        assert meta["first_timestamp"] == item["firstTimestamp"]  # first seen, as Kubernetes
        assert meta["last_timestamp"] == item["lastTimestamp"]  # last seen, as Kubernetes
        assert event["created_at"].startswith(item["lastTimestamp"][:19])
    only_ns = ask(operator_pod, "--object-namespace=production")
    assert {e["object_namespace"] for e in only_ns["events"]} == {"production"}


def test_no_kube9_operator_is_installed_by_default() -> None:
    scripts = {ep.name for ep in metadata.entry_points(group="console_scripts")}
    assert "kube9-store" in scripts
    assert "kube9-operator" not in scripts
    assert shutil.which("kube9-operator", path=str(BIN)) is None
