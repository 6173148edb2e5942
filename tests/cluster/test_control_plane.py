"""The test cluster is a real control plane, not a stub: admission (quota, limit ranges,
RBAC), the controllers (Deployments, Jobs, namespace deletion) and the scheduler all act,
and kwok's fake nodes run the pods. Each test observes what an operator would with kubectl.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from kubernetes_asyncio.client import (
    ApiClient,
    AppsV1Api,
    BatchV1Api,
    Configuration,
    CoreV1Api,
    V1Pod,
)
from kubernetes_asyncio.client.exceptions import ApiException

pytestmark = pytest.mark.cluster

T = TypeVar("T")
IMAGE = "registry.invalid/storefront:1"  # kwok never pulls it


async def test_a_pod_beyond_the_namespace_quota_is_refused(
    kube_api: ApiClient, namespace: str
) -> None:
    core = CoreV1Api(kube_api)
    await _default_service_account(core, namespace)
    quota = {"metadata": {"name": "compute"}, "spec": {"hard": {"requests.cpu": "500m"}}}
    await core.create_namespaced_resource_quota(namespace, quota)
    # Quota admission refuses every pod until the controller-manager has filled in status.
    await _eventually(lambda: _quota_status_hard(core, namespace, "compute"), "quota status")
    await core.create_namespaced_pod(namespace, _pod("first", cpu="300m"))

    with pytest.raises(ApiException) as refused:
        await core.create_namespaced_pod(namespace, _pod("second", cpu="300m"))

    assert refused.value.status == 403
    assert "exceeded quota" in _message(refused.value)


async def test_a_limit_range_fills_in_requests_and_limits_a_pod_left_out(
    kube_api: ApiClient, namespace: str
) -> None:
    core = CoreV1Api(kube_api)
    await _default_service_account(core, namespace)
    limits = {
        "metadata": {"name": "defaults"},
        "spec": {"limits": [{
            "type": "Container",
            "defaultRequest": {"cpu": "100m", "memory": "64Mi"},
            "default": {"cpu": "200m", "memory": "128Mi"},
        }]},
    }  # fmt: skip
    await core.create_namespaced_limit_range(namespace, limits)

    created = await core.create_namespaced_pod(namespace, _pod("bare"))

    resources = created.spec.containers[0].resources
    assert resources.requests == {"cpu": "100m", "memory": "64Mi"}
    assert resources.limits == {"cpu": "200m", "memory": "128Mi"}


async def test_a_deployment_pod_becomes_ready_on_a_fake_node(
    kube_api: ApiClient, namespace: str
) -> None:
    core = CoreV1Api(kube_api)
    await _default_service_account(core, namespace)
    await AppsV1Api(kube_api).create_namespaced_deployment(namespace, _deployment("shop", 1))

    [pod] = await _eventually(lambda: _ready_pods(core, namespace, "app=shop", 1), "a ready pod")

    fake_nodes = await core.list_node(label_selector="type=kwok")
    assert pod.spec.node_name in {node.metadata.name for node in fake_nodes.items}
    assert _condition(pod, "Ready") == "True"


async def test_a_job_runs_to_completion(kube_api: ApiClient, namespace: str) -> None:
    core, batch = CoreV1Api(kube_api), BatchV1Api(kube_api)
    await _default_service_account(core, namespace)
    job = {
        "metadata": {"name": "migrate"},
        "spec": {"backoffLimit": 0, "template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "migrate", "image": IMAGE}],
        }}},
    }  # fmt: skip
    await batch.create_namespaced_job(namespace, job)

    async def succeeded() -> int | None:
        status = (await batch.read_namespaced_job_status("migrate", namespace)).status
        return status.succeeded

    assert await _eventually(succeeded, "job success") == 1


async def test_deleting_a_namespace_with_running_pods_finishes_within_a_minute(
    kube_api: ApiClient, namespace: str
) -> None:
    core = CoreV1Api(kube_api)
    await _default_service_account(core, namespace)
    await AppsV1Api(kube_api).create_namespaced_deployment(namespace, _deployment("shop", 3))
    await _eventually(lambda: _ready_pods(core, namespace, "app=shop", 3), "three ready pods")

    await core.delete_namespace(namespace)

    async def gone() -> bool:
        try:
            await core.read_namespace(namespace)
        except ApiException as exc:
            if exc.status == 404:
                return True
            raise
        return False

    assert await _eventually(gone, "namespace deletion", within=60.0)


async def test_a_service_account_without_bindings_may_not_list_pods(
    kube_api: ApiClient, namespace: str
) -> None:
    core = CoreV1Api(kube_api)
    await core.create_namespaced_service_account(namespace, {"metadata": {"name": "nobody"}})
    token_request = {"spec": {"audiences": [], "expirationSeconds": 600}}
    issued = await core.create_namespaced_service_account_token("nobody", namespace, token_request)
    config = Configuration(
        host=kube_api.configuration.host,
        api_key={"BearerToken": f"Bearer {issued.status.token}"},
        ssl_ca_cert=kube_api.configuration.ssl_ca_cert,
    )

    async with ApiClient(configuration=config) as stranger:
        with pytest.raises(ApiException) as refused:
            await CoreV1Api(stranger).list_namespaced_pod(namespace)

    # 403, not 401: the token is valid, the account simply has no permissions.
    assert refused.value.status == 403
    assert f"system:serviceaccount:{namespace}:nobody" in _message(refused.value)


# -- helpers ---------------------------------------------------------------------------


async def _eventually(
    probe: Callable[[], Awaitable[T | None]], what: str, within: float = 30.0
) -> T:
    """Poll `probe` until it returns something truthy, and return that."""
    result = None
    try:
        async with asyncio.timeout(within):
            while True:
                if result := await probe():
                    return result
                await asyncio.sleep(0.2)
    except TimeoutError:
        raise AssertionError(f"no {what} within {within}s (last: {result!r})") from None


async def _default_service_account(core: CoreV1Api, namespace: str) -> None:
    # The controller-manager creates it a moment after the namespace; pods need it.
    async def exists() -> bool:
        accounts = await core.list_namespaced_service_account(namespace)
        return any(sa.metadata.name == "default" for sa in accounts.items)

    await _eventually(exists, "default service account")


async def _quota_status_hard(core: CoreV1Api, namespace: str, name: str) -> dict[str, str] | None:
    quota = await core.read_namespaced_resource_quota(name, namespace)
    return quota.status.hard if quota.status else None


async def _ready_pods(core: CoreV1Api, namespace: str, selector: str, count: int) -> list[V1Pod]:
    pods = await core.list_namespaced_pod(namespace, label_selector=selector)
    ready = [pod for pod in pods.items if _condition(pod, "Ready") == "True"]
    return ready if len(ready) == count else []


def _condition(pod: V1Pod, kind: str) -> str | None:
    conditions = (pod.status.conditions if pod.status else None) or []
    return next((c.status for c in conditions if c.type == kind), None)


def _pod(name: str, cpu: str | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "app", "image": IMAGE}
    if cpu is not None:
        container["resources"] = {"requests": {"cpu": cpu}}
    return {"metadata": {"name": name}, "spec": {"containers": [container]}}


def _deployment(name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": IMAGE}]},
            },
        },
    }


def _message(exc: ApiException) -> str:
    return str(json.loads(exc.body or b"{}").get("message", ""))
