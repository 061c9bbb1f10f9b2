"""One active ingester per cluster and resource: the backend's exclusive lock of the pair's
key (a PostgreSQL session advisory lock, or on SQLite an exclusive ``flock`` on
``<db>.lock-<key>`` beside the database).
A second ingester waits as a standby and takes over when the first stops or dies (the
operating system or the server drops a dead holder's lock)."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from typing import Any

POLL_S = 0.2


def lock_key(cluster_uid: str, resource: str) -> int:
    """A signed 64-bit key for the pair (what ``pg_advisory_lock`` takes)."""
    digest = hashlib.sha256(f"kube9-ingest\0{cluster_uid}\0{resource}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class IngestLock:
    """The ingest lock of (``cluster_uid``, ``resource``) in ``store``'s database: the
    backend's exclusive lock of that key (an advisory lock on a server, a file lock beside a
    SQLite file)."""

    def __init__(self, store: Any, cluster_uid: str, resource: str) -> None:
        self.store = store
        self.key = lock_key(cluster_uid, resource)
        self._release: Callable[[], None] | None = None

    @property
    def held(self) -> bool:
        return self._release is not None

    def try_acquire(self) -> bool:
        """Take the lock if free; True when held."""
        if self._release is None:
            self._release = self.store.backend.try_exclusive_lock(self.key)
        return self._release is not None

    def acquire(self, stop: threading.Event) -> bool:
        """Wait for the lock until ``stop`` is set; True when held."""
        while not stop.is_set():
            if self.try_acquire():
                return True
            stop.wait(POLL_S)
        return False

    def release(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            release()
