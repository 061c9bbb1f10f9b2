"""Retention, snapshots, capacity, metrics, health and the admin commands."""
