"""kube9_store's tables in an application's Alembic autogenerate.

An application whose Alembic environment includes kube9_store's revisions (its
``version_locations`` lists ``kube9_store:migrations/versions``) compares its database with::

    import kube9_store
    target_metadata = [app_metadata, kube9_store.metadata]

and ``alembic check`` finds nothing to change on SQLite and PostgreSQL. ``kube9_store.metadata``
is :data:`kube9_store.schema.tables.metadata`, the one MetaData the store and :mod:`kube9_store.orm`
use; reaching it through the package (or importing this module) also teaches autogenerate the
two things about kube9_store's tables it cannot read from a MetaData:

- on SQLite, ``events`` has one more column than on PostgreSQL, ``created_ms``, the time key
  SQLite computes and stores itself (revision 0007): it is not proposed for removal there;
  the indexes of ``events`` are compared by name (a missing one is proposed, built as
  :data:`kube9_store.schema.tables.sqlite_metadata` declares it), not by their columns;
- on PostgreSQL, every primary key column is NOT NULL, while the spec declares ``events.id``
  and ``schema_version.version`` without NOT NULL (as SQLite keeps them): their nullability is
  not compared there.

An application that leaves kube9_store's tables out of its ``target_metadata`` passes
:func:`include_object` to ``context.configure``, or autogenerate proposes dropping them.
"""

from __future__ import annotations

import warnings
from typing import Any

from alembic.autogenerate.compare import comparators
from alembic.operations import ops
from alembic.util import DispatchPriority, PriorityDispatchResult
from sqlalchemy import Column, Table, text
from sqlalchemy.exc import SAWarning

from kube9_store.schema import tables as schema
from kube9_store.schema.facts import TIME_KEY_COLUMN

__all__ = ["include_object", "metadata"]

#: The one MetaData of kube9_store's tables, for an application's ``target_metadata``.
metadata = schema.metadata

#: kube9_store's tables (``alembic_version`` is Alembic's own and never compared).
TABLES = frozenset(schema.metadata.tables)

_SERVER_NOT_NULL = frozenset({schema.events.c.id, schema.schema_version.c.version})

# Reflecting ``events`` on SQLite at revision 0004 warns once per expression index it skips:
# expected, and compared by name below.
warnings.filterwarnings(
    "ignore",
    message="Skipped unsupported reflection of expression-based index idx_events_",
    category=SAWarning,
)


def include_object(
    object: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """``include_object`` for an application that keeps kube9_store's tables out of its
    ``target_metadata``: autogenerate then leaves those tables, and their indexes, alone.
    ``context.configure(..., include_object=include_object)`` in the application's env.py."""
    if type_ == "table":
        return name not in TABLES
    table = getattr(object, "table", None)
    return not (isinstance(table, Table) and table.name in TABLES)


@comparators.dispatch_for(
    "column", qualifier="postgresql", priority=DispatchPriority.FIRST, subgroup="nullable"
)
def _server_primary_keys(
    autogen_context: Any,
    alter_column_op: Any,
    schema_name: str | None,
    tname: str,
    cname: str,
    conn_col: Column[Any],
    metadata_col: Column[Any],
) -> PriorityDispatchResult:
    """PostgreSQL makes a primary key column NOT NULL whatever the spec's column says."""
    if metadata_col in _SERVER_NOT_NULL and conn_col.nullable is False:
        alter_column_op.existing_nullable = False
        return PriorityDispatchResult.STOP
    return PriorityDispatchResult.CONTINUE


@comparators.dispatch_for(
    "table", qualifier="sqlite", priority=DispatchPriority.FIRST, subgroup="indexes"
)
def _sqlite_expression_indexes(
    autogen_context: Any,
    modify_ops: ops.ModifyTableOps,
    schema_name: str | None,
    tname: str,
    conn_table: Table | None,
    metadata_table: Table | None,
) -> PriorityDispatchResult:
    """On SQLite, the indexes of kube9_store's ``events`` by name: each one the chain makes
    is there (a missing one is proposed as SQLite's head declares it)."""
    if metadata_table is not schema.events:
        return PriorityDispatchResult.CONTINUE
    if conn_table is not None:
        connection = autogen_context.connection
        assert connection is not None
        quoted = connection.dialect.identifier_preparer.quote(tname)
        found = {row[1] for row in connection.execute(text(f"PRAGMA index_list({quoted})"))}
        sqlite_events = schema.sqlite_metadata.tables[schema.events.name]
        for index in sorted(sqlite_events.indexes, key=lambda i: str(i.name)):
            if index.name not in found:
                modify_ops.ops.append(ops.CreateIndexOp.from_index(index))
    return PriorityDispatchResult.STOP


@comparators.dispatch_for("schema", qualifier="sqlite", priority=DispatchPriority.LAST)
def _sqlite_stored_time_key(
    autogen_context: Any, upgrade_ops: ops.UpgradeOps, schemas: set[str | None]
) -> PriorityDispatchResult:
    """On SQLite, ``events.created_ms`` is SQLite's own stored time key, not a column to drop
    (Alembic proposes removals after every table comparator, so they are taken back here)."""
    for table_ops in upgrade_ops.ops:
        if isinstance(table_ops, ops.ModifyTableOps) and table_ops.table_name == "events":
            table_ops.ops = [
                op
                for op in table_ops.ops
                if not (isinstance(op, ops.DropColumnOp) and op.column_name == TIME_KEY_COLUMN)
            ]
    upgrade_ops.ops = [
        op for op in upgrade_ops.ops if not (isinstance(op, ops.ModifyTableOps) and op.is_empty())
    ]
    return PriorityDispatchResult.CONTINUE
