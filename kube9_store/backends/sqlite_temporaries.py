"""Files the SQLite backend makes: directories private at every level whatever the umask, and
temporaries that are written under a name of their own, given their final name without ever
replacing an existing file, and removed by the next run when the process writing them died.

A temporary is ``.<final name>.kube9-tmp-<pid>-<n>`` (plus SQLite's ``-journal``, ``-wal`` and
``-shm`` beside it while it is open). Its writer holds an exclusive ``flock`` on it for as long
as it writes, so a temporary whose lock can be taken belongs to a process that is gone."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from kube9_store.errors import DatabaseUnavailableError, DestinationExistsError
from kube9_store.gates import files

FILE_MODE = files.FILE_MODE
DIR_MODE = 0o700
TEMP_MARK = ".kube9-tmp-"
#: SQLite's files beside a database, by suffix.
SIDE_SUFFIXES = ("-journal", "-wal", "-shm")
_TEMPORARY = re.compile(r"\..+" + re.escape(TEMP_MARK) + r"\d+-\d+")


def side_files(path: Path) -> list[Path]:
    return [path.with_name(path.name + suffix) for suffix in SIDE_SUFFIXES]


def private_directory(directory: Path) -> None:
    """Create ``directory`` and each missing parent with mode 0700 (whatever the umask); a
    directory that exists already is left as it is."""
    missing: list[Path] = []
    at = directory
    while True:  # one stat per level: another process may be making the same directories
        try:
            if stat.S_ISDIR(os.stat(at).st_mode):
                break
        except (FileNotFoundError, NotADirectoryError):
            if at != at.parent:
                missing.append(at)
                at = at.parent
                continue
        except OSError as exc:
            raise DatabaseUnavailableError(f"cannot create directory {directory}: {exc}") from exc
        raise DatabaseUnavailableError(f"cannot create directory {directory}: {at} is a file")
    for level in reversed(missing):
        try:
            os.mkdir(level, DIR_MODE)
        except FileExistsError:
            continue  # made at the same moment by another process
        except OSError as exc:
            raise DatabaseUnavailableError(f"cannot create directory {level}: {exc}") from exc
        os.chmod(level, DIR_MODE)


def create_private_file(path: Path) -> int:
    """A new file (never an existing one, never through a symlink), 0600 whatever the umask;
    returns its descriptor (the package's one gate for new files)."""
    return files.create_private(path)


fsync_directory = files.fsync_directory


def same_file(fd: int, path: Path) -> bool:
    """``path`` names the file open as ``fd`` (it was not removed or replaced meanwhile)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


class Temporary:
    """A new private file beside ``final``, locked by this process until it is placed or
    discarded. Use as a context manager: leaving it without :meth:`place` removes the file."""

    def __init__(self, final: Path) -> None:
        private_directory(final.parent)
        while True:
            path = final.with_name(f".{final.name}{TEMP_MARK}{os.getpid()}-{time.monotonic_ns()}")
            try:
                fd = create_private_file(path)
            except OSError as exc:
                raise files.file_error(exc, f"create {final}", path) from None
            fcntl.flock(fd, fcntl.LOCK_EX)
            if same_file(fd, path):
                break
            os.close(fd)  # removed as stale in the instant before we locked it: take another
        self.final = final
        self.path = path
        self._fd: int | None = fd

    def __enter__(self) -> Temporary:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.discard()

    def sync(self) -> None:
        """Flush the file's data to the disk."""
        if self._fd is not None:
            os.fsync(self._fd)

    def place(self) -> None:
        """Give the finished file its final name, which must not exist (DestinationExistsError):
        synced, linked (a link never replaces a file), and the temporary name removed. Every
        SQLite connection to it must be closed first."""
        try:
            self.sync()
            os.link(self.path, self.final)
        except FileExistsError:
            raise DestinationExistsError.single(
                "dest", f"{self.final} already exists; choose a new name"
            ) from None
        except OSError as exc:
            raise files.file_error(exc, f"create {self.final}", self.final) from None
        self.discard()
        fsync_directory(self.final.parent)

    def rename(self, target: Path) -> None:
        """Move the finished file to ``target`` (a name only this package's locked code uses)
        and stop tracking it: it is no longer a temporary."""
        self.sync()
        os.rename(self.path, target)
        self._release()

    def discard(self) -> None:
        """Remove the temporary and SQLite's files beside it (nothing when already placed)."""
        if self._fd is None:
            return
        for path in (self.path, *side_files(self.path)):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        self._release()

    def _release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # after SQLite closed its connections: drops only our flock
            self._fd = None


def clean_stale(directory: Path) -> list[Path]:
    """Remove the temporaries in ``directory`` whose writer is gone (their lock is free), with
    their side files, and side files whose temporary is gone. Returns what was removed."""
    removed: list[Path] = []
    try:
        names = os.listdir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return removed
    present = set(names)
    for name in names:
        path = directory / name
        if _TEMPORARY.fullmatch(name):
            with _if_stale(path) as stale:
                if stale:  # removed under its lock, so a writer locking it now sees it gone
                    removed.extend(_remove(path, *side_files(path)))
            continue
        for suffix in SIDE_SUFFIXES:
            base = name.removesuffix(suffix)
            if base != name and _TEMPORARY.fullmatch(base) and base not in present:
                removed.extend(_remove(path))
    return removed


def _remove(*paths: Path) -> list[Path]:
    gone = []
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
            gone.append(path)
    return gone


@contextlib.contextmanager
def _if_stale(path: Path) -> Iterator[bool]:
    """Whether no process holds the temporary's lock, holding the lock meanwhile.

    A temporary with a second name (a crash between giving a file its final name and removing
    the temporary one) is stale by definition and is not opened: the other name may be a
    database this process has open, whose POSIX locks closing a descriptor would drop."""
    try:
        if path.lstat().st_nlink > 1:
            yield True
            return
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            yield False
            return
        yield True
    finally:
        os.close(fd)
