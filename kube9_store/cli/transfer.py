"""``copy``, ``export`` and ``import jsonl``: moving history between databases and out to the
tools people read events with."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from kube9_store.cli.common import db_option, emit_json, fail, open_store, reporting
from kube9_store.cli.common import warn as warn_line
from kube9_store.cli.exit_codes import ExitCode
from kube9_store.cli.progress import ProgressBar, quiet_option
from kube9_store.cli.query import build_filter, filter_options

#: The library's default batches and the largest (kept here so ``--help`` imports nothing
#: heavy): copies and imports write 20,000 events per transaction, exports read 5,000 at a time.
DEFAULT_BATCH = 20_000
EXPORT_BATCH = 5000
MAX_BATCH = 1_000_000
F = TypeVar("F", bound=Callable[..., Any])


def batch_option(default: int, what: str) -> Callable[[F], F]:
    """``--batch-size`` with this command's default."""
    return click.option(
        "--batch-size",
        type=click.IntRange(1, MAX_BATCH),
        default=default,
        show_default=True,
        help=f"Events per batch ({what}).",
    )


@click.command("copy")
@click.argument("source", metavar="SOURCE")
@click.argument("destination", metavar="DEST")
@filter_options
@click.option("--dry-run", is_flag=True, help="Write nothing; count what would be copied.")
@batch_option(DEFAULT_BATCH, "one transaction each")
@quiet_option
def copy(
    source: str, destination: str, dry_run: bool, batch_size: int, quiet: bool, **flags: Any
) -> None:
    """Copy every event of SOURCE into DEST (paths or SQLAlchemy URLs), keeping ids,
    timestamps, acknowledgements and metadata. DEST is created or upgraded as needed; ids it
    already has are skipped, so running it again (or after an interruption) copies only what
    is missing. SOURCE may be any readable database, the reference operator's included. The
    counts per type and severity are compared at the end; exit 1 when DEST lacks any (a
    --dry-run only counts, and exits 0).

    \b
    Example:
      kube9-store copy /data/kube9.db 'postgresql+psycopg://kube9@db:5432/kube9'
      kube9-store copy /data/kube9.db /backups/last-week.db --since 7d --dry-run
    """
    from kube9_store.transfer.copy import copy_events

    with reporting("Failed to copy events"):
        flt = build_filter(**flags)
        with (
            open_store(source, read_only=True) as src,
            ProgressBar("copying", quiet=quiet) as bar,
        ):
            result = copy_events(
                src, destination, flt=flt, dry_run=dry_run, batch_size=batch_size, progress=bar
            )
    emit_json(result.as_dict())
    if not result.complete and not dry_run:
        sys.exit(ExitCode.ERROR)


@click.command("export")
@db_option
@filter_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv"]),
    default="jsonl",
    show_default=True,
    help="JSON Lines (one event object per line) or CSV with a header.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file (it appears only once complete); default: stdout.",
)
@click.option("--newest-first", is_flag=True, help="Newest events first (default: oldest).")
@batch_option(EXPORT_BATCH, "one read each")
@quiet_option
def export(
    db: str | None,
    fmt: str,
    output: Path | None,
    newest_first: bool,
    batch_size: int,
    quiet: bool,
    **flags: Any,
) -> None:
    """Write every matching event, streamed, as JSON Lines or CSV: what Loki/Promtail,
    Vector, Fluent Bit and jq read. Read-only. With --output, prints a summary.

    \b
    Example:
      kube9-store export --since 24h --format jsonl --output /var/log/kube9/events.jsonl
      kube9-store export --type cluster --severity error,critical | jq .title
    """
    from kube9_store.transfer.export import export_events, export_to_file

    with reporting("Failed to export events"):
        flt = build_filter(**flags)
        options: dict[str, Any] = {
            "flt": flt,
            "fmt": fmt,
            "newest_first": newest_first,
            "batch_size": batch_size,
            "on_invalid": lambda i, why: warn_line(
                {"warning": "skipped invalid event", "id": i, "error": why}
            ),
        }
        with open_store(db, read_only=True) as store:
            if output is None:
                _to_stdout(lambda out: export_events(store, out, **options))
                return
            with ProgressBar("exporting", quiet=quiet) as bar:
                result = export_to_file(store, output, progress=bar, **options)
    emit_json({**result.as_dict(), "output": str(output)})


def _to_stdout(write: Any) -> None:
    """Run ``write(binary stdout)``; a reader that goes away early (``| head``) ends the
    command quietly, as it would end any Unix filter."""
    sys.stdout.flush()
    try:
        write(sys.stdout.buffer)
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(ExitCode.BROKEN_PIPE)


@click.command("jsonl")
@db_option
@click.argument("source", type=click.File("rb"))
@batch_option(DEFAULT_BATCH, "one transaction each")
@click.option(
    "--strict",
    is_flag=True,
    help="Check every line first; any malformed line is an error and nothing is imported.",
)
@quiet_option
def import_jsonl(db: str | None, source: Any, batch_size: int, strict: bool, quiet: bool) -> None:
    """Import JSON Lines as written by `kube9-store export` (a file, or - for stdin): one
    event object per line with its id and created_at. Idempotent: ids already stored are
    skipped. Malformed lines are reported by line number on stderr and skipped; the exit
    code is then 3 (partial), or 1 when no line was valid. With --strict, any malformed line
    is an error (exit 1) and nothing is imported.

    \b
    Example:
      kube9-store export --db /data/kube9.db | kube9-store import jsonl - --db other.db
      kube9-store import jsonl events.jsonl --db /data/kube9.db
    """
    from kube9_store.transfer.jsonl import import_jsonl as run_import

    def warn(problem: dict[str, Any]) -> None:
        what = "refused malformed line" if strict else "skipped malformed line"
        warn_line({"warning": what, **problem})

    with (
        reporting("Failed to import JSON lines"),
        open_store(db) as store,
        ProgressBar("importing", quiet=quiet, unit="B") as bar,
    ):
        report = run_import(
            store, source, batch_size=batch_size, progress=bar, on_invalid=warn, strict=strict
        )
    emit_json(report.as_dict())
    if report.read and not report.imported and not report.already_present:
        fail({"error": "Failed to import JSON lines", "details": "no valid line"})
    if report.invalid_count:
        sys.exit(ExitCode.PARTIAL)
