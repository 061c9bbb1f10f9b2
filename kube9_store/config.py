"""Where the database lives (explicit argument, else the environment, else the spec's default)
and how connections to it behave.

This is the only module that reads the environment for the database location.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from kube9_store import checks
from kube9_store.errors import ValidationError
from kube9_store.schema.facts import BUSY_TIMEOUT_S, DEFAULT_DB_FILE
from kube9_store.schema.facts import DB_FILE_NAME as DB_FILE_NAME
from kube9_store.schema.facts import ENV_DB_PATH as ENV_DB_PATH
from kube9_store.schema.facts import ENV_DB_URL as ENV_DB_URL

DEFAULT_DB_PATH = Path(DEFAULT_DB_FILE)

DbLocation = str | os.PathLike[str] | URL

#: SQLite's synchronous levels: NORMAL (the spec's) or FULL to survive power loss in WAL mode.
Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]
SYNCHRONOUS_MODES: tuple[Synchronous, ...] = get_args(Synchronous)


@dataclass(frozen=True)
class ConnectionSettings:
    """How every connection of a store behaves; checked once, here."""

    read_only: bool = False
    synchronous: Synchronous = "NORMAL"
    busy_timeout: float = BUSY_TIMEOUT_S

    def __post_init__(self) -> None:
        if not isinstance(self.read_only, bool):
            raise ValidationError.single("read_only", "must be True or False")
        if self.synchronous not in SYNCHRONOUS_MODES:
            raise ValidationError.single(
                "synchronous",
                f"must be one of {', '.join(SYNCHRONOUS_MODES)}, got {self.synchronous!r}",
            )
        object.__setattr__(self, "busy_timeout", checks.seconds("busy_timeout", self.busy_timeout))

    @property
    def busy_timeout_ms(self) -> int:
        return int(self.busy_timeout * 1000)


def sqlite_url(path: str | os.PathLike[str]) -> URL:
    """The SQLAlchemy URL of a SQLite file (made absolute, so the URL means the same anywhere).
    A leading ``~`` or ``~user`` is expanded as a shell does: left as it is when no such
    user exists."""
    raw = os.fspath(path)
    if raw == ":memory:":
        return URL.create("sqlite")
    return URL.create("sqlite", database=str(Path(os.path.expanduser(raw)).absolute()))


def to_url(db: DbLocation, *, source: str = "db") -> URL:
    """A SQLAlchemy URL (``dialect://...``) or a file path, as a URL; errors name ``source``."""
    if isinstance(db, URL):
        return db
    if not isinstance(db, str | os.PathLike):
        raise ValidationError.single(
            source, f"must be a file path or a SQLAlchemy URL, got {type(db).__name__}"
        )
    raw = os.fspath(db)
    if not isinstance(raw, str) or not raw.strip():
        raise ValidationError.single(source, "must be a file path or a SQLAlchemy URL, not empty")
    checks.text(source, raw)
    if "://" in raw:
        try:
            return make_url(raw)
        except ArgumentError:
            from kube9_store.gates.display import masked_url

            shown = masked_url(raw)
            raise ValidationError.single(
                source, f"is not a valid SQLAlchemy URL: {shown}"
            ) from None
    return sqlite_url(raw)


def resolve_url(db: DbLocation | None = None, environ: Mapping[str, str] | None = None) -> URL:
    """The database URL: ``db`` if given, else $KUBE9_DB_URL, else $DB_PATH/kube9.db, else the
    default ``/data/kube9.db``."""
    if db is not None:
        return to_url(db)
    env = os.environ if environ is None else environ
    url = env.get(ENV_DB_URL)
    if url:
        if "://" not in url:
            raise ValidationError.single(
                ENV_DB_URL,
                f"must be a SQLAlchemy URL such as sqlite:////data/kube9.db, got {url!r}",
            )
        return to_url(url, source=ENV_DB_URL)
    directory = env.get(ENV_DB_PATH)
    if directory:
        if Path(directory).is_file():
            raise ValidationError.single(
                ENV_DB_PATH,
                f"must be a directory holding {DB_FILE_NAME}, but {directory!r} is a file",
            )
        return sqlite_url(Path(directory) / DB_FILE_NAME)
    return sqlite_url(DEFAULT_DB_PATH)
