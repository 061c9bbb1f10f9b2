"""``query events list|get``: the reference operator's read contract, read-only."""

from __future__ import annotations

from typing import Any

import click

from kube9_store.cli.common import db_option, fail, open_store, reporting
from kube9_store.events.fields import FILTER_FLAGS
from kube9_store.lean.rendering import FORMATS, render, table_width

CURSOR_START = "start"
WIDE_HELP = (
    "Table: every column (ACK and DESCRIPTION too), whole in a terminal as well (a table is "
    "never cut when not a terminal)."
)
COLUMNS_HELP = (
    "Table: the columns to show, comma-separated, among id,type,severity,namespace,object,"
    "title,created,ack,description."
)


class ShownRange(click.IntRange):
    """An integer flag shown in ``--help`` with its range, whose value the command checks
    itself, so a bad one is an error naming the flag like every other (exit 1, one JSON
    line) rather than a usage error."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        return value if isinstance(value, str) else str(value)


class ShownChoice(click.Choice):  # type: ignore[type-arg]
    """A choice flag shown in ``--help`` with its choices, checked by the command (as
    :class:`ShownRange`)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        return value if isinstance(value, str) else str(value)


def columns_flag(value: str | None, wide: bool) -> tuple[str, ...] | None:
    """The table's columns: those of ``--columns``, every one with ``--wide``, else None
    (the default ones)."""
    from kube9_store.lean.rendering import WIDE_COLUMNS, parse_columns

    if value is not None:
        return parse_columns(value)
    return WIDE_COLUMNS if wide else None


def split_values(value: str | None) -> list[str] | None:
    """``--type cluster,operator`` -> ``['cluster', 'operator']``."""
    if value is None:
        return None
    return [v.strip() for v in value.split(",") if v.strip()] or [value]


def int_flag(flag: str, value: str, low: int, high: int | None) -> int:
    from kube9_store.errors import ValidationError

    text = value.strip()
    bound = f"between {low} and {high}" if high is not None else f">= {low}"
    if not (text.isascii() and text.lstrip("-").isdigit()):
        raise ValidationError.single(flag, f"must be an integer {bound}, got {value!r}")
    number = int(text)
    if number < low or (high is not None and number > high):
        raise ValidationError.single(flag, f"must be {bound}, got {number}")
    return number


def moment_flag(flag: str, value: str | None) -> str | None:
    from kube9_store.errors import ValidationError
    from kube9_store.events.timestamps import format_timestamp, parse_moment

    if value is None:
        return None
    try:
        return format_timestamp(parse_moment(value))
    except ValueError as exc:
        raise ValidationError.single(flag, str(exc)) from None


def format_flag(value: str) -> str:
    from kube9_store.errors import ValidationError

    if value not in FORMATS:
        raise ValidationError.single("--format", f"must be one of {', '.join(FORMATS)}")
    return value


def filter_options(func: Any) -> Any:
    """The filter flags shared by ``query events list`` and ``events count``."""
    options = [
        click.option(
            FILTER_FLAGS["event_type"],
            "types",
            metavar="TYPES",
            help="Event type(s), comma-separated.",
        ),
        click.option(
            FILTER_FLAGS["severity"],
            "severity",
            metavar="LEVELS",
            help="Severity(ies), comma-separated.",
        ),
        click.option("--since", metavar="WHEN", help="From (inclusive): 2025-12-01, ISO, or 24h."),
        click.option("--until", metavar="WHEN", help="Before (exclusive): same forms as --since."),
        click.option(
            FILTER_FLAGS["object_kind"],
            "object_kind",
            metavar="KIND",
            help="Kubernetes kind, e.g. Deployment.",
        ),
        click.option(
            FILTER_FLAGS["object_namespace"],
            "object_namespace",
            metavar="NS",
            help="Kubernetes namespace.",
        ),
        click.option(
            FILTER_FLAGS["object_name"],
            "object_name",
            metavar="NAME",
            help="Kubernetes object name.",
        ),
        click.option(
            "--acknowledged/--unacknowledged",
            default=None,
            help="Only acknowledged, or only unacknowledged, events.",
        ),
        click.option(
            "--cluster",
            metavar="CLUSTERS",
            help="Kubernetes cluster(s) by uid or name, comma-separated.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def build_filter(**flags: Any) -> Any:
    from kube9_store.events.models import EventFilter

    return EventFilter.parse(
        {
            "event_type": split_values(flags["types"]),
            "severity": split_values(flags["severity"]),
            "since": moment_flag("--since", flags["since"]),
            "until": moment_flag("--until", flags["until"]),
            "object_kind": flags["object_kind"],
            "object_namespace": flags["object_namespace"],
            "object_name": flags["object_name"],
            "acknowledged": flags["acknowledged"],
            "cluster": split_values(flags.get("cluster")),
        }
    )


#: The output format of the read commands (the query contract's four).
format_option = click.option(
    "--format",
    "fmt",
    type=ShownChoice(FORMATS),
    default="json",
    show_default=True,
    help="Output format.",
)


@click.group()
def query() -> None:
    """Read events. Read-only: never creates, migrates or writes the database."""


@query.group("events")
def query_events() -> None:
    """List or get events."""


@query_events.command("list")
@db_option
@filter_options
@click.option(
    "--limit",
    type=ShownRange(1, 1000),
    default="50",
    show_default=True,
    help="Page size, 1 to 1000.",
)
@click.option("--offset", type=ShownRange(0), default="0", show_default=True, help="Rows to skip.")
@click.option(
    "--cursor",
    default=None,
    help=f"Keyset paging: '{CURSOR_START}' for the first page, then the next_cursor printed.",
)
@format_option
@click.option("--wide", is_flag=True, help=WIDE_HELP)
@click.option("--columns", metavar="COLUMNS", default=None, help=COLUMNS_HELP)
@click.option(
    "--follow",
    "-f",
    is_flag=True,
    help="Then print events as they are stored (by any process), until Ctrl-C; JSON and "
    "YAML print one event per line or document.",
)
def list_events(
    db: str | None,
    limit: str,
    offset: str,
    cursor: str | None,
    fmt: str,
    wide: bool,
    columns: str | None,
    follow: bool,
    **flags: Any,
) -> None:
    """List events, newest first, with the total number of matches.

    \b
    Example:
      kube9-store query events list --type cluster --severity error,critical --since 24h
      kube9-store query events list --object-kind Pod --object-namespace default --format table
    """
    with reporting("Failed to list events"):
        fmt = format_flag(fmt)
        size = int_flag("--limit", limit, 1, 1000)
        skip = int_flag("--offset", offset, 0, None)
        flt = build_filter(**flags)
        shown_columns = columns_flag(columns, wide)
        if cursor is not None and skip:
            from kube9_store.errors import ValidationError

            raise ValidationError.single("--cursor", "cannot be combined with --offset")
        if follow:
            from kube9_store.cli.follow import follow_events

            if cursor is not None or skip:
                from kube9_store.errors import ValidationError

                raise ValidationError.single("--follow", "cannot be combined with paging")
            follow_events(db, flt, size, fmt, table_width(wide=wide), shown_columns)
            return
        with open_store(db, read_only=True) as store:
            pagination: dict[str, Any] = {"total": 0, "limit": size, "offset": skip}
            if cursor is not None:
                page = store.page(flt, size, None if cursor == CURSOR_START else cursor)
                events, next_cursor = page.events, page.next_cursor
            else:
                events, next_cursor = store.query(flt, size, skip), None
            pagination["total"] = store.count(flt)
        pagination["returned"] = len(events)
        if cursor is not None:
            pagination["next_cursor"] = next_cursor
        shown = [e.to_dict() for e in events]
        payload = {"events": shown, "pagination": pagination}
        click.echo(render(payload, shown, fmt, table_width(wide=wide), shown_columns))


@query_events.command("get")
@db_option
@click.argument("event_id")
@format_option
@click.option("--wide", is_flag=True, help=WIDE_HELP)
@click.option("--columns", metavar="COLUMNS", default=None, help=COLUMNS_HELP)
def get_event(db: str | None, event_id: str, fmt: str, wide: bool, columns: str | None) -> None:
    """Print one event.

    \b
    Example:
      kube9-store query events get evt_20251202_103045_a7f3b9
    """
    with reporting("Failed to get event"):
        fmt = format_flag(fmt)
        shown_columns = columns_flag(columns, wide)
        with open_store(db, read_only=True) as store:
            event = store.get(event_id)
        if event is not None:
            shown = event.to_dict()
            click.echo(render(shown, [shown], fmt, table_width(wide=wide), shown_columns))
    if event is None:
        fail({"error": "Event not found", "event_id": event_id})
