"""A database in the shape the reference kube9-operator (release 2.4) writes at /data/kube9.db,
built from what is known of it: ``schema_version`` rows 1..6 ("Initial schema with events
table", then "Migration 2" … "Migration 6"), its own tables from versions 2-6, an ``events``
table with exactly the spec's v1 columns (no ``acknowledged``), its four indexes under its own
names, WAL mode, mode 0644. Events are generated deterministically, the way its watcher and
lifecycle hooks record them: Kubernetes events with reason, count and first/last timestamps in
metadata, operator and insight events, ``created_at`` from ``new Date().toISOString()``."""

from __future__ import annotations

import json
import os
import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

#: Its own tables (columns as its migrations 2-6 might declare them; only the names matter).
OPERATOR_TABLES = {
    "assessments": "id TEXT PRIMARY KEY, cluster TEXT, score INTEGER, created_at TEXT",
    "assessment_history": "id INTEGER PRIMARY KEY, assessment_id TEXT, payload TEXT",
    "image_scans": "id TEXT PRIMARY KEY, image TEXT, scanned_at TEXT, status TEXT",
    "image_vulnerabilities": "id INTEGER PRIMARY KEY, scan_id TEXT, cve TEXT, severity TEXT",
    "collections": "id TEXT PRIMARY KEY, started_at TEXT, resources INTEGER",
    "argocd_apps": "name TEXT PRIMARY KEY, namespace TEXT, health TEXT, sync TEXT",
    "ai_conformance_runs": "id TEXT PRIMARY KEY, started_at TEXT, result TEXT",
    "ai_conformance_requirement_results": "id INTEGER PRIMARY KEY, run_id TEXT, passed INTEGER",
}
EVENTS_SQL = """
CREATE TABLE IF NOT EXISTS events (
  id TEXT PRIMARY KEY,
  event_type TEXT NOT NULL,
  severity TEXT NOT NULL,
  title TEXT NOT NULL,
  description TEXT,
  object_kind TEXT,
  object_namespace TEXT,
  object_name TEXT,
  metadata TEXT,
  created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_events_event_type ON events(event_type);
CREATE INDEX IF NOT EXISTS idx_events_severity ON events(severity);
CREATE INDEX IF NOT EXISTS idx_events_created_at ON events(created_at DESC);
CREATE INDEX IF NOT EXISTS idx_events_object_kind ON events(object_kind, object_namespace, object_name);
"""
START = datetime(2025, 12, 2, 8, 0, tzinfo=UTC)
REASONS = {
    "BackOff": "warning",
    "Unhealthy": "warning",
    "Scheduled": "info",
    "Pulled": "info",
    "FailedMount": "error",
    "OOMKilled": "critical",
    "ScalingReplicaSet": "info",
}
NAMESPACES = ("default", "production", "kube-system", "monitoring")
B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def iso(t: datetime) -> str:
    """``new Date().toISOString()``."""
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def operator_events(n: int, seed: int = 24) -> list[tuple[Any, ...]]:
    """``n`` event rows (spec v1 columns) in the operator's shapes, oldest first."""
    rnd = random.Random(seed)
    rows: list[tuple[Any, ...]] = []
    for i in range(n):
        t = START + timedelta(seconds=i * 7, milliseconds=rnd.randrange(1000))
        eid = f"evt_{t:%Y%m%d_%H%M%S}_" + "".join(rnd.choice(B36) for _ in range(6))
        pick = i % 10
        if pick < 7:
            reason = rnd.choice(list(REASONS))
            kind = rnd.choice(("Pod", "Deployment", "Node"))
            ns = None if kind == "Node" else rnd.choice(NAMESPACES)
            name = f"{kind.lower()}-{rnd.randrange(40)}"
            first = t - timedelta(minutes=rnd.randrange(60))
            meta: dict[str, Any] = {
                "reason": reason,
                "count": rnd.randint(1, 30),
                "first_timestamp": first.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "last_timestamp": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "source": "kubelet",
            }
            rows.append(
                (
                    eid,
                    "cluster",
                    REASONS[reason],
                    f"{kind} {reason}: {name}",
                    f"{kind} {name}: {reason} — back-off restarting container",
                    kind,
                    ns,
                    name,
                    json.dumps(meta, separators=(",", ":"), ensure_ascii=False),
                    iso(t),
                )
            )
        elif pick < 9:
            rows.append(
                (
                    eid,
                    "operator",
                    "info" if pick == 7 else "error",
                    "Operator started" if pick == 7 else "Operator health degraded",
                    None,
                    None,
                    None,
                    None,
                    json.dumps({"version": "2.4.0", "tier": "pro"}, separators=(",", ":")),
                    iso(t),
                )
            )
        else:
            rows.append(
                (
                    eid,
                    "insight",
                    "warning",
                    "Missing resource limits",
                    "Deployment default/nginx has containers without memory limits",
                    "Deployment",
                    "default",
                    "nginx",
                    None if i % 20 == 9 else '{"insight_id":"ins_limits","category":"resources"}',
                    iso(t),
                )
            )
    return rows


def build_operator_db(path: Path, *, events: int = 3000, extra_rows: Any = ()) -> Path:
    """The reference operator's database at ``path`` with ``events`` events (and
    ``extra_rows``, spec v1 tuples, after them)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode = WAL")
    con.executescript(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL, description TEXT);"
    )
    applied = [(1, "Initial schema with events table")] + [
        (v, f"Migration {v}") for v in range(2, 7)
    ]
    con.executemany(
        "INSERT INTO schema_version VALUES (?, ?, ?)",
        [(v, iso(START - timedelta(days=30 - v)), d) for v, d in applied],
    )
    con.executescript(EVENTS_SQL)
    for table, columns in OPERATOR_TABLES.items():
        con.execute(f"CREATE TABLE {table} ({columns})")
    con.execute("INSERT INTO collections VALUES ('coll_1', ?, 150)", (iso(START),))
    insert = "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    con.executemany(insert, operator_events(events))
    con.executemany(insert, list(extra_rows))
    con.commit()
    con.close()
    os.chmod(path, 0o644)
    return path
