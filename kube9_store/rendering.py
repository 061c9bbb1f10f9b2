"""Rendering events as JSON (the contract), YAML, CSV, or a table that fits the terminal.
The formats meant for people (table, CSV) show control characters escaped: stored text comes
from Kubernetes and must not drive the terminal. Light to import (the CLI's lean read path
renders with it too): what only one format needs is imported by that format."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from typing import Any

FORMATS = ("json", "yaml", "table", "csv")
TABLE_COLUMNS = ("ID", "TYPE", "SEVERITY", "TITLE", "CREATED")
MIN_TITLE_WIDTH = 10


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape_controls(text: str) -> str:
    """``text`` with control characters (C0, DEL, C1, line and paragraph separators) shown as
    ``\\xNN`` or ``\\uNNNN``."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


#: Characters JSON may hold raw that still break a line or drive a terminal.
_RAW_IN_JSON = re.compile(r"[\x7f-\x9f\u2028\u2029]")


def printable(text: str) -> str:
    """JSON text with DEL, C1 controls and line separators as ``\\uXXXX`` escapes, and lone
    surrogates (user input the terminal cannot encode) as escapes too: one line, still JSON."""
    text = _RAW_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def json_document(payload: Any) -> str:
    """A payload as a command prints it on its own (counts, status, health): indented JSON
    text, :func:`printable`."""
    return printable(json.dumps(payload, indent=2, ensure_ascii=False))


def to_json(payload: Any) -> str:
    return json.dumps(payload, indent=2, ensure_ascii=False)


def to_yaml(payload: Any) -> str:
    import yaml

    text: str = yaml.safe_dump(payload, sort_keys=False, allow_unicode=True)
    return text.rstrip("\n")


def to_csv(events: Sequence[dict[str, Any]]) -> str:
    """One header row of the event fields, then one row per event (metadata as JSON text)."""
    import csv
    import io

    from kube9_store.facts import EVENT_COLUMNS

    fields = list(EVENT_COLUMNS)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for e in events:
        row = {k: e.get(k) for k in fields}
        if row["metadata"] is not None:
            row["metadata"] = json.dumps(row["metadata"], ensure_ascii=False)
        writer.writerow(
            {k: escape_controls(v) if isinstance(v, str) else v for k, v in row.items()}
        )
    return buf.getvalue().rstrip("\n")


def _cell(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: max(width - 1, 0)] + "…"


def table_width(*, wide: bool = False) -> int | None:
    """The width a table must fit: the terminal's when stdout is one (and not ``wide``);
    None otherwise, so a pipe, a file or ``kubectl exec`` without a TTY gets every character."""
    if wide or not sys.stdout.isatty():
        return None
    import shutil

    return shutil.get_terminal_size((80, 24)).columns


def readable_time(created_at: str) -> str:
    """``2025-12-02T10:05:00.123Z`` as ``2025-12-02 10:05:00`` (UTC, as the reference shows it)."""
    return f"{created_at[:10]} {created_at[11:19]}"


def to_table(events: Sequence[dict[str, Any]], width: int | None = None) -> str:
    """Columns ID TYPE SEVERITY TITLE CREATED. Within ``width`` (a terminal's) the title takes
    what is left and is cut with an ellipsis; without one nothing is cut."""
    rows = [
        tuple(
            escape_controls(" ".join(str(c).split()))
            for c in (
                e["id"],
                e["event_type"],
                e["severity"],
                e["title"],
                readable_time(e["created_at"]),
            )
        )
        for e in events
    ]
    fixed = [max([len(TABLE_COLUMNS[i])] + [len(r[i]) for r in rows]) for i in (0, 1, 2, 4)]
    longest_title = max([len(TABLE_COLUMNS[3])] + [len(" ".join(r[3].split())) for r in rows])
    gap = "  "
    title_width = longest_title
    if width is not None:
        if sum(fixed) + 4 * 2 + MIN_TITLE_WIDTH > width:
            gap = " "
        title_width = min(longest_title, max(MIN_TITLE_WIDTH, width - sum(fixed) - 4 * len(gap)))
    widths = (fixed[0], fixed[1], fixed[2], title_width, fixed[3])

    def line(cells: Sequence[str]) -> str:
        return gap.join(_cell(c, w).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([line(TABLE_COLUMNS), *(line(r) for r in rows)])


def render(
    payload: Any, events: Sequence[dict[str, Any]], fmt: str, width: int | None = None
) -> str:
    """JSON and YAML show ``payload`` whole; CSV and the table (fitted to ``width`` when
    given) show the ``events`` in it."""
    if fmt == "json":
        return to_json(payload)
    if fmt == "yaml":
        return to_yaml(payload)
    if fmt == "csv":
        return to_csv(events)
    return to_table(events, width)
