"""Bytes per event on the benchmark's rows at every size, with SQLite's dbstat breakdown per
table and index (printed in the summary). These rows are larger than the reference operator's
(the spec's own version 1 schema takes 459 bytes per event of them at 1M): the bound is 520
bytes per event, which the stored time key (about 7 bytes) and the (type, severity, time key)
index (about 32) of revision 0007 fit within."""

from __future__ import annotations

import sqlite3

from benchmarks.conftest import SIZES
from benchmarks.datagen import build

#: The most an event may cost on disk, table and indexes together.
MAX_BYTES_PER_EVENT = 520


def dbstat(path: object) -> dict[str, float]:
    """Bytes of each table and index, from SQLite's dbstat virtual table."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {
            name: float(size)
            for name, size in con.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name")
        }
    finally:
        con.close()


def test_bytes_per_event(n: int) -> None:
    path = build(n)
    per_event = path.stat().st_size / n
    for name, size in sorted(dbstat(path).items(), key=lambda kv: -kv[1]):
        if size / n >= 0.5:
            SIZES[f"{n} events, dbstat {name}"] = size / n
    SIZES[f"{n} events at head, whole file"] = per_event
    assert per_event <= MAX_BYTES_PER_EVENT, f"{per_event:.0f} bytes per event at {n} events"
