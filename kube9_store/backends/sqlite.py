"""The SQLite backend: a database file (the spec's embedded default), with the spec's PRAGMAs,
real transactions, file checks, a cross-process migration lock, error codes, sizes and the file
maintenance (VACUUM, integrity checks, online backups, restore) that only a file has."""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    Engine,
    LargeBinary,
    Table,
    bindparam,
    cast,
    create_engine,
    event,
    func,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL
from sqlalchemy.pool import QueuePool, StaticPool
from sqlalchemy.sql.dml import Insert

from kube9_store.backends import sqlite_files as files
from kube9_store.backends.base import Backend, Direction
from kube9_store.backends.sqlite_lock import UseLock
from kube9_store.backends.sqlite_restore import finish_interrupted, ready_path, restore_file
from kube9_store.backends.sqlite_temporaries import clean_stale
from kube9_store.config import ConnectionSettings, sqlite_url
from kube9_store.errors import (
    DatabaseMissingError,
    DatabaseUnavailableError,
    ErrorKind,
    Kube9StoreError,
    SchemaError,
    UnsupportedOperationError,
)
from kube9_store.results import BackupResult, IntegrityResult, SizeInfo, VolumeInfo
from kube9_store.schema.sortkey import BY_NORMALISED_TEXT, BY_ROWID
from kube9_store.schema.state import SchemaState
from kube9_store.schema.tables import sqlite_metadata

T = TypeVar("T")

#: Execution option naming the statement that opens a transaction on this engine.
BEGIN_OPTION = "kube9_begin"

#: SQLite's primary result codes (the low byte of an extended code) and what they mean.
_PRIMARY_CODES: dict[int, ErrorKind] = {
    1: ErrorKind.PROGRAMMING,  # SQLITE_ERROR: a SQL error (no such column, syntax)
    5: ErrorKind.BUSY,  # SQLITE_BUSY
    6: ErrorKind.BUSY,  # SQLITE_LOCKED
    8: ErrorKind.READ_ONLY,  # SQLITE_READONLY
    11: ErrorKind.CORRUPT,  # SQLITE_CORRUPT
    13: ErrorKind.FULL,  # SQLITE_FULL
    19: ErrorKind.CONSTRAINT,  # SQLITE_CONSTRAINT
    26: ErrorKind.NOT_A_DATABASE,  # SQLITE_NOTADB
}
#: Extended codes of a violated key (the events table has one: its id).
_KEY_VIOLATIONS = {1555, 2067}  # SQLITE_CONSTRAINT_PRIMARYKEY, SQLITE_CONSTRAINT_UNIQUE


def database_file(url: URL) -> Path | None:
    """The file behind a SQLite URL, or None for a memory database."""
    database = url.database
    if not database or database == ":memory:" or url.query.get("mode") == "memory":
        return None
    if database.startswith("file:"):
        database = database[len("file:") :].split("?", 1)[0]
    return Path(database)


class SQLiteBackend(Backend):
    """A SQLite file (or a private in-memory database)."""

    name = "sqlite"
    file_checks = True
    rebuilds_events_at = "kube9_store_0007"  # the stored time key (sqlite_revisions.py)
    sort_key = BY_ROWID
    foreign_sort_key = BY_NORMALISED_TEXT
    head_metadata = sqlite_metadata

    def __init__(self, url: URL, settings: ConnectionSettings, *, private: bool = False) -> None:
        """``private``: a file nobody else can name (a restore's copy under a temporary name),
        which needs no use lock (:meth:`hold` does nothing)."""
        super().__init__(url, settings)
        self._path = database_file(url)
        self._private = private
        self._use: UseLock | None = None
        self._as_found = False
        self._quiet_at_hold = False

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def location(self) -> str:
        from kube9_store.gates.display import masked_url

        return str(self._path) if self._path is not None else masked_url(self.url)

    # -- engines -----------------------------------------------------------------------------

    def create_engine(self, *, read_only: bool, untouched: bool = False) -> Engine:
        """An engine whose every connection has the spec's PRAGMAs and emits a real BEGIN.

        ``untouched`` (read-only): reads that create nothing beside the file, for judging a
        file that may be refused, and for reading one as it was found."""
        kwargs: dict[str, Any] = {}
        if self._path is None:
            kwargs = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
        else:
            kwargs = {"poolclass": QueuePool, "max_overflow": -1}
            if read_only:
                path = self._path
                immutable: dict[int, tuple[int, int, int] | None] = {}

                def connect() -> sqlite3.Connection:
                    uri = (
                        files.read_only_uri(path)
                        if untouched or self._as_found
                        else files.reader_uri(path)
                    )
                    con = sqlite3.connect(uri, uri=True, check_same_thread=False)
                    if "immutable=1" in uri:
                        immutable[id(con)] = files.fingerprint(path)
                    return con

                kwargs["creator"] = connect
        engine = create_engine(self.url, **kwargs)
        self._install_pragmas(engine, read_only=read_only)
        if read_only and self._path is not None:
            self._drop_stale_immutable(engine, self._path, immutable)
        return engine

    @staticmethod
    def _drop_stale_immutable(
        engine: Engine, path: Path, immutable: dict[int, tuple[int, int, int] | None]
    ) -> None:
        """An immutable connection is used only while the file is as it was when it was made:
        once a writer starts using the file (side files appear, or the file changes), the pool
        replaces it with one that reads through the writer's locks and -wal, instead of
        serving stale pages or "database disk image is malformed"."""

        @event.listens_for(engine, "connect")
        def _remember(dbapi_connection: Any, record: Any) -> None:
            record.info["immutable"] = immutable.pop(id(dbapi_connection), None)

        @event.listens_for(engine, "checkout")
        def _check(_dbapi_connection: Any, record: Any, _proxy: Any) -> None:
            if SQLiteBackend._changed(path, record.info):
                raise sa_exc.DisconnectionError(f"{path} changed under an immutable read")

    @staticmethod
    def _changed(path: Path, info: dict[str, Any]) -> bool:
        seen = info.get("immutable")
        return seen is not None and (not files.quiescent(path) or files.fingerprint(path) != seen)

    def stale(self, connection: Any) -> bool:
        path = self._path
        return path is not None and self._changed(path, connection.info)

    def read_as_found(self) -> None:
        """A file nobody has open is read immutable from now on (nothing created beside it);
        a writer that starts later is seen by connections made after it."""
        self._as_found = True

    def _install_pragmas(self, engine: Engine, *, read_only: bool) -> None:
        """SQLAlchemy's recipe for non-legacy transactions, plus the spec's PRAGMAs.

        PRAGMAs run on connect, before any BEGIN: journal_mode cannot change inside a
        transaction and foreign_keys is a silent no-op there.
        """
        settings = self.settings
        wal = self._path is not None and not read_only

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute(f"PRAGMA busy_timeout = {settings.busy_timeout_ms:d}")
                if wal:
                    cursor.execute("PRAGMA journal_mode = WAL")
                cursor.execute(f"PRAGMA synchronous = {settings.synchronous}")
                cursor.execute("PRAGMA foreign_keys = ON")
                cursor.execute("PRAGMA cache_size = -10000")
                # Every insert fires the count triggers, so SQLite keeps a statement journal
                # per row; in memory it costs a third of what a temporary file does.
                cursor.execute("PRAGMA temp_store = MEMORY")
                if read_only:
                    cursor.execute("PRAGMA query_only = ON")
            finally:
                cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            statement = conn.get_execution_options().get(BEGIN_OPTION, "BEGIN")
            if statement:  # None: a single-statement read, left in autocommit
                conn.exec_driver_sql(statement)

    @property
    def reader(self) -> Engine:
        """No BEGIN: a single statement is its own snapshot (saves two round trips)."""
        return self.engine.execution_options(**{BEGIN_OPTION: None})

    @property
    def writer(self) -> Engine:
        """Transactions take the write lock up front (BEGIN IMMEDIATE), so a writer waits in
        the busy handler instead of failing when a reader's snapshot goes stale."""
        return self.engine.execution_options(**{BEGIN_OPTION: "BEGIN IMMEDIATE"})

    # -- opening -----------------------------------------------------------------------------

    def check_location(self, *, must_exist: bool) -> None:
        if self._path is None:
            return
        files.check_existing(self._path, empty_ok=not must_exist)
        if must_exist and not self._path.exists():
            hint = (
                f"; a restore was interrupted: a read-write open (`kube9-store db upgrade --db "
                f"{self._path}`) completes it"
                if ready_path(self._path).exists()
                else f"; create it with `kube9-store db upgrade --db {self._path}`"
            )
            raise DatabaseMissingError(f"database {self._path} does not exist{hint}")

    def hold(self) -> None:
        """A shared hold on the file's use lock (see :mod:`.sqlite_lock`), waiting out a
        restore for up to the busy timeout. A read-only store uses the lock file only if a
        writer made it; a read-write one also removes the temporaries that crashed processes
        left in the directory."""
        path = self._path
        if path is None or self._use is not None or self._private:
            return
        self.check_location(must_exist=self.settings.read_only)
        use = UseLock(path)
        use.acquire(
            exclusive=False,
            wait=self.settings.busy_timeout,
            busy=f"{path} is being restored; try again when the restore is done",
            create=not self.settings.read_only,
        )
        self._use = use
        if not self.settings.read_only:
            clean_stale(path.parent)
        self._quiet_at_hold = files.quiescent(path)

    def release(self, *, refused: bool = False) -> None:
        use, self._use = self._use, None
        if use is not None:
            use.release(refused=refused)

    def close(self) -> None:
        """As every backend; a read-only store also removes the -wal and -shm its reads made
        beside a database that had none (a reader leaves the directory as it found it)."""
        super().close()
        path = self._path
        if (
            self.settings.read_only
            and path is not None
            and self._quiet_at_hold
            and not self._as_found  # never a read-write connection to a file read as found
            and not files.quiescent(path)
        ):
            files.settle_side_files(path)

    def inspect(self) -> SchemaState | None:
        path = self._path
        if path is not None:
            if not path.exists() or path.stat().st_size == 0:
                return None
            if files.has_hot_journal(path):
                if self.settings.read_only:
                    raise self._hot_journal_error(path)
                files.recover_hot_journal(path, busy_timeout=self.settings.busy_timeout)
        return self._read_only(self.state_of)

    @staticmethod
    def _hot_journal_error(path: Path) -> Kube9StoreError:
        return DatabaseUnavailableError(
            f"{path} has a hot journal left by an interrupted write, which a read-only open "
            f"cannot roll back; any read-write open recovers it: `kube9-store db upgrade --db "
            f"{path}`"
        )

    def read(self, work: Callable[[Connection], T]) -> T:
        return self._read_only(work)

    def _read_only(self, read: Callable[[Connection], T]) -> T:
        """``read`` on a private read-only connection: a file that is refused afterwards gets
        no -wal or -shm and keeps its header."""
        if self._path is None:
            engine = self.engine
        else:
            engine = self.create_engine(read_only=True, untouched=True)
        try:
            with self.translated(f"cannot read {self.location}"), engine.connect() as conn:
                return read(conn)
        finally:
            if engine is not self.engine:
                engine.dispose()

    def prepare(self) -> SchemaState:
        path = self._path
        if path is not None:
            if not path.exists() and not finish_interrupted(path):
                files.create_database(path)
            files.check_existing(path)
        return super().prepare()

    def migration_lock(self) -> AbstractContextManager[None]:
        return files.directory_lock(self._path) if self._path is not None else nullcontext()

    def structure_of(self, conn: Connection) -> dict[str, Any] | None:
        return files.describe(conn)

    def scratch(self) -> Backend:
        return SQLiteBackend(URL.create("sqlite"), ConnectionSettings())

    @classmethod
    def revision_ddl(cls, revision: str, direction: Direction) -> tuple[str, ...]:
        from kube9_store.backends.sqlite_revisions import DDL

        return DDL.get((revision, direction), ())

    # -- bulk writes -------------------------------------------------------------------------

    def insert_rows(self, con: Any, sql: str, params: Sequence[Any]) -> None:
        """A large batch with the count trigger set aside (see ``sqlite_bulk``); the
        parameters are tuples in table order, as every SQLite statement of the store binds."""
        from kube9_store.backends import sqlite_bulk

        if len(params) < sqlite_bulk.INSERT_COUNTED_MIN or not sqlite_bulk.insert_counted(
            con, sql, params
        ):
            super().insert_rows(con, sql, params)

    def load_rows(self, con: Any, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        """Through a staging table, the count trigger set aside (see ``sqlite_bulk``)."""
        from kube9_store.backends import sqlite_bulk

        inserted = sqlite_bulk.load_rows(con, rows)
        return super().load_rows(con, sql, rows) if inserted is None else inserted

    # -- driver-level transactions -----------------------------------------------------------

    def begin(self, con: Any) -> None:
        con.execute("BEGIN IMMEDIATE")

    def commit(self, con: Any) -> None:
        con.execute("COMMIT")

    def exclude_writers(self, con: Any, table: Table) -> None:
        """BEGIN IMMEDIATE has already kept every other writer out."""

    def rollback(self, con: Any) -> None:
        if con.in_transaction:
            con.execute("ROLLBACK")

    def in_transaction(self, con: Any) -> bool:
        return bool(con.in_transaction)

    def enter_autocommit(self, con: Any) -> None:
        """Connections run in autocommit between explicit BEGINs (isolation_level=None)."""

    def leave_autocommit(self, con: Any) -> None:
        pass

    def execute_alone(self, con: Any, sql: str, params: Any) -> int:
        return int(con.execute(sql, params).rowcount)

    def fetch_alone(self, con: Any, sql: str, params: Any) -> list[Any]:
        rows: list[Any] = con.execute(sql, params).fetchall()
        return rows

    # -- errors ------------------------------------------------------------------------------

    def insert_if_absent(self, table: Table) -> Insert:
        return sqlite_insert(table).on_conflict_do_nothing()

    def upsert(self, table: Table, key: Sequence[str]) -> Any:
        stmt = sqlite_insert(table).values({c.name: bindparam(c.name) for c in table.columns})
        others = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in key}
        return stmt.on_conflict_do_update(index_elements=list(key), set_=others)

    def try_exclusive_lock(self, key: int) -> Callable[[], None] | None:
        """An exclusive ``flock`` on ``<db>.lock-<key>`` beside the database, created
        owner-only (the kernel drops a dead holder's)."""
        if self._path is None:
            raise UnsupportedOperationError("a lock across processes needs a database file")
        name = self._path.with_name(f"{self._path.name}.lock-{key & 0xFFFFFFFFFFFFFFFF:016x}")
        fd = os.open(name, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return None
        return lambda: os.close(fd)

    def _driver_errors(self) -> tuple[type[BaseException], ...]:
        return (sqlite3.Error,)

    def classify(self, exc: BaseException) -> ErrorKind:
        code = getattr(exc, "sqlite_errorcode", None)
        if not isinstance(code, int):
            # The module's own checks (bindings miscounted, a closed cursor) carry no code.
            if isinstance(exc, sqlite3.ProgrammingError | sqlite3.InterfaceError):
                return ErrorKind.PROGRAMMING
            return ErrorKind.UNAVAILABLE
        if code in _KEY_VIOLATIONS and "events.id" in str(exc):
            return ErrorKind.DUPLICATE_ID
        return _PRIMARY_CODES.get(code & 0xFF, ErrorKind.UNAVAILABLE)

    def translate(self, exc: BaseException, action: str) -> Kube9StoreError:
        if self.kind_of(exc) is ErrorKind.NOT_A_DATABASE:
            return SchemaError(
                f"{self.location} is not a SQLite database ({exc}); refusing to touch it"
            )
        return super().translate(exc, action)

    # -- sizes and maintenance ---------------------------------------------------------------

    def size_info(self) -> SizeInfo:
        with self.translated("read size"), self.engine.connect() as conn:
            return files.size_info(conn, self._path)

    def used_bytes(self) -> int:
        with self.translated("read size"), self.engine.connect() as conn:
            return files.used_bytes(conn)

    def byte_length(self, column: Any) -> Any:
        return func.length(cast(column, LargeBinary))

    def empty_bytes(self) -> int:
        """The header page and one page per table and index: the file with no row."""
        with self.translated("read size"), self.engine.connect() as conn:
            tables = conn.exec_driver_sql(
                "SELECT COUNT(*) FROM sqlite_master WHERE rootpage > 0"
            ).scalar_one()
            page = conn.exec_driver_sql("PRAGMA page_size").scalar_one()
        return (1 + int(tables)) * int(page)

    def volume(self) -> VolumeInfo | None:
        return files.volume(self._path) if self._path is not None else None

    def require_free_space(self, action: str, needs: Mapping[Path, int]) -> None:
        files.require_free_space(action, needs)

    def temp_directory(self) -> Path:
        """Where SQLite writes VACUUM's temporary copy of the database."""
        with files.raw_connection(self.engine) as con:
            return files.sqlite_temp_directory(con, os.environ)

    def _vacuum_needs(self) -> dict[Path, int]:
        """VACUUM writes the used pages twice: a copy in the temporary directory, then every
        page through the write-ahead log beside the database."""
        used = self.used_bytes()
        assert self._path is not None
        needs = {self.temp_directory(): used}
        needs[self._path.parent] = needs.get(self._path.parent, 0) + used
        return needs

    def vacuum(self) -> None:
        with self.translated("vacuum"):
            if self._path is not None:
                self.require_free_space("vacuum", self._vacuum_needs())
            files.vacuum(self.engine)

    def vacuum_if_worthwhile(self, min_free_share: float) -> bool:
        if self._path is None:
            return False
        with self.translated("maintain after retention"):
            with self.engine.connect() as conn:
                share = files.free_share(conn)
            if share < min_free_share:
                return False
            self.require_free_space("vacuum after retention", self._vacuum_needs())
            files.vacuum(self.engine)
        return True

    def integrity_check(self, *, full: bool) -> IntegrityResult:
        with self.translated("integrity check"):
            return files.integrity_check(self.engine, full=full)

    def backup(self, dest: Path, *, head_version: int | None) -> BackupResult:
        with self.translated("backup"):
            self.require_free_space("backup", {dest.parent: self.size_info().database_bytes})
            return files.backup(self.engine, dest, head_version=head_version)

    def restore(
        self, source: Path, *, head_version: int, prepare: Callable[[Backend], None]
    ) -> Path | None:
        path = self._require_file("restore")
        self.check_location(must_exist=False)

        def prepare_file(copy: Path) -> None:
            backend = SQLiteBackend(sqlite_url(copy), self.settings, private=True)
            try:
                prepare(backend)
            finally:
                backend.dispose()

        with self.translated("restore"):
            self.require_free_space("restore", {path.parent: files.database_bytes(source)})
            return restore_file(
                source,
                path,
                head_version=head_version,
                prepare=prepare_file,
                wait=self.settings.busy_timeout,
            )

    def _require_file(self, action: str) -> Path:
        if self._path is None:
            raise self.unsupported(f"{action} of an in-memory database")
        return self._path
