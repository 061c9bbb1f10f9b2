"""``demo``: a database with real-looking history, in one command."""

from __future__ import annotations

from datetime import timedelta
from importlib.resources import files
from typing import TYPE_CHECKING

import click

from kube9_store.cli.common import reporting
from kube9_store.lean.rendering import table_width, to_table

if TYPE_CHECKING:
    from kube9_store.events.mappings import NewEventDict

SAMPLE = "k8s-events-sample.json"

LIFECYCLE: list[NewEventDict] = [
    {
        "event_type": "operator",
        "severity": "info",
        "title": "Operator started",
        "description": "Operator v1.0.0 started in free tier with 4Gi memory",
        "metadata": {"version": "1.0.0", "tier": "free"},
    },
    {
        "event_type": "insight",
        "severity": "warning",
        "title": "Missing resource limits",
        "description": "Deployment default/nginx has containers without memory limits",
        "object_kind": "Deployment",
        "object_namespace": "default",
        "object_name": "nginx",
        "metadata": {"insight_id": "ins_resource_limits_nginx", "category": "resources"},
    },
    {
        "event_type": "assessment",
        "severity": "info",
        "title": "Cluster assessment completed",
        "metadata": {"collection_id": "coll_123", "resources_collected": 150, "score": 82},
    },
    {
        "event_type": "operator",
        "severity": "error",
        "title": "Operator health degraded",
        "description": "Collection loop missed 3 intervals; API server latency above 2s",
        "metadata": {"missed_intervals": 3, "api_latency_ms": 2140},
    },
]


def sample_text() -> str:
    """The shipped `kubectl get events -A -o json` sample."""
    return (files("kube9_store") / "data" / SAMPLE).read_text(encoding="utf-8")


@click.command()
@click.option(
    "--db",
    "db",
    default="./kube9-demo.db",
    show_default=True,
    metavar="PATH_OR_URL",
    help="Where to create the demo database (a local path by default, not /data).",
)
@click.option("--limit", default=15, show_default=True, help="How many newest events to show.")
def demo(db: str, limit: int) -> None:
    """Create a demo database: import a sample of real Kubernetes events, record an operator
    lifecycle, then show the newest events and the counts.

    \b
    Example:
      kube9-store demo --db ./kube9-demo.db
    """
    from kube9_store.store.eventstore import EventStore
    from kube9_store.transfer.k8s import import_events

    with reporting("Failed to build the demo"), EventStore.open(db) as store:
        report = import_events(store, sample_text())
        now = store.clock()
        store.record_many(
            {**event, "created_at": now - timedelta(minutes=len(LIFECYCLE) - i)}
            for i, event in enumerate(LIFECYCLE)
        )
        newest = [e.to_dict() for e in store.query(limit=limit)]
        by_type = store.count_by_type()
        by_severity = store.count_by_severity()
        total = store.count()
        where = store.location
    click.echo(f"Database: {where}")
    click.echo(
        f"Imported {report.imported} Kubernetes events ({report.already_present} already "
        f"present), recorded {len(LIFECYCLE)} operator events; {total} events in all.\n"
    )
    click.echo(to_table(newest, table_width()))
    click.echo("\nBy type:     " + ", ".join(f"{k}={v}" for k, v in by_type.items()))
    click.echo("By severity: " + ", ".join(f"{k}={v}" for k, v in by_severity.items()))
    click.echo(f"\nNext: kube9-store query events list --db {db} --severity error,critical")
