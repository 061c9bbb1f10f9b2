"""Which names hold a secret: metadata keys, the ``name`` of a name/value pair, a ``--flag``,
the key of ``key=value`` inside text.

A name is normalised first (Unicode NFKC, control and invisible format characters dropped,
case-folded), split into words at separators, digits and case changes (``XAPIKey`` -> ``xapi``,
``key``), then matched three ways: a secret word (``password``, ``token``, ``auth``), a pair of
adjacent words (``api key``, ``session id``), or a secret stem inside the words written together
(``CLIENTSECRET``, ``xapikey``, ``dbpassword``), unless that stem lies inside an ordinary
word (``tokenizer``, ``secretary``). A name whose words after the secret describe it rather than
hold it (``secretName``, ``passwordFile``, ``token_ttl``) or that counts it (``max_tokens``)
is not a secret.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from itertools import accumulate, pairwise

#: Single words that name a secret.
SECRET_WORDS = frozenset(
    {
        "password", "passwords", "passwd", "pwd", "pass", "passphrase", "passcode",
        "secret", "secrets", "token", "tokens", "apikey", "apikeys",
        "credential", "credentials", "creds", "cred",
        "authorization", "auth", "auths", "cookie", "cookies",
        "privatekey", "secretkey", "accesskey", "signature", "sig",
        "jwt", "bearer", "otp", "totp", "hmac", "sessionid", "kubeconfig",
        "dockerconfigjson", "dockercfg", "clientsecret", "csrf", "xsrf", "phpsessid",
        "csrftoken", "xsrftoken", "symfony",
    }
)  # fmt: skip
#: Adjacent words that together name a secret (``api_key``, ``privateKey``, ``tls.key``).
SECRET_PAIRS = frozenset(
    {
        ("api", "key"), ("private", "key"), ("access", "key"), ("secret", "key"),
        ("client", "key"), ("signing", "key"), ("session", "key"), ("session", "id"),
        ("encryption", "key"), ("master", "key"), ("account", "key"), ("shared", "key"),
        ("ssh", "key"), ("tls", "key"), ("app", "key"), ("auth", "key"), ("license", "key"),
        ("deploy", "key"), ("rsa", "key"), ("host", "key"), ("root", "key"),
        ("set", "cookie"), ("connection", "string"), ("conn", "str"), ("pass", "word"),
        ("subscription", "key"), ("function", "key"), ("functions", "key"),
        ("application", "key"), ("consumer", "key"), ("integration", "key"),
        ("admin", "key"), ("connect", "sid"), ("forwarded", "for"),
    }
)  # fmt: skip
#: Stems found in the words written together, whatever the separators (``CLIENTSECRET``).
SECRET_STEMS = (
    "password", "passwort", "passwd", "passphrase", "passcode", "pwd", "secret", "token", "apikey",
    "privatekey", "accesskey", "secretkey", "signingkey", "sessionkey", "sessionid",
    "credential", "authorization", "cookie", "clientkey", "encryptionkey", "masterkey",
    "accountkey", "sharedkey", "sshkey", "tlskey", "dockerconfig", "dockercfg", "kubeconfig",
)  # fmt: skip
#: Every name above contains one of these, case-insensitively, once folded (a test checks):
#: what a fast prefilter looks for before any name is split into words.
KEY_STEMS = (
    "pass", "pwd", "secret", "token", "key", "auth", "cred", "cookie", "sig", "jwt",
    "bearer", "otp", "hmac", "session", "conn", "kubeconfig", "docker", "csrf", "xsrf", "sessid",
    "symfony", "forwarded",
)  # fmt: skip
#: Words that name a secret only as the last word of a name (Sentry's denylist scrubs
#: ``session``, ``user_session``, ``_session``; ``sessionAffinity`` is a Service's setting).
LAST_WORDS = frozenset({"session"})
#: Ordinary words that contain a stem and hold no secret.
ORDINARY_WORDS = frozenset(
    {
        "tokenizer", "tokenizers", "tokenize", "tokenized", "tokenizes", "tokenization",
        "detokenize", "detokenizer", "secretary", "secretaries", "secretariat", "secretion",
        "secrete", "secreted", "secretly", "passwordless", "cookiecutter", "tokenomics",
    }
)  # fmt: skip
#: Words after the secret that make the name describe it rather than hold it.
DESCRIBING_WORDS = frozenset(
    {
        "name", "names", "ref", "refs", "namespace", "count", "length", "len", "type", "kind",
        "ttl", "expiry", "expires", "expiration", "expired", "age", "path", "file", "dir",
        "version", "rotated", "rotation", "provider", "source", "url", "uri", "endpoint",
        "arn", "header", "policy", "method", "mode", "enabled", "disabled", "required",
        "optional", "present", "exists", "valid", "store", "volume", "mount", "format",
        "encoding", "algorithm", "alg", "scope", "scopes", "audience", "issuer", "field",
        "label", "selector", "template", "class", "backend", "manager", "status", "state",
        "error", "reason", "message", "strength", "min", "max", "limit", "changed", "created",
        "updated", "at", "time", "timestamp", "date", "seconds", "lifetime", "duration",
        "interval", "period", "size", "bytes", "used", "usage", "prefix", "rate", "ratio",
        "percent", "through", "threshold", "fail", "failed", "failures", "history", "timeout",
        "affinity", "hint", "attempts", "retries", "complexity", "rules", "requirements",
        "pattern", "regex", "generator", "reuse", "holder", "owner", "days",
    }
)  # fmt: skip
#: Words before the secret that make the name count or bound it (``max_tokens``), or name
#: an existing Secret (Helm's ``existingSecret``).
QUANTIFYING_WORDS = frozenset({"max", "min", "num", "number", "total", "no", "existing"})
#: Words after an ``access key`` that make the name its identifier (``accessKeyId``; a Vault
#: ``secret_id`` and a service account's ``private_key_id`` stay secrets).
KEY_ID_WORDS = frozenset({"id", "ids"})
#: Secret words in the plural that count when a number is their value (``tokens: 1200``).
COUNTED_WORDS = frozenset({"tokens", "secrets", "passwords", "credentials", "keys", "cookies"})

_CHUNK = re.compile(r"[^\W_]+")  # runs of letters and digits, in any script


def key_words(name: str) -> tuple[str, ...]:
    """``name`` as normalised lower-case words: ``X-Auth-Token`` -> ``('x', 'auth', 'token')``."""
    return tuple(w for chunk in _chunks(name) for w in chunk)


def _chunks(name: str) -> list[tuple[str, ...]]:
    """The runs of letters and digits between separators, each split into its words."""
    return [tuple(w.casefold() for w in _case_split(c)) for c in _CHUNK.findall(fold(name))]


def fold(text: str) -> str:
    """NFKC, with control characters (but tab and line breaks) and invisible format characters
    (zero-width spaces, soft hyphens) dropped: the form in which a name or a credential is
    compared, so ``pass\\u200bword`` and full-width letters hide nothing."""
    if text.isascii():
        return text if text.isprintable() else text.translate(_ASCII_CONTROLS)
    return "".join(
        ch
        for ch in unicodedata.normalize("NFKC", text)
        if ch in "\t\n\r" or unicodedata.category(ch) not in ("Cc", "Cf")
    )


_ASCII_CONTROLS = dict.fromkeys(
    c for c in range(128) if chr(c) not in "\t\n\r" and not chr(c).isprintable()
)


def _case_split(chunk: str) -> list[str]:
    """Split at lower->upper, letter<->digit, and before the last capital of a capital run
    that starts a word (``XAPIKey`` -> ``XAPI``, ``Key``)."""
    out: list[str] = []
    start = 0
    for i in range(1, len(chunk)):
        a, b = chunk[i - 1], chunk[i]
        if (
            (a.islower() and b.isupper())
            or (a.isdigit() != b.isdigit())
            or (a.isupper() and b.isupper() and i + 1 < len(chunk) and chunk[i + 1].islower())
        ):
            out.append(chunk[start:i])
            start = i
    out.append(chunk[start:])
    return out


def _secret_span(chunks: list[tuple[str, ...]]) -> tuple[int, int] | None:
    """(first, last) index among all words of the words that name a secret, or None.

    Stems are looked for inside one chunk (words written together, ``CLIENTSECRET``,
    ``XAPIKey``), never across a separator: ``to_ken`` is not a token.
    """
    words = [w for chunk in chunks for w in chunk]
    hits: list[tuple[int, int]] = [(i, i) for i, w in enumerate(words) if w in SECRET_WORDS]
    if words and words[-1] in LAST_WORDS:
        hits.append((len(words) - 1, len(words) - 1))
    hits += [
        (i, i + 1)
        for i, (a, b) in enumerate(pairwise(words))
        if (a, b) in SECRET_PAIRS or (a, b.removesuffix("s")) in SECRET_PAIRS  # api keys
    ]
    base = 0
    for chunk in chunks:
        joined = "".join(chunk)
        ends = list(accumulate(len(w) for w in chunk))
        for stem in SECRET_STEMS:
            start = joined.find(stem)
            while start >= 0:
                a = bisect_right(ends, start)
                b = bisect_right(ends, start + len(stem) - 1)
                if not (a == b and chunk[a] in ORDINARY_WORDS):
                    hits.append((base + a, base + b))
                start = joined.find(stem, start + 1)
        base += len(chunk)
    if not hits:
        return None
    return min(h[0] for h in hits), max(h[1] for h in hits)


def _names_a_secret(name: str) -> bool:
    """Whether ``name`` names a secret rather than describes or counts one."""
    chunks = _chunks(name)
    span = _secret_span(chunks)
    if span is None:
        return False
    words = [w for chunk in chunks for w in chunk]
    first, last = span
    if any(w in DESCRIBING_WORDS for w in words[last + 1 :]):
        return False
    if words[last - 1 : last + 1] == ["access", "key"] and any(
        w in KEY_ID_WORDS for w in words[last + 1 :]
    ):
        return False
    return not any(w in QUANTIFYING_WORDS for w in words[:first])


def counts_secrets(name: str) -> bool:
    """Whether ``name`` ends in a plural secret word, so that a number under it is a count
    (``tokens: 1200``, ``secrets: 3``), not a secret."""
    words = key_words(name)
    return bool(words) and words[-1] in COUNTED_WORDS


_cache: dict[str, bool] = {}
_CACHE_MAX = 8192
_CACHED_NAME_MAX = 256


def is_secret_key(name: str) -> bool:
    """Whether ``name`` names a secret (cached: the same names come back event after event)."""
    found = _cache.get(name)
    if found is None:
        found = _names_a_secret(name)
        if len(name) <= _CACHED_NAME_MAX:
            if len(_cache) >= _CACHE_MAX:
                _cache.clear()
            _cache[name] = found
    return found
