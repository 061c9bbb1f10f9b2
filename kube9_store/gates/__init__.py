"""One gate per promise, which every path goes through (see docs/gates.md)."""
