"""Opening a database: refuse what is not ours untouched, migrate what is behind, write nothing
to what is current, and open read-only without ever creating or migrating."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL

from kube9_store.backends import sqlite
from kube9_store.backends.sqlite import Synchronous
from kube9_store.config import sqlite_file
from kube9_store.engine import make_engine, migration_lock
from kube9_store.errors import SchemaError, translated
from kube9_store.schema import HEAD_REVISION, HEAD_VERSION
from kube9_store.state import SchemaState, read_state


def open_engine(
    url: URL,
    *,
    read_only: bool = False,
    migrate: bool = True,
    synchronous: Synchronous = "NORMAL",
    busy_timeout: float = 5.0,
    extra_version_locations: Sequence[str] = (),
    target: str = "head",
) -> Engine:
    """An engine on a database at the schema head (migrating it first when allowed).

    ``target`` other than head stops the upgrade at that revision (``db upgrade --revision``).
    """
    settings: dict[str, Any] = {"synchronous": synchronous, "busy_timeout": busy_timeout}
    path = sqlite_file(url)
    fast = target == "head" and not extra_version_locations
    if read_only:
        return _open_read_only(url, path, settings)
    if path is None:  # a server (or an in-memory SQLite database)
        engine = make_engine(url, **settings)
        where = url.render_as_string()
        try:
            with translated(f"cannot open {where}"):
                state = _read(engine, path)
            if not (state.at_package_head and fast):
                with translated(f"cannot migrate {where}"), migration_lock(engine, url):
                    state = _read(engine, path)  # again: another process may have migrated
                    _migrate(engine, state, path, migrate, extra_version_locations, target=target)
        except BaseException:
            engine.dispose()
            raise
        return engine

    sqlite.check_existing(path, empty_ok=True)  # emptiness is judged under the lock
    if path.exists() and path.stat().st_size > 0 and fast:
        state = _inspect_read_only(url, path, busy_timeout)
        if state.at_package_head:
            return make_engine(url, **settings)
    with sqlite.migration_lock(path):
        if path.exists():
            sqlite.check_existing(path)
            state = _inspect_read_only(url, path, busy_timeout)
        else:
            sqlite.create_file(path)
            state = SchemaState(revision=None, version=None, tables=frozenset())
        engine = make_engine(url, **settings)
        try:
            _migrate(engine, state, path, migrate, extra_version_locations, url=url, target=target)
        except BaseException:
            engine.dispose()
            raise
    return engine


def _migrate(
    engine: Engine,
    state: SchemaState,
    path: Path | None,
    migrate: bool,
    extra_version_locations: Sequence[str],
    *,
    url: URL | None = None,
    target: str = "head",
) -> None:
    from kube9_store.migrate import Migrator

    migrator = Migrator(engine, extra_version_locations=extra_version_locations)
    migrator.check_revision(target)
    if migrator.is_current(state) or (target != "head" and state.revision == target):
        return
    stamp_first = migrator.plan(state)
    if not migrate:
        raise SchemaError(
            f"the database is at {migrator.describe_state(state)}, behind this package's "
            f"{migrator.describe(migrator.head)}; run `kube9-store db upgrade`"
        )
    if stamp_first is not None:
        if path is None or url is None:
            raise SchemaError(
                "this database has a schema_version table but no alembic_version: adopting a "
                "database made without Alembic is supported for SQLite files only"
            )
        _verify_adoptable(url, path, migrator, stamp_first)
    with translated("migration failed"):
        migrator.upgrade(target, stamp_first=stamp_first)


def _verify_adoptable(url: URL, path: Path, migrator: Any, revision: str) -> None:
    """A database made by the spec's plain SQL must have exactly that version's structure."""
    reference = make_engine(URL.create("sqlite"))
    try:
        type(migrator)(reference).upgrade(revision)
        with reference.connect() as conn:
            expected = sqlite.describe(conn)
    finally:
        reference.dispose()
    ro = make_engine(url, read_only=True)
    try:
        with ro.connect() as conn:
            found = sqlite.describe(conn)
    finally:
        ro.dispose()
    if found != expected:
        raise SchemaError(
            f"{path} says schema version {migrator.versions[revision]} but its structure differs "
            f"from that version: {sqlite.difference(found, expected)}; refusing to migrate it"
        )


def _read(engine: Engine, path: Path | None) -> SchemaState:
    try:
        with engine.connect() as conn:
            return read_state(conn)
    except sa_exc.DBAPIError as exc:
        if sqlite.is_not_a_database(exc):
            raise SchemaError(
                f"{path} is not a SQLite database ({exc.orig}); refusing to touch it"
            ) from exc
        raise


def _inspect_read_only(url: URL, path: Path, busy_timeout: float) -> SchemaState:
    engine = make_engine(url, read_only=True, busy_timeout=busy_timeout)
    try:
        with translated(f"cannot read {path}"):
            return _read(engine, path)
    finally:
        engine.dispose()


def _open_read_only(url: URL, path: Path | None, settings: dict[str, Any]) -> Engine:
    if path is not None:
        sqlite.check_existing(path)
        if not path.exists():
            raise SchemaError(
                f"database {path} does not exist; "
                f"create it with `kube9-store db upgrade --db {path}`"
            )
    engine = make_engine(url, read_only=True, **settings)
    try:
        with translated(f"cannot read {path or url.render_as_string()}"):
            state = _read(engine, path)
        if not state.at_package_head:
            _explain_not_current(state, engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


def _explain_not_current(state: SchemaState, engine: Engine) -> None:
    from kube9_store.migrate import Migrator

    migrator = Migrator(engine)
    migrator.plan(state)  # raises for newer, unknown or foreign databases
    raise SchemaError(
        f"the database is at {migrator.describe_state(state)} but this package needs "
        f"revision {HEAD_REVISION} (schema version {HEAD_VERSION}); upgrade it with "
        "`kube9-store db upgrade` (queries never migrate)"
    )
