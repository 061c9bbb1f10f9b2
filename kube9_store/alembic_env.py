"""What every env.py runs, whether Alembic is driven from its CLI or from the store at start-up.

Each revision runs in its own transaction (DDL included: the SQLite engine emits a real BEGIN),
and a hook keeps the spec's ``schema_version`` table equal to the applied revisions inside that
same transaction, so the two can never disagree after a commit or a rollback.
"""

from __future__ import annotations

import functools
import logging.config
import os
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, inspect, select
from sqlalchemy.engine import URL

from kube9_store.backends import backend_for
from kube9_store.config import ENV_DB_PATH, ENV_DB_URL, resolve_url, to_url
from kube9_store.schema import metadata, schema_version
from kube9_store.timestamps import format_timestamp, utcnow

log = logging.getLogger(__name__)


def revision_version(script: Any) -> tuple[int, str]:
    """The schema version and description a revision module declares."""
    module = script.module
    return int(module.SCHEMA_VERSION), str(module.DESCRIPTION)


def sync_schema_version(
    *, ctx: Any, step: Any, heads: set[str], run_args: Any, script_dir: Any
) -> None:
    """``on_version_apply`` hook: make ``schema_version`` hold one row per applied revision."""
    if ctx.as_sql:
        _emit_offline(ctx, step)
        return
    conn: Connection = ctx.connection
    if not inspect(conn).has_table(schema_version.name):
        return  # downgraded below the revision that creates it
    wanted = {
        version: description
        for version, description in (
            revision_version(rev) for rev in script_dir.iterate_revisions(tuple(heads), "base")
        )
    }
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


def _emit_offline(ctx: Any, step: Any) -> None:
    if step.is_stamp:
        return
    version, description = revision_version(step.up_revision)
    if step.is_upgrade:
        stmt: Any = insert(schema_version).values(
            version=version, applied_at=format_timestamp(utcnow()), description=description
        )
    else:
        stmt = delete(schema_version).where(schema_version.c.version == version)
    ctx.execute(stmt)


def _configure_and_run(context: Any, connection: Connection | None, url: URL | None) -> None:
    hook = functools.partial(sync_schema_version, script_dir=context.script)
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
    if config.config_file_name and config.attributes.get("configure_logger", True):
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
