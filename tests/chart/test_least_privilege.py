"""Least privilege, proven on a real API server with the chart installed: requests made
as the chart's service accounts (the admin impersonates them, or the provisioner runs
with a token of its own service account), so RBAC and the ValidatingAdmissionPolicy
both act as they would on a cluster.

The provisioner's writes go through its own Kubernetes adapter (`StoreKube`), and the
whole-store test runs the real provisioner process code end to end.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio.client import (
    ApiClient,
    AppsV1Api,
    BatchV1Api,
    CoreV1Api,
    NetworkingV1Api,
    RbacAuthorizationV1Api,
)
from kubernetes_asyncio.client.exceptions import ApiException
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from devtools.nats import LocalNats
from services.provisioner.app import main as provisioner_main
from services.provisioner.kubeapi import StoreKube
from services.provisioner.settings import ProvisionerSettings
from services.reaper.domain_objects import ALLOWED_DOMAINS
from services.reaper.namespaces import Namespaces
from shared.events import Envelope, new_event, parse_event
from shared.jetstream import publish_event
from shared.kube_errors import Forbidden
from shared.namespaces import MANAGED_BY, PLATFORM, STORE_ID
from shared.service import Runtime
from shared.subjects import subject_for
from tests.chart.conftest import (
    ActAs,
    Platform,
    StoreNamespace,
    token_kubeconfig,
)
from tests.fixtures.cluster import KubeCluster
from tests.fixtures.nats import ExternalNats

pytestmark = pytest.mark.cluster

POLICY = "ValidatingAdmissionPolicy"


async def refused(call: Awaitable[Any]) -> str:
    """Await an API call that must be refused with 403; the server's message."""
    try:
        await call
    except Forbidden as exc:
        return str(exc)
    except ApiException as exc:
        body = exc.body.decode() if isinstance(exc.body, bytes) else str(exc.body)
        assert exc.status == 403, f"expected 403, got {exc.status}: {body}"
        return body
    raise AssertionError("the API server allowed it")


def config_map(name: str, namespace: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace}, "data": {"k": "v"}}  # fmt: skip


def deployment(namespace: str) -> dict[str, Any]:
    labels = {"app": "intruder"}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "intruder", "namespace": namespace},
        "spec": {"selector": {"matchLabels": labels}, "template": {
            "metadata": {"labels": labels},
            "spec": {"containers": [{"name": "c", "image": "registry.invalid/x:1"}]},
        }},
    }  # fmt: skip


def namespace_manifest(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


# -- the provisioner ---------------------------------------------------------------------


async def test_the_provisioner_is_refused_writing_in_kube_system(
    platform: Platform, act_as: ActAs
) -> None:
    kube = StoreKube(await act_as(platform.user("provisioner")))

    for manifest in (config_map("intruder", "kube-system"), deployment("kube-system")):
        assert POLICY in await refused(kube.apply(manifest))
    secret = {"apiVersion": "v1", "kind": "Secret",
              "metadata": {"name": "intruder", "namespace": "kube-system"}}  # fmt: skip
    assert POLICY in await refused(kube.create(secret))


async def test_the_provisioner_is_refused_writing_in_an_unlabelled_namespace(
    platform: Platform, act_as: ActAs, namespace: str
) -> None:
    kube = StoreKube(await act_as(platform.user("provisioner")))

    assert POLICY in await refused(kube.apply(config_map("intruder", namespace)))
    assert POLICY in await refused(kube.apply(deployment(namespace)))
    # Nor in the platform's own namespace, where the database password lives.
    assert POLICY in await refused(kube.apply(config_map("intruder", platform.namespace)))


async def test_the_provisioner_writes_inside_a_store_namespace(
    platform: Platform, act_as: ActAs, store_namespace: StoreNamespace
) -> None:
    kube = StoreKube(await act_as(platform.user("provisioner")))
    store = await store_namespace()

    applied = await kube.apply(config_map("settings", store))

    assert applied["metadata"]["namespace"] == store


async def test_the_provisioner_cannot_read_secrets_outside_store_namespaces(
    platform: Platform, act_as: ActAs, kube_api: ApiClient, namespace: str,
    store_namespace: StoreNamespace,
) -> None:  # fmt: skip
    admin = CoreV1Api(kube_api)
    body = {"metadata": {"name": "payment-keys"}, "stringData": {"key": "s3cr3t"}}
    await admin.create_namespaced_secret(namespace, body)
    store = await store_namespace()
    await admin.create_namespaced_secret(store, {"metadata": {"name": "store-secret"}})
    core = CoreV1Api(await act_as(platform.user("provisioner")))

    await refused(core.read_namespaced_secret("payment-keys", namespace))
    await refused(core.list_namespaced_secret(namespace))
    await refused(core.list_secret_for_all_namespaces())
    await refused(core.read_namespaced_secret(f"{platform.release}-secrets", platform.namespace))
    await refused(core.list_namespaced_secret("kube-system"))
    # What it may read: its own store's Secret, by name (the credentials responder).
    assert (
        await core.read_namespaced_secret("store-secret", store)
    ).metadata.name == "store-secret"


async def test_the_provisioner_cannot_create_a_cluster_role_binding(
    platform: Platform, act_as: ActAs, store_namespace: StoreNamespace
) -> None:
    rbac = RbacAuthorizationV1Api(await act_as(platform.user("provisioner")))
    subject = {"kind": "ServiceAccount", "name": platform.service_account("provisioner"),
               "namespace": platform.namespace}  # fmt: skip
    binding = {
        "metadata": {"name": f"escalate-{uuid.uuid4().hex[:6]}"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": "cluster-admin"},
        "subjects": [subject],
    }  # fmt: skip
    store = await store_namespace()

    await refused(rbac.create_cluster_role_binding(binding))
    await refused(rbac.create_namespaced_role_binding(store, binding))
    await refused(rbac.create_cluster_role({"metadata": {"name": "escalate"}, "rules": []}))


async def test_the_provisioner_cannot_remove_or_alter_a_store_namespaces_labels(
    platform: Platform, act_as: ActAs, kube_api: ApiClient, store_namespace: StoreNamespace
) -> None:
    core = CoreV1Api(await act_as(platform.user("provisioner")))
    store = await store_namespace()

    for labels in (
        {MANAGED_BY: None},
        {MANAGED_BY: "someone-else"},
        {STORE_ID: None},
        {STORE_ID: "another-store"},
        {"pod-security.kubernetes.io/enforce": "privileged"},
    ):
        assert POLICY in await refused(
            core.patch_namespace(store, {"metadata": {"labels": labels}})
        )
    # Changing what it owns is fine: the ready marker is an annotation.
    await core.patch_namespace(
        store, {"metadata": {"annotations": {"storefleet.io/ready-at": "now"}}}
    )
    labels = (await CoreV1Api(kube_api).read_namespace(store)).metadata.labels
    assert labels[MANAGED_BY] == "storefleet"


async def test_the_provisioner_creates_only_labelled_store_namespaces(
    platform: Platform, act_as: ActAs, kube_api: ApiClient
) -> None:
    kube = StoreKube(await act_as(platform.user("provisioner")))
    store_id = str(uuid.uuid4())
    labels = {MANAGED_BY: PLATFORM, STORE_ID: store_id,
              "pod-security.kubernetes.io/enforce": "restricted"}  # fmt: skip
    name = f"store-chart-{store_id[:8]}"

    assert POLICY in await refused(kube.apply(namespace_manifest(name)))
    assert POLICY in await refused(
        kube.apply(namespace_manifest(f"plain-{store_id[:8]}", **labels))
    )
    weak = {**labels, "pod-security.kubernetes.io/enforce": "privileged"}
    assert POLICY in await refused(kube.apply(namespace_manifest(name, **weak)))
    try:
        created = await kube.apply(namespace_manifest(name, **labels))
        assert created["metadata"]["labels"][STORE_ID] == store_id
    finally:
        with contextlib.suppress(ApiException):
            await CoreV1Api(kube_api).delete_namespace(name)


async def test_the_provisioner_cannot_delete_any_namespace_not_even_a_stores(
    platform: Platform, act_as: ActAs, namespace: str, store_namespace: StoreNamespace
) -> None:
    core = CoreV1Api(await act_as(platform.user("provisioner")))
    store = await store_namespace()

    for name in (store, namespace, platform.namespace):
        assert "cannot delete resource" in await refused(core.delete_namespace(name))


# -- the reaper --------------------------------------------------------------------------


async def test_the_reaper_can_delete_a_store_namespace(
    platform: Platform, act_as: ActAs, kube_api: ApiClient, store_namespace: StoreNamespace
) -> None:
    store = await store_namespace()
    store_id = (await CoreV1Api(kube_api).read_namespace(store)).metadata.labels[STORE_ID]
    namespaces = Namespaces(await act_as(platform.user("reaper")))  # the reaper's own adapter

    found = await namespaces.of_store(store_id)
    await namespaces.delete(found[0], store_id)

    assert [ns.name for ns in found] == [store]
    assert await namespaces.wait_gone(found[0], timeout=60, poll=0.2)


async def test_the_reaper_cannot_delete_an_unlabelled_namespace(
    platform: Platform, act_as: ActAs, kube_api: ApiClient, namespace: str
) -> None:
    core = CoreV1Api(await act_as(platform.user("reaper")))

    assert POLICY in await refused(core.delete_namespace(namespace))
    assert POLICY in await refused(core.delete_namespace(platform.namespace))
    still = await CoreV1Api(kube_api).read_namespace(namespace)
    assert still.metadata.deletion_timestamp is None


async def test_the_reaper_cannot_write_a_stores_own_objects(
    platform: Platform, act_as: ActAs, store_namespace: StoreNamespace
) -> None:
    """Only custom domains' objects (tests/chart/test_admission.py)."""
    api = await act_as(platform.user("reaper"))
    store = await store_namespace()

    await refused(StoreKube(api).apply(config_map("intruder", store)))
    await refused(StoreKube(api).apply(deployment(store)))
    await refused(CoreV1Api(api).read_namespaced_secret("store-secret", store))
    await refused(CoreV1Api(api).patch_namespace(store, {"metadata": {"labels": {"x": "y"}}}))


async def test_the_reaper_reads_no_config_map_but_a_stores_verified_domains(
    platform: Platform, act_as: ActAs, kube_api: ApiClient, store_namespace: StoreNamespace
) -> None:
    store = await store_namespace()
    admin = CoreV1Api(kube_api)
    for name in ("settings", ALLOWED_DOMAINS):
        await admin.create_namespaced_config_map(store, config_map(name, store))
    core = CoreV1Api(await act_as(platform.user("reaper")))

    await refused(core.read_namespaced_config_map("settings", store))
    await refused(core.list_namespaced_config_map(store))
    await refused(core.list_config_map_for_all_namespaces())
    assert (await core.read_namespaced_config_map(ALLOWED_DOMAINS, store)).data == {"k": "v"}


# -- the gateway, the auditor and the webhooks service -------------------------------------


@pytest.mark.parametrize("component", ["gateway", "auditor", "webhooks"])
async def test_the_gateway_and_the_auditor_are_refused_everywhere(
    platform: Platform, act_as: ActAs, store_namespace: StoreNamespace, component: str
) -> None:
    api = await act_as(platform.user(component))
    core, apps = CoreV1Api(api), AppsV1Api(api)
    store = await store_namespace()

    await refused(core.list_namespace())
    await refused(core.read_namespace(store))
    await refused(core.list_namespaced_pod(platform.namespace))
    await refused(core.read_namespaced_secret(f"{platform.release}-secrets", platform.namespace))
    await refused(core.list_namespaced_secret(store))
    await refused(core.create_namespaced_config_map(store, config_map("x", store)))
    await refused(apps.list_deployment_for_all_namespaces())
    await refused(core.create_namespace(namespace_manifest("store-x-1", **{MANAGED_BY: PLATFORM})))
    await refused(core.delete_namespace(store))


# -- a whole store, by the real provisioner -------------------------------------------------


async def _service_account_token(api: ApiClient, platform: Platform, component: str) -> str:
    request = {"spec": {"expirationSeconds": 3600}}
    answer = await CoreV1Api(api).create_namespaced_service_account_token(
        platform.service_account(component), platform.namespace, request
    )
    return str(answer.status.token)


@contextlib.asynccontextmanager
async def running_provisioner(settings: ProvisionerSettings) -> AsyncIterator[Runtime]:
    """The provisioner's `main`, as `python -m services.provisioner` runs it, until the
    block ends; it yields once the provisioner reports itself ready."""
    async with AsyncExitStack() as stack:
        runtime = Runtime("provisioner", stack)
        task = asyncio.create_task(provisioner_main(settings, runtime), name="provisioner")
        try:
            deadline = time.monotonic() + 30
            while not (runtime.health.started and all((await runtime.health.results()).values())):
                if task.done():
                    task.result()
                    raise AssertionError("the provisioner stopped during start-up")
                assert time.monotonic() < deadline, "the provisioner was not ready in 30 s"
                await asyncio.sleep(0.1)
            yield runtime
        finally:
            runtime.stopping.set()
            await asyncio.wait_for(task, 60)


async def _outcome(js: JetStreamContext, stream: str, store_id: str, within: float) -> Envelope:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for kind in ("ready", "failed"):
            with contextlib.suppress(NotFoundError):
                message = await js.get_last_msg(stream, subject_for(kind, store_id))
                return parse_event(message.data)
        await asyncio.sleep(0.5)
    raise AssertionError(f"store {store_id} was neither ready nor failed within {within}s")


async def test_the_provisioner_can_provision_a_whole_store(
    platform: Platform, kube_cluster: KubeCluster, kube_api: ApiClient, js: JetStreamContext,
    nats_server: LocalNats | ExternalNats, stores_stream_name: str, helm_path: Path,
    volumes: str, tmp_path: Path,
) -> None:  # fmt: skip
    token = await _service_account_token(kube_api, platform, "provisioner")
    kubeconfig = token_kubeconfig(kube_cluster.kubeconfig, token, tmp_path / "kubeconfig")
    settings = ProvisionerSettings(
        **nats_server.service_settings("provisioner"), stream_name=stores_stream_name,
        kubeconfig=str(kubeconfig),
        helm_binary=str(helm_path), storage_class=volumes, platform_namespace=platform.namespace,
        engine_values="local", health_port=0, ready_deadline_seconds=150,
    )  # fmt: skip
    store_id = str(uuid.uuid4())
    slug = f"chart-{store_id[:8]}"
    namespace = f"store-{slug}-{store_id.replace('-', '')[:6]}"
    data = {"name": "Least Privilege Shop", "slug": slug, "engine": "woocommerce",
            "plan": "small", "owner": "user-1", "namespace": namespace}  # fmt: skip
    request = new_event("requested", store_id, data, actor="user-1", correlation_id="chart")

    try:
        async with running_provisioner(settings):
            await publish_event(js, request, stream=stores_stream_name)
            outcome = await _outcome(js, stores_stream_name, store_id, within=170)

        assert outcome.type == "ready", outcome.data  # type: ignore[attr-defined]
        await _assert_store_is_complete(kube_api, namespace, store_id)
    finally:
        with contextlib.suppress(ApiException):
            await CoreV1Api(kube_api).delete_namespace(namespace)


async def _assert_store_is_complete(api: ApiClient, namespace: str, store_id: str) -> None:
    """What an operator would check with kubectl, as the admin."""
    core, apps = CoreV1Api(api), AppsV1Api(api)
    labels = (await core.read_namespace(namespace)).metadata.labels
    assert (labels[MANAGED_BY], labels[STORE_ID]) == ("storefleet", store_id)
    assert (await core.read_namespaced_resource_quota("store-quota", namespace)).status.hard
    assert await core.read_namespaced_limit_range("store-limits", namespace)
    assert await core.read_namespaced_secret("store-secret", namespace)
    policies = await NetworkingV1Api(api).list_namespaced_network_policy(namespace)
    assert "default-deny" in {p.metadata.name for p in policies.items}
    assert (
        await apps.read_namespaced_stateful_set("mariadb", namespace)
    ).status.ready_replicas == 1
    web = await apps.read_namespaced_deployment("wordpress", namespace)
    assert web.status.available_replicas == web.spec.replicas
    assert (
        await BatchV1Api(api).read_namespaced_job("wordpress-setup", namespace)
    ).status.succeeded
    ingresses = await NetworkingV1Api(api).list_namespaced_ingress(namespace)
    assert len(ingresses.items) == 1
