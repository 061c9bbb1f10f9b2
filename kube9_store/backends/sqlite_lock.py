"""Who has a database file open: every open store holds a shared ``flock`` on ``<name>.lock``
beside the database, and a restore takes it exclusively, so a restore never swaps a file a store
is writing to, and a store never opens a file a restore is swapping.

A sidecar file rather than the database itself: closing any descriptor of the database would
drop the POSIX locks SQLite holds on it in this process. The lock file is left in place when a
store closes (removing it safely would need the exclusive lock), except by an open that was
refused, which removes the lock file it created when nobody else holds it, so a refused
database gets no file beside it."""

from __future__ import annotations

import errno
import fcntl
import os
import time
from pathlib import Path

from kube9_store.backends.sqlite_temporaries import private_directory, same_file
from kube9_store.errors import DatabaseLockedError, DatabaseUnavailableError
from kube9_store.gates import files
from kube9_store.lean.sqlite import LOCK_SUFFIX as LOCK_SUFFIX
from kube9_store.lean.sqlite import lock_path

POLL_S = 0.02


class UseLock:
    """The shared (store) or exclusive (restore) hold on one database file."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.path = lock_path(db)
        self._fd: int | None = None
        self._created = False

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, *, exclusive: bool, wait: float, busy: str, create: bool = True) -> None:
        """Take the lock, waiting up to ``wait`` seconds; DatabaseLockedError(``busy``) after.
        ``create=False`` (readers): use the lock file only if it exists; a reader never makes
        a file, and a restore under a reader loses nothing (the reader keeps the old file).
        Where no lock file can be made (a read-only directory), nothing can restore over the
        database either, and no lock is taken."""
        deadline = time.monotonic() + wait
        mode = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
        while True:
            opened = self._open(create)
            if opened is None:
                return
            fd, created = opened
            try:
                fcntl.flock(fd, mode)
            except OSError as exc:
                os.close(fd)
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise
                if time.monotonic() >= deadline:
                    raise DatabaseLockedError(busy) from None
                time.sleep(POLL_S)
                continue
            if same_file(fd, self.path):
                self._fd, self._created = fd, created
                return
            os.close(fd)  # removed by a refused open meanwhile: lock the new one

    def _open(self, create: bool) -> tuple[int, bool] | None:
        if create:
            private_directory(self.db.parent)
            try:
                return files.create_private(self.path), True
            except FileExistsError:
                pass
            except OSError:
                return None
        for flags in (os.O_RDWR, os.O_RDONLY):
            try:
                return files.open_no_follow(self.path, flags), False
            except FileNotFoundError:
                if create and not files.is_symlink(self.path):
                    return self._open(create)  # removed meanwhile by a refused open
                return None
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise DatabaseUnavailableError(
                        f"the lock file {self.path} is a symlink; refusing to use it "
                        "(remove it: the package makes its own)"
                    ) from None
                continue
        return None

    def release(self, *, refused: bool = False) -> None:
        """Let go; after a refused open, also remove the lock file this hold created, when no
        one else holds it."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if refused and self._created:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    return  # someone else holds it: it stays
                if same_file(fd, self.path):
                    os.unlink(self.path)
        finally:
            os.close(fd)
