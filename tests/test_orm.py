"""The ORM classes on SQLite and PostgreSQL: one MetaData with the schema, and writes through a
Session or AsyncSession that keep the store's rules (validation, redaction, ids, timestamps,
exact counts)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, ForeignKey, Integer, create_engine, delete, insert, select, text
from sqlalchemy import update as sql_update
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

from kube9_store import EventStore, NewEvent, ValidationError
from kube9_store.events.models import EVENT_ID_PATTERN
from kube9_store.orm import Base, EventCountRow, EventRow, ReadOnlyTableError, SchemaVersionRow
from kube9_store.schema import tables as schema

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJvcGVyYXRvciJ9.c2lnbmF0dXJlLXNlY3JldA"
SECRET = "hunter2-correct-horse"


@pytest.fixture
def store(backend_url: URL) -> Iterator[EventStore]:
    with EventStore.open(backend_url) as s:
        yield s


@pytest.fixture
def engine(store: EventStore) -> Iterator[Engine]:
    """An application's own engine on the store's database (none of the store's settings)."""
    eng = create_engine(store.url)
    yield eng
    eng.dispose()


def raw_rows(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text("SELECT * FROM events"))]


def columns(table: Any) -> list[tuple[str, str, bool, bool]]:
    cols = table.c if hasattr(table, "c") else table
    return [(c.name, type(c.type).__name__, bool(c.nullable), c.primary_key) for c in cols]


# SQLite's expression indexes cannot be reflected; tests/test_migrations.py compares their DDL.
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based")
def test_one_metadata_and_nothing_for_alembic_to_change(store: EventStore, engine: Engine) -> None:
    assert Base.metadata is schema.metadata
    assert EventRow.__table__ is schema.events
    assert EventCountRow.__table__ is schema.event_counts
    assert SchemaVersionRow.__table__ is schema.schema_version
    head = store.backend.head_metadata  # the schema's tables with this backend's indexes
    for name, table in Base.metadata.tables.items():
        # SQLite's stored time key is the database's own, computed by it: nothing maps it
        made = [c for c in head.tables[name].c if c.computed is None]
        assert columns(table) == columns(made)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), head)
    # PostgreSQL makes every primary key column NOT NULL, whatever the spec's nullable id says.
    primary_keys = {("events", "id"), ("schema_version", "version")}
    server_made = [
        d
        for d in diff
        if isinstance(d, list) and d[0][0] == "modify_nullable" and d[0][2:4] in primary_keys
    ]
    if engine.dialect.name != "postgresql":
        assert server_made == []
    rest = [d for d in diff if d not in server_made and d[0] != "remove_table"]
    assert rest == []


def test_an_added_row_is_validated_scrubbed_and_stamped(store: EventStore, engine: Engine) -> None:
    fields: dict[str, Any] = {
        "event_type": "operator",
        "severity": "warning",
        "title": f"login with Bearer {SECRET}",
        "description": f"token {JWT}",
        "object_name": JWT,
    }
    metadata = {"password": SECRET, "nested": {"apiKey": SECRET, "ok": 1}}
    with Session(engine) as session:
        row = EventRow(**fields, event_metadata=metadata)
        session.add(row)
        session.commit()
        event_id = row.id
    assert event_id is not None and EVENT_ID_PATTERN.fullmatch(event_id)
    stored = store.get(event_id)
    assert stored is not None
    recorded = NewEvent(**fields, metadata=metadata)  # what record would store
    for name in ("title", "description", "object_name", "metadata"):
        assert getattr(stored, name) == getattr(recorded, name)
    assert stored.metadata == {
        "password": "[REDACTED]",
        "nested": {"apiKey": "[REDACTED]", "ok": 1},
    }
    assert len(stored.created_at) == 24 and stored.created_at.endswith("Z")
    assert stored.acknowledged is False
    everything = repr(raw_rows(engine))
    assert SECRET not in everything and JWT not in everything
    assert store.count_by_type() == {"operator": 1}
    assert store.count_by_severity() == {"warning": 1}


def test_a_given_timestamp_is_made_canonical_and_names_the_id(engine: Engine) -> None:
    with Session(engine) as session:
        row = EventRow(
            event_type="cluster",
            severity="info",
            title="Pod Scheduled",
            created_at="2025-12-02T12:30:45.123456+02:00",
        )
        session.add(row)
        session.commit()
        assert row.created_at == "2025-12-02T10:30:45.123Z"
        assert row.id is not None and row.id.startswith("evt_20251202_103045_")
        assert row.created.isoformat() == "2025-12-02T10:30:45.123000+00:00"


@pytest.mark.parametrize(
    ("fields", "problems"),
    [
        ({"severity": "loud"}, ["severity"]),
        ({"title": "x" * 201, "event_type": "gossip"}, ["event_type", "title"]),
        ({"id": "not-an-id"}, ["id"]),
        ({"created_at": "yesterday"}, ["created_at"]),
        ({"metadata_json": "{not json"}, ["metadata"]),
        ({"metadata_json": "[1, 2]"}, ["metadata"]),
        ({"object_name": "a\x00b"}, ["object_name"]),
        ({"acknowledged": 7}, ["acknowledged"]),
    ],
)
def test_an_invalid_row_fails_the_flush_and_writes_nothing(
    store: EventStore, engine: Engine, fields: dict[str, Any], problems: list[str]
) -> None:
    values: dict[str, Any] = {"event_type": "operator", "severity": "info", "title": "ok"}
    values.update(fields)
    with Session(engine) as session:
        session.add(EventRow(event_type="system", severity="info", title="same flush"))
        session.add(EventRow(**values))
        with pytest.raises(ValidationError) as info:
            session.commit()
        assert sorted(info.value.fields) == problems
    assert raw_rows(engine) == []
    assert store.count() == 0


def test_a_changed_row_is_checked_again(store: EventStore, engine: Engine) -> None:
    row_title = f"now with Bearer {SECRET}"
    recorded = store.record({"event_type": "insight", "severity": "info", "title": "Tip"})
    with Session(engine) as session:
        row = session.get_one(EventRow, recorded.id)
        row.title = row_title
        row.event_metadata = {"client_secret": SECRET}
        row.acknowledged = True
        session.commit()
        row.severity = "catastrophic"
        with pytest.raises(ValidationError) as info:
            session.commit()
        assert info.value.fields == ["severity"]
    changed = store.get(recorded.id)
    assert changed is not None
    assert changed.title.startswith("now with") and SECRET not in changed.title
    assert changed.title == NewEvent(event_type="insight", severity="info", title=row_title).title
    assert changed.metadata == {"client_secret": "[REDACTED]"}
    assert changed.acknowledged is True
    assert changed.severity == "info"
    assert SECRET not in repr(raw_rows(engine))


def test_rows_read_back_as_store_events(store: EventStore, engine: Engine) -> None:
    recorded = store.record_many(
        [
            {"event_type": "cluster", "severity": "error", "title": f"e{i}", "metadata": {"i": i}}
            for i in range(3)
        ]
    )
    with Session(engine) as session:
        rows = session.scalars(select(EventRow).order_by(EventRow.id)).all()
        assert [r.to_event() for r in rows] == sorted(recorded, key=lambda e: e.id)
        counts = {(c.event_type, c.severity): c.n for c in session.scalars(select(EventCountRow))}
        assert counts == {("cluster", "error"): 3}
        versions = session.scalars(select(SchemaVersionRow.version)).all()
        assert max(v for v in versions if v is not None) == schema.HEAD_VERSION


def test_deletes_keep_the_counts_exact(store: EventStore, engine: Engine) -> None:
    store.record_many(
        [{"event_type": "health", "severity": s, "title": s} for s in ("info", "error", "error")]
    )
    with Session(engine) as session:
        session.delete(session.scalars(select(EventRow).where(EventRow.title == "info")).one())
        session.commit()
        session.execute(delete(EventRow).where(EventRow.severity == "error"))  # bulk delete
        session.commit()
    assert store.count() == 0
    assert store.count_by_severity() == {}


def test_unchecked_writes_through_a_session_are_refused(store: EventStore, engine: Engine) -> None:
    store.record({"event_type": "system", "severity": "info", "title": "kept"})
    with Session(engine) as session:
        with pytest.raises(ValidationError, match="bulk INSERT or UPDATE"):
            session.execute(
                insert(EventRow).values(
                    id="evt_20251202_103045_aaaaaa",
                    event_type="system",
                    severity="info",
                    title=f"Bearer {SECRET}",
                    created_at="2025-12-02T10:30:45.000Z",
                )
            )
        with pytest.raises(ValidationError, match="bulk INSERT or UPDATE"):
            session.execute(sql_update(schema.events).values(title=f"Bearer {SECRET}"))
        with pytest.raises(ReadOnlyTableError):
            session.execute(sql_update(EventCountRow).values(n=0))
        count_row = session.scalars(select(EventCountRow)).first()
        assert count_row is not None
        count_row.n = 1000
        with pytest.raises(ReadOnlyTableError):
            session.commit()
        session.rollback()
        session.delete(session.scalars(select(SchemaVersionRow)).first())
        with pytest.raises(ReadOnlyTableError):
            session.commit()
    assert [e.title for e in store.query()] == ["kept"]
    assert store.count() == 1


class AppBase(DeclarativeBase):
    """An application's own models, in a MetaData of their own."""


class Incident(AppBase):
    __tablename__ = "app_incidents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(ForeignKey(schema.events.c.id))
    event: Mapped[EventRow] = relationship(EventRow)


def test_an_application_table_relates_to_events(store: EventStore, engine: Engine) -> None:
    AppBase.metadata.create_all(engine)
    try:
        with Session(engine) as session:
            row = EventRow(event_type="assessment", severity="critical", title="Cluster at risk")
            session.add(Incident(event=row))
            session.commit()
            incident = session.scalars(select(Incident)).one()
            assert incident.event.title == "Cluster at risk"
            assert incident.event_id == row.id
        assert store.count({"severity": "critical"}) == 1
    finally:
        AppBase.metadata.drop_all(engine)


def async_url(url: URL) -> URL:
    driver = "sqlite+aiosqlite" if url.get_backend_name() == "sqlite" else "postgresql+psycopg"
    return url.set(drivername=driver)


def test_async_session_keeps_the_same_rules(store: EventStore) -> None:
    async def main() -> tuple[str | None, list[str]]:
        engine = create_async_engine(async_url(store.url))
        try:
            async with AsyncSession(engine, expire_on_commit=False) as session:
                row = EventRow(
                    event_type="operator",
                    severity="info",
                    title="Operator started",
                    event_metadata={"auth_token": SECRET, "version": "1.0.0"},
                )
                session.add(row)
                await session.commit()
                event_id = row.id
                bad = EventRow(event_type="operator", severity="loud", title="bad")
                session.add(bad)
                with pytest.raises(ValidationError) as info:
                    await session.commit()
                await session.rollback()
                titles = (await session.scalars(select(EventRow.title))).all()
                return event_id, [*titles, *info.value.fields]
        finally:
            await engine.dispose()

    event_id, seen = asyncio.run(main())
    assert seen == ["Operator started", "severity"]
    assert event_id is not None
    stored = store.get(event_id)
    assert stored is not None
    assert stored.metadata == {"auth_token": "[REDACTED]", "version": "1.0.0"}
    assert store.count() == 1


SECRET_SHAPED = st.sampled_from(
    [
        f"Bearer {SECRET}",
        JWT,
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEabc\n-----END RSA PRIVATE KEY-----",
        "plain words",
        "",
        "\ud800",
        "nul\x00inside",
    ]
)
KEYS = st.sampled_from(
    ["password", "apiKey", "X-Auth-Token", "client_secret", "author", "secretName", "n", "v"]
)
LEAVES = st.none() | st.booleans() | st.integers() | st.floats() | SECRET_SHAPED | st.text()
METADATA = st.recursive(
    st.dictionaries(KEYS, LEAVES, max_size=4),
    lambda inner: st.dictionaries(KEYS, inner | st.lists(inner, max_size=3), max_size=3),
    max_leaves=12,
)
EVENTS = st.fixed_dictionaries(
    {
        "event_type": st.sampled_from(["operator", "cluster", "gossip"]),
        "severity": st.sampled_from(["info", "critical", "loud"]),
        "title": SECRET_SHAPED | st.text(max_size=210),
        "description": st.none() | SECRET_SHAPED,
        "object_name": st.none() | SECRET_SHAPED,
        "metadata": st.none() | METADATA,
        "created_at": st.none()
        | st.sampled_from(["2025-12-02T12:30:45.123456+02:00", "2025-12-02", "not a time"]),
    }
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(fields=EVENTS)
def test_a_session_stores_exactly_what_record_stores(
    sqlite_store: EventStore, fields: dict[str, Any]
) -> None:
    """Whatever is handed to both, a Session flush and ``record`` agree: the same error fields,
    or the same stored text, metadata and timestamp."""
    try:
        expected: Any = sqlite_store.record(fields)
    except ValidationError as exc:
        expected = sorted(exc.fields)
    engine = create_engine(sqlite_store.url)
    try:
        with Session(engine) as session:
            row_fields = {k: v for k, v in fields.items() if k != "metadata"}
            row = EventRow(**row_fields)
            try:
                row.event_metadata = fields["metadata"]
                session.add(row)
                session.commit()
                got: Any = session.get_one(EventRow, row.id).to_event()
            except ValidationError as exc:
                got = sorted(exc.fields)
    finally:
        engine.dispose()
    if isinstance(expected, list):
        assert got == expected
    else:
        compared = ("title", "description", "object_name", "metadata", "event_type", "severity")
        assert {k: getattr(got, k) for k in compared} == {k: getattr(expected, k) for k in compared}
        if fields["created_at"] is not None:
            assert got.created_at == expected.created_at


# -- nothing changed in place is lost ------------------------------------------------------------


def test_metadata_changed_in_place_is_refused_loudly(store: EventStore, engine: Engine) -> None:
    recorded = store.record(
        {"event_type": "insight", "severity": "info", "title": "Tip", "metadata": {"a": [1]}}
    )
    with Session(engine) as session:
        row = session.get_one(EventRow, recorded.id)
        metadata = row.event_metadata
        assert metadata == {"a": [1]}
        with pytest.raises(TypeError, match="read-only"):
            metadata["b"] = 2  # type: ignore[index]
        with pytest.raises(TypeError, match="read-only"):
            metadata["a"].append(2)
        row.event_metadata = {**metadata, "b": 2}  # a new mapping is saved
        session.commit()
    changed = store.get(recorded.id)
    assert changed is not None and changed.metadata == {"a": [1], "b": 2}


def test_acknowledged_is_a_bool_on_load_and_after_a_flush(
    store: EventStore, engine: Engine
) -> None:
    recorded = store.record({"event_type": "insight", "severity": "info", "title": "Tip"})
    with Session(engine) as session:
        row = session.get_one(EventRow, recorded.id)
        assert row.acknowledged is False
        row.acknowledged = True
        session.flush()
        assert row.acknowledged is True
        session.commit()
        assert row.acknowledged is True  # reloaded after the commit
        new = EventRow(event_type="system", severity="info", title="new")
        session.add(new)
        session.commit()
        assert new.acknowledged is False
        acked = session.scalars(select(EventRow).where(EventRow.acknowledged == 1)).all()
        assert [r.id for r in acked] == [recorded.id]
    assert not session.is_modified(row)


def test_event_metadata_and_metadata_json_together_are_refused() -> None:
    with pytest.raises(ValidationError) as info:
        EventRow(
            event_type="system",
            severity="info",
            title="both",
            event_metadata={"a": 1},
            metadata_json='{"a": 1}',
        )
    assert info.value.fields == ["metadata"]
