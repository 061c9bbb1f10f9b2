"""The documentation stays true of the code: the generated pages equal what their generators
make now, every relative link leads to a file, the README stays a short guide, and the
changelog's newest version is the package's."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import kube9_store
from benchmarks.report import merge, render
from kube9_store.cli import cli
from kube9_store.cli.reference import render as render_cli
from tests.helpers import REPO

DOCS = REPO / "docs"
PAGES = [REPO / "README.md", REPO / "CHANGELOG.md", *sorted(DOCS.glob("*.md"))]
REGENERATE = "regenerate it with the command at its top"


def test_the_cli_reference_is_what_the_commands_say() -> None:
    page = (DOCS / "cli-reference.md").read_text(encoding="utf-8")
    assert page == render_cli(cli), f"docs/cli-reference.md is stale: {REGENERATE}"


def test_the_cli_reference_has_every_command() -> None:
    page = (DOCS / "cli-reference.md").read_text(encoding="utf-8")
    for name in ("query events list", "events count", "db status", "copy", "export"):
        assert f"## `kube9-store {name}`" in page


def test_the_performance_page_is_its_data_rendered() -> None:
    data = json.loads((DOCS / "performance.json").read_text(encoding="utf-8"))
    page = (DOCS / "performance.md").read_text(encoding="utf-8")
    assert page == render(merge([data])), f"docs/performance.md is stale: {REGENERATE}"
    assert data["results"] or data["paired"], "docs/performance.json holds no figure"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_lead_to_files(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if "://" in target:
            continue
        assert (page.parent / target).exists(), f"{page.name} links to missing {target}"


def test_the_readme_is_a_short_guide() -> None:
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 300
    start = lines.index("## Quick start")
    block = lines[lines.index("```sh", start) + 1 : lines.index("```", start + 2)]
    assert len(block) == 2, "the quick start is exactly two commands"
    assert "kube9-store demo" in block[0] and "pytest" in block[1]


def test_the_changelog_names_the_packages_version_first() -> None:
    text = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    first = re.search(r"^## \[?(\d+\.\d+\.\d+)", text, re.MULTILINE)
    assert first is not None and first.group(1) == kube9_store.__version__
