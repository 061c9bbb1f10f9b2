"""Capacity: how full the database's volume is, what an event costs, where the size is
heading under the age rules at the current insert rate, and a size budget to suggest when the
volume is small. Read-only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from kube9_store.events.timestamps import format_timestamp
from kube9_store.results import VolumeInfo

if TYPE_CHECKING:
    from kube9_store.store.eventstore import EventStore

#: A volume fuller than this makes health report ``degraded``.
VOLUME_DEGRADED_SHARE = 0.90
#: The budget suggested for a small volume, as a share of it: VACUUM writes the used pages
#: again through the write-ahead log beside the database, so the database should use well
#: under half of its volume (its temporary copy must go to another filesystem).
SUGGESTED_BUDGET_SHARE = 0.40
MIB = 2**20


@dataclass(frozen=True)
class Capacity:
    """Sizes in bytes; ``projected_bytes`` is the steady-state size under the age rules at the
    last 24 hours' insert rate (None when nothing was inserted in them)."""

    events: int
    database_bytes: int
    used_bytes: int
    free_page_share: float
    bytes_per_event: float | None
    inserted_last_24h: int
    projected_events: int | None
    projected_bytes: int | None
    budget_bytes: int | None
    volume: VolumeInfo | None
    suggested_budget: str | None

    @property
    def over_budget(self) -> bool:
        return self.budget_bytes is not None and self.used_bytes > self.budget_bytes

    @property
    def volume_nearly_full(self) -> bool:
        return self.volume is not None and self.volume.used_share > VOLUME_DEGRADED_SHARE

    @property
    def fits(self) -> bool | None:
        """Whether the projected size stays within the budget (when set) and within the
        share of the volume the database may use; None without a projection."""
        if self.projected_bytes is None:
            return None
        limit = self.budget_bytes
        if self.volume is not None:
            room = int(self.volume.total_bytes * SUGGESTED_BUDGET_SHARE)
            limit = room if limit is None else min(limit, room)
        return limit is None or self.projected_bytes <= limit

    def as_dict(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "database_bytes": self.database_bytes,
            "used_bytes": self.used_bytes,
            "free_page_percent": round(100 * self.free_page_share, 1),
            "bytes_per_event": (
                round(self.bytes_per_event) if self.bytes_per_event is not None else None
            ),
            "inserted_last_24h": self.inserted_last_24h,
            "projected_events": self.projected_events,
            "projected_bytes": self.projected_bytes,
            "fits": self.fits,
            "budget_bytes": self.budget_bytes,
            "over_budget": self.over_budget,
            "volume": self.volume.as_dict() if self.volume is not None else None,
            "suggested_budget": self.suggested_budget,
        }


def capacity(store: EventStore, now: datetime | None = None) -> Capacity:
    """The store's capacity picture (``now`` defaults to the store's clock)."""
    at = now if now is not None else store.clock()
    policy = store.retention
    size = store.size_bytes()
    used = store.backend.used_bytes()
    events = store.count()
    since = format_timestamp(at - timedelta(days=1))
    low = store.count({"since": since, "severity": ["info", "warning"]})
    high = store.count({"since": since, "severity": ["error", "critical"]})
    per_event = used / events if events else None
    projected_events = (
        low * policy.info_warning_days + high * policy.error_critical_days if low + high else None
    )
    projected = (
        round(projected_events * per_event)
        if projected_events is not None and per_event is not None
        else None
    )
    volume = store.volume()
    suggestion = None
    if policy.max_bytes is None and volume is not None:
        room = int(volume.total_bytes * SUGGESTED_BUDGET_SHARE)
        if (projected or 0) > room or size.database_bytes > room:
            suggestion = f"{room // MIB}Mi"
    return Capacity(
        events=events,
        database_bytes=size.database_bytes,
        used_bytes=used,
        free_page_share=size.free_bytes / size.database_bytes if size.database_bytes else 0.0,
        bytes_per_event=per_event,
        inserted_last_24h=low + high,
        projected_events=projected_events,
        projected_bytes=projected,
        budget_bytes=policy.max_bytes,
        volume=volume,
        suggested_budget=suggestion,
    )
