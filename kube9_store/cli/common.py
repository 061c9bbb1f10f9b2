"""What every command shares: the --db option, opening the store, logging on stderr as JSON
lines (tracebacks only with --verbose), and turning library errors into one JSON line on stderr
with exit code 1 (the reference operator's error contract)."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from kube9_store.events.fields import FILTER_FLAGS
from kube9_store.lean.rendering import json_document

if TYPE_CHECKING:
    from kube9_store.store.eventstore import EventStore

F = TypeVar("F", bound=Callable[..., Any])

#: Library field names as the flags a user typed.
FLAG_NAMES = {
    **FILTER_FLAGS,  # the event fields' own, as declared
    "since": "--since",
    "until": "--until",
    "cluster": "--cluster",
    "cluster_uid": "--cluster-uid",
    "cluster_name": "--cluster-name",
    "limit": "--limit",
    "offset": "--offset",
    "cursor": "--cursor",
    "title": "--title",
    "description": "--description",
    "metadata": "--metadata",
    "created_at": "--created-at",
    "id": "--id",
    "fields": "--by",
    "db": "--db",
    "dest": "DEST",
    "directory": "DEST",
    "backup_path": "SRC",
    "event_id": "EVENT_ID",
}


def path_argument(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A path given on the command line: not empty, and text the file system can take (a
    usage error naming the argument otherwise, never an encoding traceback)."""
    if value is None:
        return None
    name = (param.human_readable_name or "PATH").upper()
    if not value.strip():
        raise click.BadParameter("must be a path, not empty", param_hint=name)
    try:
        value.encode(sys.getfilesystemencoding(), "surrogateescape")
    except UnicodeEncodeError:
        raise click.BadParameter("is not a valid file name", param_hint=name) from None
    return value


def read_text(name: str, path: str) -> str:
    """The text of the file ``path`` (``-`` for stdin); errors name the argument ``name``."""
    from kube9_store.errors import ValidationError

    try:
        if path == "-":
            return sys.stdin.read()
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError.single(name, f"cannot be read: {exc}") from None


def db_option(func: F) -> F:
    """``--db PATH_OR_URL``, shared by every command."""
    return click.option(
        "--db",
        "db",
        metavar="PATH_OR_URL",
        default=None,
        help="Database file or SQLAlchemy URL. Default: $KUBE9_DB_URL, else $DB_PATH/kube9.db, "
        "else /data/kube9.db.",
    )(func)


def _printable(text: str) -> str:
    """Text for the terminal, through the package's one output gate."""
    from kube9_store.gates.display import printable

    return printable(text)


def emit_json(payload: Any) -> None:
    click.echo(json_document(payload))


def one_line_json(payload: Any) -> str:
    """``payload`` as JSON on one line, safe to print (as :func:`warn` writes it)."""
    return _printable(json.dumps(payload, ensure_ascii=False))


def warn(payload: Mapping[str, Any]) -> None:
    """One JSON line on stderr (the command goes on)."""
    click.echo(_printable(json.dumps(dict(payload), ensure_ascii=False)), err=True)


def fail(payload: Mapping[str, Any], code: int = 1) -> NoReturn:
    """One JSON line on stderr, then exit."""
    click.echo(_printable(json.dumps(dict(payload), ensure_ascii=False)), err=True)
    sys.exit(code)


class JsonLines(logging.Formatter):
    """A log record as one JSON line, without traceback (``--verbose`` shows those)."""

    def format(self, record: logging.LogRecord) -> str:
        line = {"log": record.levelname.lower(), "message": record.getMessage()}
        return _printable(json.dumps(line, ensure_ascii=False))


_HANDLER_NAME = "kube9-store-cli"


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record comes (as logging's last resort)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def configure_logging(verbose: bool) -> None:
    """The package's log on stderr: warnings and errors as JSON lines, or, with ``verbose``,
    everything down to debug in plain text with tracebacks."""
    logger = logging.getLogger("kube9_store")
    for handler in [h for h in logger.handlers if h.get_name() == _HANDLER_NAME]:
        logger.removeHandler(handler)
    handler = _Stderr()
    handler.set_name(_HANDLER_NAME)
    if verbose:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.setLevel(logging.DEBUG)
    else:
        handler.setFormatter(JsonLines())
        handler.setLevel(logging.WARNING)
        logger.setLevel(logging.WARNING)
    logger.addHandler(handler)


def describe_error(exc: BaseException) -> str:
    from kube9_store.errors import ValidationError

    if isinstance(exc, ValidationError):
        parts = []
        for p in exc.problems:
            head, _, rest = p.field.partition(".")
            flag = FLAG_NAMES.get(head, head)
            parts.append(f"{flag}{'.' + rest if rest else ''}: {p.rule}")
        return "; ".join(parts)
    return str(exc)


@contextmanager
def reporting(error: str) -> Iterator[None]:
    """Library errors (and anything unexpected) become ``{"error", "details"}``, exit 1."""
    try:
        yield
    except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
        raise
    except KeyboardInterrupt:
        fail({"error": error, "details": "interrupted"}, 130)
    except Exception as exc:
        logging.getLogger("kube9_store.cli").debug("%s", error, exc_info=exc)
        fail({"error": error, "details": describe_error(exc)})


def open_store(db: str | None, *, read_only: bool = False, registry: Any = None) -> EventStore:
    """Open the store for one command. Metrics are off unless a registry is given: counters
    of a short-lived process mean nothing. A database read as it is (behind head, or of
    another lineage) is named on stderr with what to do about it."""
    from kube9_store.store.eventstore import EventStore

    store = EventStore.open(
        db, read_only=read_only, registry=registry, metrics=registry is not None
    )
    notice = store.read_model.notice
    if notice is not None:
        warn({"notice": notice})
    return store
