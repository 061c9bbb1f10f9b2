"""The one gate for files the package creates or compares: every file it makes (database,
backup, snapshot, export, temporaries, lock) is created here, owner-only (0600 whatever the
umask), exclusively (``O_EXCL``: never an existing file) and without following a symlink
(``O_NOFOLLOW``: a link planted at the name is refused, never written through). Output that
replaces a file is written under an unpredictable temporary name beside it, fsynced and
renamed over it. "The same file" is decided by device and inode, never by path text. An
``OSError`` on the way becomes the package's error naming the path."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from kube9_store.errors import (
    DatabaseUnavailableError,
    Kube9StoreError,
    StorageFullError,
    ValidationError,
)

FILE_MODE = 0o600
#: Flags of every file the package creates.
CREATE_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def file_error(exc: OSError, action: str, path: Path, field: str | None = None) -> Kube9StoreError:
    """The package's error for an ``OSError`` met while ``action`` on ``path``: a full volume
    is StorageFullError; a missing directory, a symlink or a directory where a file goes is a
    ValidationError of ``field`` (when the path is an argument); anything else
    DatabaseUnavailableError."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StorageFullError(f"{action}: no space left for {path}: {exc.strerror}")
    if field is not None and exc.errno in (
        errno.ENOENT,
        errno.ENOTDIR,
        errno.ELOOP,
        errno.EISDIR,
        errno.EEXIST,
    ):
        reason = {
            errno.ENOENT: f"{path.parent} does not exist",
            errno.ENOTDIR: f"a part of {path.parent} is not a directory",
            errno.ELOOP: f"{path} is a symlink; refusing to write through it",
            errno.EISDIR: f"{path} is a directory",
            errno.EEXIST: f"{path} already exists",
        }[exc.errno]
        return ValidationError.single(field, f"cannot be written: {reason}")
    return DatabaseUnavailableError(f"{action}: {path}: {exc.strerror or exc}")


def create_private(path: Path) -> int:
    """A new file at ``path`` (never an existing one, never through a symlink), 0600 whatever
    the umask; returns its descriptor. Raises OSError (FileExistsError when anything, a
    dangling symlink included, is at ``path``)."""
    fd = os.open(path, CREATE_FLAGS, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_no_follow(path: Path, flags: int) -> int:
    """An existing file opened without following a symlink at its last component (OSError
    ``ELOOP`` when one is there)."""
    return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC)


def temporary_name(target: Path) -> Path:
    """An unpredictable name beside ``target`` for the file that will replace it."""
    return target.with_name(f".{target.name}.tmp-{secrets.token_hex(8)}")


def fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def replacing(target: Path, *, field: str = "output", action: str = "write") -> Iterator[IO[bytes]]:
    """A binary stream whose content becomes ``target`` only once the block ends without an
    error: written to a private file created exclusively under a temporary name, fsynced,
    renamed over ``target`` (a symlink there is replaced, never followed), and the directory
    fsynced. On any error the temporary is removed and ``target`` is as it was."""
    if target.is_dir():
        raise ValidationError.single(field, f"{target} is a directory")
    tmp = temporary_name(target)
    try:
        fd = create_private(tmp)
    except OSError as exc:
        raise file_error(exc, action, target, field) from None
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
        fsync_directory(target.parent)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if isinstance(exc, OSError):
            raise file_error(exc, action, target, field) from None
        raise


def identity(path: Path) -> tuple[int, int] | None:
    """``(st_dev, st_ino)`` of the file ``path`` names (symlinks followed); None when there is
    none."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def same_file(a: Path, b: Path) -> bool:
    """``a`` and ``b`` name one file (the same path, a symlink to it, or a hard link)."""
    ia = identity(a)
    return ia is not None and ia == identity(b)


def is_symlink(path: Path) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(path).st_mode)
    except OSError:
        return False
