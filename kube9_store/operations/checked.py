"""The record of the last file checks, and how ``health`` judges it.

A full check of a SQLite file (``PRAGMA quick_check``, or ``integrity_check`` with the count
check) reads every page, so its cost grows with the file; a probe cannot afford it. A store
that can write records each check's result and time in ``operations_state`` (through
:mod:`kube9_store.operations.state`), and ``health`` reads that record instead: a check whose
last run failed, or none run within its bound, makes health ``degraded``.

Per kind (``quick_check``, ``integrity_check``) three facts: ``check.<kind>.last_timestamp``
(Unix seconds), ``check.<kind>.ok`` (1 or 0) and ``check.<kind>.problems`` (how many it found).
This module imports nothing heavy: the CLI's lean read path judges with it too.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kube9_store.events.timestamps import format_timestamp

if TYPE_CHECKING:
    from kube9_store.results import IntegrityResult

QUICK, FULL = "quick_check", "integrity_check"
#: The kinds, weakest first: a passing check clears a failure of its own kind or a weaker one.
KINDS = (QUICK, FULL)
DAY_S = 86_400
#: How old the newest check of a kind (or of a stronger one) may be before health is degraded:
#: the daily quick_check gets two days, the weekly integrity_check eight. A kind never
#: recorded is not judged: a schedule is held to the checks it has run.
MAX_AGE_S: dict[str, int] = {QUICK: 2 * DAY_S, FULL: 8 * DAY_S}
#: The command that runs each kind (``--record`` records its result).
COMMAND: dict[str, str] = {QUICK: "kube9-store db check", FULL: "kube9-store db check --full"}


def fact_name(kind: str, what: str) -> str:
    """``check.<kind>.<what>``: ``last_timestamp``, ``ok`` or ``problems``."""
    return f"check.{kind}.{what}"


def recorded(result: IntegrityResult, at: float) -> dict[str, float]:
    """The facts a finished check leaves: its time, result and number of problems."""
    kind = FULL if result.full else QUICK
    return {
        fact_name(kind, "last_timestamp"): at,
        fact_name(kind, "ok"): 1.0 if result.ok else 0.0,
        fact_name(kind, "problems"): float(len(result.problems)),
    }


def _when(at: float) -> str:
    return format_timestamp(datetime.fromtimestamp(at, UTC))


def _days(seconds: float) -> str:
    return f"{seconds / DAY_S:g} days"


def judge(facts: Mapping[str, float], now: float) -> dict[str, Any]:
    """Health's ``last_check`` entry from the recorded facts at ``now`` (Unix seconds):
    passes always (the file's pages are not read here), degraded when a kind's last run
    failed (and no later run of a stronger kind passed) or when a recorded kind has not run
    within :data:`MAX_AGE_S`. ``last`` gives each recorded kind's time, result and problems."""
    runs: dict[str, tuple[float, bool, int]] = {}
    for kind in KINDS:
        at = facts.get(fact_name(kind, "last_timestamp"))
        if at is not None:
            ok = facts.get(fact_name(kind, "ok"), 0.0) == 1.0
            runs[kind] = (at, ok, int(facts.get(fact_name(kind, "problems"), 0.0)))
    last = {kind: {"at": _when(at), "ok": ok, "problems": n} for kind, (at, ok, n) in runs.items()}
    if not runs:
        detail = f"no file check recorded yet (`{COMMAND[QUICK]} --record` records one)"
        return {"ok": True, "degraded": False, "detail": detail, "last": last}
    problems: list[str] = []
    for i, (kind, (at, ok, n)) in enumerate(runs.items()):
        stronger = [runs[k] for k in KINDS[i + 1 :] if k in runs]
        if not ok and not any(s_ok and s_at > at for s_at, s_ok, _ in stronger):
            problems.append(
                f"{kind} failed at {_when(at)} with {n} problem(s) (`{COMMAND[kind]}` lists them)"
            )
        newest, name = max([(at, kind), *((runs[k][0], k) for k in KINDS[i + 1 :] if k in runs)])
        if now - newest > MAX_AGE_S[kind]:
            problems.append(
                f"last {name} at {_when(newest)}, more than {_days(MAX_AGE_S[kind])} ago"
            )
    if problems:
        return {"ok": True, "degraded": True, "detail": "; ".join(problems), "last": last}
    shown = "; ".join(f"{kind} ok at {_when(at)}" for kind, (at, _, _) in runs.items())
    return {"ok": True, "degraded": False, "detail": shown, "last": last}
