"""Health for liveness and readiness probes: the database opens, answers a query, is at the
package's schema head, and passes quick_check. Read-only: a probe never writes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kube9_store.config import DbLocation
from kube9_store.errors import Kube9StoreError, UnsupportedOperationError


@dataclass
class HealthReport:
    """``ok`` when every check passed; each check says what it found."""

    database: str
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c["ok"] for c in self.checks.values())

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "database": self.database, "checks": self.checks}


def check_health(db: DbLocation | None = None) -> HealthReport:
    """Run the checks in order; later checks are skipped once one fails."""
    from kube9_store.backends import backend_for
    from kube9_store.config import resolve_url
    from kube9_store.schema import HEAD_VERSION
    from kube9_store.store import EventStore

    url = resolve_url(db)
    report = HealthReport(database=url.render_as_string())
    try:
        report.database = backend_for(url).location
        store = EventStore.open(url, read_only=True, metrics=False)
    except Kube9StoreError as exc:
        report.checks["open"] = {"ok": False, "detail": str(exc)}
        return report
    with store:
        report.checks["open"] = {"ok": True, "detail": "opened read-only"}
        try:
            report.checks["query"] = {"ok": True, "detail": f"{store.count()} events"}
            version = store.schema_version()
            report.checks["schema"] = {
                "ok": version == HEAD_VERSION,
                "detail": f"schema version {version}, package head {HEAD_VERSION}",
            }
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
    return report
