"""The CLI's lean read path: ``query events list|get``, ``events count``, ``db status`` and
``health`` on a SQLite file at this package's head, answered with the standard library's
sqlite3 alone (the console script, :mod:`kube9_store.console`, sends those commands here).

The kube9 VS Code extension starts the CLI in the pod (``kubectl exec ... kube9-operator query
events list ... --format=json``) on every refresh, so its users wait for the whole process.
The full CLI imports click, SQLAlchemy, pydantic and the migration machinery before it reads a
row; this path imports none of them. It answers only what it knows whole: the commands above
with the options they have, a file path (or ``sqlite:///`` URL) to a database at the head of
the chain, nobody restoring it. Anything else (another command or option, ``--help``, a bad
value, a server URL, a database behind head or of another lineage, a missing event, any
error) is declined before anything is printed and goes to the full CLI, which answers or
refuses it as always. What it prints is the full CLI's output byte for byte: it runs the SQL
the store compiles (a test compares the text for every query shape), builds each event's dict
and renders the formats with the same functions (:mod:`kube9_store.lean.plain`,
:mod:`kube9_store.lean.rendering`).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import sqlite3
import stat
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from kube9_store.events.fields import FILTER_FLAGS
from kube9_store.events.timestamps import format_timestamp, parse_moment, utcnow
from kube9_store.lean.plain import cursor_key, cursor_text, row_dict
from kube9_store.lean.rendering import (
    FORMATS,
    WIDE_COLUMNS,
    json_document,
    parse_columns,
    render,
    table_width,
)
from kube9_store.lean.sqlite import (
    integrity_of,
    journal_path,
    lock_path,
    quiescent,
    read_only_uri,
    reader_uri,
    settle_side_files,
    sizes_of,
    used_bytes_of,
    volume,
)
from kube9_store.schema import facts

if TYPE_CHECKING:
    from kube9_store.results import IntegrityResult, SizeInfo, VolumeInfo

#: The page sizes ``query events list --limit`` takes, and the largest offset a database binds.
LIMIT_RANGE = (1, 1000)
MAX_OFFSET = 2**63 - 1
#: ``--cursor`` for the first page.
CURSOR_START = "start"
#: The exit status when stdout's reader went away (the full CLI's ``ExitCode.BROKEN_PIPE``).
BROKEN_PIPE = 141


class Declined(Exception):
    """The lean path does not answer this; the full CLI does."""


# -- the SQL the store compiles for a database at head (SQLite's sort key) -------------------

#: The events' stored time key, and that of a bound timestamp (its value bound twice).
CREATED = f"events.{facts.TIME_KEY_COLUMN}"
BOUND_TIME = facts.TIME_KEY_SQL.format("?")
COLUMNS = ", ".join(f"events.{name}" for name in facts.EVENT_COLUMNS)
#: Larger than any rowid: a cursor whose event is gone resumes at the start of its instant.
MAX_ROWID = 9223372036854775807
COUNT_KEPT = "SELECT coalesce(sum(event_counts.n), ?) AS coalesce_1 \nFROM event_counts"
GET = f"SELECT {COLUMNS} \nFROM events \nWHERE events.id = ?"
SCHEMA_VERSION = "SELECT max(schema_version.version) AS max_1 \nFROM schema_version"
COUNT_ROWS = "SELECT count(*) AS count_1 \nFROM events"
MAINTENANCE_FACTS = "SELECT operations_state.name, operations_state.value \nFROM operations_state"


class Filter(NamedTuple):
    """A query's filter as :class:`~kube9_store.events.models.EventFilter` holds it: value tuples
    sorted and without repeats, timestamps in the stored form."""

    event_type: tuple[str, ...] = ()
    severity: tuple[str, ...] = ()
    since: str | None = None
    until: str | None = None
    object_kind: tuple[str, ...] = ()
    object_namespace: tuple[str, ...] = ()
    object_name: tuple[str, ...] = ()
    acknowledged: bool | None = None


def select_sql(
    flt: Filter,
    *,
    cursor: tuple[str, str] | None = None,
    limit: int = 50,
    offset: int = 0,
    count: bool = False,
) -> tuple[str, list[Any]]:
    """The statement :func:`kube9_store.store.filters.statement_for` compiles to on SQLite for this
    query (a page, or with ``count`` its number of matches), with its parameters in order."""
    where, params = _where(flt, cursor)
    if count:
        return f"SELECT count(*) AS count_1 \nFROM events{where}", params
    types: list[tuple[str, ...]] = [(t,) for t in flt.event_type] or [()]
    severities: list[tuple[str, ...]] = [(s,) for s in flt.severity] or [()]
    arms = [flt._replace(event_type=t, severity=s) for t in types for s in severities]
    if len(arms) > 1:
        return _merged_page(arms, cursor, limit, offset)
    sql = f"SELECT {COLUMNS} \nFROM events{where} ORDER BY {CREATED} DESC, events.rowid DESC"
    return sql + "\n LIMIT ? OFFSET ?", [*params, limit, offset]


def _where(flt: Filter, cursor: tuple[str, str] | None) -> tuple[str, list[Any]]:
    conds: list[str] = []
    params: list[Any] = []
    for column, items in (
        ("event_type", flt.event_type),
        ("severity", flt.severity),
        *((name, getattr(flt, name)) for name in _OBJECT_FIELDS),
    ):
        if len(items) == 1:
            conds.append(f"events.{column} = ?")
        elif items:
            conds.append(f"events.{column} IN ({', '.join('?' * len(items))})")
        params.extend(items)
    for value, op in ((flt.since, ">="), (flt.until, "<")):
        if value is not None:
            conds.append(f"{CREATED} {op} {BOUND_TIME}")
            params.extend((value, value))
    if flt.acknowledged is not None:
        conds.append(f"events.acknowledged = {1 if flt.acknowledged else 0}")
    if cursor is not None:
        at, event_id = cursor
        conds.append(f"{CREATED} <= {BOUND_TIME}")
        conds.append(
            f"({CREATED}, events.rowid) < ({BOUND_TIME}, coalesce((SELECT events.rowid "
            f"\nFROM events \nWHERE events.id = ?), {MAX_ROWID}))"
        )
        params.extend((at, at, at, at, event_id))
    return (f" \nWHERE {' AND '.join(conds)}" if conds else ""), params


#: A merged page's ranges: each range's columns, its time key and tie-breaker by name.
_MERGED = (*facts.EVENT_COLUMNS, "sort_key", "sort_tiebreak")
_ALIASED = ", ".join(f"events.{name} AS {name}" for name in facts.EVENT_COLUMNS)


def _merged_page(
    arms: list[Filter], cursor: tuple[str, str] | None, limit: int, offset: int
) -> tuple[str, list[Any]]:
    """:func:`kube9_store.store.filters.merged_page`: one bounded index range per (type,
    severity), merged in order."""
    bound = "? + ?" if offset else "?"
    parts: list[str] = []
    params: list[Any] = []
    for i, arm in enumerate(arms, start=1):
        where, values = _where(arm, cursor)
        outer = ", ".join(f"anon_{i}.{name} AS {name}" for name in _MERGED)
        parts.append(
            f"SELECT {outer} \nFROM (SELECT {_ALIASED}, {CREATED} AS sort_key, events.rowid AS "
            f"sort_tiebreak \nFROM events{where} ORDER BY {CREATED} DESC, events.rowid DESC\n "
            f"LIMIT {bound} OFFSET ?) AS anon_{i}"
        )
        params.extend([*values, limit, *([offset] if offset else []), 0])
    columns = ", ".join(f"page.{name}" for name in facts.EVENT_COLUMNS)
    compound = " UNION ALL ".join(parts)
    sql = (
        f"SELECT {columns} \nFROM ({compound} ORDER BY sort_key DESC, sort_tiebreak DESC\n "
        "LIMIT ? OFFSET ?) AS page"
    )
    return sql, [*params, limit, offset]


def count_sql(flt: Filter) -> tuple[str, list[Any]]:
    """The statement :meth:`~kube9_store.store.reads.StoreReads.count` runs at head: the
    trigger-kept counts when the filter names only types and severities, else a count."""
    if flt.since is not None or flt.until is not None or flt.acknowledged is not None:
        return select_sql(flt, count=True)
    if any(getattr(flt, name) for name in _OBJECT_FIELDS):
        return select_sql(flt, count=True)
    conds = [
        f"event_counts.{column} IN ({', '.join('?' * len(items))})"
        for column, items in (("event_type", flt.event_type), ("severity", flt.severity))
        if items
    ]
    where = f" \nWHERE {' AND '.join(conds)}" if conds else ""
    return COUNT_KEPT + where, [0, *flt.event_type, *flt.severity]


#: The object fields a filter matches by value (in the order the store's SQL names them).
_OBJECT_FIELDS = ("object_kind", "object_namespace", "object_name")

# -- the command line ------------------------------------------------------------------------

_FILTER_VALUES = (
    FILTER_FLAGS["event_type"],
    FILTER_FLAGS["severity"],
    "--since",
    "--until",
    *(FILTER_FLAGS[name] for name in _OBJECT_FIELDS),
)
#: Flags: option -> (the parameter it sets, to what).
_FILTER_FLAGS = {
    "--acknowledged": ("acknowledged", True),
    "--unacknowledged": ("acknowledged", False),
}
_WIDE = {"--wide": ("wide", True)}


class Command(NamedTuple):
    """What a command takes: options with a value, flags, and how many arguments."""

    values: frozenset[str]
    flags: dict[str, tuple[str, Any]]
    arguments: int


COMMANDS: dict[tuple[str, ...], Command] = {
    ("query", "events", "list"): Command(
        frozenset(
            {"--db", *_FILTER_VALUES, "--limit", "--offset", "--cursor", "--format", "--columns"}
        ),
        {**_FILTER_FLAGS, **_WIDE},
        0,
    ),
    ("query", "events", "get"): Command(frozenset({"--db", "--format", "--columns"}), _WIDE, 1),
    ("events", "count"): Command(frozenset({"--db", *_FILTER_VALUES}), _FILTER_FLAGS, 0),
    ("db", "status"): Command(frozenset({"--db"}), {}, 0),
    ("health",): Command(frozenset({"--db"}), {"--full": ("full", True)}, 0),
}


def parse(argv: Sequence[str]) -> tuple[tuple[str, ...], dict[str, Any], list[str]]:
    """(command, options, arguments) as click reads them (the last of a repeated option
    wins), for the commands and options this path knows; Declined for anything else."""
    words = next((w for w in COMMANDS if tuple(argv[: len(w)]) == w), None)
    if words is None:
        raise Declined("not a command of the lean path")
    spec = COMMANDS[words]
    options: dict[str, Any] = {}
    arguments: list[str] = []
    rest = list(argv[len(words) :])
    while rest:
        token = rest.pop(0)
        if not token.startswith("-") or token == "-":
            arguments.append(token)
            continue
        name, eq, value = token.partition("=")
        if name in spec.flags and not eq:
            key, flag = spec.flags[name]
            options[key] = flag
        elif name in spec.values:
            if not eq:
                if not rest or rest[0].startswith("-"):
                    raise Declined(f"{name} without a plain value")
                value = rest.pop(0)
            options[_key(name)] = value
        else:
            raise Declined(f"option {token!r}")
    if len(arguments) != spec.arguments:
        raise Declined("arguments")
    return words, options, arguments


def _key(option: str) -> str:
    return option[2:].replace("-", "_")


def bindable(value: str) -> str:
    """Text a database binds as it is (no NUL, no lone surrogate); Declined otherwise."""
    if "\x00" in value:
        raise Declined("NUL")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise Declined("lone surrogate") from None
    return value


def _choices(value: str | None, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """``--type cluster,operator`` as the filter holds it."""
    if value is None:
        return ()
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items or any(v not in allowed for v in items):
        raise Declined("a value the filter refuses")
    return tuple(sorted(set(items)))


def _moment(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        once = format_timestamp(parse_moment(value))  # the CLI's flag
        return format_timestamp(parse_moment(once))  # the filter's field
    except (ValueError, OverflowError):
        raise Declined("a moment the filter refuses") from None


def _texts(value: str | None) -> tuple[str, ...]:
    return () if value is None else (bindable(value),)


def build_filter(options: dict[str, Any]) -> Filter:
    return Filter(
        event_type=_choices(options.get(_key(FILTER_FLAGS["event_type"])), facts.EVENT_TYPES),
        severity=_choices(options.get(_key(FILTER_FLAGS["severity"])), facts.SEVERITIES),
        since=_moment(options.get("since")),
        until=_moment(options.get("until")),
        object_kind=_texts(options.get(_key(FILTER_FLAGS["object_kind"]))),
        object_namespace=_texts(options.get(_key(FILTER_FLAGS["object_namespace"]))),
        object_name=_texts(options.get(_key(FILTER_FLAGS["object_name"]))),
        acknowledged=options.get("acknowledged"),
    )


def whole(value: str, low: int, high: int) -> int:
    """``--limit`` / ``--offset`` as the CLI reads them, when within bounds."""
    text = value.strip()
    if not (text.isascii() and text.isdigit()):
        raise Declined("not a whole number")
    number = int(text)
    if not low <= number <= high:
        raise Declined("out of range")
    return number


# -- the database ----------------------------------------------------------------------------


def database_path(db: str | None, environ: dict[str, str] | os._Environ[str]) -> Path:
    """The file :func:`kube9_store.config.resolve_url` names: ``--db``, else $KUBE9_DB_URL,
    else $DB_PATH/kube9.db, else the spec's default. Declined for a server, a memory database
    or a URL with anything but a path."""
    if db is not None:
        raw = db
    elif environ.get(facts.ENV_DB_URL):
        raw = environ[facts.ENV_DB_URL]
        if "://" not in raw:
            raise Declined("a bad $KUBE9_DB_URL")
    elif environ.get(facts.ENV_DB_PATH):
        directory = environ[facts.ENV_DB_PATH]
        if Path(directory).is_file():
            raise Declined("$DB_PATH is a file")
        return Path(os.path.expanduser(Path(directory) / facts.DB_FILE_NAME)).absolute()
    else:
        raw = facts.DEFAULT_DB_FILE
    if not raw.strip():
        raise Declined("an empty location")
    bindable(raw)
    if "://" in raw:
        # a URL: only a plain sqlite:/// path, as SQLAlchemy reads it (kept as written)
        if not raw.startswith("sqlite:///") or any(c in raw for c in "?#%@"):
            raise Declined("a URL")
        database = raw[len("sqlite:///") :]
        if not database or database == ":memory:" or database.startswith("file:"):
            raise Declined("not a file")
        return Path(database)
    if raw == ":memory:":
        raise Declined("a memory database")
    return Path(os.path.expanduser(raw)).absolute()


class Reader:
    """A read-only connection to a database at this package's head, holding its use lock as
    a read-only store does; Declined for anything else (the full path judges it). ``found``
    is the connection the schema state was read on, which creates nothing beside the file
    (the one ``db status`` reads the file as found through)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._quiet_at_hold = False
        self._lock: int | None = None
        self.found: sqlite3.Connection | None = None
        self.con: sqlite3.Connection | None = None
        try:
            st = path.stat()
        except OSError:
            raise Declined("no file") from None
        if not stat.S_ISREG(st.st_mode) or st.st_size == 0:
            raise Declined("not a database file")
        if journal_path(path).exists():
            raise Declined("a rollback journal")
        try:
            self._hold(lock_path(path))
            # as a read-only store: the side files its reads make beside a database that had
            # none are removed when it closes
            self._quiet_at_hold = quiescent(path)
            self._check_head(path)
            con = sqlite3.connect(reader_uri(path), uri=True, isolation_level=None)
            self.con = con
            con.execute(f"PRAGMA busy_timeout = {int(facts.BUSY_TIMEOUT_S * 1000):d}")
        except BaseException:
            self.close()
            raise

    def _hold(self, path: Path) -> None:
        """A shared hold on the lock file a writer made (none without one), taken at once."""
        for flags in (os.O_RDWR, os.O_RDONLY):
            try:
                fd = os.open(path, flags | os.O_CLOEXEC)
            except FileNotFoundError:
                return
            except OSError:
                continue
            self._lock = fd
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:
                raise Declined("being restored") from None
            here, there = os.fstat(fd), os.stat(path)
            if (here.st_dev, here.st_ino) != (there.st_dev, there.st_ino):
                raise Declined("the lock file changed")
            return

    def _check_head(self, path: Path) -> None:
        """The schema state, read as the store reads it before it judges a file: through a
        connection that creates nothing beside it."""
        con = self.found = sqlite3.connect(read_only_uri(path), uri=True, isolation_level=None)
        tables = {
            name
            for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if not name.startswith("sqlite_")
        }
        if "alembic_version" not in tables or not tables >= facts.HEAD_TABLES:
            raise Declined("not at head")
        revisions = con.execute("SELECT version_num FROM alembic_version").fetchall()
        version = con.execute(SCHEMA_VERSION).fetchone()
        if revisions != [(facts.HEAD_REVISION,)] or version != (facts.HEAD_VERSION,):
            # behind, stamped with an id from before the branch (read as behind until a
            # read-write open renames it), or an application's revisions beside ours
            raise Declined("not at head")

    def fetch(self, sql: str, params: Sequence[Any]) -> list[Any]:
        assert self.con is not None
        return self.con.execute(sql, params).fetchall()

    def pragma(self, name: str) -> int:
        assert self.con is not None
        return int(self.con.execute(f"PRAGMA {name}").fetchone()[0])

    def close(self) -> None:
        opened = self.con is not None
        for con in (self.found, self.con):
            if con is not None:
                con.close()
        self.found = self.con = None
        if opened and self._quiet_at_hold and not quiescent(self.path):
            settle_side_files(self.path)
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None


# -- the commands ----------------------------------------------------------------------------


def _shown(rows: list[Any]) -> list[dict[str, Any]]:
    loads = json.loads
    return [row_dict(r, None if r[8] is None else loads(r[8])) for r in rows]


def _columns(options: dict[str, Any]) -> tuple[str, ...] | None:
    """The table's columns as the full CLI takes them: ``--columns``, else every one with
    ``--wide``, else the default ones (None)."""
    value = options.get("columns")
    if value is not None:
        try:
            return parse_columns(value)
        except Exception:
            raise Declined("--columns the full CLI refuses") from None
    return WIDE_COLUMNS if options.get("wide", False) else None


def _format(options: dict[str, Any]) -> str:
    fmt: str = options.get("format", "json")
    if fmt not in FORMATS:
        raise Declined("format")
    return fmt


def list_events(reader: Reader, options: dict[str, Any], _args: list[str]) -> str:
    """``query events list``: a page, newest first, with the total of matches."""
    fmt = _format(options)
    size = whole(options.get("limit", "50"), *LIMIT_RANGE)
    skip = whole(options.get("offset", "0"), 0, MAX_OFFSET)
    flt = build_filter(options)
    cursor = options.get("cursor")
    if cursor is not None and skip:
        raise Declined("--cursor with --offset")
    pagination: dict[str, Any] = {"total": 0, "limit": size, "offset": skip}
    next_cursor = None
    if cursor is not None:
        key = None
        if cursor != CURSOR_START:
            key = cursor_key(cursor)
            if key is None:
                raise Declined("not a cursor")
            key = (bindable(key[0]), bindable(key[1]))
        rows = reader.fetch(*select_sql(flt, cursor=key, limit=size + 1))
        if len(rows) > size:
            rows = rows[:size]
            next_cursor = cursor_text(rows[-1][9], rows[-1][0])
    else:
        rows = reader.fetch(*select_sql(flt, limit=size, offset=skip))
    pagination["total"] = int(reader.fetch(*count_sql(flt))[0][0])
    pagination["returned"] = len(rows)
    if cursor is not None:
        pagination["next_cursor"] = next_cursor
    shown = _shown(rows)
    payload = {"events": shown, "pagination": pagination}
    width = table_width(wide=options.get("wide", False))
    return render(payload, shown, fmt, width, _columns(options))


def get_event(reader: Reader, options: dict[str, Any], args: list[str]) -> str:
    """``query events get``: one event (a missing one is the full path's error to report)."""
    fmt = _format(options)
    rows = reader.fetch(GET, (bindable(args[0]),))
    if not rows:
        raise Declined("not found")
    shown = _shown(rows)[0]
    width = table_width(wide=options.get("wide", False))
    return render(shown, [shown], fmt, width, _columns(options))


def count_events(reader: Reader, options: dict[str, Any], _args: list[str]) -> str:
    """``events count`` with a filter or none."""
    flt = build_filter(options)
    return json_document({"count": int(reader.fetch(*count_sql(flt))[0][0])})


class LeanStore:
    """What the health checks (:func:`kube9_store.operations.health.run_checks`) and the
    capacity picture (:func:`kube9_store.operations.capacity.capacity`) read of an open store,
    from the lean connection."""

    #: As the SQLite backend: the store checks the file's pages itself.
    file_checks = True

    def __init__(self, reader: Reader) -> None:
        self._reader = reader
        self.backend = self  # used_bytes() and file_checks are the backend's
        self.clock = utcnow
        self._retention: Any = None

    @property
    def retention(self) -> Any:
        """The environment's policy, read when first needed (as the store reads it)."""
        if self._retention is None:
            from kube9_store.operations.retention import RetentionPolicy

            self._retention = RetentionPolicy.from_env()
        return self._retention

    def count(self, flt: Mapping[str, Any] | None = None) -> int:
        lean = Filter() if flt is None else filter_of(flt)
        return int(self._reader.fetch(*count_sql(lean))[0][0])

    def schema_version(self) -> int:
        return int(self._reader.fetch(SCHEMA_VERSION, ())[0][0])

    def query(self, *, limit: int) -> list[Newest]:
        """The newest ``limit`` events' id and time, by the store's page query."""
        return [Newest(r[0], r[9]) for r in self._reader.fetch(*select_sql(Filter(), limit=limit))]

    def maintenance_facts(self) -> dict[str, float]:
        """The durable facts of maintenance, as the store reads them."""
        rows = self._reader.fetch(MAINTENANCE_FACTS, ())
        return {str(name): float(value) for name, value in rows}

    def volume(self) -> VolumeInfo:
        return volume(self._reader.path)

    def storage_budget(self) -> int | None:
        budget: int | None = self.retention.max_bytes
        return budget

    def used_bytes(self) -> int:
        return used_bytes_of(self._reader.pragma)

    def size_bytes(self) -> SizeInfo:
        return sizes_of(self._reader.pragma, self._reader.path)

    def integrity_check(self, *, full: bool) -> IntegrityResult:
        return integrity_of(self._reader.con, full=full)


class Newest(NamedTuple):
    """What health reads of the newest event."""

    id: str
    created_at: str


def filter_of(flt: Mapping[str, Any]) -> Filter:
    """The filters the capacity picture counts with (a time and severities)."""
    if set(flt) - {"since", "severity"}:
        raise Declined("a filter the lean store does not read")
    since = flt.get("since")
    return Filter(
        severity=tuple(sorted(set(flt.get("severity") or ()))),
        since=None if since is None else format_timestamp(parse_moment(since)),
    )


def health(reader: Reader, options: dict[str, Any], _args: list[str]) -> str:
    """``health`` (``--full``: with quick_check) of a healthy database (a degraded or failing
    one is the full path's to report, with its exit code)."""
    from kube9_store.operations.health import HealthReport, run_checks

    report = HealthReport(database=str(reader.path))
    run_checks(report, LeanStore(reader), full=options.get("full", False))
    if report.status != "ok":
        raise Declined(f"health {report.status}")
    return json_document(report.as_dict())


def db_status(reader: Reader, _options: dict[str, Any], _args: list[str]) -> str:
    """``db status`` of a database at head: its count and sizes read as found, then its
    capacity read as a store reads it."""
    from kube9_store.operations.capacity import capacity
    from kube9_store.results import DatabaseStatus

    found = reader.found
    assert found is not None
    count = int(found.execute(COUNT_ROWS).fetchone()[0])
    size = sizes_of(lambda name: int(found.execute(f"PRAGMA {name}").fetchone()[0]), reader.path)
    return json_document(
        DatabaseStatus(
            capacity=capacity(cast(Any, LeanStore(reader))).as_dict(),
            database=str(reader.path),
            schema_version=facts.HEAD_VERSION,
            revision=facts.HEAD_REVISION,
            head_revision=facts.HEAD_REVISION,
            head_schema_version=facts.HEAD_VERSION,
            at_head=True,
            event_count=count,
            database_bytes=size.database_bytes,
            wal_bytes=size.wal_bytes,
            lineage="kube9_store",
            note=None,
        ).as_dict()
    )


ANSWERS: dict[tuple[str, ...], Callable[[Reader, dict[str, Any], list[str]], str]] = {
    ("query", "events", "list"): list_events,
    ("query", "events", "get"): get_event,
    ("events", "count"): count_events,
    ("db", "status"): db_status,
    ("health",): health,
}


def answer(argv: Sequence[str], environ: dict[str, str] | os._Environ[str]) -> str:
    """The text the full CLI prints for ``argv`` (without the final newline); Declined when
    this path does not answer it."""
    command, options, args = parse(argv)
    _check_stdout()
    reader = Reader(database_path(options.get("db"), environ))
    try:
        text = ANSWERS[command](reader, options, args)
    finally:
        reader.close()
    if "\x1b" in text:
        raise Declined("an escape sequence (click strips those)")
    return text


def _check_stdout() -> None:
    """click writes to sys.stdout as it is when its encoding is UTF-8 (it wraps an ASCII
    stream); the lean path writes only to such a stream."""
    encoding = (getattr(sys.stdout, "encoding", None) or "").lower().replace("_", "-")
    if encoding not in ("utf-8", "utf8"):
        raise Declined("stdout is not UTF-8")


def main() -> None:
    """The lean read path's answer to ``sys.argv`` when it has one, else the full CLI's."""
    try:
        text = answer(sys.argv[1:], os.environ)
        out = text + "\n"
        out.encode("utf-8", sys.stdout.errors or "strict")
    except Exception:
        from kube9_store.cli import main as full

        full()
        return
    try:
        sys.stdout.write(out)
        sys.stdout.flush()
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
        # The reader went away (`| head`): nothing more can be shown.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(BROKEN_PIPE)
    sys.exit(0)
