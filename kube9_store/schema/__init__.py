"""The schema at head, and opening a database: its state, lineage and migrations."""
