"""Events out to the tools people already read them with: JSON Lines (Loki/Promtail, Vector,
Fluent Bit, ``jq``) or CSV, streamed in keyset batches with constant memory.

Each JSON line is one object with the query contract's event fields, in the contract's order,
``metadata`` as an object and ``acknowledged`` as a boolean. Rows this package wrote are
trusted: their stored metadata text is already compact JSON and goes into the line as it is,
so an export read back by ``import jsonl`` stores the very same text. Rows of a database
another program wrote go through the inbound gate (:mod:`kube9_store.gates.inbound`) as a copy's do:
validated, scrubbed, timestamps in the stored form; one that is not a valid event is left out
and reported by id.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import orjson

from kube9_store.errors import Kube9StoreError, ValidationError
from kube9_store.events.fields import (
    ACKNOWLEDGED,
    BOOLEANS,
    CREATED_AT,
    ID,
    METADATA,
    POSITION,
)
from kube9_store.events.models import EventFilter
from kube9_store.gates.display import csv_cell, printable_json_bytes
from kube9_store.gates.files import replacing, same_file
from kube9_store.gates.inbound import OnInvalid
from kube9_store.schema.tables import EVENT_COLUMNS
from kube9_store.transfer.streaming import Progress, Row, source_batches

if TYPE_CHECKING:
    from kube9_store.store.eventstore import EventStore

FORMATS = ("jsonl", "csv")
#: Rows per read: an export holds one batch and its encoded lines at a time.
EXPORT_BATCH = 5000
#: The fields of a line, in the contract's order, as plain strings (orjson takes no subclass).
FIELDS = tuple(str(name) for name in EVENT_COLUMNS)
#: How many left-out rows a result names (the rest are only counted).
MAX_PROBLEMS = 100
#: The fields before ``metadata``, and those after it with where each sits in a row.
_HEAD = FIELDS[:METADATA]
_TAIL = tuple((name, at) for at, name in enumerate(FIELDS) if at > METADATA)
#: The tail is the contract's own (``created_at``, then ``acknowledged``): written as bytes.
_CONTRACT_TAIL = _TAIL == (("created_at", CREATED_AT), ("acknowledged", ACKNOWLEDGED))
#: What each field's CSV cell is made with: a bool for the boolean fields.
_CSV_CELLS: tuple[Callable[[Any], Any], ...] = tuple(
    bool if name in BOOLEANS else csv_cell for name in FIELDS
)


@dataclass(frozen=True)
class ExportResult:
    """How many events went out, in which format, and how long it took."""

    events: int
    format: str
    seconds: float
    #: Rows of a database another program wrote left out as not valid events (with why, by
    #: id, at most MAX_PROBLEMS), and how many.
    invalid: tuple[dict[str, str], ...] = ()
    invalid_count: int = 0

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "events": self.events,
            "format": self.format,
            "seconds": round(self.seconds, 3),
        }
        if self.invalid_count:
            out["invalid"] = list(self.invalid)
            out["invalid_count"] = self.invalid_count
        return out


def export_events(
    store: EventStore,
    out: IO[bytes],
    *,
    flt: EventFilter | dict[str, Any] | None = None,
    fmt: str = "jsonl",
    newest_first: bool = False,
    batch_size: int = EXPORT_BATCH,
    progress: Progress | None = None,
    on_invalid: OnInvalid | None = None,
) -> ExportResult:
    """Write every event matching ``flt`` to ``out`` (a binary stream, UTF-8), oldest first
    unless ``newest_first``. Rows of a database another program wrote pass the inbound gate
    first (validated, scrubbed, timestamps normalised); one that is not a valid event is left
    out, counted in the result and passed to ``on_invalid`` (id, why)."""
    if fmt not in FORMATS:
        raise ValidationError.single("format", f"must be one of {', '.join(FORMATS)}, got {fmt!r}")
    started = time.perf_counter()
    f = EventFilter.parse(flt) if flt is not None else None
    total = store.count(f) if progress is not None else 0
    encode = _trusted_line if fmt == "jsonl" else None
    writer = _CsvWriter(out) if fmt == "csv" else None
    done = 0
    invalid: list[dict[str, str]] = []
    skipped = 0

    def left_out(event_id: str, why: str) -> None:
        nonlocal skipped
        skipped += 1
        if len(invalid) < MAX_PROBLEMS:
            invalid.append({"id": event_id, "error": why})
        if on_invalid is not None:
            on_invalid(event_id, why)

    for batch in source_batches(
        store, f, oldest_first=not newest_first, batch_size=batch_size, on_invalid=left_out
    ):
        if encode is not None:
            out.write(printable_json_bytes(b"".join([encode(row) for row in batch])))
        else:
            assert writer is not None
            writer.write(batch)
        done += len(batch)
        if progress is not None:
            progress(done, total)
    out.flush()
    return ExportResult(
        events=done,
        format=fmt,
        seconds=time.perf_counter() - started,
        invalid=tuple(invalid),
        invalid_count=skipped,
    )


def _trusted_line(row: Row) -> bytes:
    """One JSON line, the stored metadata text spliced in as it is (compact JSON holds no
    line break; a text that does is parsed and written again)."""
    meta = row[METADATA]
    if meta is not None and ("\n" in meta or "\r" in meta):
        return _checked_line(row)
    head = orjson.dumps(dict(zip(_HEAD, row, strict=False)))
    if not _CONTRACT_TAIL:  # a field declared since: the tail as orjson writes it
        tail = orjson.dumps({n: bool(row[at]) if n in BOOLEANS else row[at] for n, at in _TAIL})
        stored = meta.encode() if meta is not None else b"null"
        return b"".join((head[:-1], b',"metadata":', stored, b",", tail[1:], b"\n"))
    return b"".join(
        (
            head[:-1],
            b',"metadata":',
            meta.encode() if meta is not None else b"null",
            b',"created_at":"',
            row[CREATED_AT].encode(),
            b'","acknowledged":true}\n' if row[ACKNOWLEDGED] else b'","acknowledged":false}\n',
        )
    )


def _checked_line(row: Row) -> bytes:
    """One JSON line from a row another program wrote (any text, metadata checked)."""
    event = dict(zip(FIELDS, row, strict=True))
    event["metadata"] = _metadata(row)
    for name in BOOLEANS:
        event[name] = bool(row[POSITION[name]])
    return json.dumps(event, ensure_ascii=True, separators=(",", ":")).encode() + b"\n"


def _metadata(row: Row) -> Any:
    text = row[METADATA]
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise Kube9StoreError(f"event {row[ID]!r}: stored metadata is not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise Kube9StoreError(f"event {row[ID]!r}: stored metadata is not a JSON object")
    return value


class _CsvWriter:
    """A header of the event fields, then one row per event: metadata as its JSON text, None
    as an empty cell, acknowledged as True or False, control characters escaped by the output
    gate (as ``query events list --format csv``)."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self._text = io.StringIO()
        self._csv = csv.writer(self._text, lineterminator="\n")
        self._csv.writerow(FIELDS)
        self._flush()

    def write(self, batch: Iterable[Row]) -> None:
        for row in batch:
            self._csv.writerow([cell(v) for cell, v in zip(_CSV_CELLS, row, strict=True)])
        self._flush()

    def _flush(self) -> None:
        self._out.write(self._text.getvalue().encode("utf-8"))
        self._text.seek(0)
        self._text.truncate()


def export_to_file(
    store: EventStore,
    path: str | os.PathLike[str],
    **options: Any,
) -> ExportResult:
    """:func:`export_events` into the file ``path``, which appears only once it is complete
    (through :func:`kube9_store.gates.files.replacing`: owner-only, created exclusively under an
    unpredictable temporary name, fsynced, then renamed over it)."""
    target = Path(path)
    database = store.backend.path
    if database is not None and same_file(target, database):
        raise ValidationError.single("output", f"{target} is the database being exported")
    with replacing(target, field="output", action="export events") as out:
        return export_events(store, out, **options)
