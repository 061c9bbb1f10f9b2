"""Event ids: ``evt_YYYYMMDD_HHMMSS_<6 chars a-z0-9>``, from UTC time and a CSPRNG."""

from __future__ import annotations

import secrets
import string
from datetime import datetime

from kube9_store.timestamps import to_utc, utcnow

ALPHABET = string.ascii_lowercase + string.digits
SUFFIX_LENGTH = 6


_SPACE = len(ALPHABET) ** SUFFIX_LENGTH
_PAIRS = [a + b for a in ALPHABET for b in ALPHABET]  # 1296 two-character digits


def random_suffix() -> str:
    """Six characters drawn uniformly from [a-z0-9] (one CSPRNG draw, base-36 digits)."""
    n = secrets.randbelow(_SPACE)
    high, low = divmod(n, 1296 * 1296)
    mid, low = divmod(low, 1296)
    return _PAIRS[high] + _PAIRS[mid] + _PAIRS[low]


def generate_event_id(at: datetime | None = None) -> str:
    """A new event id for time ``at`` (default: now, UTC). 36**6 suffixes per second: callers
    that insert must retry with a fresh id on the rare collision (the store does)."""
    t = to_utc(at) if at is not None else utcnow()
    return (
        f"evt_{t.year:04d}{t.month:02d}{t.day:02d}_{t.hour:02d}{t.minute:02d}{t.second:02d}"
        f"_{random_suffix()}"
    )
