"""SQLite files: checks before SQLite touches a file, creation with owner-only modes, the
migration lock, structure for adoption, sizes, integrity, VACUUM, and backups that are
consistent while writers keep writing (the online backup API, never a file copy of a live
database)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine

from kube9_store.errors import DatabaseUnavailableError, NotEnoughSpaceError, SchemaError
from kube9_store.results import BackupResult, IntegrityResult, SizeInfo, VolumeInfo

FILE_MODE = 0o600
DIR_MODE = 0o700


def wal_path(path: Path) -> Path:
    return path.with_name(path.name + "-wal")


def shm_path(path: Path) -> Path:
    return path.with_name(path.name + "-shm")


def _pragma(conn: Connection, name: str) -> int:
    return int(conn.exec_driver_sql(f"PRAGMA {name}").scalar_one())


def file_sizes(conn: Connection, path: Path | None) -> tuple[int, int]:
    """(page_count x page_size, size of the -wal file)."""
    db = _pragma(conn, "page_count") * _pragma(conn, "page_size")
    wal = 0
    if path is not None:
        with contextlib.suppress(FileNotFoundError):
            wal = wal_path(path).stat().st_size
    return db, wal


def size_info(conn: Connection, path: Path | None) -> SizeInfo:
    db, wal = file_sizes(conn, path)
    free = _pragma(conn, "freelist_count") * _pragma(conn, "page_size")
    return SizeInfo(database_bytes=db, wal_bytes=wal, free_bytes=free)


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
        pragma = "integrity_check" if full else "quick_check"
        rows = [str(r[0]) for r in con.execute(f"PRAGMA {pragma}")]
        problems = [] if rows == ["ok"] else rows
        if full and not problems:
            problems.extend(_count_mismatches(con))
    return IntegrityResult(ok=not problems, problems=problems, full=full)


def _count_mismatches(con: sqlite3.Connection) -> list[str]:
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "event_counts" not in tables:
        return []
    actual = dict(
        ((t, s), n)
        for t, s, n in con.execute(
            "SELECT event_type, severity, COUNT(*) FROM events GROUP BY event_type, severity"
        )
    )
    kept = {
        (t, s): n
        for t, s, n in con.execute("SELECT event_type, severity, n FROM event_counts WHERE n != 0")
    }
    if actual == kept:
        return []
    return [
        f"event_counts disagrees with events: counted {kept}, actual {actual};"
        " `kube9-store db recount` rebuilds it"
    ]


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


def _fsync_path(path: Path, *, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temporary_beside(dest: Path) -> Path:
    dest.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}-{time.monotonic_ns()}")
    os.close(os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, FILE_MODE))
    return tmp


def verify_database_file(path: Path, *, head_version: int) -> tuple[int, int]:
    """Integrity and schema version of a standalone database file: (schema_version, events).

    Refuses a damaged file, one that is not a kube9 database, and one from a newer schema.
    """
    try:
        con = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise SchemaError(f"{path} cannot be opened: {exc}") from exc
    try:
        rows = [str(r[0]) for r in con.execute("PRAGMA integrity_check")]
        if rows != ["ok"]:
            raise SchemaError(f"{path} failed integrity_check: {'; '.join(rows[:5])}")
        version = con.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
        count = con.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise SchemaError(f"{path} is not a usable kube9 database: {exc}") from exc
    finally:
        con.close()
    if version is None:
        raise SchemaError(f"{path} has no schema version")
    if version > head_version:
        raise SchemaError(
            f"{path} is at schema version {version}, newer than this package "
            f"(schema version {head_version}); refusing it"
        )
    return int(version), int(count)


def backup(engine: Engine, dest: Path, *, head_version: int) -> BackupResult:
    """A consistent copy of the live database at ``dest``: written to a temporary name with
    the online backup API (one read snapshot; writers are not blocked in WAL mode), made a
    single self-contained file, fsynced, verified, then renamed into place."""
    started = time.perf_counter()
    if dest.exists():
        raise DatabaseUnavailableError(f"backup target {dest} already exists; choose a new name")
    tmp = _temporary_beside(dest)
    try:
        target = sqlite3.connect(tmp)
        try:
            with raw_connection(engine) as source:
                source.backup(target)
            target.execute("PRAGMA journal_mode = DELETE")
        finally:
            target.close()
        _fsync_path(tmp)
        version, count = verify_database_file(tmp, head_version=head_version)
        os.replace(tmp, dest)
        _fsync_path(dest.parent, directory=True)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return BackupResult(
        path=dest,
        bytes=dest.stat().st_size,
        events=count,
        schema_version=version,
        seconds=time.perf_counter() - started,
    )


def restore(backup_path: Path, db_path: Path, *, head_version: int) -> Path | None:
    """Put a verified backup in place of ``db_path``; return where the previous database (with
    its -wal and -shm) was moved, so nothing already stored is lost.

    The operator must be stopped first (the spec's recovery steps).
    """
    verify_database_file(backup_path, head_version=head_version)
    tmp = _temporary_beside(db_path)
    moved: list[tuple[Path, Path]] = []
    try:
        with open(backup_path, "rb") as src, open(tmp, "wb") as out:
            while chunk := src.read(1 << 20):
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        verify_database_file(tmp, head_version=head_version)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        keep = db_path.with_name(f"{db_path.name}.pre-restore-{stamp}")
        for current, aside in (
            (db_path, keep),
            (wal_path(db_path), wal_path(keep)),
            (shm_path(db_path), shm_path(keep)),
        ):
            if current.exists():
                os.replace(current, aside)
                moved.append((current, aside))
        os.replace(tmp, db_path)
        _fsync_path(db_path.parent, directory=True)
    except BaseException:
        for current, aside in reversed(moved):
            os.replace(aside, current)
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return keep if moved else None


def put_back(db_path: Path, aside: Path | None) -> None:
    """Undo :func:`restore`: the kept database (and its -wal and -shm) back in place."""
    if aside is None:
        return
    for current, kept in (
        (db_path, aside),
        (wal_path(db_path), wal_path(aside)),
        (shm_path(db_path), shm_path(aside)),
    ):
        if kept.exists():
            os.replace(kept, current)
        else:
            with contextlib.suppress(FileNotFoundError):
                current.unlink()


def check_existing(path: Path, *, empty_ok: bool = False) -> None:
    """Refuse what cannot be a database before SQLite touches it, naming what was found.

    Only stat() is used: opening and closing a descriptor of a database that this process has
    open through SQLite would drop SQLite's POSIX locks on it.
    """
    if path.is_dir():
        raise DatabaseUnavailableError(f"{path} is a directory, expected a SQLite database file")
    if not empty_ok and path.exists() and path.stat().st_size == 0:
        raise SchemaError(
            f"{path} is an empty file (0 bytes), expected a SQLite database; "
            "remove it to let kube9_store create a new database there"
        )


def create_file(path: Path) -> None:
    """Create a new, empty database file readable only by its owner (0600)."""
    try:
        path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except OSError as exc:
        raise DatabaseUnavailableError(f"cannot create database {path}: {exc}") from exc


@contextlib.contextmanager
def directory_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive flock on the database's directory so one process migrates at a time.

    The directory, not the database: closing any descriptor of the database file would release
    the POSIX locks SQLite holds on it in this process.
    """
    directory = path.parent
    try:
        directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
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


def volume(path: Path) -> VolumeInfo:
    """The filesystem holding ``path`` (or its nearest existing parent)."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    usage = shutil.disk_usage(existing)
    return VolumeInfo(path=path, total_bytes=usage.total, free_bytes=usage.free)


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
    pages = _pragma(conn, "page_count") - _pragma(conn, "freelist_count")
    return pages * _pragma(conn, "page_size")
