"""Small generic API calls the chart tests need and kubernetes_asyncio's typed clients do
not offer: server-side dry-run creation, server-side apply and deletion of any manifest
(the kind's resource found by API discovery), and CustomResourceDefinitions for the
operators' kinds the test control plane does not have: schema-less stand-ins for the
Prometheus Operator's and cert-manager's, or cert-manager's own.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from kubernetes_asyncio.client import ApiClient, ApiextensionsV1Api
from kubernetes_asyncio.client.exceptions import ApiException

Manifest = dict[str, Any]
_OBJECT = {200: "object", 201: "object"}


async def _get(api: ApiClient, path: str) -> dict[str, Any]:
    result = await api.call_api(
        path, "GET", header_params={"Accept": "application/json"},
        response_types_map=_OBJECT, auth_settings=["BearerToken"],
        _return_http_data_only=True,
    )  # fmt: skip
    return result if isinstance(result, dict) else {}


async def resource_of(api: ApiClient, api_version: str, kind: str) -> tuple[str, str, bool]:
    """(group-version path, plural, namespaced) of a kind, from API discovery."""
    base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    for resource in (await _get(api, base)).get("resources", []):
        if resource["kind"] == kind and "/" not in resource["name"]:
            return base, resource["name"], bool(resource["namespaced"])
    raise LookupError(f"the API server does not serve {kind} ({api_version})")


async def dry_run_create(api: ApiClient, manifest: Manifest, namespace: str) -> None:
    """Create `manifest` with dryRun=All and strict field validation: the API server
    decodes, defaults, validates and admits it, and stores nothing."""
    base, plural, namespaced = await resource_of(api, manifest["apiVersion"], manifest["kind"])
    path = f"{base}/namespaces/{namespace}/{plural}" if namespaced else f"{base}/{plural}"
    await api.call_api(
        path, "POST", query_params=[("dryRun", "All"), ("fieldValidation", "Strict")],
        body=manifest, header_params={"Content-Type": "application/json"},
        response_types_map=_OBJECT, auth_settings=["BearerToken"],
        _return_http_data_only=True,
    )  # fmt: skip


async def _object_path(api: ApiClient, manifest: Manifest) -> str:
    base, plural, namespaced = await resource_of(api, manifest["apiVersion"], manifest["kind"])
    meta = manifest["metadata"]
    collection = (
        f"{base}/namespaces/{meta['namespace']}/{plural}" if namespaced else f"{base}/{plural}"
    )
    return f"{collection}/{meta['name']}"


async def apply(api: ApiClient, manifest: Manifest, *, dry_run: bool = False) -> Manifest:
    """Server-side apply, forced, as the field manager `storefleet` (the services' own)."""
    query = [("fieldManager", "storefleet"), ("force", "true")]
    if dry_run:
        query.append(("dryRun", "All"))
    result = await api.call_api(
        await _object_path(api, manifest), "PATCH", query_params=query, body=manifest,
        header_params={"Content-Type": "application/apply-patch+yaml",
                       "Accept": "application/json"},
        response_types_map=_OBJECT, auth_settings=["BearerToken"],
        _return_http_data_only=True,
    )  # fmt: skip
    return result if isinstance(result, dict) else {}


async def delete(api: ApiClient, manifest: Manifest) -> None:
    await api.call_api(
        await _object_path(api, manifest), "DELETE",
        header_params={"Accept": "application/json"},
        response_types_map=_OBJECT, auth_settings=["BearerToken"],
        _return_http_data_only=True,
    )  # fmt: skip


# The kinds of operators the chart can use (values-prod.yaml does): the Prometheus
# Operator's and cert-manager's, as (group, kind, plural).
OPERATOR_KINDS = (
    ("monitoring.coreos.com", "ServiceMonitor", "servicemonitors"),
    ("monitoring.coreos.com", "PrometheusRule", "prometheusrules"),
    ("cert-manager.io", "Certificate", "certificates"),
    ("cert-manager.io", "Issuer", "issuers"),
)


async def ensure_operator_crds(api: ApiClient) -> list[str]:
    """Schema-less stand-ins for the operators' kinds the chart uses, so manifests using
    them can be sent to the API server at all. Real ones already there are left alone;
    returns the names of the ones it created."""
    extensions = ApiextensionsV1Api(api)
    created = []
    for group, kind, plural in OPERATOR_KINDS:
        name = f"{plural}.{group}"
        crd = {
            "metadata": {"name": name},
            "spec": {
                "group": group,
                "scope": "Namespaced",
                "names": {"kind": kind, "plural": plural, "singular": kind.lower(),
                          "listKind": f"{kind}List"},
                "versions": [{
                    "name": "v1", "served": True, "storage": True,
                    "schema": {"openAPIV3Schema": {
                        "type": "object", "x-kubernetes-preserve-unknown-fields": True,
                    }},
                }],
            },
        }  # fmt: skip
        try:
            await extensions.create_custom_resource_definition(crd)
            created.append(name)
        except ApiException as exc:
            if exc.status != 409:
                raise
    for _ in range(100):
        with contextlib.suppress(LookupError, ApiException):
            for group, kind, _ in OPERATOR_KINDS:
                await resource_of(api, f"{group}/v1", kind)
            return created
        await asyncio.sleep(0.1)
    raise AssertionError("the operators' CRDs were not served within 10 s")


async def ensure_crds(api: ApiClient, crds: list[Manifest]) -> list[str]:
    """Create these CustomResourceDefinitions where absent (one already there, real or a
    stand-in, is left alone) and wait until the API server serves their kinds; returns
    the names of the ones it created."""
    extensions = ApiextensionsV1Api(api)
    created = []
    for crd in crds:
        try:
            await extensions.create_custom_resource_definition(crd)
            created.append(crd["metadata"]["name"])
        except ApiException as exc:
            if exc.status != 409:
                raise
    for _ in range(100):
        with contextlib.suppress(LookupError, ApiException):
            for crd in crds:
                version = next(v["name"] for v in crd["spec"]["versions"] if v["storage"])
                await resource_of(
                    api, f"{crd['spec']['group']}/{version}", crd["spec"]["names"]["kind"]
                )
            return created
        await asyncio.sleep(0.1)
    raise AssertionError("the CRDs were not served within 10 s")


async def delete_crds(api: ApiClient, names: list[str]) -> None:
    for name in names:
        with contextlib.suppress(ApiException):
            await ApiextensionsV1Api(api).delete_custom_resource_definition(name)
