"""What makes a namespace a store namespace, in one place: its name (derived from the
store's slug and id), the labels the platform puts on every object of a store, and the
ownership check ("is this namespace ours, and is it this store's").

Pure: imports no I/O library. The gateway names a new store's namespace with
`namespace_for`; the provisioner refuses a request whose namespace is not that name, so
a forged event cannot aim it at another namespace. The provisioner also writes the
labels (its store spec, guardrails and status watch) and finds a store's namespace by them (the
credentials responder), and by the reaper, which lists store namespaces by them and
checks ownership before each deletion. The chart's admission policy spells the same
label names in CEL; its tests take the names from here, so the two cannot drift apart.

Only the reaper deletes store namespaces: a store deleted while it is being provisioned
is handed to the reaper with a `delete` request (see `services.provisioner.handler`).
"""

from __future__ import annotations

from collections.abc import Mapping

MANAGED_BY = "app.kubernetes.io/managed-by"
PLATFORM = "storefleet"
STORE_ID = "storefleet.io/store-id"
OWNER = "storefleet.io/owner"
ENGINE = "storefleet.io/engine"
# Label selector of every object the platform made for a store, namespaces included.
PLATFORM_SELECTOR = f"{MANAGED_BY}={PLATFORM}"


def namespace_for(slug: str, store_id: str) -> str:
    """`store-<slug>-<first 6 hex chars of the id>`: at most 43 characters, a DNS label."""
    return f"store-{slug}-{store_id.replace('-', '')[:6]}"


def store_labels(store_id: str, engine: str) -> dict[str, str]:
    """The labels every object of the store carries (its namespace adds `OWNER`)."""
    return {MANAGED_BY: PLATFORM, STORE_ID: store_id, ENGINE: engine}


def store_selector(store_id: str) -> str:
    """Label selector of one store's namespaces."""
    return f"{PLATFORM_SELECTOR},{STORE_ID}={store_id}"


def store_id_of(labels: Mapping[str, str]) -> str | None:
    """The store a namespace is labeled for, if any."""
    return labels.get(STORE_ID)


def belongs_to(labels: Mapping[str, str], store_id: str) -> bool:
    """The ownership check: managed by the platform and labeled with this very store id.
    A namespace merely named like a store's, or labeled for another store, fails it."""
    return bool(store_id) and labels.get(MANAGED_BY) == PLATFORM and store_id_of(labels) == store_id
