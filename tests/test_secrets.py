"""Secrets in the shapes a cluster produces are never stored; ordinary words always are.

The corpus (``tests/secret_corpus.py``) goes through ``record``, ``record_many``, ``events
record`` and ``import k8s-events`` on SQLite and PostgreSQL, and every stored row is read back
with the raw driver (sqlite3 on the file, psycopg on the server).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from sqlalchemy.engine import URL

from kube9_store import EventStore, NewEvent, Redaction
from kube9_store.cli import cli
from kube9_store.secrets.keys import KEY_STEMS, SECRET_PAIRS, SECRET_STEMS, SECRET_WORDS
from kube9_store.secrets.redaction import RULES
from kube9_store.secrets.text import scrub_text
from tests.helpers import REPO, event_data
from tests.secret_corpus import (
    ORDINARY_KEYS,
    ORDINARY_STRUCTURES,
    ORDINARY_TEXTS,
    STRUCTURES,
    TEXT_SHAPES,
    Shape,
    Structure,
    leaks,
    stored_rows,
)

Entry = Shape | Structure
CORPUS: list[Entry] = [*TEXT_SHAPES, *STRUCTURES]

#: The corpus through every surface on SQLite in the fast suite; the same text stored on the
#: server (the scrubbing is the same code) with the slow suites.
SERVER_IN_SLOW = pytest.mark.parametrize(
    "backend_url", ["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)], indirect=True
)


def test_the_corpus_is_as_large_as_promised() -> None:
    assert len(CORPUS) >= 300
    assert len(ORDINARY_TEXTS) + len(ORDINARY_KEYS) + len(ORDINARY_STRUCTURES) >= 150
    assert len({e.name for e in CORPUS}) == len(CORPUS)
    secrets = [e.secret for e in CORPUS]
    assert len(set(secrets)) == len(secrets), "each secret is unique, so a leak names its shape"


# -- one event per corpus entry, with the secret in every field that can hold it ----------------


def corpus_event(i: int, entry: Entry) -> dict[str, Any]:
    """The entry in the title, description, object name and metadata (where it fits)."""
    if isinstance(entry, Structure):
        return event_data(title=f"corpus {i}", metadata={"corpus": i, **entry.metadata})
    text = entry.text
    return event_data(
        title=text if len(text) <= 200 else f"corpus {i}",
        description=text if len(text) <= 1000 else None,
        object_kind="Pod",
        object_name=text if len(text) <= 253 else None,
        metadata={"corpus": i, "note": text, "deep": {"a": [{"b": {"c": text}}]}},
    )


def check_rows(rows: list[str], entries: list[Entry], *, kept_in_row: bool = True) -> None:
    """No secret anywhere in any row; each entry's ordinary part stays in its own row."""
    assert len(rows) >= len(entries)
    everything = "\n".join(rows)
    leaked = [e.name for e in entries if leaks(e.secret, everything)]
    assert not leaked, f"stored in clear: {leaked}"
    if not kept_in_row:
        return
    lost = []
    for i, e in enumerate(entries):
        kept = (e.kept,) if isinstance(e, Shape) else e.kept
        mine = [r for r in rows if f'"corpus":{i},' in r or f'"corpus": {i},' in r]
        if len(mine) != 1 or any(k and k not in mine[0] for k in kept):
            lost.append(e.name)
    assert not lost, f"ordinary text lost around: {lost}"


def file_bytes(url: URL) -> bytes | None:
    """The SQLite file and its -wal, as bytes (None on a server)."""
    if url.get_backend_name() != "sqlite":
        return None
    path = Path(str(url.database))
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def check_file(url: URL, entries: list[Entry]) -> None:
    data = file_bytes(url)
    if data is not None:
        found = [e.name for e in entries if e.secret and e.secret.encode() in data]
        assert not found, f"in the database file: {found}"


@SERVER_IN_SLOW
def test_record_stores_no_secret(backend_url: URL) -> None:
    with EventStore.open(backend_url, metrics=False) as store:
        returned = [store.record(corpus_event(i, e)) for i, e in enumerate(CORPUS)]
    check_rows(stored_rows(backend_url), CORPUS)
    check_file(backend_url, CORPUS)
    as_returned = json.dumps([e.to_dict() for e in returned], ensure_ascii=False)
    assert not [e.name for e in CORPUS if leaks(e.secret, as_returned)]


@SERVER_IN_SLOW
def test_record_many_stores_no_secret(backend_url: URL) -> None:
    with EventStore.open(backend_url, metrics=False) as store:
        store.record_many(corpus_event(i, e) for i, e in enumerate(CORPUS))
    check_rows(stored_rows(backend_url), CORPUS)
    check_file(backend_url, CORPUS)


def cli_db(url: URL) -> str:
    return url.render_as_string(hide_password=False)


@SERVER_IN_SLOW
def test_events_record_stores_no_secret(backend_url: URL, tmp_path: Path) -> None:
    batch = tmp_path / "batch.json"
    batch.write_text(json.dumps([corpus_event(i, e) for i, e in enumerate(CORPUS)]))
    runner = CliRunner()
    r = runner.invoke(cli, ["events", "record", "--json", str(batch), "--db", cli_db(backend_url)])
    assert r.exit_code == 0, r.output
    assert not [e.name for e in CORPUS if leaks(e.secret, r.stdout)], "printed in clear"
    # and one event at a time from flags
    for shape in TEXT_SHAPES[:12]:
        r = runner.invoke(
            cli,
            [
                "events",
                "record",
                "--type",
                "cluster",
                "--severity",
                "info",
                "--title",
                shape.text[:200],
                "--object-name",
                shape.text[:253],
                "--metadata",
                json.dumps({"note": shape.text}),
                "--db",
                cli_db(backend_url),
            ],
        )
        assert r.exit_code == 0, r.output
    rows = stored_rows(backend_url)
    check_rows(rows, CORPUS)
    assert len(rows) == len(CORPUS) + 12
    check_file(backend_url, CORPUS)


def k8s_item(i: int, entry: Entry) -> dict[str, Any]:
    """A Kubernetes Event carrying the entry in its message (across the 1000-character cut),
    its involved object's name and its annotations."""
    if isinstance(entry, Structure):
        annotations = {"corpus": str(i), "config": json.dumps(entry.metadata)}
        message, name = "configuration applied", f"pod-{i}"
    else:
        text = entry.text
        annotations = {"corpus": str(i), "note": text}
        # the secret straddles the description's 1000-character limit (on a line of its own:
        # "name: value" counts at the start of a line, not inside a sentence)
        message = "x" * max(0, 1000 - len(text) // 2) + "\n" + text
        name = text[:253]
    return {
        "kind": "Event",
        "metadata": {
            "name": f"e{i}",
            "namespace": "default",
            "uid": f"uid-{i}",
            "annotations": annotations,
        },
        "involvedObject": {"kind": "Pod", "name": name, "namespace": "default"},
        "reason": "Failed",
        "message": message,
        "type": "Warning",
        "count": 1,
        "lastTimestamp": "2026-01-15T12:00:00Z",
    }


@SERVER_IN_SLOW
def test_import_k8s_events_stores_no_secret(backend_url: URL, tmp_path: Path) -> None:
    doc = tmp_path / "events.json"
    items = [k8s_item(i, e) for i, e in enumerate(CORPUS)]
    doc.write_text(json.dumps({"kind": "EventList", "items": items}))
    r = CliRunner().invoke(cli, ["import", "k8s-events", str(doc), "--db", cli_db(backend_url)])
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert report["invalid"] == [] and report["imported"] == len(CORPUS)
    rows = stored_rows(backend_url)
    check_rows(rows, CORPUS, kept_in_row=False)
    check_file(backend_url, CORPUS)
    lost = []
    for i, e in enumerate(CORPUS):
        kept = (e.kept,) if isinstance(e, Shape) else e.kept
        mine = [r for r in rows if f'"corpus": "{i}"' in r or f'"corpus":"{i}"' in r]
        if len(mine) != 1 or any(k and k not in mine[0] for k in kept):
            lost.append(e.name)
    assert not lost, f"ordinary text lost around: {lost}"


def test_ordinary_texts_and_keys_are_stored_verbatim(backend_url: URL) -> None:
    keys = [ORDINARY_KEYS[i : i + 25] for i in range(0, len(ORDINARY_KEYS), 25)]
    events = [
        event_data(
            title=t[:200],
            description=t,
            object_name=t[:253],
            metadata={"note": t, "deep": [{"x": {"y": t}}], **{k: t for k in some}},
        )
        for t in ORDINARY_TEXTS
        for some in keys
    ] + [event_data(metadata=s) for s in ORDINARY_STRUCTURES]
    with EventStore.open(backend_url, metrics=False) as store:
        stored = store.record_many(events)
        assert all(not e.metadata or "[REDACTED]" not in json.dumps(e.metadata) for e in stored)
        again = [store.get(e.id) for e in stored]
    for sent, got in zip(events, again, strict=True):
        assert got is not None
        for field in ("title", "description", "object_name", "metadata"):
            assert getattr(got, field) == sent.get(field), field
    rows = "\n".join(stored_rows(backend_url))
    assert "[REDACTED]" not in rows


def test_the_sentence_is_kept_and_only_the_secret_goes() -> None:
    ev = NewEvent(
        **event_data(
            title="Basic authentication failed for user admin",
            description="login as admin with Basic YWRtaW46aHVudGVyMg== was refused",
            metadata={
                "reason": "Basic authentication failed for user admin",
                "dsn": "postgres://app:hunter2@db.example:5432/orders?sslmode=require",
                "header": "Authorization: Bearer 0123456789abcdefABCDEF",
            },
        )
    )
    assert ev.title == "Basic authentication failed for user admin"
    assert ev.description == "login as admin with Basic [REDACTED] was refused"
    assert ev.metadata == {
        "reason": "Basic authentication failed for user admin",
        "dsn": "postgres://app:[REDACTED]@db.example:5432/orders?sslmode=require",
        "header": "Authorization: Bearer [REDACTED]",
    }
    assert {(r.path, r.rule) for r in ev.redactions} == {
        ("description", "authorization"),
        ("metadata.dsn", "url_password"),
        ("metadata.header", "authorization"),
    }


def test_only_a_bare_secret_flag_takes_the_next_argument_as_its_value() -> None:
    """``--db-password x`` in one argument holds its own value: the next argument is text."""
    ev = NewEvent(
        **event_data(
            metadata={
                "inline": ["--db-password MoSmapHE65!CPx", "Basic authentication failed"],
                "split": ["--db-password", "MoSmapHE65!CPx", "--verbose"],
            }
        )
    )
    assert ev.metadata is not None
    assert ev.metadata["inline"][1] == "Basic authentication failed"
    assert "MoSmapHE65" not in json.dumps(ev.metadata)
    assert ev.metadata["split"] == ["--db-password", "[REDACTED]", "--verbose"]


def test_object_fields_are_scrubbed_like_the_title() -> None:
    token = "ghp_" + "a1B2" * 9
    ev = NewEvent(
        **event_data(
            title=f"Pod Failed: {token}",
            object_kind=f"Bearer {'k' * 20}",
            object_namespace=f"ns-{token}",
            object_name=token,
        )
    )
    assert (ev.title, ev.object_kind, ev.object_namespace, ev.object_name) == (
        "Pod Failed: [REDACTED]",
        "Bearer [REDACTED]",
        "ns-[REDACTED]",
        "[REDACTED]",
    )


def test_an_imported_message_is_scrubbed_before_it_is_cut(db_path: Path) -> None:
    from kube9_store.transfer.k8s import import_events

    token = "Bearer " + "Zx9" * 20
    message = "m" * 990 + " " + token
    item = k8s_item(0, Shape("cut", message, token))
    item["message"] = message
    with EventStore.open(db_path, metrics=False) as store:
        import_events(store, json.dumps([item]))
        (stored,) = store.query()
    assert stored.description == ("m" * 990 + " Bearer [REDACTED]")[:1000]
    assert ("description", "authorization") in {(r.path, r.rule) for r in ev_redactions(item)}


def ev_redactions(item: dict[str, Any]) -> tuple[Redaction, ...]:
    from kube9_store.transfer.k8s import to_new_event

    return to_new_event(item).redactions


def test_an_error_message_never_repeats_a_credential() -> None:
    from kube9_store import ValidationError

    token = "ghp_" + "k7" * 18
    for metadata in ({token: float("nan")}, {"x": {f"postgres://u:{token}@h/d": object()}}):
        with pytest.raises(ValidationError) as caught:
            NewEvent(**event_data(metadata=metadata))
        assert token not in str(caught.value) and "[REDACTED]" in str(caught.value)


def test_caller_metadata_is_left_untouched() -> None:
    meta = {"env": [{"name": "DB_PASSWORD", "value": "hunter2"}], "password": "x"}
    before = json.dumps(meta)
    NewEvent(**event_data(metadata=meta))
    assert json.dumps(meta) == before


def test_redacting_again_finds_nothing_new() -> None:
    first = NewEvent(**event_data(metadata={"password": "x", "note": "token=abc123def456"}))
    assert len(first.redactions) == 2
    again = NewEvent(**{**event_data(), "metadata": first.metadata})
    assert again.redactions == () and again.metadata == first.metadata
    assert NewEvent.parse(first) is first


def test_a_key_that_holds_a_credential_is_renamed_in_place() -> None:
    token = "ghp_" + "Q" * 36
    ev = NewEvent(**event_data(metadata={"a": 1, token: "seen", "[REDACTED]": 2, "z": 3}))
    assert list(ev.metadata or {}) == ["a", "[REDACTED]#2", "[REDACTED]", "z"]
    assert ev.metadata == {"a": 1, "[REDACTED]#2": "seen", "[REDACTED]": 2, "z": 3}
    assert all(token not in r.path for r in ev.redactions)


# -- reporting: one log line per call, a counter per rule, nothing printed by default ----------


def test_one_warning_per_call_naming_events_and_paths(
    db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    batch = [
        event_data(metadata={"n": i, "password": f"pw-{i}"} if i % 2 else {"n": i})
        for i in range(5000)
    ]
    with (
        EventStore.open(db_path, metrics=False) as store,
        caplog.at_level(logging.WARNING, logger="kube9_store"),
    ):
        stored = store.record_many(batch)
        store.record(event_data(title=f"seen {'Bearer ' + 'q1' * 10}"))
    records = [r for r in caplog.records if r.name == "kube9_store.secrets.redaction"]
    assert len(records) == 2
    first = records[0].getMessage()
    assert first.startswith("redacted 2500 values in 2500 stored events: ")
    assert f"{stored[1].id}: metadata.password (secret_key)" in first
    assert "and 2400 more events" in first
    assert "title (authorization)" in records[1].getMessage()
    assert "pw-" not in caplog.text and "q1q1" not in caplog.text


def test_nothing_is_printed_unless_the_application_configures_logging(tmp_path: Path) -> None:
    script = (
        "from kube9_store import EventStore\n"
        f"with EventStore.open({str(tmp_path / 'k.db')!r}, metrics=False) as s:\n"
        "    s.record_many({'event_type': 'system', 'severity': 'info', 'title': 't',\n"
        "                   'metadata': {'password': 'x'}} for _ in range(100))\n"
    )
    quiet = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert quiet.stderr == ""
    loud = subprocess.run(
        [sys.executable, "-c", "import logging; logging.basicConfig()\n" + script],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert loud.stderr.count("\n") == 1 and "WARNING:kube9_store.secrets.redaction:" in loud.stderr


def test_a_counter_per_rule_with_the_rule_as_its_only_label(tmp_path: Path) -> None:
    registry = CollectorRegistry()

    def counts() -> dict[str, float]:
        return {
            rule: registry.get_sample_value("kube9_events_redactions_total", {"rule": rule}) or 0
            for rule in RULES
        }

    with EventStore.open(tmp_path / "k.db", registry=registry) as store:
        before = counts()
        store.record(
            event_data(metadata={"password": "x", "env": [{"name": "TOKEN", "value": "y"}]})
        )
        store.record_many([event_data(description="postgres://a:b@h/d and ghp_" + "x1" * 18)] * 3)
        after = counts()
    moved = {rule: after[rule] - before[rule] for rule in RULES}
    assert moved == {
        **dict.fromkeys(RULES, 0),
        "secret_key": 1,
        "name_value_pair": 1,
        "url_password": 3,
        "provider_token": 3,
    }
    samples = [
        s for m in registry.collect() if m.name == "kube9_events_redactions" for s in m.samples
    ]
    assert {tuple(s.labels) for s in samples} == {("rule",)}
    assert {s.labels["rule"] for s in samples} == set(RULES)


def test_a_refused_batch_counts_and_logs_nothing(
    db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from kube9_store import ValidationError
    from kube9_store.secrets.redaction import redaction_counts

    before = redaction_counts()
    with (
        EventStore.open(db_path, metrics=False) as store,
        caplog.at_level(logging.WARNING),
        pytest.raises(ValidationError),
    ):
        store.record_many([event_data(metadata={"password": "x"}), {"title": "no type"}])
    assert redaction_counts() == before
    assert not [r for r in caplog.records if r.name == "kube9_store.secrets.redaction"]


# -- the model's parts ------------------------------------------------------------------------


def test_every_secret_name_contains_a_stem_the_prefilter_looks_for() -> None:
    names = [*SECRET_WORDS, *SECRET_STEMS, *(" ".join(p) for p in SECRET_PAIRS)]
    assert [n for n in names if not any(stem in n for stem in KEY_STEMS)] == []


def test_the_prefilter_passes_every_corpus_shape() -> None:
    from kube9_store.secrets.text import might_hold_secret

    assert [s.name for s in TEXT_SHAPES if not might_hold_secret(s.text)] == []


fragments = st.sampled_from(
    [s.text for s in TEXT_SHAPES] + ORDINARY_TEXTS + [" ", "\n", "=", ":", "@", "--", '"', "'"]
)
hostile_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=80)


@settings(max_examples=300, deadline=None)
@given(st.lists(fragments | hostile_text, max_size=6).map("".join))
def test_the_prefilter_never_hides_what_the_full_scan_finds(text: str) -> None:
    assert scrub_text(text) == scrub_text(text, prefilter=False)


@pytest.mark.parametrize(
    "hostile",
    [
        "eyJ" * 3000,
        "a://b:" * 1500,
        "-" * 9000 + "BEGIN",
        "password=" * 1000,
        "digest " * 1300,
        "glpat-" + "a-" * 4000,
        "Bearer " * 1300,
        "x" * 9000 + "@",
        '{"name": "' + "token" * 1000 + '"}',
        "[" * 3000 + "]" * 3000,
    ],
)
def test_hostile_text_is_scrubbed_in_linear_passes(hostile: str) -> None:
    """Each pattern is bounded; these would take seconds if any scan went quadratic."""
    out, _rules = scrub_text(hostile, prefilter=False)
    assert isinstance(out, str)
    NewEvent(**event_data(description=hostile[:1000], metadata={"v": hostile}))


# -- nested placements ------------------------------------------------------------------------

SECRET_VALUES = [s.text for s in TEXT_SHAPES] + [s.metadata for s in STRUCTURES]
ordinary_leaf = st.sampled_from(ORDINARY_TEXTS) | st.integers(-5, 5) | st.booleans() | st.none()
ordinary_key = st.sampled_from(ORDINARY_KEYS)


@st.composite
def placed(draw: st.DrawFn, value: Any) -> tuple[dict[str, Any], list[str | int]]:
    """``value`` placed 1 to 5 levels deep among ordinary siblings; returns (metadata, path)."""
    node, path = value, []
    for _ in range(draw(st.integers(1, 5))):
        if draw(st.booleans()):
            siblings = draw(st.dictionaries(ordinary_key, ordinary_leaf, max_size=2))
            key = draw(st.sampled_from([k for k in ORDINARY_KEYS if k not in siblings]))
            node, path = {**siblings, key: node}, [key, *path]
        else:
            before = draw(st.lists(ordinary_leaf, max_size=2))
            after = draw(st.lists(ordinary_leaf, max_size=2))
            node, path = [*before, node, *after], [len(before), *path]
    if isinstance(node, list):
        node, path = {"items": node}, ["items", *path]
    return node, path


def at(doc: Any, path: list[str | int]) -> Any:
    for step in path:
        doc = doc[step]
    return doc


def put(doc: Any, path: list[str | int], value: Any) -> None:
    at(doc, path[:-1])[path[-1]] = value


def secret_of(value: Any) -> str:
    for e in CORPUS:
        if (isinstance(e, Shape) and e.text == value) or (
            isinstance(e, Structure) and e.metadata == value
        ):
            return e.secret
    raise AssertionError("not in the corpus")


SETTINGS = settings(max_examples=200, deadline=None)


@SETTINGS
@given(st.sampled_from(SECRET_VALUES).flatmap(lambda v: st.tuples(st.just(v), placed(v))))
def test_a_secret_five_levels_deep_is_removed_and_its_neighbours_kept(
    case: tuple[Any, tuple[dict[str, Any], list[str | int]]],
) -> None:
    value, (metadata, path) = case
    ev = NewEvent(**event_data(metadata=metadata))
    assert ev.metadata is not None
    # the secret's own place holds no piece of it (a kept neighbour may share a piece with
    # it by chance, a certificate's base64 with a key's); the rest is compared whole below
    assert not leaks(secret_of(value), json.dumps(at(ev.metadata, path), ensure_ascii=False))
    expected = json.loads(json.dumps(metadata))
    put(expected, path, "<secret>")
    got = json.loads(json.dumps(ev.metadata))
    put(got, path, "<secret>")
    assert got == expected


@SETTINGS
@given(st.sampled_from(ORDINARY_TEXTS).flatmap(placed))
def test_an_ordinary_text_five_levels_deep_is_kept(case: tuple[dict[str, Any], Any]) -> None:
    metadata, _path = case
    assert NewEvent(**event_data(metadata=metadata)).metadata == metadata


@pytest.fixture
def one_store(backend_url: URL) -> Iterator[tuple[EventStore, URL]]:
    with EventStore.open(backend_url, metrics=False) as store:
        yield store, backend_url


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.sampled_from(SECRET_VALUES).flatmap(lambda v: st.tuples(st.just(v), placed(v))),
    st.sampled_from(ORDINARY_TEXTS).flatmap(placed),
)
def test_nested_placements_through_the_store(
    one_store: tuple[EventStore, URL],
    secret_case: tuple[Any, tuple[dict[str, Any], Any]],
    ordinary_case: tuple[dict[str, Any], Any],
) -> None:
    store, url = one_store
    value, (metadata, _path) = secret_case
    safe = store.record(event_data(metadata=ordinary_case[0]))
    held = store.record(event_data(metadata=metadata))
    # its own row (an ordinary certificate stored beside it may share a base64 piece with a key)
    (row,) = [r for r in stored_rows(url) if r.startswith(held.id)]
    assert not leaks(secret_of(value), row)
    assert store.get(safe.id) == safe and safe.metadata == ordinary_case[0]


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        (
            'error when applying patch:\n{\\"data\\":{\\"token\\":\\"Zt5RqWx8Lm\\"}}\nto:\n'
            'Resource: "/v1, Resource=secrets"',
            'error when applying patch:\n{\\"data\\":{\\"token\\":\\"[REDACTED]\\"}}\nto:\n'
            'Resource: "/v1, Resource=secrets"',
        ),
        (
            '<appSettings><add key="DbPassword" value="Qz8#kLm2Pw"/></appSettings>',
            '<appSettings><add key="DbPassword" value="[REDACTED]"/></appSettings>',
        ),
        (
            "<server><id>nexus</id><password>Hx9!pQ2zLm</password></server>",
            "<server><id>nexus</id><password>[REDACTED]</password></server>",
        ),
        ('{"password"=>"Rb7$xYz2Lq", "user"=>"app"}', '{"password"=>"[REDACTED]", "user"=>"app"}'),
        (
            "env:\n- name: DB_PASSWORD\n  value: Vn6!pLq9Xs",
            "env:\n- name: DB_PASSWORD\n  value: [REDACTED]",
        ),
        (
            "kind: Secret\ndata:\n  dsn: cG9zdGdyZXM=\n  user: YXBw\n",
            "kind: Secret\ndata:\n  dsn: [REDACTED]\n  user: [REDACTED]\n",
        ),
        (
            "machine api.github.com login octocat password Wq7ZpX2mLk9",
            "machine api.github.com login octocat password [REDACTED]",
        ),
        (
            "git clone https://ghs1234567890abcdefXYZ7890abcdef12@github.com/org/repo.git",
            "git clone https://[REDACTED]@github.com/org/repo.git",
        ),
        ("GET /cb?code=Sp3lQw9xZr7mKt&state=xyz", "GET /cb?code=[REDACTED]&state=xyz"),
        (
            "config: {User:app Password:Mx8@nBv4Qz Host:db}",
            "config: {User:app Password:[REDACTED] Host:db}",
        ),
        (
            "cfg {user: app, password: hunter2} applied",
            "cfg {user: app, password: [REDACTED]} applied",
        ),
        (
            "with Ocp-Apim-Subscription-Key: 3f4e5d6c7b8a9f0e1d2c3b4a failed",
            "with Ocp-Apim-Subscription-Key: [REDACTED] failed",
        ),
    ],
)
def test_the_formats_tooling_prints_keep_all_but_the_secret(text: str, stored: str) -> None:
    ev = NewEvent(**event_data(description=text))
    assert ev.description == stored
    assert ev.redactions


@pytest.mark.parametrize(
    "metadata",
    [
        {"existingSecret": "db-credentials", "accessKeyId": "AKIDEXAMPLE0000"},
        {"usage": {"tokens": 1200}, "policy": {"password_history": 5}},
        {"note": "Password: must be at least 12 characters"},
        {"note": "password_history=5", "bot": "Bot deploybot42 joined"},
        {"service": {"sessionAffinity": "ClientIP"}},
    ],
)
def test_names_and_sentences_that_resemble_a_secret_are_kept(metadata: dict[str, Any]) -> None:
    ev = NewEvent(**event_data(metadata=metadata))
    assert ev.metadata == metadata and ev.redactions == ()


def test_the_session_key_is_a_secret_as_sentry_scrubs_it() -> None:
    ev = NewEvent(**event_data(metadata={"session": "Tq2ZxWm9Lp", "user_session": "Tq2ZxWm9Lq"}))
    assert ev.metadata == {"session": "[REDACTED]", "user_session": "[REDACTED]"}
