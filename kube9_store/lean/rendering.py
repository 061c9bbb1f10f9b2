"""Rendering events as JSON (the contract), YAML, CSV, or a table that fits the terminal.
The formats meant for people (table, CSV) show control characters escaped: stored text comes
from Kubernetes and must not drive the terminal. Light to import (the CLI's lean read path
renders with it too): what only one format needs is imported by that format."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from kube9_store.gates.display import escape_controls, printable

FORMATS = ("json", "yaml", "table", "csv")
MIN_TITLE_WIDTH = 10


def json_document(payload: Any) -> str:
    """A payload as a command prints it on its own (counts, status, health): indented JSON
    text, :func:`~kube9_store.gates.display.printable`."""
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

    from kube9_store.schema.facts import EVENT_COLUMNS

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
    """``2025-12-02T10:05:00.123Z`` as ``2025-12-02 10:05:00`` (UTC, as the reference shows it);
    what another program stored that is no time (NULL, other text) is shown as it is."""
    if not isinstance(created_at, str) or len(created_at) < 19 or created_at[10] != "T":
        return "" if created_at is None else str(created_at)
    return f"{created_at[:10]} {created_at[11:19]}"


def object_reference(event: dict[str, Any]) -> str:
    """``Kind/name`` (as ``kubectl get events`` shows an object), the namespace apart."""
    kind, name = event.get("object_kind"), event.get("object_name")
    return "/".join(str(p) for p in (kind, name) if p is not None)


#: Every column a table can show, and how each cell is read from an event (a dict of the
#: query contract's fields).
CELLS: dict[str, Callable[[dict[str, Any]], str]] = {
    "ID": lambda e: str(e["id"]),
    "TYPE": lambda e: str(e["event_type"]),
    "SEVERITY": lambda e: str(e["severity"]),
    "NAMESPACE": lambda e: str(e.get("object_namespace") or ""),
    "OBJECT": object_reference,
    "TITLE": lambda e: str(e["title"]),
    "CREATED": lambda e: readable_time(str(e["created_at"])),
    "ACK": lambda e: "yes" if e.get("acknowledged") else "no",
    "DESCRIPTION": lambda e: str(e.get("description") or ""),
}
#: What a table shows unless told (``--wide``: every column, ``--columns``: those chosen).
DEFAULT_COLUMNS = ("ID", "TYPE", "SEVERITY", "NAMESPACE", "OBJECT", "TITLE", "CREATED")
WIDE_COLUMNS = tuple(CELLS)
#: In a terminal too narrow for the default columns and a title of COMFORTABLE_TITLE, these
#: are left out, in this order, until the title has room: as ``kubectl get events`` shows no
#: event name, the id goes first (``--columns`` or ``--wide`` bring it back).
DROP_ORDER = ("ID", "TYPE", "CREATED", "NAMESPACE", "OBJECT")
COMFORTABLE_TITLE = 20
#: In a terminal, these columns are cut to at most this many characters.
CAPS = {"NAMESPACE": 16, "OBJECT": 28, "DESCRIPTION": 40}
GAP = "  "
#: Widths a followed table starts from, whatever its first rows (the rows to come are unknown).
TYPICAL = {
    "ID": 26,
    "TYPE": 10,
    "SEVERITY": 8,
    "NAMESPACE": 12,
    "OBJECT": 24,
    "TITLE": 60,
    "CREATED": 19,
    "ACK": 3,
    "DESCRIPTION": 40,
}


def parse_columns(value: str) -> tuple[str, ...]:
    """``--columns id,title`` as column names; an unknown or repeated name is an error
    naming the flag."""
    from kube9_store.errors import ValidationError

    names = [v.strip().upper() for v in value.split(",") if v.strip()]
    unknown = [n for n in names if n not in CELLS]
    if not names or unknown:
        raise ValidationError.single(
            "--columns", f"must be names among {','.join(c.lower() for c in CELLS)}"
        )
    if len(set(names)) != len(names):
        raise ValidationError.single("--columns", "names a column twice")
    return tuple(names)


class TableLayout:
    """Column widths for a table: from the events shown first, fitted to ``width`` (a
    terminal's) with the title taking what is left, or whole when ``width`` is None. A
    followed table (``typical``) starts from :data:`TYPICAL` widths and keeps its layout;
    later rows are cut alike in a terminal, shown whole elsewhere."""

    def __init__(
        self,
        events: Sequence[dict[str, Any]],
        width: int | None = None,
        columns: Sequence[str] | None = None,
        *,
        typical: bool = False,
    ) -> None:
        chosen = list(columns) if columns is not None else list(DEFAULT_COLUMNS)
        rows = [self._cells(e, chosen) for e in events]
        natural = {
            name: max([len(name), TYPICAL[name] if typical else 0] + [len(r[i]) for r in rows])
            for i, name in enumerate(chosen)
        }
        flexible = "TITLE" if "TITLE" in chosen else None
        if width is not None:
            natural = {n: min(w, max(len(n), CAPS.get(n, w))) for n, w in natural.items()}
            if columns is None and flexible is not None:
                for name in DROP_ORDER:
                    if self._left(natural, chosen, width) >= COMFORTABLE_TITLE:
                        break
                    chosen.remove(name)
                    del natural[name]
            if flexible is not None:
                room = max(MIN_TITLE_WIDTH, self._left(natural, chosen, width))
                natural[flexible] = min(natural[flexible], room)
        self.columns = tuple(chosen)
        self.widths = tuple(natural[n] for n in chosen)
        #: Cells are cut to their width only within a terminal's; elsewhere a longer cell
        #: (a followed row) is shown whole.
        self.cut = width is not None

    @staticmethod
    def _cells(event: dict[str, Any], columns: Sequence[str]) -> list[str]:
        return [escape_controls(" ".join(CELLS[name](event).split())) for name in columns]

    @staticmethod
    def _left(natural: dict[str, int], columns: Sequence[str], width: int) -> int:
        """What the title has when every other column takes its width."""
        used = sum(natural[n] for n in columns if n != "TITLE")
        return width - used - len(GAP) * (len(columns) - 1)

    def _line(self, cells: Sequence[str]) -> str:
        parts = zip(cells, self.widths, strict=True)
        if not self.cut:
            return GAP.join(c.ljust(w) for c, w in parts).rstrip()
        return GAP.join(_cell(c, w).ljust(w) for c, w in parts).rstrip()

    def header(self) -> str:
        return self._line(self.columns)

    def row(self, event: dict[str, Any]) -> str:
        return self._line(self._cells(event, self.columns))


def to_table(
    events: Sequence[dict[str, Any]],
    width: int | None = None,
    columns: Sequence[str] | None = None,
) -> str:
    """The events as a table of ``columns`` (default: :data:`DEFAULT_COLUMNS`). Within
    ``width`` (a terminal's) the title takes what is left and is cut with an ellipsis (and
    default columns are left out when too narrow); without one nothing is cut."""
    layout = TableLayout(events, width, columns)
    return "\n".join([layout.header(), *(layout.row(e) for e in events)])


def render(
    payload: Any,
    events: Sequence[dict[str, Any]],
    fmt: str,
    width: int | None = None,
    columns: Sequence[str] | None = None,
) -> str:
    """JSON and YAML show ``payload`` whole; CSV and the table (fitted to ``width`` when
    given, of ``columns`` when given) show the ``events`` in it."""
    if fmt == "json":
        return to_json(payload)
    if fmt == "yaml":
        return to_yaml(payload)
    if fmt == "csv":
        return to_csv(events)
    return to_table(events, width, columns)
