"""The one gate for text that leaves the package for people: :func:`printable` for every line
that can reach a terminal (notices, warnings, errors, summaries), :func:`csv_cell` for every
CSV cell, and :func:`masked_url` for every database URL shown anywhere (summaries, errors,
``location``). Stored text comes from Kubernetes and other programs: it must not drive a
terminal (ESC, C1 controls) or split a line; a URL must not show a password, whether given as
user info or in the query string."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

if TYPE_CHECKING:  # SQLAlchemy is imported by masked_url: the lean read path prints without it
    from sqlalchemy.engine import URL

#: C0 controls, DEL, C1 controls, line and paragraph separators.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
#: Characters JSON text may hold raw that still break a line or drive a terminal.
_RAW_IN_JSON = re.compile(r"[\x7f-\x9f\u2028\u2029]")
#: A query parameter whose value is a credential (matched anywhere in its name).
_SECRET_PARAM = re.compile(r"pass|pwd|secret|token|key|credential|auth", re.IGNORECASE)
MASK = "***"


def _escape(match: re.Match[str]) -> str:
    return match.group().encode("unicode_escape").decode("ascii")


def escape_controls(text: str) -> str:
    """``text`` with every control character (C0, DEL, C1, line and paragraph separators)
    shown as ``\\xNN`` or ``\\uNNNN``, and lone surrogates as escapes: one safe line."""
    return _CONTROL.sub(_escape, text).encode("utf-8", "backslashreplace").decode("utf-8")


def printable(text: str) -> str:
    """A line (or JSON text) for a terminal: DEL, C1 controls and line separators as
    ``\\uXXXX`` escapes (still valid JSON), raw ESC and other C0 controls except newline as
    escapes too, lone surrogates escaped."""
    text = _RAW_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    text = re.sub(r"[\x00-\x09\x0b-\x1f]", lambda m: f"\\u{ord(m.group()):04x}", text)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


#: Controls a CSV cell may not hold raw: all but tab and line breaks, which CSV quotes.
_CELL_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")


#: The same in UTF-8 JSON bytes (C0 controls are escaped by every JSON encoder already).
_RAW_IN_JSON_BYTES = re.compile(rb"\x7f|\xc2[\x80-\x9f]|\xe2\x80[\xa8\xa9]")


def printable_json_bytes(data: bytes) -> bytes:
    """UTF-8 JSON text (lines of it) with DEL, C1 controls and line separators as ``\\uXXXX``
    escapes: the same JSON once parsed, and nothing a terminal acts on."""
    if b"\x7f" not in data and b"\xc2" not in data and b"\xe2\x80" not in data:
        return data  # the common case: one fast scan per byte value, no regex
    return _RAW_IN_JSON_BYTES.sub(lambda m: f"\\u{ord(m.group().decode()):04x}".encode(), data)


def csv_cell(value: Any) -> Any:
    """A CSV cell: text with ESC, C1 and other controls escaped (tab and line breaks stay,
    quoted by the CSV writer); anything else as it is."""
    if not isinstance(value, str):
        return value
    return _CELL_CONTROL.sub(_escape, value).encode("utf-8", "backslashreplace").decode("utf-8")


def masked_url(url: URL | str) -> str:
    """``url`` as it may be shown: the password of the user info and the value of every query
    parameter naming a credential (``password``, ``sslpassword``, ``token`` ...) as ``***``."""
    from sqlalchemy.engine import URL, make_url

    if isinstance(url, URL):
        parsed: URL | None = url
    else:
        try:
            parsed = make_url(url)
        except Exception:  # not a SQLAlchemy URL: mask it as a generic one
            parsed = None
    if parsed is None:
        return _masked_generic(str(url))
    hidden = "kube9masked"
    query = {k: (hidden if _SECRET_PARAM.search(k) else v) for k, v in parsed.query.items()}
    masked = parsed.set(query=query)
    if masked.password is not None:
        masked = masked.set(password=hidden)
    return masked.render_as_string(hide_password=False).replace(hidden, MASK)


def _masked_generic(text: str) -> str:
    parts = urlsplit(text)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{MASK}@{host}" if ":" in userinfo else netloc
    query = "&".join(
        f"{quote(k)}={MASK if _SECRET_PARAM.search(k) else quote(v)}"
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
