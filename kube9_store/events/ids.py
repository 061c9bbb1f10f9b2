"""Event ids: ``evt_YYYYMMDD_HHMMSS_<6 chars a-z0-9>``, from UTC time and a CSPRNG."""

from __future__ import annotations

import secrets
import string
import threading
from datetime import datetime

from kube9_store.errors import ValidationError
from kube9_store.events.timestamps import format_timestamp, utcnow
from kube9_store.store import forks

#: The digits of an id suffix, in base-36 order.
ALPHABET = string.digits + string.ascii_lowercase
SUFFIX_LENGTH = 6


_SPACE = len(ALPHABET) ** SUFFIX_LENGTH
_PAIRS: list[str] = [a + b for a in ALPHABET for b in ALPHABET]  # 1296 two-character digits


_DRAW_LIMIT = (1 << 64) // _SPACE * _SPACE  # below it, n % _SPACE is exactly uniform


#: CSPRNG bytes read ahead per thread (one system call per 64 ids, not one per id); a forked
#: child never uses its parent's.
_BUFFER_BYTES = 512
_buffered = threading.local()


def random_suffix() -> str:
    """Six characters drawn uniformly from [a-z0-9]: one 64-bit CSPRNG draw from this
    thread's buffer (rejected, and drawn again, with probability below 1e-9), read as
    base-36 digits."""
    local = _buffered.__dict__
    process = forks.generation()
    while True:
        buffer: bytearray | None = local.get("buffer")
        if buffer is None or not buffer or local.get("process") != process:
            buffer = local["buffer"] = bytearray(secrets.token_bytes(_BUFFER_BYTES))
            local["process"] = process
        n: int = int.from_bytes(buffer[-8:])
        del buffer[-8:]
        if n < _DRAW_LIMIT:
            break
    n %= _SPACE
    high, low = divmod(n, 1296 * 1296)
    mid, low = divmod(low, 1296)
    return _PAIRS[high] + _PAIRS[mid] + _PAIRS[low]


def random_suffixes(n: int) -> list[str]:
    """``n`` suffixes drawn as :func:`random_suffix` draws one, from one CSPRNG read (one
    system call for a whole batch)."""
    out: list[str] = []
    pairs, space, limit = _PAIRS, _SPACE, _DRAW_LIMIT
    for draw in memoryview(secrets.token_bytes(8 * n)).cast("Q").tolist():
        if draw >= limit:
            out.append(random_suffix())
            continue
        high, low = divmod(draw % space, 1296 * 1296)
        mid, low = divmod(low, 1296)
        out.append(pairs[high] + pairs[mid] + pairs[low])
    return out


def base36_suffix(n: int) -> str:
    """The last :data:`SUFFIX_LENGTH` base-36 digits of ``n`` (least significant first)."""
    digits = []
    for _ in range(SUFFIX_LENGTH):
        n, d = divmod(n, len(ALPHABET))
        digits.append(ALPHABET[d])
    return "".join(digits)


def event_id_at(created_at: str, suffix: str | None = None) -> str:
    """The id of an event created at ``created_at`` (stored form), so ids sort like events;
    the suffix is random unless given."""
    return id_prefix(created_at) + (suffix if suffix is not None else random_suffix())


def id_prefix(created_at: str) -> str:
    """``evt_YYYYMMDD_HHMMSS_``: the part of an id that a stored timestamp decides."""
    c = created_at
    return f"evt_{c[0:4]}{c[5:7]}{c[8:10]}_{c[11:13]}{c[14:16]}{c[17:19]}_"


def generate_event_id(at: datetime | None = None) -> str:
    """A new event id for time ``at`` (default: now, UTC). 36**6 suffixes per second: callers
    that insert must retry with a fresh id on the rare collision (the store does)."""
    if at is not None and not isinstance(at, datetime):
        raise ValidationError.single("at", f"must be a datetime, got {type(at).__name__}")
    try:
        return event_id_at(format_timestamp(at if at is not None else utcnow()))
    except ValueError as exc:
        raise ValidationError.single("at", str(exc)) from None
