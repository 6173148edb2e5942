"""The platform chart against a real API server (kube-apiserver with kwok nodes): every
rendered manifest passes the server's own validation, `helm install` brings every
platform pod to Ready in a namespace that enforces the restricted Pod Security level,
and `helm upgrade` / `helm rollback` work without changing the generated Secret.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from kubernetes_asyncio.client import ApiClient, AppsV1Api, CoreV1Api

from tests.chart import helm
from tests.chart.conftest import Platform, platform_sets
from tests.chart.helm import VALUES_FILES
from tests.chart.kube import dry_run_create

pytestmark = pytest.mark.cluster

# values-local.yaml: one pod of each service, one NATS server, one Postgres, the object store.
LOCAL_PODS = {"gateway": 1, "provisioner": 1, "reaper": 1, "auditor": 1, "webhooks": 1, "nats": 1,
              "postgres": 1, "objectstore": 1}  # fmt: skip


@pytest.mark.usefixtures("operator_crds")
@pytest.mark.parametrize("values_file", VALUES_FILES)
async def test_every_rendered_manifest_passes_the_api_servers_server_side_dry_run(
    helm_path: Path, kube_api: ApiClient, namespace: str, values_file: str
) -> None:
    manifests = helm.render(helm_path, values_file, namespace=namespace)

    for manifest in manifests:
        await dry_run_create(kube_api, manifest, namespace)

    assert len(manifests) > 20


async def _pods_by_component(api: ApiClient, namespace: str) -> dict[str, list[dict[str, object]]]:
    pods = await CoreV1Api(api).list_namespaced_pod(namespace)
    found: dict[str, list[dict[str, object]]] = {}
    for pod in pods.items:
        if pod.metadata.deletion_timestamp:
            continue
        component = pod.metadata.labels["app.kubernetes.io/component"]
        ready = any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])
        found.setdefault(component, []).append({"node": pod.spec.node_name, "ready": ready})
    return found


async def test_helm_install_brings_every_platform_pod_to_ready_on_the_kwok_nodes(
    platform: Platform, kube_api: ApiClient, helm_path: Path
) -> None:
    status = json.loads(await helm.run(
        helm_path, "status", platform.release, *platform.helm_args(), "-o", "json"
    ))  # fmt: skip
    pods = await _pods_by_component(kube_api, platform.namespace)

    assert status["info"]["status"] == "deployed"
    assert {component: len(found) for component, found in pods.items()} == LOCAL_PODS
    for component, found in pods.items():
        for pod in found:
            assert pod["ready"], f"a {component} pod is not Ready"
            assert str(pod["node"]).startswith("kwok-node-"), component


async def _secret_data(api: ApiClient, platform: Platform) -> dict[str, str]:
    secret = await CoreV1Api(api).read_namespaced_secret(
        f"{platform.release}-secrets", platform.namespace
    )
    return dict(secret.data)


async def _replicas(api: ApiClient, platform: Platform, component: str) -> tuple[int, int]:
    deployment = await AppsV1Api(api).read_namespaced_deployment(
        f"{platform.release}-{component}", platform.namespace
    )
    return deployment.spec.replicas, deployment.status.ready_replicas or 0


async def test_helm_upgrade_and_rollback_succeed_and_keep_the_generated_secret(
    platform: Platform, kube_api: ApiClient, helm_path: Path, volumes: str
) -> None:
    secret_before = await _secret_data(kube_api, platform)
    values = helm.values_args("values-local.yaml", platform_sets(volumes))

    await helm.run(
        helm_path, "upgrade", platform.release, str(helm.CHART), *platform.helm_args(),
        *values, "--set", "provisioner.replicas=2", "--wait", "--timeout", "3m",
    )  # fmt: skip
    upgraded = await _replicas(kube_api, platform, "provisioner")
    secret_upgraded = await _secret_data(kube_api, platform)
    await helm.run(
        helm_path, "rollback", platform.release, "1", *platform.helm_args(),
        "--wait", "--timeout", "3m",
    )  # fmt: skip
    rolled_back = await _replicas(kube_api, platform, "provisioner")
    history = json.loads(await helm.run(
        helm_path, "history", platform.release, *platform.helm_args(), "-o", "json"
    ))  # fmt: skip

    assert upgraded == (2, 2)
    assert rolled_back[0] == 1
    assert [(h["revision"], h["status"]) for h in history][-3:] == [
        (1, "superseded"), (2, "superseded"), (3, "deployed"),
    ]  # fmt: skip
    assert {"backup-s3-access-key", "backup-s3-secret-key"} <= secret_before.keys()
    assert secret_upgraded == secret_before
    assert await _secret_data(kube_api, platform) == secret_before
    pods = await _pods_by_component(kube_api, platform.namespace)
    assert all(pod["ready"] for found in pods.values() for pod in found)


async def test_the_object_stores_key_pair_is_read_back_even_when_it_is_no_longer_bundled(
    platform: Platform, kube_api: ApiClient, helm_path: Path, volumes: str
) -> None:
    """What an upgrade would write, rendered against the live release (`lookup` answers):
    the same key pair, so turning the bundled store off and on again changes no key."""
    live = await _secret_data(kube_api, platform)
    sets = [*platform_sets(volumes), "backups.enabled=false", "backups.objectStore.bundled=false"]
    rendered = await helm.run(
        helm_path, "template", platform.release, str(helm.CHART), *platform.helm_args(),
        *helm.values_args("values-local.yaml", sets), "--dry-run=server",
        "--show-only", "templates/secret.yaml",
    )  # fmt: skip
    data = yaml.safe_load(rendered)["data"]

    for key in ("backup-s3-access-key", "backup-s3-secret-key"):
        assert data[key] == live[key], key
