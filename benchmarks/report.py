"""``docs/performance.md`` as one table, regenerated from the benchmarks' summary files
(``KUBE9_BENCH_SUMMARY``, written at the end of a ``pytest benchmarks`` run)::

    KUBE9_BENCH_SCALE=100k KUBE9_BENCH_SUMMARY=/tmp/summary.json python -m pytest benchmarks
    python -m benchmarks.report /tmp/summary.json --data docs/performance.json > docs/performance.md

``--data`` keeps the merged summaries beside the page, so a test can regenerate the page from
them and compare: the page never says what its data does not.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from benchmarks.conftest import RATIO_GOALS, TARGETS

HEADER = """# Performance

Medians in milliseconds per operation, from the benchmark suites in `benchmarks/`
(pytest-benchmark), on the repository's CI machine class: 2 cores, PostgreSQL 15 on the same
host over TCP loopback. The databases hold realistic events (six types, four severities mostly
info, 3,000 objects over six namespaces, ~120-byte metadata, 45 days). "raw driver" runs the
very SQL the store runs on stdlib `sqlite3` or psycopg, on the same database; "API / raw" is
measured paired (blocks of each alternating, each call timed alone) where the paired column
has a figure, else it is the ratio of two separate runs. Goals are API / raw ceilings asserted
on SQLite by `benchmarks/test_ratios.py` at 1M events; spec targets are the spec's, for its
embedded SQLite.

Regenerate (this page is written by a script, never by hand):

```sh
KUBE9_BENCH_SCALE=100k KUBE9_BENCH_SUMMARY=/tmp/summary.json .venv/bin/python -m pytest benchmarks
.venv/bin/python -m benchmarks.report /tmp/summary.json --data docs/performance.json > docs/performance.md
```
"""


def _ms(value: float | None) -> str:
    if value is None:
        return ""
    if value == int(value):  # a count, or a whole number of milliseconds
        return f"{int(value):,}"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def merge(summaries: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Summaries of several runs as one (a later run's figure for the same key wins)."""
    results: dict[tuple[str, int, str], dict[str, Any]] = {}
    paired: dict[tuple[str, int, str], dict[str, Any]] = {}
    sizes: dict[str, float] = {}
    for summary in summaries:
        for row in summary.get("results", []):
            results[(row["operation"], row["events"], row["backend"])] = row
        for row in summary.get("paired", []):
            paired[(row["operation"], row["events"], row["backend"])] = row
        sizes.update(summary.get("bytes_per_event", {}))
    return {
        "results": [results[k] for k in sorted(results, key=_order)],
        "paired": [paired[k] for k in sorted(paired, key=_order)],
        "bytes_per_event": dict(sorted(sizes.items())),
    }


#: Backends in the order the page shows them; figures that involve no database come last.
BACKEND_ORDER = {"sqlite": 0, "postgresql": 1}


def _order(key: tuple[str, int, str]) -> tuple[int, str, int, str]:
    operation, events, backend = key
    return BACKEND_ORDER.get(backend, 2), backend, events, operation


def render(data: dict[str, Any]) -> str:
    """The page: one table of every operation measured, then the bytes per event."""
    paired = {(r["operation"], r["events"], r["backend"]): r for r in data["paired"]}
    rows = {(r["operation"], r["events"], r["backend"]): r for r in data["results"]}
    keys = sorted(set(rows) | set(paired), key=_order)
    lines = [
        HEADER,
        "| operation | backend | events | kube9_store | raw driver | API / raw | paired | goal "
        "| spec target |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key in keys:
        operation, events, backend = key
        row, pair = rows.get(key, {}), paired.get(key)
        api, raw = row.get("api"), row.get("raw")
        size = f"{events:,}" if events else ""
        where = backend if backend in BACKEND_ORDER else ""
        ratio = f"{api / raw:.2f}" if api and raw else ""
        pair_ratio = f"{pair['ratio']:.2f}" if pair else ""
        if pair and api is None:
            api, raw = pair["api"], pair["raw"]
        goal = RATIO_GOALS.get(operation) if backend == "sqlite" else None
        spec = TARGETS.get(operation, (None, None))[0] if backend == "sqlite" else None
        if api is not None or pair is not None:
            lines.append(
                f"| {operation} | {where} | {size} | {_ms(api)} | {_ms(raw)} | {ratio} "
                f"| {pair_ratio} | {'' if goal is None else f'≤ {goal}'} "
                f"| {'' if spec is None else f'< {_ms(spec)}'} |"
            )
        for extra, value in sorted(row.items()):
            if extra not in {"operation", "events", "backend", "api", "raw"}:
                lines.append(
                    f"| {operation}: {extra} | {where} | {size} | {_ms(value)} | | | | | |"
                )
    if data["bytes_per_event"]:
        lines += ["", "| file | bytes per event |", "|---|---:|"]
        lines += [f"| {label} | {value:,.0f} |" for label, value in data["bytes_per_event"].items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("summaries", nargs="*", type=Path, help="summary files of benchmark runs")
    parser.add_argument(
        "--data",
        type=Path,
        help="the merged data file kept beside the page: read first, then rewritten with the "
        "summaries' figures merged in",
    )
    args = parser.parse_args(argv)
    loaded = []
    if args.data is not None and args.data.exists():
        loaded.append(json.loads(args.data.read_text(encoding="utf-8")))
    loaded += [json.loads(p.read_text(encoding="utf-8")) for p in args.summaries]
    if not loaded:
        parser.error("no summary given and no --data file to read")
    data = merge(loaded)
    if args.data is not None and args.summaries:
        args.data.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", "utf-8")
    sys.stdout.write(render(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
