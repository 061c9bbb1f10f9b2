"""What every env.py runs, whether Alembic is driven from its CLI or from the store at start-up.

Each revision runs in its own transaction (DDL included: the SQLite engine emits a real BEGIN)
and writes its own row of the spec's ``schema_version`` table in that same transaction
(:mod:`kube9_store.schema.versions`), so the two can never disagree after a commit or a rollback.
A stamp, which runs no revision, is followed by a hook here that sets ``schema_version`` to the
stamped revisions. A database stamped with an id from before the revisions were a labelled
branch (``0001``-``0004``) has it renamed first
(:data:`kube9_store.schema.tables.LEGACY_REVISIONS`).
"""

from __future__ import annotations

import functools
import logging.config
import os
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, inspect, select, text
from sqlalchemy.engine import URL

from kube9_store.backends import backend_for
from kube9_store.config import ENV_DB_PATH, ENV_DB_URL, resolve_url, to_url
from kube9_store.events.timestamps import format_timestamp, utcnow
from kube9_store.schema.tables import LEGACY_REVISIONS, is_legacy_revision, metadata, schema_version

log = logging.getLogger(__name__)


def revision_version(script: Any) -> tuple[int, str] | None:
    """The schema version and description a revision module of kube9_store declares (None
    for another chain's revision)."""
    module = script.module
    if not hasattr(module, "SCHEMA_VERSION"):
        return None
    return int(module.SCHEMA_VERSION), str(module.DESCRIPTION)


def sync_stamped_versions(
    *, ctx: Any, step: Any, heads: set[str], run_args: Any, script_dir: Any
) -> None:
    """``on_version_apply`` hook: after a stamp (which runs no revision), make
    ``schema_version`` hold one row per stamped revision of kube9_store's."""
    if ctx.as_sql or not step.is_stamp:
        return  # a revision that ran wrote its own row
    conn: Connection = ctx.connection
    if not inspect(conn).has_table(schema_version.name):
        return  # stamped below the revision that creates it
    wanted = dict(
        found
        for found in (
            revision_version(rev) for rev in script_dir.iterate_revisions(tuple(heads), "base")
        )
        if found is not None
    )
    present = set(conn.execute(select(schema_version.c.version)).scalars())
    stale = present - wanted.keys()
    if stale:
        conn.execute(delete(schema_version).where(schema_version.c.version.in_(stale)))
    missing = sorted(wanted.keys() - present)
    if missing:
        applied_at = format_timestamp(utcnow())
        conn.execute(
            insert(schema_version),
            [{"version": v, "applied_at": applied_at, "description": wanted[v]} for v in missing],
        )


def rename_legacy_revision(conn: Connection) -> str | None:
    """Give a database stamped with an id from before the revisions were a labelled branch its
    new id (``0004`` becomes ``kube9_store_0004``). Only a database whose ``alembic_version``
    holds that one row, with ``schema_version`` at the same version, is renamed: otherwise a
    short id is an application's. Inside
    the caller's transaction when there is one, else committed on its own. Returns the new
    id, or None when there was nothing to rename."""
    if conn.in_transaction():
        return _rename_legacy(conn)
    with conn.begin():
        return _rename_legacy(conn)


def _rename_legacy(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    rows = list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    if len(rows) != 1 or rows[0] not in LEGACY_REVISIONS:
        return None
    version = None
    if inspect(conn).has_table(schema_version.name):
        version = conn.execute(select(func.max(schema_version.c.version))).scalar()
    new = LEGACY_REVISIONS[rows[0]] if is_legacy_revision(rows[0], version) else None
    if new is not None:
        conn.execute(
            text("UPDATE alembic_version SET version_num = :new WHERE version_num = :old"),
            {"new": new, "old": rows[0]},
        )
        log.info("alembic_version: revision %s renamed %s", rows[0], new)
    return new


def _configure_and_run(context: Any, connection: Connection | None, url: URL | None) -> None:
    if connection is not None:
        rename_legacy_revision(connection)
    hook = functools.partial(sync_stamped_versions, script_dir=context.script)
    context.configure(
        connection=connection,
        url=url if connection is None else None,
        target_metadata=metadata,
        transaction_per_migration=True,
        transactional_ddl=True,
        render_as_batch=True,  # SQLite rebuilds tables; other databases ALTER them directly
        on_version_apply=hook,
        literal_binds=connection is None,
    )
    with context.begin_transaction():
        context.run_migrations()


def _cli_url(context: Any) -> URL:
    """-x db=... first, then $KUBE9_DB_URL / $DB_PATH, then alembic.ini, then the default."""
    x_db = context.get_x_argument(as_dictionary=True).get("db")
    if x_db:
        return to_url(x_db, source="-x db")
    if os.environ.get(ENV_DB_URL) or os.environ.get(ENV_DB_PATH):
        return resolve_url(None)
    ini_url = context.config.get_main_option("sqlalchemy.url")
    return to_url(ini_url, source="sqlalchemy.url") if ini_url else resolve_url(None)


def run() -> None:
    """Entry point for env.py."""
    from alembic import context

    config = context.config
    if (
        config.config_file_name
        and config.attributes.get("configure_logger", True)
        and config.file_config.has_section("formatters")  # a minimal ini configures no logging
    ):
        logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)

    if context.is_offline_mode():
        _configure_and_run(context, None, _cli_url(context))
        return

    connectable = config.attributes.get("connection")
    if isinstance(connectable, Connection):
        _configure_and_run(context, connectable, None)
        return
    if isinstance(connectable, Engine):
        with connectable.connect() as connection:
            _configure_and_run(context, connection, None)
        return
    backend = backend_for(_cli_url(context))
    try:
        with backend.migration_lock():
            backend.prepare()  # as the store would: a new file 0600 in a 0700 directory
            with backend.writer.connect() as connection:
                _configure_and_run(context, connection, None)
    finally:
        backend.dispose()
