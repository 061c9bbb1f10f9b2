"""The corpus through the write paths ``tests/test_secrets.py`` does not take: ``import jsonl``,
``copy`` from the reference operator's database, and the ORM, on SQLite (the database file
and its ``-wal`` searched as bytes) and PostgreSQL (the stored rows read with psycopg); and the
ordinary corpus stored verbatim through the same paths."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session

from kube9_store import EventStore
from kube9_store.cli import cli
from kube9_store.orm import EventRow
from tests.helpers import event_data
from tests.operator_db import build_operator_db
from tests.secret_corpus import ORDINARY_STRUCTURES, ORDINARY_TEXTS, stored_rows
from tests.test_secrets import CORPUS, check_file, check_rows, cli_db, corpus_event

#: The whole secret corpus through every write path, on both backends: the slow suite
#: (``pytest -m slow``), which CI runs.
pytestmark = pytest.mark.slow


def event_id(i: int) -> str:
    return f"evt_20260115_120000_{i:06d}"


def created_at(i: int) -> str:
    return f"2026-01-15T12:{i // 60 % 60:02d}:{i % 60:02d}.000Z"


def test_import_jsonl_stores_no_secret(backend_url: URL, tmp_path: Path) -> None:
    lines = tmp_path / "events.jsonl"
    with lines.open("w") as f:
        for i, e in enumerate(CORPUS):
            f.write(
                json.dumps({**corpus_event(i, e), "id": event_id(i), "created_at": created_at(i)})
            )
            f.write("\n")
    r = CliRunner().invoke(
        cli, ["import", "jsonl", str(lines), "--db", cli_db(backend_url), "--quiet"]
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["imported"] == len(CORPUS)
    check_rows(stored_rows(backend_url), CORPUS)
    check_file(backend_url, CORPUS)


def operator_row(i: int, event: dict[str, Any]) -> tuple[Any, ...]:
    """A row as the reference operator wrote it (spec v1 columns, metadata as JSON text)."""
    return (
        event_id(i),
        event["event_type"],
        event["severity"],
        event["title"],
        event.get("description"),
        event.get("object_kind"),
        event.get("object_namespace"),
        event.get("object_name"),
        json.dumps(event["metadata"]) if event.get("metadata") is not None else None,
        created_at(i),
    )


def test_copy_from_the_operator_database_stores_no_secret(backend_url: URL, tmp_path: Path) -> None:
    rows = [operator_row(i, corpus_event(i, e)) for i, e in enumerate(CORPUS)]
    source = build_operator_db(tmp_path / "operator" / "kube9.db", events=20, extra_rows=rows)
    r = CliRunner().invoke(cli, ["copy", str(source), cli_db(backend_url), "--quiet"])
    assert r.exit_code == 0, r.output
    stored = [row for row in stored_rows(backend_url) if '"corpus"' in row]
    check_rows(stored, CORPUS)
    check_file(backend_url, CORPUS)


def test_the_orm_stores_no_secret(backend_url: URL) -> None:
    with EventStore.open(backend_url, metrics=False) as store:
        engine = create_engine(store.url)
        try:
            with Session(engine) as session:
                for i, e in enumerate(CORPUS):
                    fields = corpus_event(i, e)
                    metadata = fields.pop("metadata")
                    session.add(EventRow(**fields, event_metadata=metadata))
                session.commit()
        finally:
            engine.dispose()
    check_rows(stored_rows(backend_url), CORPUS)
    check_file(backend_url, CORPUS)


def test_ordinary_texts_pass_every_path_unchanged(backend_url: URL, tmp_path: Path) -> None:
    events = [
        event_data(title=t[:200], description=t, metadata={"note": t}) for t in ORDINARY_TEXTS
    ] + [event_data(metadata=s) for s in ORDINARY_STRUCTURES]
    lines = tmp_path / "ordinary.jsonl"
    lines.write_text(
        "".join(
            json.dumps({**e, "id": event_id(i), "created_at": created_at(i)}) + "\n"
            for i, e in enumerate(events)
        )
    )
    r = CliRunner().invoke(
        cli, ["import", "jsonl", str(lines), "--db", cli_db(backend_url), "--quiet"]
    )
    assert r.exit_code == 0, r.output
    with EventStore.open(backend_url, metrics=False) as store:
        engine = create_engine(store.url)
        try:
            with Session(engine) as session:
                for e in events:
                    fields = dict(e)
                    metadata = fields.pop("metadata")
                    session.add(EventRow(**fields, event_metadata=metadata))
                session.commit()
        finally:
            engine.dispose()
        stored = store.query(limit=10 * len(events))
    assert len(stored) == 2 * len(events)
    sent = {(e["title"], json.dumps(e["metadata"], sort_keys=True)) for e in events}
    got = {(e.title, json.dumps(e.metadata, sort_keys=True)) for e in stored}
    assert got == sent
    assert "[REDACTED]" not in "\n".join(stored_rows(backend_url))
