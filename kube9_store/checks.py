"""Rules for plain arguments (counts, limits, days, seconds, shares, text, paths), in one place
so every entry point names the argument and the rule the same way, and no value reaches SQL or
datetime arithmetic outside the range it can hold."""

from __future__ import annotations

import math
import os
from pathlib import Path

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
        or not -MAX_SECONDS <= value <= MAX_SECONDS  # before isfinite: a huge int overflows it
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


#: Size suffixes: SI (k, M, G, T: powers of 1000) and binary (Ki, Mi, Gi, Ti: powers of 1024),
#: as Kubernetes quantities write them; a trailing B is allowed.
_SIZE_UNITS = {
    "": 1,
    "k": 10**3,
    "m": 10**6,
    "g": 10**9,
    "t": 10**12,
    "ki": 2**10,
    "mi": 2**20,
    "gi": 2**30,
    "ti": 2**40,
}


def byte_size(name: str, value: object, minimum: int = 1) -> int:
    """A size in bytes: an int, or text such as ``800Mi``, ``1G``, ``1.5Gi``, ``1048576``."""
    if isinstance(value, str):
        text = value.strip()
        number = text.rstrip("BbIiKkMmGgTt")
        unit = text[len(number) :].lower().removesuffix("b")
        try:
            amount = float(number) if number.isascii() else math.nan
        except ValueError:
            amount = math.nan
        if unit not in _SIZE_UNITS or not math.isfinite(amount) or amount < 0:
            raise ValidationError.single(
                name,
                f"must be a size in bytes such as 800Mi, 1G or 1073741824, got {value!r}",
            )
        scaled = amount * _SIZE_UNITS[unit]
        value = int(scaled) if scaled <= MAX_INT64 else MAX_INT64 + 1
    return whole_number(name, value, minimum)


def text(name: str, value: object) -> str:
    """A string a database can bind: valid Unicode (no lone surrogate) without NUL characters."""
    if not isinstance(value, str):
        raise ValidationError.single(name, f"must be a string, got {type(value).__name__}")
    if "\x00" in value:
        raise ValidationError.single(name, "must not contain NUL characters")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValidationError.single(
                name, "must be valid Unicode (it holds a lone surrogate)"
            ) from None
    return value


def share(name: str, value: object) -> float:
    """A fraction from 0 to 1."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ValidationError.single(name, f"must be a number from 0 to 1, got {value!r}")
    return float(value)


def path(name: str, value: object) -> Path:
    """A file system path given as a non-empty string or path-like object."""
    if not isinstance(value, str | os.PathLike):
        raise ValidationError.single(name, f"must be a path, got {type(value).__name__}")
    raw = os.fspath(value)
    if not isinstance(raw, str) or not raw.strip():
        raise ValidationError.single(name, "must be a non-empty path")
    return Path(text(name, raw))
