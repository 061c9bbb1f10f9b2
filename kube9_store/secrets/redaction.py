"""Scrubbing secrets before they are stored (spec: "never store passwords, tokens, secrets,
API keys in events").

Every text of an event is scrubbed: title, description, the object fields, and the metadata at
every depth (keys and values), before any truncation. Four rules:

1. ``secret_key``: the value under a key that names a secret (:mod:`kube9_store.secrets.keys`)
   is replaced whole, whatever its type (a boolean or null is kept: it holds no secret; so is
   a Kubernetes reference to a Secret, an object of only ``name``/``secretName``/``key``/
   ``path``/``items``/``optional``/``mode`` fields, which is walked like any other).
2. ``name_value_pair``: in an object with a secret-named ``name``/``key``/``header`` (any case),
   its ``value`` (and a literal ``valueFrom``) is replaced: container env, header lists, tags;
   in a list, the element after a secret-named ``--flag`` (container args).
3. ``kubernetes_secret``: in an object of ``kind: Secret``, every value of ``data``,
   ``stringData`` and ``binaryData`` is replaced (the keys stay).
4. Credentials inside any text, replaced in place (:mod:`kube9_store.secrets.text`). JSON
   text anywhere in a string (an annotation holding a manifest, a message quoting one,
   kubectl's patch escaped inside a message) is parsed and scrubbed by all four rules, then
   stored as compact JSON text again (escaped again when it was).

Each replaced value is a :class:`Redaction` (its path and rule, never the value). The store
reports the redactions of each call once, after it stored them: one warning on the
``kube9_store.secrets.redaction`` logger naming the events and paths, and a count per rule
(:func:`redaction_counts`, exposed as ``kube9_events_redactions_total{rule}``).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from kube9_store.secrets.keys import counts_secrets, is_secret_key
from kube9_store.secrets.text import (
    KUBERNETES_SECRET,
    NAME_VALUE_PAIR,
    REDACTED,
    TEXT_RULES,
    flagged,
    might_hold_secret,
    scrub_text,
)

log = logging.getLogger(__name__)

SECRET_KEY = "secret_key"
#: Every rule, as reported in a Redaction and counted in the metrics.
RULES = tuple(dict.fromkeys((SECRET_KEY, NAME_VALUE_PAIR, KUBERNETES_SECRET, *TEXT_RULES)))
#: At most this many events are named in one log line (the rest are counted).
LOG_EVENTS_MAX = 100

_PAIR_NAMES = frozenset({"name", "Name", "NAME", "key", "Key", "KEY", "header", "Header"})
_PAIR_VALUES = ("value", "Value", "VALUE", "valueFrom")
_SECRET_DATA = ("data", "stringData", "binaryData")
_ROLE_KEYS = _PAIR_NAMES | {"kind"}
_REFERENCE_KEYS = frozenset(
    {"name", "secretName", "key", "path", "items", "optional", "defaultMode", "mode", "namespace"}
)
_JSON_DEPTH_MAX = 3  # JSON text inside JSON text inside ... is parsed this deep


@dataclass(frozen=True, slots=True)
class Redaction:
    """One value replaced before storage: where (``metadata.env[0].value``, ``title``) and by
    which rule (one of ``RULES``)."""

    path: str
    rule: str


#: What a metadata object's validation can gather for the scrubber on its way (see
#: :func:`kube9_store.events.models.check_event`): every string value and every key of its objects,
#: from an object that holds no list (whose order a rule reads). When every key is one the
#: scrubber already knows to name no secret and play no role, no rule can apply and the
#: strings are all it needs: the metadata is not walked again.
Gathered = tuple[list[str], list[str]]


def scrub_event(
    texts: dict[str, str | None],
    metadata: dict[str, Any] | None,
    gathered: Gathered | None = None,
) -> tuple[dict[str, str | None], list[Redaction]]:
    """Scrub an event's text fields (returned, scrubbed; the same dict when nothing changed)
    and its metadata (validated JSON, scrubbed in place); return what was redacted.

    The common case is one walk of the metadata (key rules applied, strings collected), or
    none when its validation ``gathered`` what the walk would find, and one prefilter pass
    over every string; only an event the prefilter flags is walked again, to find the flagged
    strings' places.
    """
    found: list[Redaction] = []
    strings: list[Any] = [*texts.values()]  # None for an absent field
    if metadata:  # _metadata_strings, written out: this runs on every record
        if gathered is not None and _plain_keys.issuperset(gathered[1]):
            strings += gathered[0]
        else:
            _walk(metadata, "metadata", strings, None, found)
    if not might_hold_secret("\x00".join(filter(None, strings))):
        return texts, found
    strings = [value or "" for value in strings]  # aligned with the fields, for the places
    return _scrub_flagged(texts, metadata, strings, found, flagged(strings))


def scrub_events(
    events: Sequence[tuple[dict[str, str | None], dict[str, Any] | None]],
    gathered: Sequence[Gathered | None] | None = None,
) -> list[tuple[dict[str, str | None], list[Redaction]]]:
    """:func:`scrub_event` for each event of a batch (``gathered``: each one's, as
    :func:`scrub_event` takes it), with one prefilter pass over the strings of many events at
    once: in the common case that none holds a secret, that pass is all the text scanning the
    batch needs."""
    out: list[tuple[dict[str, str | None], list[Redaction]]] = []
    each = gathered if gathered is not None else [None] * len(events)
    for start in range(0, len(events), _EVENTS_PER_PASS):
        chunk = events[start : start + _EVENTS_PER_PASS]
        collected = [
            _collect(texts, metadata, g)
            for (texts, metadata), g in zip(
                chunk, each[start : start + _EVENTS_PER_PASS], strict=True
            )
        ]
        joined = "\x00".join(s for strings, _found in collected for s in strings)
        if not might_hold_secret(joined):
            out.extend(
                (texts, found) for (texts, _m), (_s, found) in zip(chunk, collected, strict=True)
            )
            continue
        for (texts, metadata), (strings, found) in zip(chunk, collected, strict=True):
            out.append(_scrub_flagged(texts, metadata, strings, found, flagged(strings)))
    return out


#: How many events one prefilter pass of a batch covers (bounds the joined text's size).
_EVENTS_PER_PASS = 256


def _collect(
    texts: dict[str, str | None], metadata: dict[str, Any] | None, gathered: Gathered | None
) -> tuple[list[str], list[Redaction]]:
    """An event's strings (its text fields first, then its metadata's), with the key and
    object rules applied to the metadata in place, and what they redacted."""
    found: list[Redaction] = []
    strings: list[str] = [value or "" for value in texts.values()]
    if metadata:
        _metadata_strings(metadata, gathered, strings, found)
    return strings, found


def _metadata_strings(
    metadata: dict[str, Any],
    gathered: Gathered | None,
    strings: list[str],
    found: list[Redaction],
) -> None:
    """Add the metadata's strings to ``strings``: those its validation ``gathered`` when
    every key is one that needs no rule (and there is no list), else by walking it, the key
    and object rules applied on the way."""
    if gathered is not None and _plain_keys.issuperset(gathered[1]):
        strings += gathered[0]
    else:
        _walk(metadata, "metadata", strings, None, found)


def _scrub_flagged(
    texts: dict[str, str | None],
    metadata: dict[str, Any] | None,
    strings: list[str],
    found: list[Redaction],
    hits: list[int],
) -> tuple[dict[str, str | None], list[Redaction]]:
    """Scrub the strings the prefilter flagged (``hits``, indices into ``strings``)."""
    if not hits:
        return texts, found
    names = list(texts)
    fields = len(names)
    out = dict(texts)
    for i in hits:
        if i < fields:
            out[names[i]] = _scrub_string(strings[i], names[i], found, 0)
    if metadata and hits[-1] >= fields:
        _scrub_strings_of(metadata, "metadata", found, 0)
    return out, found


def _scrub_strings_of(root: Any, root_path: str, found: list[Redaction], depth: int) -> None:
    """Scrub, in place, the strings of a structure whose key rules are already applied."""
    strings: list[str] = []
    refs: list[_Ref] = []
    _walk(root, root_path, strings, refs, found)
    for i in flagged(strings):
        container, index, parent = refs[i]
        if container[index] is strings[i]:  # not replaced whole meanwhile
            container[index] = _scrub_string(strings[i], _join(parent, index), found, depth)


def scrub_field(path: str, text: str) -> tuple[str, list[Redaction]]:
    """One free-text field scrubbed alone (for a caller that must cut it to length after)."""
    found: list[Redaction] = []
    if flagged([text]):
        text = _scrub_string(text, path, found, 0)
    return text, found


#: A string's place: (its container, its key or index there, the container's path).
_Ref = tuple[Any, Any, str]
_SECRET_NAME = 1
_HOLDS_CREDENTIAL = 2
_key_flags: dict[str, int] = {}
#: Keys seen with no flag that play no role in an object rule: an object made only of these
#: needs no rule, which one set operation tells (a subset of ``_key_flags``' keys).
_plain_keys: set[str] = set()
_KEY_CACHE_MAX = 8192


def _flags(key: str) -> int:
    """Whether a metadata key names a secret and whether it holds a credential; cached."""
    flags = _SECRET_NAME if is_secret_key(key) else 0
    if scrub_text(key)[1]:
        flags |= _HOLDS_CREDENTIAL
    if len(key) <= 256:
        if len(_key_flags) >= _KEY_CACHE_MAX:
            _plain_keys.clear()
            _key_flags.clear()
        _key_flags[key] = flags
        if not flags and key not in _ROLE_KEYS:
            _plain_keys.add(key)
    return flags


def _shown(key: str, flags: int) -> str:
    """The key as it may be stored and logged."""
    return scrub_text(key)[0] if flags & _HOLDS_CREDENTIAL else key


def _join(path: str, key: str | int) -> str:
    return f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}"


def _walk(
    root: Any,
    root_path: str,
    strings: list[str],
    refs: list[_Ref] | None,
    found: list[Redaction],
) -> None:
    """Apply the key and object rules to ``root`` (in place) and collect its strings (and,
    when ``refs`` is given, their places).

    The hot loop of every record: ordinary keys with string values take the first branch.
    """
    cached, plain = _key_flags.get, _plain_keys.issuperset
    stack: list[tuple[Any, str]] = [(root, root_path)]
    while stack:
        node, path = stack.pop()
        if node.__class__ is list:
            flag = False  # the previous element was a secret-named --flag
            for i, child in enumerate(node):
                if child.__class__ is str:
                    if flag and not child.startswith("-") and child != REDACTED:
                        node[i] = REDACTED
                        found.append(Redaction(f"{path}[{i}]", NAME_VALUE_PAIR))
                        flag = False
                        continue
                    flag = (
                        child.startswith("-")
                        and "=" not in child
                        and len(child.split(maxsplit=1)) == 1  # its value is not inline
                        and _is_secret_flag(child)
                    )
                    strings.append(child)
                    if refs is not None:
                        refs.append((node, i, path))
                else:
                    flag = False
                    if isinstance(child, dict | list):
                        stack.append((child, f"{path}[{i}]"))
            continue
        ordinary = plain(node)  # the common object: no key names a secret or plays a role
        if ordinary or node.keys().isdisjoint(_ROLE_KEYS):
            handled: tuple[str, ...] = ()
        else:
            handled = _object_rules(node, path, found)
        renamed: list[tuple[str, str]] = []
        for key, child in node.items():
            flags = 0 if ordinary else cached(key)
            if flags is None:
                flags = _flags(key)
            if not flags and not handled:
                if child.__class__ is str:
                    strings.append(child)
                    if refs is not None:
                        refs.append((node, key, path))
                elif isinstance(child, dict | list):
                    stack.append((child, f"{path}.{key}"))
                continue
            name = _shown(key, flags)
            if flags & _HOLDS_CREDENTIAL:
                renamed.append((key, name))
                found.append(Redaction(f"{path}.{name} (key)", _key_rule(key)))
            if key in handled:
                continue
            if flags & _SECRET_NAME:
                if isinstance(child, dict | list) and _is_reference(child):
                    stack.append((child, f"{path}.{name}"))  # volumes[].secret, imagePullSecrets
                elif _is_count(child) and counts_secrets(key):
                    continue  # tokens: 1200 is a count
                elif child is not None and not isinstance(child, bool) and child != REDACTED:
                    node[key] = REDACTED
                    found.append(Redaction(f"{path}.{name}", SECRET_KEY))
            elif isinstance(child, str):
                strings.append(child)
                if refs is not None:
                    refs.append((node, key, path))
            elif isinstance(child, dict | list):
                stack.append((child, f"{path}.{name}"))
        if renamed:
            _rename(node, dict(renamed))


def _is_count(value: Any) -> bool:
    """A number, or a short text of digits: what a plural secret name (``tokens``) counts."""
    if value.__class__ in (int, float):
        return True
    return value.__class__ is str and value.isdigit() and len(value) <= 9


def _is_secret_flag(arg: str) -> bool:
    """``--db-password``, ``-token``: an argument that names a secret (its value follows)."""
    name = arg.lstrip("-")
    return len(arg) - len(name) <= 2 and len(name) > 1 and is_secret_key(name)


def _key_rule(key: str) -> str:
    return scrub_text(key)[1][0]


def _rename(node: dict[str, Any], names: dict[str, str]) -> None:
    """Rename keys that held a credential, in place and in order; a clash gets a suffix."""
    items = list(node.items())
    taken = {k for k in node if k not in names}
    node.clear()
    for key, value in items:
        new = names.get(key, key)
        if key in names:
            base, n = new, 2
            while new in taken:
                new, n = f"{base}#{n}", n + 1
            taken.add(new)
        node[new] = value


def _is_reference(value: Any) -> bool:
    """Whether a value names a Kubernetes Secret rather than holds one: objects (or lists of
    them) made only of reference fields (``{"secretName": "tls", "items": [{"key": ...,
    "path": ...}]}``, ``[{"name": "regcred"}]``)."""
    if isinstance(value, list):
        return bool(value) and all(_is_reference(v) for v in value)
    if not isinstance(value, dict) or not value:
        return False
    return all(
        k in _REFERENCE_KEYS and (not isinstance(v, dict | list) or _is_reference(v))
        for k, v in value.items()
    )


def _object_rules(node: dict[str, Any], path: str, found: list[Redaction]) -> tuple[str, ...]:
    """Rules 2 and 3 on one object; returns the keys they took care of."""
    handled: list[str] = []
    if node.get("kind") == "Secret":
        for key in _SECRET_DATA:
            data = node.get(key)
            if isinstance(data, dict):
                for k, v in data.items():
                    if v is not None and v != REDACTED:
                        data[k] = REDACTED
                        where = _join(_join(path, key), _shown(k, _flags(k)))
                        found.append(Redaction(where, KUBERNETES_SECRET))
                handled.append(key)
            elif data is not None:
                if data != REDACTED:
                    node[key] = REDACTED
                    found.append(Redaction(_join(path, key), KUBERNETES_SECRET))
                handled.append(key)
    names = [node[k] for k in _PAIR_NAMES if isinstance(node.get(k), str)]
    if any(is_secret_key(name) for name in names):
        for key in _PAIR_VALUES:
            value = node.get(key)
            if value is None or isinstance(value, bool):
                continue
            if key == "valueFrom" and not isinstance(value, str):
                continue  # a reference (secretKeyRef ...), not the secret
            if value != REDACTED:
                node[key] = REDACTED
                found.append(Redaction(_join(path, key), NAME_VALUE_PAIR))
            handled.append(key)
    return tuple(handled)


def _scrub_string(text: str, path: str, found: list[Redaction], depth: int) -> str:
    """One suspect string: JSON objects and arrays in it (escaped as in a JSON string, or not)
    are parsed and scrubbed as structures (then written back as compact JSON), the rest by
    the text rules."""
    if depth < _JSON_DEPTH_MAX:
        if '\\"' in text:
            text = _scrub_escaped_json_in(text, path, found, depth)
        if "{" in text or "[" in text:
            text = _scrub_json_in(text, path, found, depth)
    clean, rules = scrub_text(text)
    found.extend(Redaction(path, rule) for rule in rules)
    return clean


_DECODER = json.JSONDecoder()
_LENIENT = json.JSONDecoder(strict=False)
_ESCAPED_START = re.compile(r'[{\[]\s*\\"')


def _scrub_json_in(text: str, path: str, found: list[Redaction], depth: int) -> str:
    """``text`` with each JSON object or array in it scrubbed, wherever it starts.

    Linear in the text's length: each try reads a window that doubles only while the
    document runs past it, and after a failed parse the next try starts where it failed (a
    bracket inside the failed part cannot open a document that parses further); an
    unterminated string means no key can follow; text nested past the parser's depth is left
    to the text rules."""
    out: list[str] = []
    pos = 0
    start = _next_json_start(text, 0)
    while start >= 0:
        parsed = _parse_at(text, start)
        if parsed is None:
            break
        doc, end = parsed
        if doc is not _FAILED and isinstance(doc, dict | list) and doc:
            scrubbed = _scrub_structure(doc, f"{path}<json>", found, depth)
            if scrubbed is not None:
                out.append(text[pos:start])
                out.append(scrubbed)
                pos = end
        start = _next_json_start(text, max(end, start + 1))
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


_FAILED = object()
_WINDOW = 256


def _parse_at(text: str, start: int) -> tuple[Any, int] | None:
    """The JSON document at ``start`` and where it ends, or (``_FAILED``, where the parse
    failed); None when no document can start there or after (an unterminated string, or
    nesting past the parser's depth).

    The parser reads a window of the text, not the text: its error message counts the lines
    before the failure, from the start of what it was given."""
    size = _WINDOW
    while True:
        window = text[start : start + size]
        cut = start + size < len(text)
        try:
            doc, end = _DECODER.raw_decode(window)
        except json.JSONDecodeError as e:
            unterminated = e.msg.startswith("Unterminated string")
            if cut and (unterminated or e.pos >= len(window) - 1):
                size *= 4  # the document runs past the window
                continue
            if unterminated:
                return None
            return _FAILED, start + max(1, e.pos)
        except RecursionError:
            return None
        return doc, start + end


def _scrub_escaped_json_in(text: str, path: str, found: list[Redaction], depth: int) -> str:
    """``text`` with JSON written inside a JSON string (``{\\"data\\":{\\"token\\":...}}``, as
    kubectl quotes a patch) unescaped, scrubbed and escaped again. Each part runs from a
    bracket to the last closing bracket before the next unescaped quote or line break, so
    the scan is linear."""
    out: list[str] = []
    pos = done = 0
    for m in _ESCAPED_START.finditer(text):
        start = m.start()
        if start < done:
            continue  # inside a part already read (its own escapes were read with it)
        end = done = _unescaped_quote(text, m.end())
        newline = text.find("\n", start, end)
        end = max(text.rfind("}", start, end), text.rfind("]", start, end)) + 1
        if newline >= 0:
            end = max(text.rfind("}", start, newline), text.rfind("]", start, newline)) + 1
        if end <= start:
            continue
        try:
            inner = _LENIENT.decode(f'"{text[start:end]}"')
        except (ValueError, RecursionError):
            continue
        if not isinstance(inner, str):
            continue
        inner_found: list[Redaction] = []
        clean = _scrub_string(inner, f"{path}<escaped>", inner_found, depth + 1)
        if not inner_found:
            continue
        found.extend(inner_found)
        out.append(text[pos:start])
        out.append(json.dumps(clean, ensure_ascii=False)[1:-1])
        pos = end
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


def _unescaped_quote(text: str, at: int) -> int:
    """The index of the first ``"`` at or after ``at`` that no backslash escapes (or the
    text's end)."""
    i = text.find('"', at)
    while i >= 0:
        slashes = 0
        while i - slashes - 1 >= 0 and text[i - slashes - 1] == "\\":
            slashes += 1
        if slashes % 2 == 0:
            return i
        i = text.find('"', i + 1)
    return len(text)


#: Where a JSON document that could hold a key starts: an object's first key, an array of
#: such objects or of strings (``["--password", "..."]``; an array of arrays is read from
#: the inner array that holds them).
_JSON_START = re.compile(r'\{\s*"|\[\s*(?:\{\s*)?"')


def _next_json_start(text: str, at: int) -> int:
    m = _JSON_START.search(text, at)
    return -1 if m is None else m.start()


def _scrub_structure(doc: Any, path: str, found: list[Redaction], depth: int) -> str | None:
    """A parsed JSON document scrubbed in place; its compact JSON, or None when it held no
    secret (the text is then kept exactly as it was)."""
    inner: list[Redaction] = []
    _scrub_strings_of(doc, path, inner, depth + 1)
    if not inner:
        return None
    found.extend(inner)
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


# -- reporting --------------------------------------------------------------------------------

_counts = dict.fromkeys(RULES, 0)
_counts_lock = threading.Lock()


def report(stored: Iterable[tuple[str, Sequence[Redaction]]]) -> None:
    """Count and log the redactions of events just stored, as (event id, redactions) pairs:
    one warning for the whole call naming events and paths, never a value."""
    hits = [(event_id, found) for event_id, found in stored if found]
    if not hits:
        return
    with _counts_lock:
        for _, found in hits:
            for r in found:
                _counts[r.rule] += 1
    named = "; ".join(
        f"{event_id}: {', '.join(f'{r.path} ({r.rule})' for r in found)}"
        for event_id, found in hits[:LOG_EVENTS_MAX]
    )
    more = f"; and {len(hits) - LOG_EVENTS_MAX} more events" if len(hits) > LOG_EVENTS_MAX else ""
    log.warning(
        "redacted %d values in %d stored events: %s%s",
        sum(len(found) for _, found in hits),
        len(hits),
        named,
        more,
    )


def redaction_counts() -> dict[str, int]:
    """Values replaced before storage in this process, by rule (every rule present)."""
    with _counts_lock:
        return dict(_counts)
