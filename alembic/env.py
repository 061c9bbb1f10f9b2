"""Alembic environment for the repo root; the revisions live in kube9_store/migrations/versions."""

from kube9_store.alembic_env import run

run()
