"""Alembic environment for the revisions shipped inside the package."""

from kube9_store.alembic_env import run

run()
