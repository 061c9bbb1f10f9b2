"""``metrics`` and ``health``: what Prometheus scrapes and what Kubernetes probes call."""

from __future__ import annotations

import signal

import click

from kube9_store.cli.common import db_option, emit_json, fail, open_store, reporting


@click.group(invoke_without_command=True)
@db_option
@click.pass_context
def metrics(ctx: click.Context, db: str | None) -> None:
    """Print the Prometheus exposition once (without a subcommand), or serve it.

    \b
    Example:
      kube9-store metrics --db /data/kube9.db
      kube9-store metrics serve --port 9090
    """
    if ctx.invoked_subcommand is not None:
        return
    from prometheus_client import CollectorRegistry, generate_latest

    with reporting("Failed to read metrics"):
        registry = CollectorRegistry()
        with open_store(db, read_only=True, registry=registry):
            click.echo(generate_latest(registry).decode(), nl=False)


@metrics.command("serve")
@db_option
@click.option("--port", default=9090, show_default=True, type=click.IntRange(0, 65535))
@click.option("--bind", "addr", default="0.0.0.0", show_default=True, help="Address to bind.")
def metrics_serve(db: str | None, port: int, addr: str) -> None:
    """Serve /metrics over HTTP until interrupted (read-only on the database).

    \b
    Example:
      kube9-store metrics serve --port 9090 --bind 127.0.0.1
    """
    from prometheus_client import CollectorRegistry

    from kube9_store.operations.metrics import serve_metrics

    with reporting("Failed to serve metrics"):
        registry = CollectorRegistry()
        with open_store(db, read_only=True, registry=registry):
            server = serve_metrics(port, addr, registry=registry)
            click.echo(f"serving metrics on http://{addr}:{server.server_port}/metrics", err=True)
            try:
                signal.sigwait({signal.SIGINT, signal.SIGTERM})
            finally:
                server.shutdown()


@click.command()
@db_option
@click.option(
    "--full",
    is_flag=True,
    help="Also run quick_check, which reads the whole file (its time grows with the file).",
)
def health(db: str | None, full: bool) -> None:
    """Check, at a cost that does not grow with the database, that it opens read-only,
    answers, is at the schema head, reads its newest event, has room, and that the last file
    check maintenance recorded passed and is recent; exit 0 when healthy, 3 when degraded
    (volume over 90% full, database over its size budget, last recorded check failed or too
    old), 1 otherwise (a liveness or readiness probe). Never writes.

    \b
    Example:
      kube9-store health --db /data/kube9.db
      kube9-store health --full      # with quick_check, which reads every page
    """
    from kube9_store.operations.health import check_health

    with reporting("Failed to check health"):
        report = check_health(db, full=full)
    emit_json(report.as_dict())
    if not report.ok:
        failed = [name for name, check in report.checks.items() if not check["ok"]]
        fail(
            {"error": "Unhealthy", "details": f"failed: {', '.join(failed) or 'no check ran'}"},
            report.exit_code,
        )
    if report.exit_code:
        raise SystemExit(report.exit_code)  # degraded: the report says why
