"""The secret scrubber's cost per event, and the alternatives it was chosen over.

A typical event here is what ``import k8s-events`` makes of a kubelet event: title, message,
object reference and ten metadata keys, drawn from a pool of 1000 with their own pod names,
uids and times (so no cache sees the same strings twice in a row). No database is involved.

    python -m pytest benchmarks/test_scrubber.py

- "scrub one typical event": :func:`kube9_store.secrets.redaction.scrub_event` (goal: 10 µs), and
  beside it "validate one typical event", the whole :class:`NewEvent` that includes it;
- "prefilter one typical event": the prefilter alone, on RE2 as shipped, and the same
  patterns on the standard library's ``re``;
- "detect-secrets, one typical event": Yelp's detect-secrets on the same strings, through its
  ad hoc ``scan_line`` and through its plugins' compiled patterns alone;
- "scrub an event holding secrets": the slow path (three secrets to find and replace).
"""

from __future__ import annotations

import itertools
import random
import re
import unicodedata
from typing import Any

import pytest

from benchmarks.conftest import record
from kube9_store import NewEvent
from kube9_store.events.models import clean_metadata
from kube9_store.secrets.redaction import scrub_event
from kube9_store.secrets.text import PREFILTER_PATTERNS, might_hold_secret

FIELDS = ("title", "description", "object_kind", "object_namespace", "object_name")
REASONS = ("BackOff", "Unhealthy", "Pulled", "Scheduled", "FailedMount", "Killing")
MESSAGES = (
    "Back-off restarting failed container {c} in pod {pod}_{ns}({uid})",
    "Readiness probe failed: HTTP probe failed with statuscode: 503",
    'Successfully pulled image "registry.example.com/shop/{c}:1.4.2" in 1.204s',
    "Successfully assigned {ns}/{pod} to worker-{w}",
    'MountVolume.SetUp failed for volume "config" : configmap "{c}-config" not found',
    "Stopping container {c}",
)


def typical_events(n: int = 1000) -> list[dict[str, Any]]:
    rnd = random.Random(7)
    out = []
    for i in range(n):
        c = rnd.choice(("web", "api", "worker", "cache"))
        ns = rnd.choice(("default", "production", "staging", "monitoring"))
        pod = f"{c}-{rnd.getrandbits(36):09x}-{rnd.getrandbits(20):05x}"
        uid = "-".join(f"{rnd.getrandbits(b):0{b // 4}x}" for b in (32, 16, 16, 16, 48))
        reason = rnd.choice(REASONS)
        at = f"2026-01-15T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z"
        out.append(
            {
                "title": f"Pod {reason}: {pod}",
                "description": rnd.choice(MESSAGES).format(
                    c=c, pod=pod, ns=ns, uid=uid, w=rnd.randint(1, 9)
                ),
                "object_kind": "Pod",
                "object_namespace": ns,
                "object_name": pod,
                "metadata": {
                    "reason": reason,
                    "count": rnd.randint(1, 40),
                    "first_timestamp": at,
                    "last_timestamp": at,
                    "k8s_type": "Warning",
                    "k8s_uid": uid,
                    "source": "kubelet",
                    "node": f"worker-{rnd.randint(1, 9)}",
                    "container": c,
                    "image": f"registry.example.com/shop/{c}:1.4.2",
                },
            }
        )
    return out


EVENTS = typical_events()
PREPARED = [({f: e[f] for f in FIELDS}, clean_metadata(e["metadata"])) for e in EVENTS]
STRINGS = [
    [*(e[f] for f in FIELDS), *(v for v in e["metadata"].values() if isinstance(v, str))]
    for e in EVENTS
]


def _record(name: str, impl: str, benchmark: Any) -> float:
    return record(name, 0, impl, benchmark, backend="none")


def test_scrub_one_typical_event(benchmark: Any) -> None:
    assert all(not scrub_event(t, m)[1] for t, m in PREPARED)
    events = itertools.cycle(PREPARED)
    benchmark.group = "scrub one typical event"

    def scrub() -> None:
        texts, metadata = next(events)
        scrub_event(texts, metadata)

    benchmark(scrub)
    median_ms = _record("scrub one typical event", "api", benchmark)
    benchmark.extra_info["microseconds"] = median_ms * 1000


def test_validate_one_typical_event(benchmark: Any) -> None:
    events = itertools.cycle(EVENTS)
    benchmark.group = "validate one typical event"
    benchmark(lambda: NewEvent(event_type="cluster", severity="warning", **next(events)))
    _record("validate one typical event", "api", benchmark)


#: The format characters (Unicode category Cf) of the Basic Multilingual Plane, for ``re``,
#: which has no ``\p{Cf}``.
FORMAT_CHARACTERS = "".join(
    ch for ch in map(chr, range(0x10000)) if unicodedata.category(ch) == "Cf"
)


def _stdlib_prefilter() -> re.Pattern[str]:
    """The same prefilter patterns on ``re`` (inline flags scoped, as ``re`` requires)."""
    scoped = [f"(?i:{p[4:]})" if p.startswith("(?i)") else f"(?:{p})" for p in PREFILTER_PATTERNS]
    return re.compile("|".join(scoped).replace(r"\p{Cf}", FORMAT_CHARACTERS))


@pytest.mark.parametrize("impl", ["re2 (shipped)", "stdlib re"])
def test_prefilter_one_typical_event(benchmark: Any, impl: str) -> None:
    strings = itertools.cycle(STRINGS)
    benchmark.group = "prefilter one typical event"
    if impl == "stdlib re":
        pattern = _stdlib_prefilter()
        assert all(pattern.search("\x00".join(s)) is None for s in STRINGS)
        benchmark(lambda: pattern.search("\x00" + "\x00".join(next(strings))))
    else:
        assert not any(might_hold_secret("\x00".join(s)) for s in STRINGS)
        benchmark(lambda: might_hold_secret("\x00" + "\x00".join(next(strings))))
    _record("prefilter one typical event", impl, benchmark)


@pytest.mark.parametrize("impl", ["scan_line", "plugin patterns only"])
def test_detect_secrets_one_typical_event(benchmark: Any, impl: str) -> None:
    from detect_secrets.core.scan import scan_line
    from detect_secrets.plugins.base import RegexBasedDetector
    from detect_secrets.settings import default_settings, get_plugins

    strings = itertools.cycle(STRINGS)
    benchmark.group = "detect-secrets, one typical event"
    with default_settings():
        if impl == "scan_line":
            benchmark.pedantic(
                lambda: [list(scan_line(s)) for s in next(strings)], rounds=30, warmup_rounds=2
            )
        else:
            patterns = [
                p for plugin in get_plugins() if isinstance(plugin, RegexBasedDetector)
                for p in plugin.denylist
            ]  # fmt: skip
            benchmark(lambda: [p.search(s) for s in next(strings) for p in patterns])
    _record("detect-secrets, one typical event", impl, benchmark)


def test_scrub_an_event_holding_secrets(benchmark: Any) -> None:
    event = {
        "title": "Pod Failed: web-7c5b8d9f6-x2k4p",
        "description": "login with Bearer 0123456789abcdefABCDEF failed",
        "object_kind": "Pod",
        "object_namespace": "default",
        "object_name": "web-7c5b8d9f6-x2k4p",
        "metadata": {
            **EVENTS[0]["metadata"],
            "dsn": "postgres://app:hunter2@db:5432/orders",
            "env": [{"name": "DB_PASSWORD", "value": "hunter2"}],
        },
    }
    benchmark.group = "scrub an event holding secrets"

    def scrub() -> None:
        texts, metadata = {f: event[f] for f in FIELDS}, clean_metadata(event["metadata"])
        scrub_event(texts, metadata)

    benchmark(scrub)
    _record("scrub an event holding secrets", "api", benchmark)


def test_scrub_an_event_holding_secrets_as_tooling_prints_them(benchmark: Any) -> None:
    """Secrets in the shapes of a kubectl patch, a YAML env list, XML settings and a query
    string, in one event (the same 150 µs goal as above)."""
    event = {
        "title": "Pod Failed: web-7c5b8d9f6-x2k4p",
        "description": 'error when applying patch:\n{\\"data\\":{\\"token\\":\\"Zt5RqWx8Lm3Nb7Kc\\"}}'
        '\nto:\nResource: "/v1, Resource=secrets"',
        "object_kind": "Pod",
        "object_namespace": "default",
        "object_name": "web-7c5b8d9f6-x2k4p",
        "metadata": {
            **EVENTS[0]["metadata"],
            "env": "- name: DB_PASSWORD\n  value: Vn6!pLq9Xs",
            "settings": "<server><id>nexus</id><password>Hx9!pQ2zLm</password></server>",
            "callback": "https://app.example.com/cb?code=Sp3lQw9xZr7mKt&state=xyz",
        },
    }
    benchmark.group = "scrub an event holding secrets"

    def scrub() -> None:
        texts, metadata = {f: event[f] for f in FIELDS}, clean_metadata(event["metadata"])
        scrub_event(texts, metadata)

    texts, metadata = {f: event[f] for f in FIELDS}, clean_metadata(event["metadata"])
    assert len(scrub_event(texts, metadata)[1]) == 4
    benchmark(scrub)
    _record("scrub an event holding secrets (tooling shapes)", "api", benchmark)


@pytest.mark.parametrize(
    "unit",
    [
        "{[",
        '{"a":[',
        '["',
        '{\\"a\\":{\\"b\\":',
        ",password: must be at least twelve characters long and",
        "digest ",
        "Bearer ",
        "<password>x<a ",
        "name: DB_PASSWORD value",
        "{Password:",
    ],
)
def test_scrub_10_kb_of_hostile_text(benchmark: Any, unit: str) -> None:
    """The full scan (no prefilter) of 10 KB made of one pathological unit, repeated: the
    worst time per 10 KB (``tests/test_secret_linear.py`` holds the growth to linear)."""
    from kube9_store.secrets.redaction import scrub_field

    text = (unit * (10_240 // len(unit) + 1))[:10_240]
    benchmark.group = "scrub 10 KB of hostile text"
    benchmark.pedantic(lambda: scrub_field("metadata.note", text), rounds=10, warmup_rounds=1)
    _record("scrub 10 KB of hostile text", unit, benchmark)
