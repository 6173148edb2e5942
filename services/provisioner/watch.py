"""A shared, watch-fed view of the objects every store waits on, so that waiting costs
the API server one watch per kind instead of one poll per store per second.

One `StatusWatch` per provisioner process lists and then watches, in every namespace:
the platform-labelled Deployments, StatefulSets, Jobs and ResourceQuotas, and every
`default` ServiceAccount. Handlers read objects from it and `listen()` for changes in
their store's namespace. A broken watch (API server down, 410 Gone) is re-listed with
backoff, which also brings waiters up to date; `healthy` says whether every feed is live.

Called by the handler (reads, listen) and started by `app.main`.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import structlog

from services.provisioner.kinds import Kind, by_kind
from services.provisioner.kubeapi import StoreKube
from shared.backoff import Backoff
from shared.kube_errors import Conflict
from shared.namespaces import PLATFORM_SELECTOR

log = structlog.get_logger(__name__)

Key = tuple[str, str, str]  # kind, namespace, name


@dataclass(frozen=True)
class Feed:
    kind: Kind
    labels: str = ""
    fields: str = ""


# Between re-lists of a broken feed: 0.5 s, 1 s, 2 s, ... up to 10 s.
RELIST = Backoff(base=0.5, cap=10.0)
FEEDS = (
    Feed(by_kind("Deployment"), labels=PLATFORM_SELECTOR),
    Feed(by_kind("StatefulSet"), labels=PLATFORM_SELECTOR),
    Feed(by_kind("Job"), labels=PLATFORM_SELECTOR),
    Feed(by_kind("ResourceQuota"), labels=PLATFORM_SELECTOR),
    Feed(by_kind("ServiceAccount"), fields="metadata.name=default"),
)


def _slim(obj: dict[str, Any]) -> dict[str, Any]:
    """What readiness needs; the rest of a big object is not worth keeping."""
    meta = obj.get("metadata", {})
    spec = obj.get("spec") or {}
    return {
        "metadata": {k: meta[k] for k in ("name", "namespace", "generation") if k in meta},
        "spec": {k: spec[k] for k in ("replicas", "updateStrategy") if k in spec},
        "status": obj.get("status") or {},
    }


class StatusWatch:
    def __init__(
        self,
        kube: StoreKube,
        feeds: Sequence[Feed] = FEEDS,
        *,
        backoff: Backoff = RELIST,
    ) -> None:
        self._kube = kube
        self._feeds = feeds
        self._backoff = backoff
        self._objects: dict[Key, dict[str, Any]] = {}
        self._listeners: dict[str, set[asyncio.Event]] = defaultdict(set)
        self._live: dict[str, bool] = {feed.kind.kind: False for feed in feeds}

    @property
    def healthy(self) -> bool:
        return all(self._live.values())

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self._objects.get((kind, namespace, name))

    @contextmanager
    def listen(self, namespace: str) -> Iterator[asyncio.Event]:
        """An event set whenever an object in `namespace` changes (clear it to re-arm)."""
        event = asyncio.Event()
        self._listeners[namespace].add(event)
        try:
            yield event
        finally:
            self._listeners[namespace].discard(event)
            if not self._listeners[namespace]:
                del self._listeners[namespace]

    async def run(self) -> None:
        """Follow every feed until cancelled."""
        await asyncio.gather(*(self._follow(feed) for feed in self._feeds))

    async def _follow(self, feed: Feed) -> None:
        failures = 0
        while True:
            try:
                version = await self._relist(feed)
                self._live[feed.kind.kind] = True
                failures = 0
                while True:  # each watch ends after its timeout; resume where it stopped
                    async for event in self._kube.watch(
                        feed.kind, version, labels=feed.labels, fields=feed.fields
                    ):
                        version = self._apply(feed.kind.kind, event) or version
            except Conflict:
                self._live[feed.kind.kind] = False  # history expired: list again at once
            except Exception as exc:  # KubeError, or a garbled event: a feed must not die
                self._live[feed.kind.kind] = False
                failures += 1
                delay = self._backoff.delay(failures)
                log.warning(
                    "status watch interrupted", kind=feed.kind.kind, error=str(exc), retry_in=delay
                )
                await asyncio.sleep(delay)

    async def _relist(self, feed: Feed) -> str:
        listing = await self._kube.list(feed.kind, labels=feed.labels, fields=feed.fields)
        kind = feed.kind.kind
        fresh = {}
        for item in listing.get("items") or []:
            meta = item.get("metadata", {})
            fresh[(kind, meta.get("namespace", ""), meta.get("name", ""))] = _slim(item)
        for key in [key for key in self._objects if key[0] == kind and key not in fresh]:
            del self._objects[key]
        self._objects.update(fresh)
        self._notify(None)
        return str(listing.get("metadata", {}).get("resourceVersion", ""))

    def _apply(self, kind: str, event: dict[str, Any]) -> str | None:
        obj = event.get("object") or {}
        meta = obj.get("metadata", {})
        version = meta.get("resourceVersion")
        if event.get("type") == "BOOKMARK":
            return str(version) if version else None
        key = (kind, meta.get("namespace", ""), meta.get("name", ""))
        if event.get("type") == "DELETED":
            self._objects.pop(key, None)
        else:
            self._objects[key] = _slim(obj)
        self._notify(key[1])
        return str(version) if version else None

    def _notify(self, namespace: str | None) -> None:
        targets = [namespace] if namespace is not None else list(self._listeners)
        for name in targets:
            for event in self._listeners.get(name, ()):
                event.set()
