"""Which namespaces are store namespaces: the labels every store namespace carries, and
the guard the reaper checks before each deletion.

Pure: imports no I/O library. Used by the reaper's Kubernetes adapter
(`services.reaper.namespaces`) and its sweep planning (`services.reaper.sweep_plan`).

A namespace is deleted only when it carries `app.kubernetes.io/managed-by=storefleet`
and `storefleet.io/store-id=<the store's id>`, whatever its name: a namespace merely
named like a store's, or labeled for another store, is never touched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "storefleet"
STORE_ID = "storefleet.io/store-id"
OWNER = "storefleet.io/owner"
# Label selector of every store namespace.
STORE_NAMESPACES = f"{MANAGED_BY}={MANAGER}"


def selector_for(store_id: str) -> str:
    """Label selector of one store's namespaces."""
    return f"{STORE_NAMESPACES},{STORE_ID}={store_id}"


@dataclass(frozen=True)
class NamespaceInfo:
    """What the reaper needs to know of one namespace."""

    name: str
    uid: str
    labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    created_at: datetime | None = None
    deleting_since: datetime | None = None
    # What holds a terminating namespace: its finalizers, and the API server's own
    # account of remaining content (the conditions it sets while deleting).
    holders: tuple[str, ...] = ()

    @property
    def store_id(self) -> str | None:
        return self.labels.get(STORE_ID)

    @property
    def terminating(self) -> bool:
        return self.deleting_since is not None


def is_store_namespace(namespace: NamespaceInfo, store_id: str) -> bool:
    """The guard: managed by storefleet and labeled with this very store id."""
    labels = namespace.labels
    return bool(store_id) and labels.get(MANAGED_BY) == MANAGER and labels.get(STORE_ID) == store_id
