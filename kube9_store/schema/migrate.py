"""The revision chain, driven programmatically: read a database's version, plan, and apply.

The spec's strategy: on start-up read the version, run every missing revision in order (each in
its own transaction), refuse what cannot be migrated safely, and never write to a database that
is already at head.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Sequence
from importlib.resources import files
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import Script, ScriptDirectory
from sqlalchemy import Connection

from kube9_store.backends import Backend
from kube9_store.errors import MigrationError, SchemaError, ValidationError
from kube9_store.schema.state import CHAIN_TABLES, HEAD_TABLES, SchemaState, read_state
from kube9_store.schema.tables import BRANCH, LEGACY_REVISIONS

log = logging.getLogger(__name__)

PACKAGE_SCRIPT_LOCATION = "kube9_store:migrations"


def package_versions_dir() -> str:
    """Where the revisions shipped with the package live on disk."""
    return str(files("kube9_store") / "migrations" / "versions")


def _config(script_location: str, version_locations: Sequence[str]) -> Config:
    """An Alembic config that needs no ini file: the revisions travel inside the package."""
    cfg = Config()
    cfg.set_main_option("script_location", script_location)
    if version_locations:
        cfg.set_main_option("path_separator", "os")
        cfg.set_main_option("version_locations", os.pathsep.join(version_locations))
    return cfg


@functools.lru_cache(maxsize=8)
def _load_chain(
    script_location: str, version_locations: tuple[str, ...]
) -> tuple[ScriptDirectory, dict[str, Script]]:
    script = ScriptDirectory.from_config(_config(script_location, version_locations))
    return script, {s.revision: s for s in script.walk_revisions()}


class Migrator:
    """Runs the package's revision chain against one backend's database."""

    def __init__(
        self,
        backend: Backend,
        *,
        script_location: str = PACKAGE_SCRIPT_LOCATION,
        extra_version_locations: Sequence[str] = (),
    ) -> None:
        self.backend = backend
        self._script_location = script_location
        self._version_locations = (
            (package_versions_dir(), *extra_version_locations) if extra_version_locations else ()
        )
        self.script, self._by_revision = _load_chain(script_location, self._version_locations)
        self.head = self.script.get_current_head() or ""
        self.versions = {rev: int(s.module.SCHEMA_VERSION) for rev, s in self._by_revision.items()}
        self.head_version = self.versions[self.head]

    def config(self, connection: Connection | None = None) -> Config:
        """The Alembic config for this chain, handing env.py ``connection`` when given."""
        cfg = _config(self._script_location, self._version_locations)
        if connection is not None:
            cfg.attributes["connection"] = connection
        return cfg

    def revision_for_version(self, version: int) -> str | None:
        for rev, v in self.versions.items():
            if v == version:
                return rev
        return None

    def next_revision(self, revision: str | None) -> Script | None:
        for script in self._by_revision.values():
            if script.down_revision == revision:
                return script
        return None

    def describe(self, revision: str | None) -> str:
        if revision is None:
            return "an empty database (no revision)"
        return f"revision {revision} (schema version {self.versions.get(revision, '?')})"

    def describe_state(self, state: SchemaState) -> str:
        """Where a database stands, including one made without Alembic."""
        if state.revision is None and state.version is not None:
            return f"schema version {state.version} (created without Alembic)"
        return self.describe(state.revision)

    def check_revision(self, revision: str, *, allow: tuple[str, ...] = ("head",)) -> str:
        """The revision id ``revision`` names (an id from before the revisions were a labelled
        branch, such as ``0002``, names its new one); refuse a revision this chain does not
        have, listing the ones it does."""
        revision = LEGACY_REVISIONS.get(revision, revision)
        if revision not in self.versions and revision not in allow:
            known = ", ".join([*sorted(self.versions), *allow])
            raise ValidationError.single("revision", f"must be one of {known}, got {revision!r}")
        return revision

    def refuse_shared(self, state: SchemaState, action: str) -> None:
        """Refuse to move a database whose ``alembic_version`` also holds an application's
        branches: only the application's Alembic environment, which includes kube9_store's
        revisions, knows every revision of it."""
        if state.other_revisions:
            raise SchemaError(
                f"cannot {action}: the database's alembic_version also holds revisions of "
                f"another chain ({', '.join(state.other_revisions)}), an application's that "
                "includes kube9_store's branch; run its Alembic environment instead "
                f"(`alembic upgrade heads`, or `alembic downgrade {BRANCH}@-1`). kube9_store's "
                f"branch is at {self.describe(state.revision)}"
            )

    def state(self) -> SchemaState:
        with self.backend.engine.connect() as conn:
            return read_state(conn)

    def is_current(self, state: SchemaState) -> bool:
        """At head and consistent; raises when the database is newer than this package."""
        self.check_known(state)
        return (
            state.revision == self.head
            and state.legacy_revision is None
            and state.version == self.head_version
        )

    def check_known(self, state: SchemaState) -> None:
        if state.revision is not None and state.revision not in self._by_revision:
            raise SchemaError(
                f"the database is at revision {state.revision!r}, which this package does not "
                f"know (its head is {self.head}, schema version {self.head_version}): it was "
                "migrated by a newer kube9_store; upgrade the package instead"
            )
        if state.revision is not None and state.version != self.versions[state.revision]:
            raise SchemaError(
                f"schema_version says {state.version} but Alembic says revision "
                f"{state.revision} (schema version {self.versions[state.revision]}); refusing "
                "to migrate an inconsistent database"
            )
        if state.revision is not None:
            expected = CHAIN_TABLES | (HEAD_TABLES if state.revision == self.head else frozenset())
            missing = state.missing(expected)
            if missing:
                raise SchemaError(
                    f"the database is at {self.describe(state.revision)} but has no "
                    f"{', '.join(missing)} table; refusing to touch it"
                )

    def plan(self, state: SchemaState) -> str | None:
        """The revision to stamp before upgrading (adoption of a plain-SQL database), or None.

        Raises SchemaError, naming what was found and what was expected, for anything that
        cannot be migrated safely.
        """
        if state.is_empty or state.revision is not None:
            self.check_known(state)
            return None
        if "schema_version" not in state.tables:
            found = ", ".join(sorted(state.tables))
            raise SchemaError(
                f"the database holds tables ({found}) but no schema_version table; expected an "
                "empty database or a kube9 event database; refusing to touch it"
            )
        if state.version is None:
            raise SchemaError("schema_version is empty; expected one row per applied version")
        if state.version > self.head_version:
            raise SchemaError(
                f"the database is at schema version {state.version}, newer than this package "
                f"knows (head: schema version {self.head_version}); upgrade the package instead"
            )
        revision = self.revision_for_version(state.version)
        if revision is None:
            raise SchemaError(f"schema version {state.version} is not one this package knows")
        return revision

    def upgrade(self, revision: str = "head", *, stamp_first: str | None = None) -> None:
        """Apply every missing revision up to ``revision``, each in its own transaction."""
        with self.backend.writer.connect() as conn:
            if stamp_first is not None:
                command.stamp(self.config(conn), stamp_first)
            self._run(conn, command.upgrade, LEGACY_REVISIONS.get(revision, revision))

    def downgrade(self, revision: str) -> None:
        with self.backend.writer.connect() as conn:
            self._run(conn, command.downgrade, LEGACY_REVISIONS.get(revision, revision))

    def stamp(self, revision: str) -> None:
        with self.backend.writer.connect() as conn:
            command.stamp(self.config(conn), LEGACY_REVISIONS.get(revision, revision))

    def _run(self, conn: Connection, step: Any, revision: str) -> None:
        before = read_state(conn).revision
        conn.rollback()
        try:
            step(self.config(conn), revision)
        except Exception as exc:
            conn.rollback()
            now = read_state(conn).revision
            conn.rollback()
            failed = self.next_revision(now) if step is command.upgrade else None
            name = failed.revision if failed is not None else now
            log.error(
                "migration of revision %s failed and was rolled back; the database stays at %s",
                name,
                self.describe(now),
                exc_info=exc,
            )
            raise MigrationError(
                f"revision {name} failed and was rolled back (started at "
                f"{self.describe(before)}, now at {self.describe(now)}): {exc}",
                revision=name,
            ) from exc
