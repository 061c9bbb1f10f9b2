"""SQLite files: checks before SQLite touches a file, crash-safe creation with owner-only modes,
hot journals recovered before a file is judged, reads that leave a refused file untouched, the
migration lock, structure for adoption, sizes, integrity, VACUUM, and backups that are
consistent while writers keep writing (the online backup API, never a file copy of a live
database)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import stat
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine

from kube9_store.backends.sqlite_temporaries import (
    Temporary,
    clean_stale,
    private_directory,
)
from kube9_store.errors import (
    DatabaseUnavailableError,
    DestinationExistsError,
    NotEnoughSpaceError,
    SchemaError,
)
from kube9_store.lean.sqlite import fingerprint as fingerprint
from kube9_store.lean.sqlite import in_wal_mode as in_wal_mode
from kube9_store.lean.sqlite import integrity_of, sizes_of, used_bytes_of
from kube9_store.lean.sqlite import journal_path as journal_path
from kube9_store.lean.sqlite import quiescent as quiescent
from kube9_store.lean.sqlite import read_only_uri as read_only_uri
from kube9_store.lean.sqlite import reader_uri as reader_uri
from kube9_store.lean.sqlite import settle_side_files as settle_side_files
from kube9_store.lean.sqlite import shm_path as shm_path
from kube9_store.lean.sqlite import volume as volume
from kube9_store.lean.sqlite import wal_path as wal_path
from kube9_store.results import BackupResult, IntegrityResult, SizeInfo

#: The first bytes of a rollback journal that SQLite would roll back (a "hot" journal).
JOURNAL_MAGIC = bytes.fromhex("d9d505f920a163d7")


def database_bytes(path: Path) -> int:
    """The size of a database file with the -wal and -journal beside it (what a copy of it
    whole writes)."""
    total = 0
    for part in (path, wal_path(path), journal_path(path)):
        with contextlib.suppress(FileNotFoundError):
            total += part.stat().st_size
    return total


def has_hot_journal(path: Path) -> bool:
    """A rollback journal that SQLite would roll back on the next read-write open."""
    try:
        with open(journal_path(path), "rb") as f:
            return f.read(len(JOURNAL_MAGIC)) == JOURNAL_MAGIC
    except (FileNotFoundError, IsADirectoryError):
        return False


def recover_hot_journal(path: Path, *, busy_timeout: float) -> None:
    """Roll back the interrupted write of a kube9 database (a normal read-write open does it),
    so it is judged by what it committed. A file whose tables (read as they are, without the
    journal) show no ``schema_version`` is not ours to recover, and is refused untouched."""
    if not has_hot_journal(path):
        return
    try:
        peek = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro&immutable=1", uri=True)
        try:
            tables = {r[0] for r in peek.execute("SELECT name FROM sqlite_master")}
        finally:
            peek.close()
    except sqlite3.DatabaseError as exc:
        raise SchemaError(
            f"{path} has a hot journal (an interrupted write) and cannot be read without "
            f"rolling it back ({exc}); refusing to touch it"
        ) from exc
    if "schema_version" not in tables:
        found = ", ".join(sorted(tables)) or "no tables"
        raise SchemaError(
            f"{path} has a hot journal (an interrupted write) and holds {found}, not a kube9 "
            "database; refusing to touch it"
        )
    con = sqlite3.connect(path, isolation_level=None, timeout=busy_timeout)
    try:
        con.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    finally:
        con.close()


def _pragma(conn: Connection, name: str) -> int:
    return int(conn.exec_driver_sql(f"PRAGMA {name}").scalar_one())


def size_info(conn: Connection, path: Path | None) -> SizeInfo:
    return sizes_of(lambda name: _pragma(conn, name), path)


def free_share(conn: Connection) -> float:
    """The share of the file's pages that are free (what VACUUM would give back)."""
    pages = _pragma(conn, "page_count")
    return _pragma(conn, "freelist_count") / pages if pages else 0.0


@contextlib.contextmanager
def raw_connection(engine: Engine) -> Iterator[sqlite3.Connection]:
    """The driver connection, outside any transaction (VACUUM and backups need that)."""
    proxy = engine.raw_connection()
    try:
        driver = proxy.driver_connection
        assert isinstance(driver, sqlite3.Connection)
        yield driver
    finally:
        proxy.close()


def integrity_check(engine: Engine, *, full: bool) -> IntegrityResult:
    """quick_check (daily) or integrity_check (weekly); the full check also compares the
    trigger-maintained counts with the events."""
    with raw_connection(engine) as con:
        return integrity_of(con, full=full)


def vacuum(engine: Engine) -> None:
    """VACUUM, truncate the WAL so the file really shrinks, and let SQLite refresh planner
    statistics it finds stale (bounded, so it stays cheap on a large table)."""
    with raw_connection(engine) as con:
        con.execute("PRAGMA temp_store = FILE")  # VACUUM's copy of the whole database: on disk
        try:
            con.execute("VACUUM")
        finally:
            con.execute("PRAGMA temp_store = MEMORY")
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.execute("PRAGMA analysis_limit = 400")
        con.execute("PRAGMA optimize")


def verify_database_file(
    path: Path, *, head_version: int | None, shown: Path | None = None, full: bool = True
) -> tuple[int, int]:
    """Integrity and schema version of a private database file (a backup or a restore's copy
    being written): (schema_version, events). ``shown`` is the name used in errors.

    Refuses a damaged file, one that is not a kube9 database, and one from a newer schema.
    Read through a read-write connection, which leaves no -wal or -shm behind when it closes.
    """
    name = shown or path
    try:
        con = sqlite3.connect(path, isolation_level=None)
    except sqlite3.Error as exc:
        raise SchemaError(f"{name} cannot be opened: {exc}") from exc
    try:
        con.execute("PRAGMA query_only = ON")
        pragma = "integrity_check" if full else "quick_check"
        rows = [str(r[0]) for r in con.execute(f"PRAGMA {pragma}")]
        if rows != ["ok"]:
            raise SchemaError(f"{name} failed {pragma}: {'; '.join(rows[:5])}")
        version = con.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
        count = con.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise SchemaError(f"{name} is not a usable kube9 database: {exc}") from exc
    finally:
        con.close()
    if version is None:
        raise SchemaError(f"{name} has no schema version")
    try:
        version = int(version)
    except (TypeError, ValueError):
        raise SchemaError(
            f"{name}: schema_version holds {version!r}, not a schema version number"
        ) from None
    if head_version is not None and version > head_version:
        raise SchemaError(
            f"{name} is at schema version {version}, newer than this package "
            f"(schema version {head_version}); refusing it"
        )
    return int(version), int(count)


def backup(engine: Engine, dest: Path, *, head_version: int | None) -> BackupResult:
    """A consistent copy of the live database at ``dest``: written to a temporary name with
    the online backup API (one read snapshot; writers are not blocked in WAL mode), made a
    single self-contained file, fsynced, verified, then linked into place (never over a file
    that exists). Temporaries of backups that a crash interrupted are removed first."""
    started = time.perf_counter()
    if dest.exists() or dest.is_symlink():
        raise DestinationExistsError.single("dest", f"{dest} already exists; choose a new name")
    clean_stale(dest.parent)
    with Temporary(dest) as tmp:
        target = sqlite3.connect(tmp.path)
        try:
            with raw_connection(engine) as source:
                source.backup(target)
            target.execute("PRAGMA journal_mode = DELETE")
        finally:
            target.close()
        version, count = verify_database_file(tmp.path, head_version=head_version, shown=dest)
        tmp.place()
    return BackupResult(
        path=dest,
        bytes=dest.stat().st_size,
        events=count,
        schema_version=version,
        seconds=time.perf_counter() - started,
    )


def check_existing(path: Path, *, empty_ok: bool = False) -> None:
    """Refuse what cannot be a database before SQLite touches it, naming what was found.

    Only stat() is used: opening and closing a descriptor of a database that this process has
    open through SQLite would drop SQLite's POSIX locks on it.
    """
    try:
        st = path.stat()
    except FileNotFoundError:
        return
    except OSError as exc:  # a name too long, a component that is a file, no permission
        raise DatabaseUnavailableError(f"cannot use {path} as a database: {exc}") from exc
    if stat.S_ISDIR(st.st_mode):
        raise DatabaseUnavailableError(f"{path} is a directory, expected a SQLite database file")
    if not empty_ok and st.st_size == 0:
        raise SchemaError(
            f"{path} is an empty file (0 bytes), not a SQLite database; refusing to touch it "
            "(kube9_store builds a new database under a temporary name, so something else "
            "made this file)"
        )


def create_database(path: Path) -> None:
    """A new, empty database at ``path`` (which must not exist), 0600 in private directories,
    in WAL mode, made under a temporary name and linked into place whole: a crash at any moment
    leaves either no file or a valid empty database, never an empty or half-made file.
    Temporaries a crashed creation left in the directory are removed first."""
    try:
        private_directory(path.parent)
        clean_stale(path.parent)
        with Temporary(path) as tmp:
            con = sqlite3.connect(tmp.path, isolation_level=None)
            try:
                con.execute("PRAGMA journal_mode = WAL")
            finally:
                con.close()
            tmp.place()
    except DestinationExistsError:
        return  # made meanwhile by someone not using the migration lock: judged as found
    except (OSError, sqlite3.Error) as exc:
        raise DatabaseUnavailableError(f"cannot create database {path}: {exc}") from exc


@contextlib.contextmanager
def directory_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive flock on the database's directory so one process migrates at a time.

    The directory, not the database: closing any descriptor of the database file would release
    the POSIX locks SQLite holds on it in this process.
    """
    directory = path.parent
    private_directory(directory)
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise DatabaseUnavailableError(f"cannot open directory {directory}: {exc}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


SPEC_TABLES = ("schema_version", "events")


def describe(conn: Connection, tables: Sequence[str] = SPEC_TABLES) -> dict[str, Any]:
    """The structure SQLite reports for ``tables``: table_info, index_list and index_xinfo.

    Indexes are keyed by name (index_list's ``seq`` depends only on creation order).
    """
    out: dict[str, Any] = {}
    for table in tables:
        columns = [tuple(r) for r in conn.exec_driver_sql(f"PRAGMA table_info('{table}')")]
        indexes: dict[str, Any] = {}
        for _seq, name, unique, origin, partial in conn.exec_driver_sql(
            f"PRAGMA index_list('{table}')"
        ):
            xinfo = [tuple(r) for r in conn.exec_driver_sql(f"PRAGMA index_xinfo('{name}')")]
            indexes[name] = {"unique": unique, "origin": origin, "partial": partial, "xinfo": xinfo}
        out[table] = {"columns": columns, "indexes": indexes}
    return out


# -- free space ------------------------------------------------------------------------------

#: Where SQLite on Unix puts temporary files when no directory is set: the first of these that
#: is a writable directory (after $SQLITE_TMPDIR and $TMPDIR), else the current directory.
UNIX_TEMP_DIRS = ("/var/tmp", "/usr/tmp", "/tmp")


def sqlite_temp_directory(con: sqlite3.Connection, environ: Mapping[str, str]) -> Path:
    """The directory SQLite writes temporary files to (VACUUM's copy of the database): the
    connection's ``temp_store_directory`` when set, else $SQLITE_TMPDIR, $TMPDIR, /var/tmp,
    /usr/tmp, /tmp, the first that is a writable directory, else the current directory (the
    order of SQLite's unixTempFileDir)."""
    row = con.execute("PRAGMA temp_store_directory").fetchone()
    configured = str(row[0] or "") if row else ""
    candidates = [configured, environ.get("SQLITE_TMPDIR", ""), environ.get("TMPDIR", "")]
    for candidate in (*candidates, *UNIX_TEMP_DIRS):
        if candidate and os.path.isdir(candidate) and os.access(candidate, os.W_OK | os.X_OK):
            return Path(candidate)
    return Path.cwd()


def require_free_space(action: str, needs: Mapping[Path, int]) -> None:
    """Refuse ``action`` before it writes anything unless every filesystem it writes to has
    room: ``needs`` maps each path written to the bytes written there; needs of paths on the
    same filesystem add up. The error names the path, the bytes needed and the bytes free."""
    by_device: dict[int, tuple[Path, int]] = {}
    for path, needed in needs.items():
        existing = path
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        device = existing.stat().st_dev
        first, total = by_device.get(device, (path, 0))
        by_device[device] = (first, total + needed)
    for path, needed in by_device.values():
        free = volume(path).free_bytes
        if free < needed:
            raise NotEnoughSpaceError(action, path, needed, free)


def used_bytes(conn: Connection) -> int:
    """The pages that hold data: the file less its free pages."""
    return used_bytes_of(lambda name: _pragma(conn, name))
