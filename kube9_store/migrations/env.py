"""Alembic environment for the revisions shipped inside the package."""

from kube9_store.schema.alembic_env import run

run()
