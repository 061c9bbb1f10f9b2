"""Keeping a Kubernetes cluster's event history exactly once.

:mod:`~kube9_store.ingest.identity` names the cluster, :mod:`~kube9_store.ingest.writer`
stores occurrences by key (shared with ``import k8s-events``), :mod:`~kube9_store.ingest.loop`
runs LIST then WATCH with checkpoints, :mod:`~kube9_store.ingest.source` talks to the API server
through the official ``kubernetes`` client (the optional extra ``kubernetes``). Importing this
package imports none of the client.
"""

from __future__ import annotations

from kube9_store.ingest.identity import ClusterIdentity

__all__ = ["ClusterIdentity"]
