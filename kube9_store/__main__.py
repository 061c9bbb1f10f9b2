"""``python -m kube9_store``: the same as the ``kube9-store`` command."""

from kube9_store.console import main

main()
