"""The reaper's Kubernetes calls for custom domains: server-side apply of the objects
`services.reaper.domain_objects` renders, reading a domain's Certificate, and deleting a
domain's objects (Ingress, Certificate and the Secret cert-manager wrote).

Field manager `storefleet-reaper`, forced, so a pass repeated after a crash converges.
Every failure comes out as a `shared.kube_errors.KubeError`; a missing object on delete
or read is not one.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from kubernetes_asyncio import client

from services.reaper.domain_objects import object_name, secret_name
from shared.kube import kube_errors
from shared.kube_errors import Forbidden, Invalid, NotFound

FIELD_MANAGER = "storefleet-reaper"
LISTED_RETRIES = (0.5, 1.0, 2.0)
_AUTH = ["BearerToken"]
_OBJECT = {200: "object", 201: "object", 202: "object"}
_BASES = {
    "v1": "/api/v1",
    "networking.k8s.io/v1": "/apis/networking.k8s.io/v1",
    "cert-manager.io/v1": "/apis/cert-manager.io/v1",
}
_PLURALS = {
    "ConfigMap": "configmaps",
    "Secret": "secrets",
    "Ingress": "ingresses",
    "Certificate": "certificates",
}


def _accept() -> dict[str, str]:
    """A header dict of the call's own: the client merges its default headers (an
    impersonated user among them) into the dict it is given."""
    return {"Accept": "application/json"}


def _path(api_version: str, kind: str, namespace: str, name: str) -> str:
    return f"{_BASES[api_version]}/namespaces/{namespace}/{_PLURALS[kind]}/{name}"


class DomainKube:
    def __init__(self, api: client.ApiClient, timeout: float = 30.0) -> None:
        self._api = api
        self._timeout = timeout

    async def _call(
        self, method: str, path: str, doing: str, query: list[tuple[str, str]], **kw: Any
    ) -> dict[str, Any]:
        async with kube_errors(doing):
            result = await self._api.call_api(
                path,
                method,
                query_params=query,
                response_types_map=_OBJECT,
                auth_settings=_AUTH,
                _return_http_data_only=True,
                _request_timeout=self._timeout,
                **kw,
            )
        return result if isinstance(result, dict) else {}

    async def apply(self, manifest: dict[str, Any]) -> None:
        meta = manifest["metadata"]
        path = _path(manifest["apiVersion"], manifest["kind"], meta["namespace"], meta["name"])
        await self._call(
            "PATCH",
            path,
            f"apply {manifest['kind']}/{meta['name']}",
            [("fieldManager", FIELD_MANAGER), ("force", "true")],
            body=manifest,
            header_params={
                "Content-Type": "application/apply-patch+yaml",
                "Accept": "application/json",
            },
        )

    async def apply_listed(self, manifest: dict[str, Any]) -> None:
        """Apply an object the admission policy checks against the `storefleet-domains`
        ConfigMap just written: the API server reads that through a cache a moment behind,
        so a refusal (422 while it has no list, 403 while it has the old one) is tried
        again shortly before it counts."""
        for delay in LISTED_RETRIES:
            try:
                await self.apply(manifest)
                return
            except (Invalid, Forbidden):
                await asyncio.sleep(delay)
        await self.apply(manifest)

    async def certificate(self, namespace: str, domain_id: str) -> dict[str, Any] | None:
        """The domain's Certificate as the API server has it; None when there is none."""
        name = object_name(domain_id)
        path = _path("cert-manager.io/v1", "Certificate", namespace, name)
        try:
            return await self._call(
                "GET", path, f"read Certificate/{name}", [], header_params=_accept()
            )
        except NotFound:
            return None

    async def remove(self, namespace: str, domain_id: str) -> None:
        """Delete the domain's Ingress, Certificate and certificate Secret; any already
        gone (or the whole namespace) is fine."""
        name = object_name(domain_id)
        for api_version, kind, object_ in (
            ("networking.k8s.io/v1", "Ingress", name),
            ("cert-manager.io/v1", "Certificate", name),
            ("v1", "Secret", secret_name(domain_id)),
        ):
            with contextlib.suppress(NotFound):
                await self._call(
                    "DELETE",
                    _path(api_version, kind, namespace, object_),
                    f"delete {kind}/{object_}",
                    [],
                    header_params=_accept(),
                )
