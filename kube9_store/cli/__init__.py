"""The ``kube9-store`` command line: the reference operator's query contract plus admin
commands. Each command opens the store, calls one library function, and turns library errors
into a JSON line on stderr and exit code 1; usage errors are a JSON line too, with exit 2
(every code: :class:`~kube9_store.cli.exit_codes.ExitCode`, docs/cli-exit-codes.md)."""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Sequence
from typing import Any

import click

from kube9_store import __version__
from kube9_store.cli.common import configure_logging, fail
from kube9_store.cli.db import db, retention
from kube9_store.cli.demo import demo
from kube9_store.cli.events import events, import_group
from kube9_store.cli.exit_codes import ExitCode
from kube9_store.cli.ingest import ingest
from kube9_store.cli.observe import health, metrics
from kube9_store.cli.query import query
from kube9_store.cli.transfer import copy, export, import_jsonl

#: What click 8.2+ raises to show a group's help when no command is given.
_HELP_FOR_NO_ARGS: Any = getattr(click.exceptions, "NoArgsIsHelpError", ())


class JsonErrorsGroup(click.Group):
    """Usage errors (a bad flag value, a missing argument) as one JSON line on stderr naming
    the flag, with click's exit code 2, like every other error of the CLI."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, False, **extra)
        except _HELP_FOR_NO_ARGS as exc:
            exc.show()  # a bare group: its help, for people
            sys.exit(exc.exit_code)
        except click.UsageError as exc:
            fail({"error": "Invalid usage", "details": exc.format_message()}, exc.exit_code)
        except click.ClickException as exc:
            fail({"error": "Failed", "details": exc.format_message()}, exc.exit_code)
        except click.Abort:
            fail({"error": "Aborted"}, 1)
        except OSError as exc:
            if exc.errno != errno.EPIPE:
                raise
            # The reader went away (`| head`): nothing more can be shown.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(ExitCode.BROKEN_PIPE)
        sys.exit(rv if isinstance(rv, int) else 0)


@click.group(
    cls=JsonErrorsGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
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
for command in (copy, export, ingest):
    cli.add_command(command)
import_group.add_command(import_jsonl)


def main() -> None:
    cli(prog_name="kube9-store")
