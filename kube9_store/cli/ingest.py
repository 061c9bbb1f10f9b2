"""``ingest kubernetes``: keep a cluster's event history in the database, exactly once."""

from __future__ import annotations

import signal
import threading
from typing import TYPE_CHECKING, Any

import click

from kube9_store.cli.common import db_option, emit_json, path_argument, reporting

if TYPE_CHECKING:
    from kube9_store.ingest.loop import IngestSettings


@click.group("ingest")
def ingest() -> None:
    """Keep a live source's events in the database."""


@ingest.command("kubernetes")
@db_option
@click.option(
    "--kubeconfig",
    metavar="FILE",
    callback=path_argument,
    help="Kubeconfig file. Default: the in-cluster service account.",
)
@click.option("--context", metavar="NAME", help="Kubeconfig context. Default: its current one.")
@click.option("--namespace", metavar="NS", help="Only this namespace. Default: all namespaces.")
@click.option("--cluster-name", metavar="NAME", help="Display name stored beside the cluster uid.")
@click.option(
    "--metrics-port", type=click.IntRange(1, 65535), help="Serve Prometheus metrics on this port."
)
@click.option("--batch-max", type=click.IntRange(1, 5000), default=500, show_default=True)
@click.option("--batch-seconds", type=click.FloatRange(0.01, 10.0), default=0.25, show_default=True)
@click.option(
    "--watch-timeout",
    type=click.IntRange(1, 3600),
    default=300,
    show_default=True,
    help="Seconds the server keeps one watch open.",
)
def ingest_kubernetes(
    db: str | None,
    kubeconfig: str | None,
    context: str | None,
    namespace: str | None,
    cluster_name: str | None,
    metrics_port: int | None,
    batch_max: int,
    batch_seconds: float,
    watch_timeout: int,
) -> None:
    """Watch a cluster's events and store each occurrence exactly once, until SIGTERM or
    SIGINT. A paginated LIST, then a WATCH resumed from the last committed resourceVersion;
    a 410, a silent close or a stale version re-lists, and a gap is recorded as a system
    warning. The cluster is the kube-system namespace's uid. Needs the `kubernetes` extra and
    RBAC to list and watch events and get namespaces.

    \b
    Examples:
      kube9-store ingest kubernetes                     # in a pod, with its service account
      kube9-store ingest kubernetes --kubeconfig ~/.kube/config --context prod --cluster-name prod
    """
    from kube9_store.ingest.loop import IngestSettings
    from kube9_store.ingest.source import api_client

    with reporting("Failed to ingest Kubernetes events"):
        summary = _ingest(
            db,
            api_client(kubeconfig, context),
            IngestSettings(batch_max=batch_max, batch_seconds=batch_seconds),
            namespace=namespace,
            cluster_name=cluster_name,
            metrics_port=metrics_port,
            watch_timeout=watch_timeout,
        )
    emit_json(summary)


def _ingest(
    db: str | None,
    client: Any,
    settings: IngestSettings,
    *,
    namespace: str | None,
    cluster_name: str | None,
    metrics_port: int | None,
    watch_timeout: int,
) -> dict[str, Any]:
    from prometheus_client import CollectorRegistry, start_http_server

    from kube9_store.ingest.identity import ClusterIdentity
    from kube9_store.ingest.loop import Ingester
    from kube9_store.ingest.metrics import IngestMetrics
    from kube9_store.ingest.source import KubernetesEvents
    from kube9_store.store.eventstore import EventStore

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    source = KubernetesEvents(client, namespace=namespace, watch_timeout=watch_timeout)
    uid = _cluster_uid(source, stop)
    if uid is None:
        return {"cluster_uid": None, "stored": 0, "already_present": 0}
    cluster = ClusterIdentity(uid, cluster_name)
    registry = CollectorRegistry()
    metrics = IngestMetrics(registry)
    with EventStore.open(db, registry=registry) as store:
        if metrics_port is not None:
            start_http_server(metrics_port, registry=registry)
        ingester = Ingester(
            store,
            source,
            cluster,
            settings=settings,
            metrics=metrics,
        )
        ingester.run(stop)
    return {
        "cluster_uid": cluster.uid,
        "cluster_name": cluster.name,
        "resource": source.resource,
        "resource_version": ingester.resource_version,
        "stored": ingester.stored,
        "already_present": ingester.present,
    }


def _cluster_uid(source: Any, stop: threading.Event) -> str | None:
    """The cluster's uid, asked again with backoff while the API server is unreachable or
    failing (a pod may start before it answers); None when stopped first. A refusal (401,
    403, 404) is an error at once: it needs RBAC or configuration, not time."""
    import logging

    from kube9_store.ingest.source import Unavailable

    delay = 0.5
    while True:
        try:
            return str(source.cluster_uid())
        except Unavailable as exc:
            if any(f"HTTP {code}" in str(exc) for code in (401, 403, 404)):
                raise
            logging.getLogger("kube9_store.ingest").warning(
                "reading the kube-system namespace failed: %s; retrying in %.1fs", exc, delay
            )
        if stop.wait(delay):
            return None
        delay = min(delay * 2, 30.0)


def cluster_uid_from(kubeconfig: str | None, context: str | None, given: str | None) -> str:
    """The uid of the cluster a kubeconfig names (``import k8s-events --kubeconfig``); a
    ``--cluster-uid`` given as well must agree with it."""
    from kube9_store.errors import ValidationError
    from kube9_store.ingest.source import KubernetesEvents, api_client

    uid = KubernetesEvents(api_client(kubeconfig, context)).cluster_uid()
    if given is not None and given != uid:
        raise ValidationError.single(
            "--cluster-uid", f"is {given!r} but the cluster --kubeconfig names has uid {uid!r}"
        )
    return uid
