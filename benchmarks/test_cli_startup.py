"""Wall clock of the console script, process start to exit: `--help`, and a 50-event page of a
100k-event database (heavy libraries are imported lazily)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks.conftest import record
from benchmarks.datagen import build

EXE = shutil.which("kube9-store", path=str(Path(sys.executable).parent))


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("CLI: kube9-store --help", ["--help"]),
        (
            "CLI: query events list --limit 50 (100k events)",
            ["query", "events", "list", "--limit", "50"],
        ),
    ],
)
def test_cli_wall_clock(benchmark: Any, name: str, args: list[str], tmp_path: Path) -> None:
    assert EXE is not None
    db = tmp_path / "kube9.db"
    shutil.copyfile(build(100_000), db)
    argv = [EXE, *args] + (["--db", str(db)] if args[0] == "query" else [])

    def run() -> None:
        done = subprocess.run(argv, capture_output=True, check=False)
        assert done.returncode == 0, done.stderr

    benchmark.group = name
    benchmark.pedantic(run, rounds=15, warmup_rounds=2)
    record(name, 100_000, "api", benchmark)
