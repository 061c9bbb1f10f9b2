"""The one stored timestamp form: ``YYYY-MM-DDTHH:MM:SS.mmmZ`` in UTC, fixed width.

Fixed width and a single zone make text order equal time order, so range filters and retention
cutoffs compare exactly as text. A naive datetime (or an ISO string without an offset) is taken
to be UTC, as Kubernetes and ``datetime.utcnow()`` produce them.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def to_utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime (naive means UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{value.isoformat()} is out of range once converted to UTC") from None


def format_timestamp(value: datetime) -> str:
    """The stored form of ``value``, truncated to milliseconds."""
    # isoformat pads the year to four digits and ends in "+00:00" for a UTC value
    return to_utc(value).isoformat(timespec="milliseconds")[:-6] + "Z"


def parse_timestamp(text: str) -> datetime:
    """Parse an ISO 8601 date or date-time (``Z`` or an offset allowed) into aware UTC.

    Raises ValueError with the reason when ``text`` is not ISO 8601.
    """
    raw = text.strip()
    if not raw:
        raise ValueError("must be an ISO 8601 timestamp, got an empty string")
    if raw[-1] in "zZ":
        raw = raw[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(
            f"must be an ISO 8601 timestamp such as 2025-12-02T10:30:45.123Z, got {text!r}"
        ) from None
    return to_utc(parsed)


def normalize_timestamp(value: datetime | str) -> str:
    """Any accepted timestamp input, in the stored form."""
    if isinstance(value, datetime):
        return format_timestamp(value)
    return format_timestamp(parse_timestamp(value))


_AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_moment(text: str, now: datetime | None = None) -> datetime:
    """A point in time: a date (``2025-12-01``), an ISO timestamp, or an age before ``now``
    (``30m``, ``24h``, ``7d``, ``2w``, ``45s``). Raises ValueError naming the accepted forms."""
    raw = text.strip()
    unit = raw[-1:].lower()
    if unit in _AGE_UNITS and raw[:-1].isdigit() and raw[:-1].isascii():
        from datetime import timedelta

        try:
            return (now or utcnow()) - timedelta(seconds=int(raw[:-1]) * _AGE_UNITS[unit])
        except OverflowError:
            raise ValueError(f"age {text!r} reaches before year 1") from None
    try:
        return parse_timestamp(raw)
    except ValueError:
        raise ValueError(
            f"must be a date (2025-12-01), an ISO 8601 timestamp (2025-12-01T10:30:00Z) "
            f"or an age (30m, 24h, 7d), got {text!r}"
        ) from None
