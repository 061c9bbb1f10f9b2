"""User code type-checked against the package, by mypy --strict and by pyright: the names the
package exports are real to both (a misspelt import is an error), the mapping ``record`` takes
is a TypedDict, and the Python examples of docs/applications.md check clean."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO

#: mypy and pyright run on user code: the slow suite (``pytest -m slow``), which CI runs.
pytestmark = pytest.mark.slow

DOCS = [REPO / "docs" / "applications.md"]

GOOD = """
from kube9_store import EventStore, NewEventDict, include_object, metadata
from kube9_store.orm import EventRow


def use(store: EventStore) -> bool:
    event = store.record({"event_type": "system", "severity": "info", "title": "x"})
    batch: list[NewEventDict] = [{"event_type": "health", "severity": "error", "title": "y"}]
    ids: list[str] = store.record_many(batch, return_events=False)
    row = EventRow(event_type="system", severity="info", title="x")
    print(event.metadata, ids, metadata.tables, include_object)
    return row.acknowledged
"""

#: Each line of user code and what both checkers must say about it.
BAD = {
    "from kube9_store import EventStor": "EventStor",
    'store.record({"event_type": "system", "severity": "info", "titel": "x"})': "record",
    'store.record({"event_type": "system", "severity": "loud", "title": "x"})': "record",
    'EventRow(event_type="system", severity="info", titel="x")': "titel",
    'event.metadata["k"] = 1  # read-only': "metadata",
}


def bad_module() -> str:
    lines = [
        "from kube9_store import Event, EventStore",
        "from kube9_store.orm import EventRow",
        "",
        "",
        "def use(store: EventStore, event: Event) -> None:",
    ]
    for code in BAD:
        if code.startswith("from "):
            lines.insert(0, code)
        else:
            lines.append(f"    {code}")
    return "\n".join(lines) + "\n"


def doc_blocks() -> list[str]:
    return [
        block
        for doc in DOCS
        for block in re.findall(r"```python\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)
    ]


def write(tmp_path: Path) -> tuple[Path, Path, list[Path]]:
    good = tmp_path / "good.py"
    good.write_text(GOOD)
    bad = tmp_path / "bad.py"
    bad.write_text(bad_module())
    docs = []
    for i, block in enumerate(doc_blocks()):
        path = tmp_path / f"doc_example_{i}.py"
        path.write_text(block)
        docs.append(path)
    assert docs, "docs/applications.md has no Python examples"
    return good, bad, docs


def error_lines(output: str, path: Path) -> set[int]:
    return {
        int(n) for n in re.findall(rf"{re.escape(path.name)}:(\d+)(?::\d+)?:? -? ?error", output)
    }


def expected_lines(bad: Path) -> set[int]:
    text = bad.read_text().splitlines()
    return {n for n, line in enumerate(text, 1) for code in BAD if line.strip() == code}


def mypy(tmp_path: Path, *files: Path) -> subprocess.CompletedProcess[str]:
    ini = tmp_path / "mypy.ini"
    ini.write_text("[mypy]\nstrict = True\n")
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ini), *map(str, files)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )


def pyright(tmp_path: Path, *files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pyright", "--pythonpath", sys.executable, *map(str, files)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("checker", [mypy, pyright], ids=["mypy", "pyright"])
def test_user_code_is_checked_against_the_real_names(tmp_path: Path, checker: object) -> None:
    good, bad, docs = write(tmp_path)
    run = checker(tmp_path, good, *docs)  # type: ignore[operator]
    assert run.returncode == 0, run.stdout + run.stderr
    run = checker(tmp_path, bad)  # type: ignore[operator]
    assert run.returncode != 0
    assert error_lines(run.stdout, bad) == expected_lines(bad), run.stdout
