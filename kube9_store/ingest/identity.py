"""Which cluster an event comes from: the uid of its ``kube-system`` namespace (as
OpenTelemetry's ``k8s.cluster.uid``), stable for the cluster's life, with an optional display
name. Events of many clusters can share one database and are told apart by it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from kube9_store import checks
from kube9_store.errors import ValidationError
from kube9_store.events.ids import base36_suffix, event_id_at

#: The metadata keys every event of a Kubernetes cluster carries.
CLUSTER_UID_KEY = "cluster_uid"
CLUSTER_NAME_KEY = "cluster_name"
#: The longest cluster uid or name accepted.
MAX_LENGTH = 253


@dataclass(frozen=True)
class ClusterIdentity:
    """A cluster: ``uid`` (the kube-system namespace's uid; empty for a document of unknown
    origin) and an optional display ``name``."""

    uid: str
    name: str | None = None

    def __post_init__(self) -> None:
        checks.text("cluster_uid", self.uid)
        if len(self.uid) > MAX_LENGTH:
            raise ValidationError.single("cluster_uid", f"must be at most {MAX_LENGTH} characters")
        if self.name is not None:
            checks.text("cluster_name", self.name)
            if not self.name or len(self.name) > MAX_LENGTH:
                raise ValidationError.single(
                    "cluster_name", f"must be 1 to {MAX_LENGTH} characters (or left out)"
                )

    def metadata(self) -> dict[str, str]:
        """The keys this identity adds to an event's metadata (none for an unknown cluster)."""
        out: dict[str, str] = {}
        if self.uid:
            out[CLUSTER_UID_KEY] = self.uid
        if self.name:
            out[CLUSTER_NAME_KEY] = self.name
        return out


#: A document whose cluster is not known (``import k8s-events`` without ``--cluster-uid``).
UNKNOWN_CLUSTER = ClusterIdentity("")


def key_uid(cluster_uid: str, uid: str) -> str:
    """What an occurrence's id is derived from: the uid, behind the cluster's when known."""
    return f"{cluster_uid}/{uid}" if cluster_uid else uid


def stable_id(created_at: str, uid: str, count: Any, attempt: int = 0) -> str:
    """The same Kubernetes occurrence always gets the same sequence of ids; the first is used
    unless a different occurrence took it. (Lone surrogates are hashed as they are, so the
    item is refused by validation, by index, rather than failing here.)"""
    key = f"{uid}|{count}|{created_at}" + (f"|{attempt}" if attempt else "")
    digest = int.from_bytes(hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()[:8])
    return event_id_at(created_at, base36_suffix(digest))
