"""The cluster an event comes from, read from its metadata in SQL (``cluster_uid`` and
``cluster_name``, written by ``import k8s-events`` and the ingester), so queries and counts
filter by cluster on every backend. The JSON is parsed only for rows whose metadata mentions
a cluster key, so rows of other shapes are never parsed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from kube9_store.ingest.identity import CLUSTER_NAME_KEY, CLUSTER_UID_KEY


class _MetadataText(FunctionElement[str]):
    """One top-level string of a metadata JSON text column (NULL where absent)."""

    type = String()
    inherit_cache = True

    def __init__(self, column: ColumnElement[Any], key: str) -> None:
        self.key = key
        super().__init__(column)


@compiles(_MetadataText)
def _sqlite(element: _MetadataText, compiler: Any, **kw: Any) -> str:
    column = compiler.process(next(iter(element.clauses)), **kw)
    return (
        f"CASE WHEN instr({column}, '\"{element.key}\"') > 0 "
        f"THEN json_extract({column}, '$.{element.key}') END"
    )


@compiles(_MetadataText, "postgresql")
def _postgresql(element: _MetadataText, compiler: Any, **kw: Any) -> str:
    column = compiler.process(next(iter(element.clauses)), **kw)
    return (
        f"CASE WHEN strpos({column}, '\"{element.key}\"') > 0 "
        f"THEN (CAST({column} AS jsonb) ->> '{element.key}') END"
    )


def cluster_uid_of(column: ColumnElement[Any]) -> ColumnElement[str]:
    return _MetadataText(column, CLUSTER_UID_KEY)


def cluster_name_of(column: ColumnElement[Any]) -> ColumnElement[str]:
    return _MetadataText(column, CLUSTER_NAME_KEY)
