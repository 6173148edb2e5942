"""The reaper's view of a namespace, and the guard it checks before each deletion.

Pure: imports no I/O library. Used by the reaper's Kubernetes adapter
(`services.reaper.namespaces`) and its sweep planning (`services.reaper.sweep_plan`).

The guard is the platform's ownership check (`shared.namespaces.belongs_to`): a
namespace is deleted only when it carries `app.kubernetes.io/managed-by=storefleet` and
`storefleet.io/store-id=<the store's id>`, whatever its name: a namespace merely named
like a store's, or labeled for another store, is never touched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from shared.namespaces import belongs_to, store_id_of


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
        return store_id_of(self.labels)

    @property
    def terminating(self) -> bool:
        return self.deleting_since is not None


def is_store_namespace(namespace: NamespaceInfo, store_id: str) -> bool:
    """The guard: managed by storefleet and labeled with this very store id."""
    return belongs_to(namespace.labels, store_id)
