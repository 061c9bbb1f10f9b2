"""The ``kube9-store`` command line: the reference operator's query contract plus admin
commands. Each command opens the store, calls one library function, and turns library errors
into a JSON line on stderr and exit code 1."""

from __future__ import annotations

import click

from kube9_store import __version__
from kube9_store.cli.common import configure_logging
from kube9_store.cli.db import db, retention
from kube9_store.cli.demo import demo
from kube9_store.cli.events import events, import_group
from kube9_store.cli.observe import health, metrics
from kube9_store.cli.query import query


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="kube9-store")
@click.option(
    "-v", "--verbose", is_flag=True, help="Log details on stderr, with the traceback of a failure."
)
def cli(verbose: bool) -> None:
    """kube9 event database.

    \b
    Examples:
      kube9-store demo                                   # a local demo database
      kube9-store query events list --since 24h --format table
      kube9-store db status
    """
    configure_logging(verbose)


for command in (query, events, import_group, db, retention, metrics, health, demo):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="kube9-store")
