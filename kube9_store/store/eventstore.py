"""EventStore: record, get, query, count and acknowledge events; retention and maintenance.

Threading model: one store per process, shared by any number of threads; each thread that uses
it holds one pooled connection (see :class:`~kube9_store.store.executor.Executor`). What differs by
database kind is the store's :class:`~kube9_store.backends.Backend`. The operations live in
their parts: :mod:`~kube9_store.store.writes`, :mod:`~kube9_store.store.reads` and
:mod:`~kube9_store.store.maintenance`; this module opens, closes and restores.
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Self

from kube9_store import checks
from kube9_store.backends import Backend, backend_for
from kube9_store.config import ConnectionSettings, DbLocation, Synchronous, resolve_url
from kube9_store.errors import SourceMissingError, ValidationError
from kube9_store.events.timestamps import utcnow
from kube9_store.operations.retention import RetentionPolicy
from kube9_store.schema.opening import open_database
from kube9_store.schema.readmodel import HEAD_MODEL, ReadModel
from kube9_store.schema.tables import HEAD_VERSION
from kube9_store.store.instrumentation import Hooks, NoMetrics
from kube9_store.store.maintenance import StoreMaintenance
from kube9_store.store.writes import StoreWrites

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

log = logging.getLogger(__name__)


class EventStore(StoreWrites, StoreMaintenance):
    """The event database. Open with :meth:`open`; use as a context manager or call
    :meth:`close`."""

    def __init__(
        self,
        backend: Backend,
        *,
        clock: Callable[[], datetime] = utcnow,
        retention: RetentionPolicy | None = None,
        metrics: Hooks | None = None,
        read_model: ReadModel = HEAD_MODEL,
    ) -> None:
        super().__init__(
            backend, clock=clock, retention=retention, metrics=metrics, read_model=read_model
        )
        self.metrics.track(self)  # its size and counts, read at every scrape

    # -- lifecycle ---------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        db: DbLocation | None = None,
        *,
        read_only: bool = False,
        migrate: bool = True,
        synchronous: Synchronous = "NORMAL",
        busy_timeout: float = 5.0,
        clock: Callable[[], datetime] = utcnow,
        retention: RetentionPolicy | None = None,
        registry: CollectorRegistry | None = None,
        metrics: bool = True,
        extra_version_locations: Sequence[str] = (),
    ) -> Self:
        """Open (creating and migrating when needed) the database at ``db``: a path or a
        SQLAlchemy URL; None means $KUBE9_DB_URL, else $DB_PATH/kube9.db, else /data/kube9.db.

        ``read_only`` never creates, migrates or writes, and also opens a database behind
        head, or one of another lineage such as the reference operator's, reading what its
        schema has (:attr:`read_model` says what, and its ``notice`` why); ``migrate=False``
        refuses a database that is behind instead of upgrading it. ``synchronous="FULL"``
        trades insert speed for durability across power loss. ``retention`` defaults to the
        environment ($EVENT_RETENTION_INFO_WARNING_DAYS, $EVENT_RETENTION_ERROR_CRITICAL_DAYS),
        else the spec's 7 and 30 days. Metrics go to ``registry`` (default: prometheus_client's
        global registry); ``metrics=False`` switches instrumentation off.
        """
        settings = ConnectionSettings(
            read_only=read_only, synchronous=synchronous, busy_timeout=busy_timeout
        )
        if not isinstance(migrate, bool):
            raise ValidationError.single("migrate", "must be True or False")
        if not isinstance(metrics, bool):
            raise ValidationError.single(
                "metrics", "must be True or False (a registry goes in registry=)"
            )
        if not callable(clock):
            raise ValidationError.single("clock", "must be a function returning a datetime")
        if retention is not None and not isinstance(retention, RetentionPolicy):
            raise ValidationError.single("retention", "must be a RetentionPolicy or None")
        if not isinstance(extra_version_locations, list | tuple) or not all(
            isinstance(p, str) and p for p in extra_version_locations
        ):
            raise ValidationError.single(
                "extra_version_locations", "must be a list of directory paths"
            )
        backend = backend_for(resolve_url(db), settings)
        try:
            model = open_database(
                backend, migrate=migrate, extra_version_locations=extra_version_locations
            )
            if model.notice is not None:
                log.info("%s", model.notice)
            return cls(
                backend,
                clock=clock,
                retention=retention,
                metrics=_metrics_for(registry) if metrics else NoMetrics(),
                read_model=model,
            )
        except BaseException:
            backend.release(refused=True)
            raise

    def close(self) -> None:
        """Close every connection (the last one checkpoints the WAL) and let go of the
        database; every later call raises StoreClosedError. Closing twice is harmless."""
        self.metrics.untrack(self)
        self._run.close()
        self.backend.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @classmethod
    def restore(
        cls, backup_path: str | os.PathLike[str], db: DbLocation, **open_kwargs: Any
    ) -> Self:
        """Replace the database at ``db`` with a verified copy of a backup and open it with
        ``open_kwargs``. The copy is migrated (when behind and ``migrate``) before it replaces
        anything; the previous database is kept beside it as ``<name>.pre-restore-<time>``.
        Refused (DatabaseLockedError) while any store has the database open: stop every writer
        first. See the README's "Backups" for what a crash during a restore leaves."""
        source = checks.path("backup_path", backup_path)
        try:
            found = source.is_file()
        except OSError as exc:
            raise SourceMissingError.single("backup_path", f"cannot use {source}: {exc}") from None
        if not found:
            raise SourceMissingError.single(
                "backup_path", f"{source} does not exist or is not a file"
            )
        try:
            inspect.signature(cls.open).bind(db, **open_kwargs)
        except TypeError as exc:
            raise ValidationError.single("open_kwargs", str(exc)) from None
        url = resolve_url(db)
        settings = ConnectionSettings(busy_timeout=open_kwargs.get("busy_timeout", 5.0))
        migrate = open_kwargs.get("migrate", True) is True and not open_kwargs.get("read_only")
        extra = open_kwargs.get("extra_version_locations", ())

        def prepare(copy: Backend) -> None:
            open_database(copy, migrate=migrate, extra_version_locations=extra)

        backend_for(url, settings).restore(source, head_version=HEAD_VERSION, prepare=prepare)
        return cls.open(url, **open_kwargs)


def _metrics_for(registry: CollectorRegistry | None) -> Hooks:
    from kube9_store.operations.metrics import metrics_for

    return metrics_for(registry)
