"""Adding an event field takes three files: a copy of the package gets a revision that adds a
nullable ``source`` column, the field's declaration (with its fallback) in
``kube9_store/events/fields.py`` and the new head in ``kube9_store/schema/facts.py``; nothing
else changes, and a scenario run on that copy (record, record_many, query, get, count, JSON
Lines export and import, copy, the CLI's reads) stores, reads and moves the new field."""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from kube9_store.schema.facts import HEAD_VERSION
from tests.helpers import REPO

PACKAGE = REPO / "kube9_store"
#: The head the copy starts from, and the new revision's number.
OLD, NEW = f"{HEAD_VERSION:04d}", f"{HEAD_VERSION + 1:04d}"

REVISION = '''"""Events name the component that reported them.

Revision ID: kube9_store_NEW
Revises: kube9_store_OLD
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from kube9_store.schema.versions import forget_version, record_version

revision: str = "kube9_store_NEW"
down_revision: str | None = "kube9_store_OLD"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA_VERSION = int("NEW")
DESCRIPTION = "Events name their source"


def upgrade() -> None:
    op.add_column("events", sa.Column("source", sa.Text))
    record_version(SCHEMA_VERSION, DESCRIPTION)


def downgrade() -> None:
    forget_version(SCHEMA_VERSION)
    op.drop_column("events", "source")
'''

#: The declaration appended to FIELDS: nullable free text of at most 64 characters, scrubbed
#: of secrets; a database without the column reads None there.
DECLARATION = '    Field("source", str, max_length=64, scrubbed=True, fallback=None),\n'

SCENARIO = r"""
import io, json, sys

from kube9_store import EventStore, ValidationError
from kube9_store.transfer.copy import copy_events
from kube9_store.transfer.export import export_events
from kube9_store.transfer.jsonl import import_jsonl

source_url, import_url, copy_url, sqlite_file = sys.argv[1:5]
SECRET = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"


def exported(store):
    out = io.BytesIO()
    export_events(store, out)
    return out.getvalue()


with EventStore.open(source_url) as store:
    one = store.record(
        {"event_type": "system", "severity": "info", "title": "one", "source": "operator"}
    )
    assert one.source == "operator" and one.to_dict()["source"] == "operator", one
    assert list(one.to_dict())[-2:] == ["acknowledged", "source"], one.to_dict()
    two, three = store.record_many(
        [
            {"event_type": "cluster", "severity": "error", "title": "two", "source": "watch"},
            {"event_type": "cluster", "severity": "warning", "title": "three"},
        ]
    )
    assert (two.source, three.source) == ("watch", None)
    scrubbed = store.record(
        {"event_type": "system", "severity": "info", "title": "four", "source": SECRET}
    )
    assert scrubbed.source == "[REDACTED]", scrubbed.source
    assert store.get(one.id).source == "operator"
    assert store.get(two.id) == two
    page = store.query({"event_type": "cluster"})
    assert sorted((e.title, e.source or "") for e in page) == [("three", ""), ("two", "watch")]
    assert store.count() == 4 and store.count({"severity": "error"}) == 1
    try:
        store.record(
            {"event_type": "system", "severity": "info", "title": "long", "source": "x" * 65}
        )
    except ValidationError as exc:
        assert [p.field for p in exc.problems] == ["source"], exc.problems
    else:
        raise AssertionError("a source of 65 characters was stored")
    try:
        store.record_many([{"event_type": "system", "severity": "info", "title": "t", "source": 7}])
    except ValidationError as exc:
        assert [p.field for p in exc.problems] == ["[0].source"], exc.problems
    else:
        raise AssertionError("a source that is no text was stored")
    store.acknowledge(one.id)
    lines = exported(store)

docs = [json.loads(line) for line in lines.splitlines()]
assert sorted(d["source"] or "" for d in docs) == ["", "[REDACTED]", "operator", "watch"], docs
assert all(list(d)[-2:] == ["acknowledged", "source"] for d in docs), docs

with EventStore.open(import_url) as store:
    report = import_jsonl(store, io.BytesIO(lines))
    assert (report.imported, report.invalid_count) == (4, 0), report.as_dict()
    assert exported(store) == lines
    assert store.get(one.id).source == "operator" and store.get(one.id).acknowledged

result = copy_events(source_url, copy_url)
assert result.copied == 4, result
with EventStore.open(copy_url) as store:
    assert exported(store) == lines

if sqlite_file:  # the CLI's reads: the lean path (stdlib sqlite3 alone) and the full CLI agree
    from click.testing import CliRunner

    from kube9_store.cli import cli
    from kube9_store.lean.read import answer

    def both(*args):
        argv = [*args, "--db", sqlite_file]
        lean = answer(argv, {}) + "\n"  # raises Declined if the lean path does not answer
        full = CliRunner().invoke(cli, argv, catch_exceptions=False)
        assert full.exit_code == 0 and full.stdout == lean, (full.output, lean)
        return lean

    shown = json.loads(both("query", "events", "list", "--format=json"))["events"]
    assert sorted(e["source"] or "" for e in shown) == ["", "[REDACTED]", "operator", "watch"]
    assert json.loads(both("query", "events", "get", one.id, "--format=json"))["source"] == (
        "operator"
    )
    assert "source" in both("query", "events", "list", "--format=csv").splitlines()[0]
    assert json.loads(both("events", "count", "--type", "cluster")) == {"count": 2}
print("scenario ok")
"""


def _package_with_source_field(root: Path) -> Path:
    """A copy of the package with the field added as a maintainer would; returns its root."""
    copy = root / "kube9_store"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    revision = REVISION.replace("NEW", NEW).replace("OLD", OLD)
    (copy / "migrations" / "versions" / f"{NEW}_source.py").write_text(revision)
    fields = copy / "events" / "fields.py"
    text = fields.read_text()
    end = text.index("\n)\n", text.index("FIELDS: Final")) + 1
    fields.write_text(text[:end] + DECLARATION + text[end:])
    facts = copy / "schema" / "facts.py"
    text = facts.read_text()
    head, version = f'HEAD_REVISION = REVISION_PREFIX + "{OLD}"', f"HEAD_VERSION = {HEAD_VERSION}"
    assert head in text and version in text
    text = text.replace(head, f'HEAD_REVISION = REVISION_PREFIX + "{NEW}"')
    facts.write_text(text.replace(version, f"HEAD_VERSION = {HEAD_VERSION + 1}"))
    return root


def _changed(original: Path, copy: Path) -> set[str]:
    """The files that differ between two trees (added, removed or changed), relative paths."""
    found: set[str] = set()

    def walk(cmp: filecmp.dircmp[str], at: Path) -> None:
        for name in [*cmp.left_only, *cmp.right_only, *cmp.diff_files, *cmp.funny_files]:
            found.add(str(at / name))
        for name, sub in cmp.subdirs.items():
            walk(sub, at / name)

    walk(filecmp.dircmp(original, copy, ignore=["__pycache__"]), Path())
    return found


def test_three_files_add_a_field(backend_url: URL, tmp_path: Path) -> None:
    root = _package_with_source_field(tmp_path / "pkg")
    assert _changed(PACKAGE, root / "kube9_store") == {
        f"migrations/versions/{NEW}_source.py",
        "events/fields.py",
        "schema/facts.py",
    }
    if backend_url.get_backend_name() == "sqlite":
        urls = [str(tmp_path / name) for name in ("source.db", "imported.db", "copied.db")]
        sqlite_file = urls[0]
    else:
        pytest.importorskip("psycopg")
        from tests.helpers import PG_URL, pg_schema

        with pg_schema(PG_URL) as imported, pg_schema(PG_URL) as copied:
            urls = [
                u.render_as_string(hide_password=False) for u in (backend_url, imported, copied)
            ]
            _run(root, urls, "")
        return
    _run(root, urls, sqlite_file)


def _run(root: Path, urls: list[str], sqlite_file: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(root)}
    env.pop("KUBE9_DB_URL", None)
    r = subprocess.run(
        [sys.executable, "-c", SCENARIO, *urls, sqlite_file],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        timeout=300,
        check=False,
    )
    assert r.returncode == 0 and r.stdout.strip() == "scenario ok", r.stdout + r.stderr


def test_the_copy_is_the_package_under_test(tmp_path: Path) -> None:
    """The scenario's interpreter imports the copy, not the installed package."""
    root = _package_with_source_field(tmp_path / "pkg")
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, kube9_store.events.fields as f; print(json.dumps([f.__file__, f.NAMES]))",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root)},
        cwd=root,
        timeout=60,
        check=True,
    )
    where, names = json.loads(r.stdout)
    assert Path(where).is_relative_to(root) and names[-2:] == ["acknowledged", "source"]
