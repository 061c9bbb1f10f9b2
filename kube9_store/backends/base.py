"""What every backend provides. A backend is one object per database URL: it owns the engine
and its connection settings, how a database is checked, created and locked for migration, how a
driver connection begins, commits and autocommits, what each driver error code means, and the
maintenance operations only some backends have. Nothing outside ``kube9_store.backends`` asks
which backend it is talking to."""

from __future__ import annotations

import abc
import errno
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

from sqlalchemy import Connection, Engine, MetaData, Table, func
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL
from sqlalchemy.sql.dml import Insert

from kube9_store.config import ConnectionSettings
from kube9_store.errors import (
    ErrorKind,
    Kube9StoreError,
    SchemaError,
    StoreClosedError,
    UnsupportedOperationError,
    error_for,
)
from kube9_store.results import BackupResult, IntegrityResult, SizeInfo, VolumeInfo
from kube9_store.schema.sortkey import BY_TEXT, SortKey
from kube9_store.schema.state import EMPTY, SchemaState, read_state
from kube9_store.schema.tables import metadata

#: What an error of the file system means (the rest: the database is unavailable).
_OS_ERRNOS = {
    errno.ENOSPC: ErrorKind.FULL,
    errno.EDQUOT: ErrorKind.FULL,
    errno.EROFS: ErrorKind.READ_ONLY,
}

T = TypeVar("T")

#: Which way a revision runs.
Direction = Literal["upgrade", "downgrade"]


class Backend(abc.ABC):
    """One database behind one URL, and everything that differs by database kind."""

    #: The URL backend name this class serves (``sqlite``, ``postgresql``).
    name: ClassVar[str]
    #: Where to turn for the maintenance operations this backend does not have.
    maintenance_hint: ClassVar[str] = ""
    #: The store checks the database's pages itself (quick_check, integrity_check), and
    #: ``health`` judges the checks recorded; a server checks its own.
    file_checks: ClassVar[bool] = False
    #: The revision that rebuilds ``events`` and every index of it on this kind of database
    #: (None: none does), so an upgrade that goes past it skips earlier revisions' indexes.
    rebuilds_events_at: ClassVar[str | None] = None
    #: The newest-first order its indexes serve (queries are ordered and bounded on it).
    sort_key: ClassVar[SortKey] = BY_TEXT
    #: The order of a database another program wrote (its times read in the stored form
    #: where the backend can do that in SQL).
    foreign_sort_key: ClassVar[SortKey] = BY_TEXT
    #: The tables and indexes the revision chain builds here at head.
    head_metadata: ClassVar[MetaData] = metadata

    def __init__(self, url: URL, settings: ConnectionSettings) -> None:
        self.url = url
        self.settings = settings
        self._engine: Engine | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.location!r})"

    # -- where and what ----------------------------------------------------------------------

    @property
    def location(self) -> str:
        """The database as a person would name it (a file path, or the URL without password)."""
        from kube9_store.gates.display import masked_url

        return masked_url(self.url)

    @property
    def path(self) -> Path | None:
        """The database file, for backends that keep one; None otherwise."""
        return None

    # -- engines -----------------------------------------------------------------------------

    @abc.abstractmethod
    def create_engine(self, *, read_only: bool) -> Engine:
        """A new engine with this backend's connection settings installed. Its pool has no
        fixed ceiling: each thread that uses a store holds one connection (see
        :class:`~kube9_store.store.executor.Executor`)."""

    @property
    def engine(self) -> Engine:
        """The store's engine, created on first use; StoreClosedError after :meth:`close`."""
        engine = self._engine
        if engine is None:
            if self._closed:
                raise StoreClosedError(f"the store of {self.location} is closed; open a new one")
            engine = self._engine = self.create_engine(read_only=self.settings.read_only)
        return engine

    @property
    def reader(self) -> Engine:
        """The engine for single-statement reads through SQLAlchemy."""
        return self.engine

    @property
    def writer(self) -> Engine:
        """The engine for write transactions through SQLAlchemy (migrations)."""
        return self.engine

    def dispose(self) -> None:
        """Close every pooled connection (the backend stays usable)."""
        if self._engine is not None:
            self._engine.dispose()

    def close(self) -> None:
        """Close every connection and let go of the database for good: every later call that
        needs the database raises StoreClosedError."""
        self._closed = True
        self.dispose()
        self._engine = None
        self.release()

    @abc.abstractmethod
    def hold(self) -> None:
        """Mark the database in use by this backend until :meth:`release`: a restore refuses
        to replace a database that anyone holds (and a hold waits out a restore)."""

    @abc.abstractmethod
    def release(self, *, refused: bool = False) -> None:
        """Let go of :meth:`hold`; ``refused``: the open was refused, so remove whatever the
        hold made beside the database."""

    # -- opening -----------------------------------------------------------------------------

    @abc.abstractmethod
    def check_location(self, *, must_exist: bool) -> None:
        """Refuse a location that cannot hold a database before anything touches it;
        ``must_exist``: also refuse one with no database yet (read-only opens)."""

    def survey(self) -> SchemaState:
        """Opening's one look at the database: hold it (:meth:`hold`), then read its state
        without writing (:meth:`inspect`); the empty state where there is no database yet."""
        self.hold()
        state = self.inspect()
        return state if state is not None else EMPTY

    def inspect(self) -> SchemaState | None:
        """The database's schema state, read without writing anything (with its structure
        when it was made without Alembic); None when there is no database yet."""
        return self.read(self.state_of)

    def state_of(self, conn: Connection) -> SchemaState:
        """The schema state read on ``conn``, with the structure of a database made without
        Alembic (what judging it needs)."""
        state = read_state(conn)
        if not state.made_without_alembic:
            return state
        return replace(state, structure=self.structure_of(conn))

    @abc.abstractmethod
    def read_as_found(self) -> None:
        """The open path reads this database as it found it (behind head, or another
        lineage's): connections made from now on leave it exactly so, creating nothing beside
        a file where the backend can avoid it."""

    def read(self, work: Callable[[Connection], T]) -> T:
        """``work`` on a connection that writes nothing to the database, not even on connect
        (for looking at a database before deciding whether it may be opened)."""
        with self.translated(f"cannot read {self.location}"), self.engine.connect() as conn:
            return work(conn)

    def prepare(self) -> SchemaState:
        """Under the migration lock: create the database if there is none, and read its state."""
        state = self.inspect()
        return state if state is not None else EMPTY

    @abc.abstractmethod
    def migration_lock(self) -> AbstractContextManager[None]:
        """Held while migrating, so concurrent openers migrate a database once."""

    @contextmanager
    def migrating(self) -> Iterator[SchemaState]:
        """Hold the migration lock and yield the state read again under it (:meth:`prepare`:
        another opener may have migrated meanwhile); driver errors become package errors."""
        with self.translated(f"cannot migrate {self.location}"), self.migration_lock():
            yield self.prepare()

    def structure_of(self, conn: Connection) -> dict[str, Any] | None:
        """The tables, columns and indexes of the spec's tables on ``conn``, for adopting a
        database that was made without Alembic; None where this backend cannot say."""
        return None

    def structure(self) -> dict[str, Any]:
        """:meth:`structure_of` the database, read without writing."""
        found = self.read(self.structure_of)
        if found is None:
            raise self.cannot_adopt()
        return found

    def cannot_adopt(self) -> SchemaError:
        """The refusal of a database made without Alembic where structures cannot be read."""
        return SchemaError(
            "this database has a schema_version table but no alembic_version: adopting a "
            f"database made without Alembic is not supported on {self.name}"
        )

    def scratch(self) -> Backend:
        """A new, empty, private database of this kind (to build a reference structure)."""
        raise self.unsupported("a scratch database")

    # -- revisions ---------------------------------------------------------------------------

    @classmethod
    def revision_ddl(cls, revision: str, direction: Direction) -> tuple[str, ...]:
        """The statements this kind of database runs for ``revision`` (its full id) going
        ``direction``, beyond the revision's portable operations: triggers, expression
        indexes, whatever is written differently per database. Empty where it needs none.
        Revisions ask through :func:`~kube9_store.schema.versions.apply_ddl`; the text of a
        released revision is frozen and never changes (a change is a new revision)."""
        return ()

    # -- bulk writes -------------------------------------------------------------------------

    def insert_rows(self, con: Any, sql: str, params: Sequence[Any]) -> None:
        """Insert a batch of events with ``sql`` (the compiled insert of ``events``), one
        entry of ``params`` per event, inside the caller's transaction on driver connection
        ``con``; backends with a faster path for a batch override this."""
        cur = con.cursor()
        try:
            cur.executemany(sql, params)
        finally:
            cur.close()

    def load_rows(self, con: Any, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        """Insert-if-absent a large batch of event rows (columns in table order) with ``sql``
        (the compiled :meth:`insert_if_absent` of ``events``), inside the caller's transaction
        on driver connection ``con``; return how many were new. One statement prepared once and
        run for every row; backends with a faster bulk path override this."""
        cur = con.cursor()
        try:
            cur.executemany(sql, rows)
            return int(cur.rowcount)
        finally:
            cur.close()

    # -- driver-level transactions -----------------------------------------------------------

    @abc.abstractmethod
    def begin(self, con: Any) -> None:
        """Open a write transaction on a driver connection."""

    @abc.abstractmethod
    def commit(self, con: Any) -> None: ...

    @abc.abstractmethod
    def exclude_writers(self, con: Any, table: Table) -> None:
        """Inside a write transaction: keep every other writer of ``table`` waiting until it
        ends (for a rebuild that empties and refills the table)."""

    @abc.abstractmethod
    def rollback(self, con: Any) -> None: ...

    @abc.abstractmethod
    def enter_autocommit(self, con: Any) -> None:
        """Let ``con`` run single statements without an explicit transaction (each is atomic
        by itself); :meth:`leave_autocommit` undoes it. A pair of calls rather than a context
        manager: it runs twice on every hot-path call."""

    @abc.abstractmethod
    def leave_autocommit(self, con: Any) -> None: ...

    def execute_alone(self, con: Any, sql: str, params: Any) -> int:
        """Run one write statement in autocommit; return how many rows it changed. The hot
        path of every record: backends whose connections need no switch override it with the
        bare call."""
        self.enter_autocommit(con)
        try:
            return int(con.execute(sql, params).rowcount)
        finally:
            self.leave_autocommit(con)

    def fetch_alone(self, con: Any, sql: str, params: Any) -> list[Any]:
        """All rows of one read statement, run in autocommit (it is its own snapshot)."""
        self.enter_autocommit(con)
        try:
            rows: list[Any] = con.execute(sql, params).fetchall()
            return rows
        finally:
            self.leave_autocommit(con)

    @abc.abstractmethod
    def in_transaction(self, con: Any) -> bool:
        """``con`` has a transaction open (after a failed rollback, it must not be reused)."""

    def is_disconnect(self, exc: BaseException, con: Any) -> bool:
        """The connection is gone (server restart): it must not go back to the pool."""
        return bool(self.engine.dialect.is_disconnect(exc, con, None))  # type: ignore[arg-type]

    # -- statements --------------------------------------------------------------------------

    @abc.abstractmethod
    def insert_if_absent(self, table: Table) -> Insert:
        """An INSERT into ``table`` that leaves out rows whose key is taken (in the statement,
        so concurrent writers never fail on each other's rows)."""

    @abc.abstractmethod
    def upsert(self, table: Table, key: Sequence[str]) -> Any:
        """An INSERT of every column of ``table`` (bound by name) that updates the other
        columns of the row whose ``key`` columns are taken."""

    #: Whether many rows in one statement save enough (a round trip each to a server) to be
    #: worth a statement per chunk size.
    chunked_statements: bool = False

    @abc.abstractmethod
    def try_exclusive_lock(self, key: int) -> Callable[[], None] | None:
        """Take the lock named ``key`` (a signed 64-bit number) across processes if it is free:
        its release, or None when another holds it. The holder's death releases it."""

    # -- errors ------------------------------------------------------------------------------

    @abc.abstractmethod
    def _driver_errors(self) -> tuple[type[BaseException], ...]:
        """The driver's exception classes (imported only when first needed)."""

    @cached_property
    def errors(self) -> tuple[type[BaseException], ...]:
        """Every exception :meth:`translate` maps: the driver's, SQLAlchemy's and the OS's."""
        return (*self._driver_errors(), sa_exc.SQLAlchemyError, OSError)

    @abc.abstractmethod
    def classify(self, exc: BaseException) -> ErrorKind:
        """What a driver error means, from its error code."""

    def kind_of(self, exc: BaseException) -> ErrorKind:
        """What any error of :attr:`errors` means (SQLAlchemy's wrapper unwrapped)."""
        orig = exc.orig if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None else exc
        if isinstance(orig, OSError):
            return _OS_ERRNOS.get(orig.errno or 0, ErrorKind.UNAVAILABLE)
        return self.classify(orig)

    def translate(self, exc: BaseException, action: str) -> Kube9StoreError:
        """The package error for an error of :attr:`errors` during ``action``."""
        orig = exc.orig if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None else exc
        return error_for(self.kind_of(exc), f"{action}: {orig}")

    @contextmanager
    def translated(self, action: str) -> Iterator[None]:
        """Re-raise driver, SQLAlchemy and OS errors as package errors, chained with ``from``."""
        try:
            yield
        except Kube9StoreError:
            raise
        except self.errors as exc:
            raise self.translate(exc, action) from exc

    # -- sizes and maintenance ---------------------------------------------------------------

    @abc.abstractmethod
    def size_info(self) -> SizeInfo:
        """How much room the store takes now."""

    def used_bytes(self) -> int:
        """The space the data and indexes use now (what a size budget limits)."""
        info = self.size_info()
        return info.database_bytes - info.free_bytes

    def stale(self, connection: Any) -> bool:
        """Whether a held connection may no longer be used because the database changed in a
        way it cannot see (SQLite's immutable reads); then it is replaced."""
        return False

    def byte_length(self, column: Any) -> Any:
        """The SQL expression of a text column's length in bytes (the space gate's measure)."""
        return func.octet_length(column)

    def empty_bytes(self) -> int:
        """The least space the database takes with no event in it (what a size budget must
        leave room for); 0 where the backend does not say."""
        return 0

    def volume(self) -> VolumeInfo | None:
        """The filesystem holding the database, for backends that keep a file; None on a
        server, whose disks the store does not see."""
        return None

    def require_free_space(self, action: str, needs: Mapping[Path, int]) -> None:
        """Refuse ``action`` unless each filesystem it writes to has room (``needs``: path
        written -> bytes written there). A SQLite file concern: servers raise
        UnsupportedOperationError."""
        raise self.unsupported(f"a free-space check before {action}")

    def unsupported(self, action: str) -> UnsupportedOperationError:
        """The one error for an operation this backend does not have."""
        hint = f"; {self.maintenance_hint}" if self.maintenance_hint else ""
        return UnsupportedOperationError(f"{action} is not available on {self.name}{hint}")

    def vacuum(self) -> None:
        """Give the space of deleted rows back to the filesystem."""
        raise self.unsupported("vacuum")

    def vacuum_if_worthwhile(self, min_free_share: float) -> bool:
        """VACUUM when at least ``min_free_share`` of the space is free; True when it ran.
        Backends that reclaim space by themselves do nothing."""
        return False

    def integrity_check(self, *, full: bool) -> IntegrityResult:
        raise self.unsupported("integrity_check")

    def backup(self, dest: Path, *, head_version: int | None) -> BackupResult:
        """A consistent, verified copy of the live database at ``dest`` (refused when its
        schema version is above ``head_version``; None: any version, a foreign lineage's)."""
        raise self.unsupported("backup")

    def restore(
        self, source: Path, *, head_version: int, prepare: Callable[[Backend], None]
    ) -> Path | None:
        """Put a verified copy of the backup ``source`` in place of the database, refusing
        while anyone holds it; ``prepare`` readies the copy (on a backend of its own) before the
        swap. Returns where the previous database was kept (None when there was none)."""
        raise self.unsupported("restore")
