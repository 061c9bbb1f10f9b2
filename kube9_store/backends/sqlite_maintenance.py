"""SQLite maintenance: size, integrity, VACUUM, and backups that are consistent while writers
keep writing (the online backup API, never a file copy of a live database)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine

from kube9_store.backends.sqlite import DIR_MODE, FILE_MODE
from kube9_store.errors import DatabaseUnavailableError, SchemaError


@dataclass(frozen=True)
class IntegrityResult:
    """``ok`` when SQLite found nothing wrong (and the event counts match the events)."""

    ok: bool
    problems: list[str]
    full: bool

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "problems": self.problems, "full": self.full}


@dataclass(frozen=True)
class SizeInfo:
    """The spec's page_count x page_size, and the -wal file beside it, in bytes."""

    database_bytes: int
    wal_bytes: int
    free_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.database_bytes + self.wal_bytes

    def as_dict(self) -> dict[str, int]:
        return {
            "database_bytes": self.database_bytes,
            "wal_bytes": self.wal_bytes,
            "free_bytes": self.free_bytes,
            "total_bytes": self.total_bytes,
        }


@dataclass(frozen=True)
class BackupResult:
    """A verified backup: where, how big, what it holds, how long it took."""

    path: Path
    bytes: int
    events: int
    schema_version: int
    seconds: float
    pruned: list[Path] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "bytes": self.bytes,
            "events": self.events,
            "schema_version": self.schema_version,
            "seconds": round(self.seconds, 3),
            "pruned": [str(p) for p in self.pruned],
        }


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
