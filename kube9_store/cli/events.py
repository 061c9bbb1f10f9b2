"""``events record|ack|count`` and ``import k8s-events``: writing events from the shell."""

from __future__ import annotations

import json
from typing import Any

import click

from kube9_store.cli.common import (
    db_option,
    emit_json,
    fail,
    open_store,
    path_argument,
    read_text,
    reporting,
    warn,
)
from kube9_store.cli.exit_codes import ExitCode
from kube9_store.cli.query import build_filter, filter_options


@click.group()
def events() -> None:
    """Record, acknowledge and count events."""


@events.command("record")
@db_option
@click.option("--type", "event_type", help="cluster|operator|insight|assessment|health|system")
@click.option("--severity", help="info|warning|error|critical")
@click.option("--title", help="Short summary (at most 200 characters).")
@click.option("--description", help="Details (at most 1000 characters).")
@click.option("--object-kind", help="Kubernetes kind, e.g. Deployment.")
@click.option("--object-namespace", help="Kubernetes namespace.")
@click.option("--object-name", help="Kubernetes object name.")
@click.option("--metadata", "metadata_json", metavar="JSON", help="A JSON object.")
@click.option("--created-at", help="ISO 8601 time (default: now).")
@click.option("--id", "event_id", help="Explicit id evt_YYYYMMDD_HHMMSS_xxxxxx.")
@click.option(
    "--json",
    "json_source",
    callback=path_argument,
    help="Read the event (an object) or a batch (a list) from a file, or - for stdin.",
)
def record(
    db: str | None, json_source: str | None, metadata_json: str | None, **fields: Any
) -> None:
    """Record an event from flags, or events from JSON.

    \b
    Example:
      kube9-store events record --type operator --severity info --title "Operator started" \\
          --metadata '{"version": "1.0.0", "tier": "free"}'
      echo '{"event_type": "health", "severity": "error", "title": "Probe failed"}' \\
          | kube9-store events record --json -
    """
    from kube9_store.errors import ValidationError

    with reporting("Failed to record event"):
        if json_source is not None:
            try:
                payload = json.loads(read_text("--json", json_source))
            except json.JSONDecodeError as exc:
                raise ValidationError.single("--json", f"is not valid JSON: {exc}") from None
        else:
            payload = {k: v for k, v in fields.items() if v is not None}
            if "event_id" in payload:
                payload["id"] = payload.pop("event_id")
            if metadata_json is not None:
                try:
                    payload["metadata"] = json.loads(metadata_json)
                except json.JSONDecodeError as exc:
                    raise ValidationError.single(
                        "--metadata", f"is not valid JSON: {exc}"
                    ) from None
        with open_store(db) as store:
            if isinstance(payload, list):
                emit_json([e.to_dict() for e in store.record_many(payload)])
            else:
                emit_json(store.record(payload).to_dict())


@events.command("ack")
@db_option
@click.argument("event_ids", nargs=-1, required=True)
@click.option("--undo", is_flag=True, help="Mark the events unacknowledged again.")
def ack(db: str | None, event_ids: tuple[str, ...], undo: bool) -> None:
    """Acknowledge events; exit 1 when an id is not found.

    \b
    Example:
      kube9-store events ack evt_20251202_103045_a7f3b9 evt_20251202_103046_b8g4c0
    """
    with reporting("Failed to acknowledge events"), open_store(db) as store:
        done = [i for i in event_ids if store.acknowledge(i, acknowledged=not undo)]
    missing = [i for i in event_ids if i not in done]
    emit_json({"acknowledged" if not undo else "unacknowledged": done, "not_found": missing})
    if missing:
        fail({"error": "Event not found", "event_ids": missing})


class _Fields(click.Choice):  # type: ignore[type-arg]
    """``--by``: one of the choices, or several comma-separated (``type,severity``)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        return ",".join(
            str(super(_Fields, self).convert(part.strip(), param, ctx)) for part in value.split(",")
        )


#: What ``--by`` groups by (kube9_store.store.grouping.GROUP_FIELDS, named here so --help imports
#: nothing heavy; a test checks the two agree).
BY_FIELDS = ("type", "severity", "namespace", "kind", "object")
#: How a group with no value (an event without an object or namespace) is keyed in JSON.
NONE_KEY = "<none>"


@events.command("count")
@db_option
@filter_options
@click.option(
    "--by",
    "by",
    type=_Fields(BY_FIELDS),
    multiple=True,
    help="Group the counts; repeat or comma-separate to group by several fields.",
)
def count(db: str | None, by: tuple[str, ...], **flags: Any) -> None:
    """Count the events that match the filters, in all or grouped, exact. Read-only.

    One --by field prints {"by_<field>": {value: count}}, largest first ("<none>" for
    events without that field; an object is Kind/namespace/name); several print
    {"by": [...], "groups": [{field: value, ..., "count": n}], "total": n}.

    \b
    Example:
      kube9-store events count --by severity
      kube9-store events count --type cluster --since 1h --by namespace --by severity
      kube9-store events count --severity error,critical --since 24h --by object
    """
    fields = [f for part in by for f in part.split(",")]
    with reporting("Failed to count events"):
        flt = build_filter(**flags)
        if len(set(fields)) != len(fields):
            from kube9_store.errors import ValidationError

            raise ValidationError.single("--by", "names a field twice")
        with open_store(db, read_only=True) as store:
            if not fields:
                emit_json({"count": store.count(flt)})
                return
            counts = store.count_by(fields, flt)
    if len(fields) == 1:
        (field,) = fields
        by_field = {(NONE_KEY if k[0] is None else k[0]): n for k, n in counts.items()}
        emit_json({f"by_{field}": by_field})
        return
    groups = [{**dict(zip(fields, key, strict=True)), "count": n} for key, n in counts.items()]
    emit_json({"by": fields, "groups": groups, "total": sum(counts.values())})


@click.group("import")
def import_group() -> None:
    """Bring events from elsewhere into the database."""


@import_group.command("k8s-events")
@db_option
@click.argument("source", callback=path_argument)
@click.option(
    "--cluster-uid",
    metavar="UID",
    help="The cluster's identity (its kube-system namespace's uid), as the ingester stores it.",
)
@click.option("--cluster-name", metavar="NAME", help="Display name beside the cluster uid.")
@click.option(
    "--kubeconfig",
    metavar="FILE",
    callback=path_argument,
    help="Read the cluster uid from the cluster this kubeconfig names (instead of --cluster-uid).",
)
@click.option("--context", metavar="NAME", help="With --kubeconfig: its context.")
def import_k8s_events(
    db: str | None,
    source: str,
    cluster_uid: str | None,
    cluster_name: str | None,
    kubeconfig: str | None,
    context: str | None,
) -> None:
    """Import `kubectl get events -A -o json` output (a file, or - for stdin) as cluster
    events. Idempotent: importing the same events again, or events `ingest kubernetes` stored
    for the same --cluster-uid, stores nothing new. Malformed items are reported by index on
    stderr and skipped, and the exit code is then 3 (partial).

    \b
    Example:
      kubectl get events -A -o json | kube9-store import k8s-events -
    """
    from kube9_store.ingest.identity import UNKNOWN_CLUSTER, ClusterIdentity
    from kube9_store.transfer.k8s import import_events

    with reporting("Failed to import Kubernetes events"):
        cluster = UNKNOWN_CLUSTER
        if kubeconfig is not None or context is not None:
            from kube9_store.cli.ingest import cluster_uid_from

            cluster_uid = cluster_uid_from(kubeconfig, context, cluster_uid)
        if cluster_uid is not None or cluster_name is not None:
            cluster = ClusterIdentity(cluster_uid or "", cluster_name)
        text = read_text("SOURCE", source)
        with open_store(db) as store:
            report = import_events(store, text, cluster)
    for problem in report.invalid:
        warn({"warning": "skipped malformed item", **problem})
    if report.read and not report.imported and not report.already_present:
        emit_json(report.as_dict())
        fail({"error": "Failed to import Kubernetes events", "details": "no valid item"})
    emit_json(report.as_dict())
    if report.invalid:
        raise SystemExit(ExitCode.PARTIAL)
