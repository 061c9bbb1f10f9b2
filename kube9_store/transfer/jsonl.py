"""``import jsonl``: the inverse of ``export --format jsonl``. Each line is one event object
with the query contract's fields; ``id`` and ``created_at`` are required (so importing the same
lines again stores nothing new) and ``acknowledged`` is kept. Lines are read as a stream and
stored in batches through the same insert-if-absent as ``copy``; each line is validated like
any new event, and a malformed one is reported by its line number and skipped (or, with
``strict``, every line is checked first and one malformed line means nothing is written).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from kube9_store.errors import FieldProblem, ValidationError
from kube9_store.events.models import NewEvent
from kube9_store.events.rows import stored_values
from kube9_store.transfer.copy import MAX_PROBLEMS, RowLoader
from kube9_store.transfer.streaming import DEFAULT_BATCH, Progress, Row

if TYPE_CHECKING:
    from kube9_store.store.eventstore import EventStore

#: The longest line read: far above the largest valid event (text limits, 10 KiB of
#: metadata, every character escaped), so a longer one is refused without holding it whole.
MAX_LINE = 1024 * 1024
#: How much of a refused long line is read at a time.
CHUNK = 64 * 1024
#: Fields a line must carry besides the event's required ones.
REQUIRED = ("id", "created_at")
#: Refused lines a strict import names in its error (all are counted).
STRICT_SHOWN = 5


@dataclass
class JsonlImportReport:
    """What an import did: lines read, events stored, events already present, and the lines
    refused (by line number; at most MAX_PROBLEMS kept, all counted)."""

    read: int = 0
    imported: int = 0
    already_present: int = 0
    invalid: list[dict[str, Any]] = field(default_factory=list)
    invalid_count: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "imported": self.imported,
            "already_present": self.already_present,
            "invalid": self.invalid,
            "invalid_count": self.invalid_count,
        }


def row_from_line(line: bytes | str) -> Row:
    """The stored row of one JSON line; raises ValidationError naming the field and rule."""
    try:
        doc = json.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationError.single("line", f"is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ValidationError.single("line", f"must be a JSON object, got {type(doc).__name__}")
    missing = [name for name in REQUIRED if doc.get(name) is None]
    if missing:
        raise ValidationError.single(missing[0], "is required (the line's identity)")
    acknowledged = doc.pop("acknowledged", False)
    if not isinstance(acknowledged, bool):
        raise ValidationError.single("acknowledged", "must be true or false")
    new = NewEvent.parse(doc)
    assert new.id is not None and new.created_at is not None  # required above
    return stored_values(new.__dict__, new.id, new.metadata_json, new.created_at, int(acknowledged))


def import_jsonl(
    store: EventStore,
    source: IO[bytes],
    *,
    batch_size: int = DEFAULT_BATCH,
    progress: Progress | None = None,
    on_invalid: Callable[[dict[str, Any]], None] | None = None,
    strict: bool = False,
) -> JsonlImportReport:
    """Store every valid event line of ``source`` whose id is not stored yet, ``batch_size``
    lines per transaction. ``on_invalid`` hears of each refused line as it is found;
    ``progress`` gets (bytes read, size) when the size is known (a file), else (bytes, 0).

    ``strict`` checks every line before storing any: one refused line raises
    ValidationError (naming the first refused lines) and nothing is written. A source that
    cannot be read twice (a pipe) is spooled to a temporary file for the second pass."""
    if not isinstance(strict, bool):
        raise ValidationError.single("strict", "must be True or False")
    if strict:
        with _rereadable(source) as (again, start):
            _check_every_line(again, on_invalid)
            again.seek(start)
            return import_jsonl(store, again, batch_size=batch_size, progress=progress)
    report = JsonlImportReport()
    loader = RowLoader(store)
    total = _size(source)
    done = 0
    batch: list[Row] = []
    try:
        for number, size, row in _rows(source):
            done += size
            if row is None:
                continue
            report.read += 1
            if isinstance(row, ValidationError):
                problem = {"line": number, "error": str(row)}
                report.invalid_count += 1
                if len(report.invalid) < MAX_PROBLEMS:
                    report.invalid.append(problem)
                if on_invalid is not None:
                    on_invalid(problem)
            else:
                batch.append(row)
            if len(batch) >= batch_size:
                _flush(loader, batch, report)
                if progress is not None:
                    progress(done, total)
        _flush(loader, batch, report)
        if progress is not None:
            progress(done, total)
    finally:
        loader.close()
    return report


def _check_every_line(
    source: IO[bytes], on_invalid: Callable[[dict[str, Any]], None] | None
) -> None:
    """Raise ValidationError naming the first refused lines, if any line is refused."""
    problems: list[FieldProblem] = []
    refused = 0
    for number, _, row in _rows(source):
        if isinstance(row, ValidationError):
            refused += 1
            if len(problems) < STRICT_SHOWN:
                problems.append(FieldProblem(f"line {number}", str(row)))
            if on_invalid is not None:
                on_invalid({"line": number, "error": str(row)})
    if refused:
        problems.append(FieldProblem("strict", f"{refused} line(s) refused; nothing imported"))
        raise ValidationError(problems)


@contextmanager
def _rereadable(source: IO[bytes]) -> Iterator[tuple[IO[bytes], int]]:
    """``source`` and where it starts when it can seek back, else a temporary copy of it."""
    try:
        start = source.tell() if source.seekable() else None
    except (OSError, ValueError):
        start = None
    if start is not None:
        yield source, start
        return
    with tempfile.TemporaryFile() as copy:
        shutil.copyfileobj(source, copy)
        copy.seek(0)
        yield copy, 0


def _rows(source: IO[bytes]) -> Iterator[tuple[int, int, Row | ValidationError | None]]:
    """Each line's number, its size in bytes, and its row, or the ValidationError that refused
    it (None for a blank line): what an import stores and a strict check looks at."""
    for number, (line, size) in enumerate(_lines(source), start=1):
        if line is not None and not line.strip():
            yield number, size, None
            continue
        try:
            if line is None:
                raise ValidationError.single(
                    "line",
                    f"is {size} bytes, longer than any event can be ({MAX_LINE} bytes at "
                    "most); skipped without being read whole",
                )
            yield number, size, row_from_line(line)
        except ValidationError as exc:
            yield number, size, exc


def _lines(source: IO[bytes]) -> Iterator[tuple[bytes | None, int]]:
    """Each line of ``source`` with its size in bytes; a line longer than :data:`MAX_LINE` is
    read past in chunks and given as None, so memory stays bounded whatever the input."""
    while True:
        line = source.readline(MAX_LINE + 1)
        if not line:
            return
        if len(line) <= MAX_LINE or line.endswith(b"\n"):
            yield line, len(line)
            continue
        size = len(line)
        while not line.endswith(b"\n"):
            line = source.readline(CHUNK)
            if not line:
                break
            size += len(line)
        yield None, size


def _flush(loader: RowLoader, batch: list[Row], report: JsonlImportReport) -> None:
    new = loader.load(batch)
    report.imported += new
    report.already_present += len(batch) - new
    batch.clear()


def _size(source: IO[bytes]) -> int:
    try:
        st = os.fstat(source.fileno())
    except (OSError, ValueError, AttributeError):
        return 0
    return st.st_size if stat.S_ISREG(st.st_mode) else 0
