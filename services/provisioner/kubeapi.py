"""The provisioner's Kubernetes adapter: server-side apply (field manager `storefleet`,
forced), create-if-absent, get, list and watch, on plain dict manifests, for the kinds in
`services.provisioner.kinds`. It deletes nothing: store namespaces are the reaper's to
delete.

kubernetes_asyncio has no generic apply, so this builds each object's URL from the static
kind table and calls `ApiClient.call_api` with the apply-patch content type; requests go
through the shared client's QPS/burst limiter. Every failure comes out as a
`shared.kube_errors.KubeError` subclass saying whether a retry may help. One quirk of apply
is handled here: a Deployment made with the default rolling update that a later chart
moves to Recreate is switched with a merge patch first (see `_recreate_strategy`).

Called by the handler (waves, readiness helpers), the status watch and the credentials
responder.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiohttp
from kubernetes_asyncio import client

from services.provisioner.kinds import Kind, kind_of
from shared.kube import kube_errors, translate
from shared.kube_errors import Conflict, Invalid, KubeUnavailable, NotFound

FIELD_MANAGER = "storefleet"
APPLY_PATCH = "application/apply-patch+yaml"
JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"
_AUTH = ["BearerToken"]
_OBJECT = {200: "object", 201: "object", 202: "object"}

Query = Sequence[tuple[str, str]]


class StoreKube:
    """Thin calls against the API server with dict bodies in and out."""

    def __init__(self, api: client.ApiClient, timeout: float = 30.0) -> None:
        self.api = api
        self.timeout = timeout

    async def _call(
        self,
        method: str,
        path: str,
        doing: str,
        *,
        query: Query = (),
        body: Any = None,
        content_type: str = JSON,
    ) -> dict[str, Any]:
        async with kube_errors(doing):
            result = await self.api.call_api(
                path,
                method,
                query_params=list(query),
                body=body,
                header_params={"Content-Type": content_type, "Accept": JSON},
                response_types_map=_OBJECT,
                auth_settings=_AUTH,
                _return_http_data_only=True,
                _request_timeout=self.timeout,
            )
        return result if isinstance(result, dict) else {}

    async def apply(
        self, manifest: dict[str, Any], *, dry_run: bool = False, manager: str = FIELD_MANAGER
    ) -> dict[str, Any]:
        """Server-side apply: create or converge the object to `manifest`, taking over any
        field another manager set (force), so a redelivery converges instead of failing."""
        kind = kind_of(manifest)
        meta = manifest["metadata"]
        query = [("fieldManager", manager), ("force", "true")]
        if dry_run:
            query.append(("dryRun", "All"))
        path = kind.path(meta["name"], meta.get("namespace"))
        doing = f"apply {kind.kind}/{meta['name']}"
        try:
            return await self._call("PATCH", path, doing, query=query, body=manifest,
                                    content_type=APPLY_PATCH)  # fmt: skip
        except Invalid:
            if dry_run or not _recreates(manifest):
                raise
            await self._recreate_strategy(path, manager)
            return await self._call("PATCH", path, doing, query=query, body=manifest,
                                    content_type=APPLY_PATCH)  # fmt: skip

    async def _recreate_strategy(self, path: str, manager: str) -> None:
        """Switch a Deployment to the Recreate strategy, dropping the rolling update
        parameters the API server defaulted when it was made. An apply cannot: nobody owns
        them, so they survive it and make the object invalid (Recreate allows none)."""
        body = {"spec": {"strategy": {"type": "Recreate", "rollingUpdate": None}}}
        # Not made yet (NotFound): the apply's own error stands when it is tried again.
        with contextlib.suppress(NotFound):
            await self._call("PATCH", path, "switch to the Recreate strategy",
                             query=[("fieldManager", manager)], body=body,
                             content_type=MERGE_PATCH)  # fmt: skip

    async def create(self, manifest: dict[str, Any]) -> bool:
        """Create the object unless it exists; False when it was already there."""
        kind = kind_of(manifest)
        meta = manifest["metadata"]
        try:
            await self._call(
                "POST",
                kind.collection(meta.get("namespace")),
                f"create {kind.kind}/{meta['name']}",
                query=[("fieldManager", FIELD_MANAGER)],
                body=manifest,
            )
        except Conflict as exc:
            if exc.reason != "AlreadyExists":
                raise
            return False
        return True

    async def get(
        self, kind: Kind, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        try:
            return await self._call("GET", kind.path(name, namespace), f"read {kind.kind}/{name}")
        except NotFound:
            return None

    async def list(
        self, kind: Kind, namespace: str | None = None, *, labels: str = "", fields: str = ""
    ) -> dict[str, Any]:
        return await self._call(
            "GET",
            kind.collection(namespace),
            f"list {kind.plural}",
            query=_selectors(labels, fields),
        )

    async def server_version(self) -> str:
        version = await self._call("GET", "/version", "read the server version")
        return str(version.get("gitVersion", ""))

    async def watch(
        self,
        kind: Kind,
        resource_version: str,
        *,
        labels: str = "",
        fields: str = "",
        timeout_seconds: int = 120,
    ) -> AsyncIterator[dict[str, Any]]:
        """Watch events of `kind` in every namespace from `resource_version`; ends when the
        server closes the watch. A 410 (too old) raises `Conflict`: list again."""
        query = [
            ("watch", "true"),
            ("allowWatchBookmarks", "true"),
            ("resourceVersion", resource_version),
            ("timeoutSeconds", str(timeout_seconds)),
            *_selectors(labels, fields),
        ]
        async with kube_errors(f"watch {kind.plural}"):
            resp = await self.api.call_api(
                kind.collection(None),
                "GET",
                query_params=query,
                header_params={"Accept": JSON},
                auth_settings=_AUTH,
                _preload_content=False,
                _request_timeout=aiohttp.ClientTimeout(
                    sock_connect=10, sock_read=timeout_seconds + 30
                ),
            )
        try:
            if resp.status != 200:
                body = await resp.text()
                raise KubeUnavailable(
                    f"watch {kind.plural}: HTTP {resp.status}: {body[:200]}", resp.status
                )
            async for line in _lines(resp, kind):
                yield line
        finally:
            resp.release()


def _recreates(manifest: dict[str, Any]) -> bool:
    """Whether the manifest is a Deployment asking for the Recreate strategy."""
    strategy = (manifest.get("spec") or {}).get("strategy") or {}
    return manifest.get("kind") == "Deployment" and strategy.get("type") == "Recreate"


def _selectors(labels: str, fields: str) -> list[tuple[str, str]]:
    query = [("labelSelector", labels)] if labels else []
    return query + ([("fieldSelector", fields)] if fields else [])


async def _lines(resp: aiohttp.ClientResponse, kind: Kind) -> AsyncIterator[dict[str, Any]]:
    try:
        async for raw in resp.content:
            if not raw.strip():
                continue
            event = json.loads(raw)
            if event.get("type") == "ERROR":
                status = event.get("object", {})
                raise Conflict(
                    f"watch {kind.plural}: {status.get('message', 'expired')}",
                    status.get("code"),
                    status.get("reason", ""),
                )
            yield event
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise translate(exc, f"watch {kind.plural}") from exc
