"""Rules for plain arguments (counts, limits, days, seconds), in one place so every entry point
names the argument and the rule the same way, and no number reaches SQL or datetime arithmetic
outside the range it can hold."""

from __future__ import annotations

import math

from kube9_store.errors import ValidationError

#: The largest integer SQLite and PostgreSQL store (a signed 64-bit integer).
MAX_INT64 = 2**63 - 1
#: The longest retention or snapshot age accepted, in days (a century).
MAX_DAYS = 36_500
#: The longest wait or interval accepted, in seconds (a year).
MAX_SECONDS = 366 * 86_400.0


def whole_number(name: str, value: object, minimum: int, maximum: int = MAX_INT64) -> int:
    """An int (not a bool) in ``minimum..maximum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError.single(name, f"must be an integer, got {value!r}")
    if not minimum <= value <= maximum:
        raise ValidationError.single(
            name, f"must be an integer from {minimum} to {maximum}, got {value!r}"
        )
    return value


def days(name: str, value: object) -> int:
    """A whole number of days from 1 to :data:`MAX_DAYS`."""
    return whole_number(name, value, 1, MAX_DAYS)


def seconds(name: str, value: object, *, positive: bool = False) -> float:
    """A finite number of seconds, >= 0 (or > 0 when ``positive``), at most a year."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
        or (positive and value == 0)
        or value > MAX_SECONDS
    ):
        bound = "> 0" if positive else ">= 0"
        raise ValidationError.single(
            name,
            f"must be a finite number of seconds {bound} and at most {MAX_SECONDS:.0f}, "
            f"got {value!r}",
        )
    return float(value)
