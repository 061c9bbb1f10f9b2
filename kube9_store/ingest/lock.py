"""One active ingester per cluster and resource: a PostgreSQL session advisory lock, or on
SQLite an exclusive ``flock`` on a file beside the database (``<db>.ingest-<key>.lock``).
A second ingester waits as a standby and takes over when the first stops or dies (the
operating system or the server drops a dead holder's lock)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import threading
from typing import Any

from sqlalchemy import text

from kube9_store.errors import Kube9StoreError

POLL_S = 0.2


def lock_key(cluster_uid: str, resource: str) -> int:
    """A signed 64-bit key for the pair (what ``pg_advisory_lock`` takes)."""
    digest = hashlib.sha256(f"kube9-ingest\0{cluster_uid}\0{resource}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class IngestLock:
    """The ingest lock of (``cluster_uid``, ``resource``) in ``store``'s database."""

    def __init__(self, store: Any, cluster_uid: str, resource: str) -> None:
        self.store = store
        self.key = lock_key(cluster_uid, resource)
        self._conn: Any = None
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._conn is not None or self._fd is not None

    def try_acquire(self) -> bool:
        """Take the lock if free; True when held."""
        if self.held:
            return True
        if self.store.backend.name == "postgresql":
            conn = self.store.engine.connect()
            try:
                got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key})
                ok = bool(got.scalar())
                conn.commit()
            except Exception:
                conn.close()
                raise
            if not ok:
                conn.close()
                return False
            self._conn = conn
            return True
        path = self.store.backend.path
        if path is None:
            raise Kube9StoreError("ingest lock: this database kind has no ingest lock")
        name = path.with_name(f"{path.name}.ingest-{self.key & 0xFFFFFFFFFFFFFFFF:016x}.lock")
        fd = os.open(name, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def acquire(self, stop: threading.Event) -> bool:
        """Wait for the lock until ``stop`` is set; True when held."""
        while not stop.is_set():
            if self.try_acquire():
                return True
            stop.wait(POLL_S)
        return False

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
                conn.commit()
            with contextlib.suppress(Exception):
                conn.close()
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
