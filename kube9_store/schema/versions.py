"""What kube9_store's revisions call: the spec's ``schema_version`` rows, which they write
themselves, and the DDL each kind of database supplies for them (:func:`apply_ddl`).

Each revision records its own version in its upgrade and removes it in its downgrade, in the
revision's own transaction, so ``schema_version`` follows kube9_store's branch whichever
Alembic environment runs it (the package's own, or an application's that includes the branch
with ``version_locations``) and counts no application revision. Works offline (``--sql``) too.
"""

from __future__ import annotations

from alembic import op
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy import delete, insert

from kube9_store.backends import events_rebuilt_at, revision_ddl
from kube9_store.backends.base import Direction
from kube9_store.events.timestamps import format_timestamp, utcnow
from kube9_store.schema.tables import schema_version


def record_version(version: int, description: str) -> None:
    """Upgrade step: ``schema_version`` gains ``version``."""
    op.execute(
        insert(schema_version).values(
            version=version, applied_at=format_timestamp(utcnow()), description=description
        )
    )


def forget_version(version: int) -> None:
    """Downgrade step: ``schema_version`` loses ``version``."""
    op.execute(delete(schema_version).where(schema_version.c.version == version))


def apply_ddl(revision: str, direction: Direction) -> None:
    """Run what the migrated database's kind supplies for ``revision`` going ``direction``
    (:meth:`~kube9_store.backends.base.Backend.revision_ddl`): the revision says what, each
    backend says how."""
    for statement in revision_ddl(op.get_context().dialect, revision, direction):
        op.execute(statement)


def rebuilt_later() -> bool:
    """Whether this upgrade goes on to the revision that rebuilds ``events`` and all its
    indexes on this kind of database (SQLite's stored time key): an earlier revision's indexes
    would be built only to be dropped, so a long upgrade (a spec v1 file to head) skips them.
    False where no revision rebuilds, when the run's destination is not known (a caller
    driving the operations itself), or when it stops before."""
    context = op.get_context()
    wanted = events_rebuilt_at(context.dialect)
    if wanted is None:
        return False
    environment = context.environment_context
    if environment is None:
        return False
    script = environment.script
    try:
        argument = environment.get_revision_argument()
        destinations = script.get_revisions(argument if argument is not None else "heads")
    except (RevisionError, CommandError):  # not resolvable here: build, as always
        return False
    for destination in destinations:
        if destination is None:
            continue
        ancestors = {r.revision for r in script.iterate_revisions(destination.revision, "base")}
        if wanted in ancestors:
            return True
    return False
