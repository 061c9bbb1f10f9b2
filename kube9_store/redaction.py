"""Scrubbing secrets before they are stored (spec: "Never store passwords, tokens, secrets").

Metadata, at every depth: a value under a key that *names* a secret becomes ``[REDACTED]``; keys
are split into words (snake, kebab, dotted, camel case) and matched word by word, so ``author``
and ``authority`` stay while ``auth_token``, ``X-Auth-Token`` and ``apiKey`` go. A string value
that is plainly a credential (a bearer or basic authorization value, a JWT, a PEM private key) is
redacted whatever its key.

Title and description are free text: no key rule applies there, but the same credential
patterns are replaced in place. Anything else (a password typed into a sentence) is not detected.
A key whose last word describes
the secret instead of holding it (``secretName``, ``passwordFile``) is kept.
The secret itself is never logged; the key path is, at warning level.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from itertools import pairwise

log = logging.getLogger(__name__)

REDACTED = "[REDACTED]"

#: Single words that name a secret.
SECRET_WORDS = frozenset(
    {
        "password",
        "passwords",
        "passwd",
        "pwd",
        "passphrase",
        "secret",
        "secrets",
        "token",
        "tokens",
        "apikey",
        "credential",
        "credentials",
        "authorization",
        "auth",
        "cookie",
        "privatekey",
        "signature",
    }
)
#: Adjacent word pairs that together name a secret (``api_key``, ``privateKey``, ``access-key``).
SECRET_PAIRS = frozenset(
    {
        ("api", "key"),
        ("private", "key"),
        ("access", "key"),
        ("secret", "key"),
        ("client", "secret"),
        ("session", "id"),
        ("set", "cookie"),
        ("connection", "string"),
    }
)

#: A key ending in one of these words describes a secret rather than holding one
#: (``secretName``, ``passwordFile``, ``token_ttl``) and is kept.
DESCRIBING_WORDS = frozenset(
    {
        "name",
        "names",
        "ref",
        "namespace",
        "count",
        "length",
        "type",
        "ttl",
        "expiry",
        "expires",
        "path",
        "file",
        "version",
        "rotated",
        "provider",
        "source",
    }
)

_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z]|[0-9]|\b|_)|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
_CREDENTIAL = re.compile(
    # Authorization header values.
    r"\b(?:Bearer|Basic)\s+[A-Za-z0-9\-._~+/]{8,}=*"
    # JSON Web Tokens: base64url header (always starting with {"), payload, signature.
    r"|\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"
    # PEM private keys, whole block (or to the end when the block is cut off).
    r"|-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?:.*?-----END [A-Z0-9 ]*PRIVATE KEY-----|.*)",
    re.IGNORECASE | re.DOTALL,
)


_redactions = 0
_redactions_lock = threading.Lock()


def note_redaction() -> None:
    """Count one redaction (exposed as kube9_events_redactions_total)."""
    global _redactions
    with _redactions_lock:
        _redactions += 1


def redaction_count() -> int:
    return _redactions


def key_words(key: str) -> list[str]:
    """Split a key into lower-case words: ``X-Auth-Token`` -> ``['x', 'auth', 'token']``."""
    return [w.lower() for w in _WORD.findall(key)]


@functools.lru_cache(maxsize=4096)
def is_secret_key(key: str) -> bool:
    """Whether ``key`` names a secret (cached: the same keys come back event after event)."""
    words = key_words(key)
    if words and words[-1] in DESCRIBING_WORDS:
        return False
    if any(w in SECRET_WORDS for w in words):
        return True
    return any(pair in SECRET_PAIRS for pair in pairwise(words))


def contains_credential(text: str) -> bool:
    return _CREDENTIAL.search(text) is not None


def scrub_text(text: str, field: str) -> str:
    """Replace credential-shaped substrings of free text."""
    out, replaced = _CREDENTIAL.subn(REDACTED, text)
    if replaced:
        note_redaction()
        log.warning("redacted a credential-shaped value in %s", field)
    return out
