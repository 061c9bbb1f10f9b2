"""``db ...`` and ``retention run``: schema, maintenance, backup and retention commands."""

from __future__ import annotations

import click

from kube9_store.cli.common import db_option, emit_json, fail, open_store, path_argument, reporting
from kube9_store.cli.exit_codes import ExitCode
from kube9_store.cli.progress import ProgressBar, quiet_option


@click.group()
def db() -> None:
    """Schema, maintenance and backups of the database file."""


@db.command("status")
@db_option
def db_status(db: str | None) -> None:
    """Path, schema version, Alembic revision, whether at head, event count and size.
    Read-only. Exit 1 when the store refuses the database (not a kube9 database, or one
    from a newer package), 3 when it reads it but will never write it (another lineage).

    \b
    Example:
      kube9-store db status --db /data/kube9.db
    """
    from kube9_store.operations.admin import status

    with reporting("Failed to read database status"):
        found = status(db)
    emit_json(found.as_dict())
    if found.lineage is None and found.note is not None:
        fail({"error": "Database refused", "details": found.note})
    if found.lineage == "other":
        raise SystemExit(ExitCode.PARTIAL)


@db.command("upgrade")
@db_option
@click.option("--revision", default="head", show_default=True, help="Target revision.")
def db_upgrade(db: str | None, revision: str) -> None:
    """Create the database, or upgrade it along the revision chain.

    \b
    Example:
      kube9-store db upgrade --db /data/kube9.db
      kube9-store db upgrade --revision 0002
    """
    from kube9_store.operations.admin import upgrade

    with reporting("Failed to upgrade database"):
        emit_json(upgrade(db, revision).as_dict())


@db.command("downgrade")
@db_option
@click.option("--revision", required=True, help="Target revision, or 'base' to remove all.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def db_downgrade(db: str | None, revision: str, yes: bool) -> None:
    """Downgrade the database to an earlier revision (may drop columns and their data).

    \b
    Example:
      kube9-store db downgrade --revision 0002 --yes
    """
    from kube9_store.operations.admin import downgrade

    if not yes:
        click.confirm(f"Downgrade the database to revision {revision}?", abort=True)
    with reporting("Failed to downgrade database"):
        emit_json(downgrade(db, revision).as_dict())


@db.command("check")
@db_option
@click.option("--full", is_flag=True, help="Full integrity_check (weekly) instead of quick.")
@click.option(
    "--record",
    is_flag=True,
    help="Record the result and its time for `health` (opens the database for writing).",
)
def db_check(db: str | None, full: bool, record: bool) -> None:
    """Check the file's integrity; exit 1 when a problem is found. With --record (a
    maintenance job's), the result is kept in the database: `health` reports it, and is
    degraded when it failed or is too old.

    \b
    Example:
      kube9-store db check --full
      kube9-store db check --record      # daily; --full --record weekly
    """
    with reporting("Failed to check database"), open_store(db, read_only=not record) as store:
        result = store.integrity_check(full=full)
    emit_json(result.as_dict())
    if not result.ok:
        fail({"error": "Integrity check failed", "details": "; ".join(result.problems[:5])})


@db.command("recount")
@db_option
def db_recount(db: str | None) -> None:
    """Rebuild the event counts from the events (after a TRUNCATE or other writes that
    bypassed the triggers); prints the counts by type.

    \b
    Example:
      kube9-store db recount --db /data/kube9.db
    """
    with reporting("Failed to recount events"), open_store(db) as store:
        emit_json({"by_type": store.recount()})


@db.command("vacuum")
@db_option
def db_vacuum(db: str | None) -> None:
    """Reclaim the space of deleted events (run at low load).

    \b
    Example:
      kube9-store db vacuum
    """
    with reporting("Failed to vacuum database"), open_store(db) as store:
        before = store.size_bytes()
        after = store.vacuum()
    emit_json({"before": before.as_dict(), "after": after.as_dict()})


@db.command("backup")
@db_option
@click.argument("dest", callback=path_argument)
def db_backup(db: str | None, dest: str) -> None:
    """Write a consistent, verified copy of the database to DEST, or, when DEST is a
    directory, a timestamped snapshot there (snapshots older than 7 days are pruned). The
    database is only read: one that is behind is copied at its own schema version (printed as
    schema_version), never migrated; one of another lineage (the reference operator's) as it is.

    \b
    Example:
      kube9-store db backup /backups/kube9-manual.db
      kube9-store db backup /backups/
    """
    from kube9_store.operations.admin import backup

    with reporting("Failed to back up database"):
        emit_json(backup(db, dest).as_dict())


@db.command("restore")
@db_option
@click.argument("src", callback=path_argument)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def db_restore(db: str | None, src: str, yes: bool) -> None:
    """Replace the database with a verified copy of the backup SRC. Refused while any store
    has the database open: stop the operator first. The current file is kept beside it as
    <name>.pre-restore-<time>.

    \b
    Example:
      kube9-store db restore /backups/kube9-20251202T030000Z.db --yes
    """
    from kube9_store.config import resolve_url
    from kube9_store.store.eventstore import EventStore

    if not yes:
        click.confirm(f"Replace the database with {src}?", abort=True)
    with reporting("Failed to restore database"):
        url = resolve_url(db)
        with EventStore.restore(src, url) as store:
            emit_json({"restored_from": str(src), "events": store.count()})


@click.group()
def retention() -> None:
    """Delete events past their retention period."""


@retention.command("run")
@db_option
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
@quiet_option
def retention_run(db: str | None, dry_run: bool, quiet: bool) -> None:
    """Apply the retention policy once (info/warning 7 days, error/critical 30 days, or
    $EVENT_RETENTION_INFO_WARNING_DAYS / $EVENT_RETENTION_ERROR_CRITICAL_DAYS).

    \b
    Example:
      kube9-store retention run --dry-run
    """
    with reporting("Failed to apply retention"):
        with (
            open_store(db, read_only=dry_run) as store,
            ProgressBar("deleting", quiet=quiet) as bar,
        ):
            result = store.apply_retention(dry_run=dry_run, progress=bar)
        emit_json(result.as_dict())
