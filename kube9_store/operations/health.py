"""Health for liveness and readiness probes: the database opens, answers a query, is at the
package's schema head, and passes quick_check; ``degraded`` when its volume is more than 90%
full or it uses more than its size budget. Read-only: a probe never writes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kube9_store.errors import Kube9StoreError, UnsupportedOperationError
from kube9_store.gates.display import masked_url
from kube9_store.schema.facts import HEAD_VERSION

if TYPE_CHECKING:
    from kube9_store.config import DbLocation

#: Exit codes of ``kube9-store health``.
EXIT_HEALTHY, EXIT_FAILING, EXIT_DEGRADED = 0, 1, 3


@dataclass
class HealthReport:
    """``ok`` when every check passed; each check says what it found. A check that passed but
    warns (``"degraded": True``: a nearly full volume, a database over its budget) makes the
    status ``degraded`` rather than ``failing``."""

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


def check_health(db: DbLocation | None = None) -> HealthReport:
    """Run the checks in order; later checks are skipped once one fails."""
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
        run_checks(report, store)
    return report


def run_checks(report: HealthReport, store: Any) -> None:
    """The checks after the open, on an open read-only store (the CLI's lean read path runs
    them on its own connection)."""
    report.checks["open"] = {"ok": True, "detail": "opened read-only"}
    try:
        report.checks["query"] = {"ok": True, "detail": f"{store.count()} events"}
        version = store.schema_version()
        report.checks["schema"] = {
            "ok": version == HEAD_VERSION,
            "detail": f"schema version {version}, package head {HEAD_VERSION}",
        }
        report.checks["storage"] = _storage_check(store)
        result = store.integrity_check(full=False)
        report.checks["quick_check"] = {
            "ok": result.ok,
            "detail": "ok" if result.ok else "; ".join(result.problems[:5]),
        }
    except UnsupportedOperationError:
        pass  # servers check themselves
    except Kube9StoreError as exc:
        report.checks.setdefault("query", {"ok": False, "detail": str(exc)})
        if report.checks["query"]["ok"]:
            report.checks["quick_check"] = {"ok": False, "detail": str(exc)}


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
