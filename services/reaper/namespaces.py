"""The reaper's Kubernetes adapter: list store namespaces by label, delete one with
foreground propagation (guarded, and pinned to the uid that was checked), and wait until
the API server has really removed it.

Called by the deletion handler and the sweeper with the `ApiClient` opened in
`services.reaper.app`. Raises `shared.kube_errors.KubeError` subclasses; refuses (with
`NotAStoreNamespace`) to delete anything that fails the label guard.
"""

from __future__ import annotations

import asyncio
import time
from types import MappingProxyType
from typing import Any

from kubernetes_asyncio import client

from services.reaper.guard import NamespaceInfo, is_store_namespace
from shared.kube import kube_errors
from shared.kube_errors import Conflict, NotFound
from shared.namespaces import PLATFORM_SELECTOR, store_selector

# Conditions the namespace controller sets while it cannot finish a deletion.
_HOLDING_CONDITIONS = (
    "NamespaceContentRemaining",
    "NamespaceFinalizersRemaining",
    "NamespaceDeletionContentFailure",
    "NamespaceDeletionDiscoveryFailure",
    "NamespaceDeletionGroupVersionParsingFailure",
)
LIST_PAGE = 500
# The longest pause between looks at a namespace being deleted (`wait_gone`).
MAX_POLL_SECONDS = 5.0


class NotAStoreNamespace(Exception):
    """The guard refused: the namespace lacks the managed-by or the store-id label."""


def namespace_info(ns: Any) -> NamespaceInfo:
    """Our view of a `V1Namespace`."""
    meta = ns.metadata
    holders = [f"finalizer {f}" for f in (ns.spec.finalizers or [] if ns.spec else [])]
    holders += [f"finalizer {f}" for f in meta.finalizers or []]
    for condition in (ns.status.conditions or []) if ns.status else []:
        if condition.type in _HOLDING_CONDITIONS and condition.status == "True":
            holders.append(f"{condition.type}: {condition.message}")
    return NamespaceInfo(
        name=meta.name,
        uid=meta.uid,
        labels=MappingProxyType(dict(meta.labels or {})),
        created_at=meta.creation_timestamp,
        deleting_since=meta.deletion_timestamp,
        holders=tuple(holders),
    )


class Namespaces:
    def __init__(self, api: client.ApiClient, request_timeout: float = 30.0) -> None:
        self._core = client.CoreV1Api(api)
        self._timeout = request_timeout

    async def of_store(self, store_id: str) -> list[NamespaceInfo]:
        """The namespaces labeled as this store's (normally one, or none)."""
        found = await self._list(store_selector(store_id))
        return [ns for ns in found if is_store_namespace(ns, store_id)]

    async def managed(self) -> list[NamespaceInfo]:
        """Every namespace labeled managed-by=storefleet."""
        return await self._list(PLATFORM_SELECTOR)

    async def _list(self, selector: str) -> list[NamespaceInfo]:
        found: list[NamespaceInfo] = []
        token: str | None = None
        async with kube_errors("list store namespaces"):
            while True:
                page = await self._core.list_namespace(
                    label_selector=selector,
                    limit=LIST_PAGE,
                    _continue=token or "",
                    _request_timeout=self._timeout,
                )
                found += [namespace_info(ns) for ns in page.items]
                token = page.metadata._continue
                if not token:
                    return found

    async def read(self, name: str) -> NamespaceInfo | None:
        try:
            async with kube_errors(f"read namespace {name}"):
                ns = await self._core.read_namespace(name, _request_timeout=self._timeout)
        except NotFound:
            return None
        return namespace_info(ns)

    async def exists(self, name: str) -> bool:
        return await self.read(name) is not None

    async def delete(self, namespace: NamespaceInfo, store_id: str) -> None:
        """Delete with foreground propagation, only if the guard passes, and only the
        namespace with the uid that was checked (a namespace recreated under the same
        name in between is left alone). Already gone or already terminating is fine."""
        if not is_store_namespace(namespace, store_id):
            raise NotAStoreNamespace(
                f"namespace {namespace.name} is not labeled as store {store_id}'s; left alone"
            )
        body = client.V1DeleteOptions(
            propagation_policy="Foreground",
            preconditions=client.V1Preconditions(uid=namespace.uid),
        )
        try:
            async with kube_errors(f"delete namespace {namespace.name}"):
                await self._core.delete_namespace(
                    namespace.name, body=body, _request_timeout=self._timeout
                )
        except (NotFound, Conflict):
            pass  # gone, already terminating, or a different namespace by now

    async def wait_gone(self, namespace: NamespaceInfo, timeout: float, poll: float = 1.0) -> bool:
        """True once no namespace with this uid exists; False after `timeout`.

        Looks every `poll` seconds at first, then less and less often, up to every
        `MAX_POLL_SECONDS`: an empty namespace goes within seconds, one with pods takes
        their grace period (30 s by default), and dozens of deletions waiting at once
        must not spend the client's request budget on asking."""
        deadline = time.monotonic() + timeout
        while True:
            current = await self.read(namespace.name)
            if current is None or current.uid != namespace.uid:
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(poll)
            poll = max(poll, min(poll * 1.5, MAX_POLL_SECONDS))
