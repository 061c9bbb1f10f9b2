"""Health for liveness and readiness probes, at a cost that does not grow with the database:
the file opens read-only, answers a query (the kept counts), is at the package's schema head,
reads its newest event through the main index, has room on its volume and within its size
budget, and the last file checks that maintenance recorded passed and are recent
(:mod:`kube9_store.operations.checked`). ``degraded`` when the volume is more than 90% full,
the database is over its budget, or that check failed or is too old. ``full=True`` also runs
quick_check, which reads every page. Read-only: a probe never writes.

On PostgreSQL the same checks run but the file check: the server checks its own pages
(``amcheck``), and ``last_check`` says so."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kube9_store.errors import Kube9StoreError, UnsupportedOperationError
from kube9_store.gates.display import masked_url
from kube9_store.operations import checked
from kube9_store.schema.facts import HEAD_VERSION

if TYPE_CHECKING:
    from kube9_store.config import DbLocation

#: Exit codes of ``kube9-store health``.
EXIT_HEALTHY, EXIT_FAILING, EXIT_DEGRADED = 0, 1, 3


@dataclass
class HealthReport:
    """``ok`` when every check passed; each check says what it found. A check that passed but
    warns (``"degraded": True``: a nearly full volume, a database over its budget, a recorded
    file check that failed or is too old) makes the status ``degraded`` rather than
    ``failing``."""

    database: str
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c["ok"] for c in self.checks.values())

    @property
    def status(self) -> str:
        if not self.ok:
            return "failing"
        return "degraded" if any(c.get("degraded") for c in self.checks.values()) else "ok"

    @property
    def exit_code(self) -> int:
        return {"ok": EXIT_HEALTHY, "degraded": EXIT_DEGRADED}.get(self.status, EXIT_FAILING)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "status": self.status,
            "database": self.database,
            "checks": self.checks,
        }


def check_health(db: DbLocation | None = None, *, full: bool = False) -> HealthReport:
    """Run the checks in order; later checks are skipped once one fails. ``full`` adds
    quick_check, which reads the whole file."""
    from kube9_store.backends import backend_for
    from kube9_store.config import resolve_url
    from kube9_store.store.eventstore import EventStore

    url = resolve_url(db)
    report = HealthReport(database=masked_url(url))
    try:
        report.database = backend_for(url).location
        store = EventStore.open(url, read_only=True, metrics=False)
    except Kube9StoreError as exc:
        report.checks["open"] = {"ok": False, "detail": str(exc)}
        return report
    with store:
        run_checks(report, store, full=full)
    return report


def run_checks(report: HealthReport, store: Any, *, full: bool = False) -> None:
    """The checks after the open, on an open read-only store (the CLI's lean read path runs
    them on its own connection); the first that fails ends them, and an error is the failure
    of the check that met it."""
    report.checks["open"] = {"ok": True, "detail": "opened read-only"}
    steps: list[tuple[str, Callable[[Any], dict[str, Any] | None]]] = [
        ("query", lambda s: {"ok": True, "detail": f"{s.count()} events"}),
        ("schema", _schema_check),
        ("newest", _newest_check),
        ("storage", _storage_check),
        ("last_check", _last_check),
        ("quick_check", _quick_check if full else _quick_check_skipped),
    ]
    for name, step in steps:
        try:
            entry = step(store)
        except Kube9StoreError as exc:
            report.checks[name] = {"ok": False, "detail": str(exc)}
            return
        if entry is None:
            continue
        report.checks[name] = entry
        if not entry["ok"]:
            return


def _on_server(store: Any) -> bool:
    """A server checks its own pages: there is no file check to run or to judge."""
    return not store.backend.file_checks


def _schema_check(store: Any) -> dict[str, Any]:
    version = store.schema_version()
    return {
        "ok": version == HEAD_VERSION,
        "detail": f"schema version {version}, package head {HEAD_VERSION}",
    }


def _newest_check(store: Any) -> dict[str, Any]:
    """The newest event, read through the index every page of events is read by: one bounded
    read of the pages a refresh reads first."""
    newest = store.query(limit=1)
    if not newest:
        return {"ok": True, "detail": "no events"}
    return {"ok": True, "detail": f"newest event {newest[0].id} at {newest[0].created_at}"}


def _last_check(store: Any) -> dict[str, Any]:
    """The last file checks maintenance recorded (never run here: they read every page)."""
    if _on_server(store):
        return {
            "ok": True,
            "degraded": False,
            "detail": f"{store.backend.name}: the server checks its own pages, no file check"
            f" to run or record ({store.backend.maintenance_hint})",
            "last": {},
        }
    return checked.judge(store.maintenance_facts(), time.time())


def _quick_check(store: Any) -> dict[str, Any] | None:
    """quick_check, which reads every page (``health --full``); none on a server."""
    try:
        result = store.integrity_check(full=False)
    except UnsupportedOperationError:
        return None  # servers check themselves
    return {"ok": result.ok, "detail": "ok" if result.ok else "; ".join(result.problems[:5])}


def _quick_check_skipped(store: Any) -> dict[str, Any] | None:
    if _on_server(store):
        return None
    return {
        "ok": True,
        "skipped": True,
        "detail": "not run: it reads the whole file (`health --full` runs it; last_check has"
        " maintenance's last)",
    }


def _storage_check(store: Any) -> dict[str, Any]:
    """Room on the volume and within the size budget: passes, but degraded near the limits."""
    from kube9_store.operations.capacity import VOLUME_DEGRADED_SHARE

    problems = []
    volume = store.volume()
    if volume is not None and volume.used_share > VOLUME_DEGRADED_SHARE:
        problems.append(
            f"volume {100 * volume.used_share:.1f}% full ({volume.free_bytes} bytes free)"
        )
    budget = store.storage_budget()
    if budget is not None:
        used = store.backend.used_bytes()
        if used > budget:
            problems.append(f"database uses {used} bytes, over its budget of {budget}")
    detail = "; ".join(problems) or (
        f"volume {100 * volume.used_share:.1f}% full" if volume is not None else "ok"
    )
    return {"ok": True, "degraded": bool(problems), "detail": detail}
