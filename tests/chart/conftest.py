"""Fixtures of the platform chart's tests: helm from the cluster build cache, volumes for
the kwok control plane, one installed platform per session, API clients that act as the
chart's service accounts, and the operators' CRDs (stand-ins, or cert-manager's own when
scripts/build-certmanager-bins.sh has built them; without them those tests skip).

`platform` installs the chart with values-local.yaml into a namespace that enforces the
`restricted` Pod Security level, so every platform pod must pass it to be admitted.
Volume claims are bound to hostPath PersistentVolumes made up front (the control plane
has no storage driver), of a StorageClass of the tests' own.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_asyncio.client import ApiClient, CoreV1Api, StorageV1Api
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.config import new_client_from_config

from devtools.cluster import ensure_binaries
from devtools.image_certmanager import certmanager_version
from shared.namespaces import store_labels
from tests.chart import helm
from tests.chart.kube import delete_crds, ensure_crds, ensure_operator_crds
from tests.fixtures.cluster import KubeCluster

STORAGE_CLASS = "storefleet-chart-test"
VOLUMES = 8  # platform: NATS, Postgres, the object store; a WooCommerce store: two; spares
RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
}


@dataclass(frozen=True)
class Platform:
    """An installed release of the chart."""

    release: str
    namespace: str
    kubeconfig: Path

    def service_account(self, component: str) -> str:
        return f"{self.release}-{component}"

    def user(self, component: str) -> str:
        """The username the API server gives the component's service account."""
        return f"system:serviceaccount:{self.namespace}:{self.service_account(component)}"

    def helm_args(self) -> list[str]:
        return ["--namespace", self.namespace, "--kubeconfig", str(self.kubeconfig)]


@pytest.fixture(scope="session")
def helm_path() -> Path:
    return ensure_binaries() / "helm"


@pytest.fixture(scope="session")
async def admin(kube_cluster: KubeCluster) -> AsyncIterator[ApiClient]:
    """A session-wide admin client for session-wide fixtures."""
    api = await new_client_from_config(
        config_file=str(kube_cluster.kubeconfig), persist_config=False
    )
    try:
        yield api
    finally:
        await api.close()


@pytest.fixture(scope="session")
async def volumes(admin: ApiClient) -> AsyncIterator[str]:
    """hostPath PersistentVolumes of the tests' StorageClass; its name."""
    storage = StorageV1Api(admin)
    core = CoreV1Api(admin)
    made_class = True
    try:
        await storage.create_storage_class({
            "metadata": {"name": STORAGE_CLASS},
            "provisioner": "kubernetes.io/no-provisioner",
            "volumeBindingMode": "Immediate",
        })  # fmt: skip
    except ApiException as exc:  # left by an earlier run on the same cluster
        if exc.status != 409:
            raise
        made_class = False
    names = [f"chart-test-{uuid.uuid4().hex[:8]}" for _ in range(VOLUMES)]
    for name in names:
        await core.create_persistent_volume({
            "metadata": {"name": name},
            "spec": {
                "capacity": {"storage": "20Gi"},
                "accessModes": ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Retain",
                "storageClassName": STORAGE_CLASS,
                "hostPath": {"path": f"/var/lib/chart-test/{name}"},
            },
        })  # fmt: skip
    yield STORAGE_CLASS
    for name in names:
        with contextlib.suppress(ApiException):
            await core.delete_persistent_volume(name)
    if made_class:
        with contextlib.suppress(ApiException):
            await storage.delete_storage_class(STORAGE_CLASS)


@pytest.fixture(scope="session")
async def platform(
    kube_cluster: KubeCluster, admin: ApiClient, helm_path: Path, volumes: str
) -> AsyncIterator[Platform]:
    """The chart installed with values-local.yaml, every pod Ready (`helm --wait`)."""
    namespace = f"storefleet-{uuid.uuid4().hex[:6]}"
    core = CoreV1Api(admin)
    await core.create_namespace({"metadata": {"name": namespace, "labels": RESTRICTED}})
    installed = Platform("storefleet", namespace, kube_cluster.kubeconfig)
    try:
        await helm.run(
            helm_path, "install", installed.release, str(helm.CHART), *installed.helm_args(),
            *helm.values_args("values-local.yaml", platform_sets(volumes)),
            "--wait", "--timeout", "3m",
        )  # fmt: skip
        await admission_enforced(kube_cluster.kubeconfig, installed.user("provisioner"))
        yield installed
    finally:
        with contextlib.suppress(helm.HelmFailed):
            await helm.run(helm_path, "uninstall", installed.release, *installed.helm_args())
        with contextlib.suppress(ApiException):
            await core.delete_namespace(namespace)


async def admission_enforced(kubeconfig: Path, user: str, timeout: float = 60.0) -> None:
    """Wait until the API server enforces the chart's admission policy (it loads a new
    policy some time after helm has created it, later on a loaded machine): until a
    namespace the policy refuses, created by `user` as a dry run, is refused by it."""
    api = await new_client_from_config(config_file=str(kubeconfig), persist_config=False)
    api.set_default_header("Impersonate-User", user)
    core = CoreV1Api(api)
    deadline = asyncio.get_running_loop().time() + timeout
    try:
        while True:
            try:
                await core.create_namespace(
                    {"metadata": {"name": f"admission-probe-{uuid.uuid4().hex[:6]}"}},
                    dry_run="All",
                )
            except ApiException as exc:
                if exc.status == 403 and "ValidatingAdmissionPolicy" in str(exc.body):
                    return
                if exc.status != 403:
                    raise
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"the admission policy was not enforced within {timeout} s")
            await asyncio.sleep(0.5)
    finally:
        await api.close()


@pytest.fixture(scope="session")
async def operator_crds(admin: ApiClient) -> AsyncIterator[None]:
    """The Prometheus Operator's and cert-manager's kinds, as stand-ins when the cluster
    lacks them."""
    created = await ensure_operator_crds(admin)
    yield
    await delete_crds(admin, created)


def built_certmanager_crds() -> Path | None:
    """The directory of cert-manager's CRDs that scripts/build-certmanager-bins.sh copies
    beside the binaries it builds (for the version tools/certmanager pins), if built."""
    cache = Path(os.environ.get("STOREFLEET_CACHE", Path.home() / ".cache" / "storefleet"))
    version = certmanager_version().removeprefix("v")
    found = sorted(cache.glob(f"certmanager/cert-manager-{version}-*/crds"))
    return found[-1] if found else None


@pytest.fixture(scope="session")
async def certmanager_crds(admin: ApiClient) -> AsyncIterator[None]:
    """cert-manager's own CRDs (with their schemas), so the API server admits and
    validates Certificates as on a cluster running cert-manager."""
    found = built_certmanager_crds()
    if found is None:
        pytest.skip(
            "cert-manager's CRDs are not built: run `bash scripts/build-certmanager-bins.sh`"
        )
    crds = [yaml.safe_load(path.read_text()) for path in sorted(found.glob("*.yaml"))]
    created = await ensure_crds(admin, crds)
    yield
    await delete_crds(admin, created)


def platform_sets(storage_class: str) -> list[str]:
    return [
        f"nats.persistence.storageClass={storage_class}",
        f"postgres.persistence.storageClass={storage_class}",
        f"backups.objectStore.storage.storageClass={storage_class}",
    ]


ActAs = Callable[[str], Awaitable[ApiClient]]


@pytest.fixture
async def act_as(kube_cluster: KubeCluster) -> AsyncIterator[ActAs]:
    """API clients whose every request impersonates a user (the admin may impersonate);
    the API server adds a service account's groups itself."""
    clients: list[ApiClient] = []

    async def client_for(user: str) -> ApiClient:
        api = await new_client_from_config(
            config_file=str(kube_cluster.kubeconfig), persist_config=False
        )
        api.set_default_header("Impersonate-User", user)
        clients.append(api)
        return api

    yield client_for
    for api in clients:
        await api.close()


StoreNamespace = Callable[..., Awaitable[str]]


@pytest.fixture
async def store_namespace(kube_api: ApiClient) -> AsyncIterator[StoreNamespace]:
    """Namespaces labelled as store namespaces (with the labels the provisioner gives
    them, from `shared.namespaces`), made by the admin and deleted afterwards unless the
    test deleted them."""
    core = CoreV1Api(kube_api)
    made: list[str] = []

    async def make(**labels: str) -> str:
        store_id = str(uuid.uuid4())
        name = f"store-chart-{store_id[:8]}"
        all_labels = {**store_labels(store_id, "woocommerce"), **RESTRICTED, **labels}
        await core.create_namespace({"metadata": {"name": name, "labels": all_labels}})
        made.append(name)
        return name

    yield make
    for name in made:
        with contextlib.suppress(ApiException):
            await core.delete_namespace(name)


def token_kubeconfig(admin_kubeconfig: Path, token: str, path: Path) -> Path:
    """A kubeconfig for the same API server that authenticates with `token`, the way a
    pod's service account token does."""
    config: dict[str, Any] = yaml.safe_load(admin_kubeconfig.read_text())
    cluster = config["clusters"][0]["cluster"]
    if "certificate-authority" in cluster:  # a path: inline it, the file may move
        ca = Path(cluster.pop("certificate-authority")).read_bytes()
        cluster["certificate-authority-data"] = base64.b64encode(ca).decode()
    path.write_text(json.dumps({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "cluster", "cluster": cluster}],
        "users": [{"name": "service-account", "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "cluster", "user": "service-account"}}],
        "current-context": "sa",
    }))  # fmt: skip
    path.chmod(0o600)
    return path
