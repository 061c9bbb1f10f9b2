"""The revision chain, driven programmatically through Alembic: upgrade, downgrade, stamp, and
the structure the chain builds at a revision. Imported only where the chain runs (what to run
is decided by :func:`kube9_store.schema.opening.judge`, without Alembic).

The spec's strategy: run every missing revision in order, each in its own transaction, and
say which one failed and where the database stayed.
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
from kube9_store.errors import MigrationError
from kube9_store.schema.state import Chain, SchemaState, read_state
from kube9_store.schema.tables import LEGACY_REVISIONS

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

    @functools.cached_property
    def chain(self) -> Chain:
        """The chain as opening judges a database against it (the package's, plus the
        revisions of the extra version locations)."""
        return Chain(versions=self.versions, head=self.head)

    def describe(self, revision: str | None) -> str:
        return self.chain.describe(revision)

    def check_revision(self, revision: str, *, allow: tuple[str, ...] = ("head",)) -> str:
        """See :meth:`Chain.check_revision`."""
        return self.chain.check_revision(revision, allow=allow)

    def next_revision(self, revision: str | None) -> Script | None:
        for script in self._by_revision.values():
            if script.down_revision == revision:
                return script
        return None

    def state(self) -> SchemaState:
        with self.backend.engine.connect() as conn:
            return read_state(conn)

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


def reference_structure(backend: Backend, revision: str) -> dict[str, Any]:
    """The spec tables' structure that the package's chain builds at ``revision`` on a scratch
    database of ``backend``'s kind: what a database made without Alembic must equal to be
    adopted."""
    reference = backend.scratch()
    try:
        Migrator(reference).upgrade(revision)
        return reference.structure()
    finally:
        reference.dispose()
