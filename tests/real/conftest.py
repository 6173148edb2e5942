"""The platform and its stores on real pods: the control plane with this machine's real
worker node (devtools/node.py), every image `just images` builds imported into it, the
platform chart installed with `helm install --wait -f values-local.yaml`, and people
added with `users add` through `kubectl exec`. Once per test session for this package:
the tests share one platform, as the users of one installation do.

STOREFLEET_E2E_KUBECONFIG points the package at another cluster instead (kind, k3s, a
cloud cluster that can pull WordPress), which needs the storefleet/* images loaded, an
ingress controller and a default StorageClass; STOREFLEET_E2E_INGRESS_URL says where its
ingress controller answers from here (default http://127.0.0.1) and
STOREFLEET_E2E_VALUES names further values files for the platform chart (comma
separated; kind with ingress-nginx needs one setting the ingress class).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from devtools.images import build_images
from devtools.node import start_real_cluster, stop_real_cluster
from tests.node.conftest import REASON, Kubectl
from tests.real import platform
from tests.real.platform import Gateway

E2E = "STOREFLEET_E2E_KUBECONFIG"
OWNER = "shopowner"


@dataclass(frozen=True)
class Target:
    kubeconfig: Path
    ingress_url: str  # where the ingress controller answers from this machine
    local: bool  # this machine's real node: images built here, nothing can be pulled


@pytest.fixture(scope="package")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    external = os.environ.get(E2E)
    if external:
        url = os.environ.get("STOREFLEET_E2E_INGRESS_URL", "http://127.0.0.1").rstrip("/")
        yield Target(Path(external), url, local=False)
        return
    if os.geteuid() != 0:
        pytest.skip(REASON)
    build_images()  # cached: only what changed since the last build
    real = start_real_cluster(tmp_path_factory.mktemp("platform-cluster"))
    try:
        yield Target(real.kubeconfig, real.ingress_url, local=True)
    finally:
        stop_real_cluster()


@pytest.fixture(scope="package")
def kubectl(target: Target) -> Kubectl:
    return Kubectl(target.kubeconfig)


@pytest.fixture(scope="package")
def installed(target: Target, kubectl: Kubectl) -> Iterator[None]:
    values = [Path(__file__).parent / "values-tests.yaml"]
    values += [Path(v) for v in os.environ.get("STOREFLEET_E2E_VALUES", "").split(",") if v]
    if target.local:  # Traefik runs on the host: it reaches the paused page by an IP
        values.insert(0, platform.CHART / "values-host-ingress.yaml")
    platform.install(target.kubeconfig, kubectl, values)
    yield
    if not target.local:  # someone else's cluster: leave it as it was
        selector = "app.kubernetes.io/managed-by=storefleet"
        kubectl("delete", "namespace", "-l", selector, "--wait=false", check=False)
        platform.helm(target.kubeconfig, "uninstall", platform.RELEASE, "-n", platform.NAMESPACE)
        kubectl("delete", "namespace", platform.NAMESPACE, "--wait=false", check=False)


@pytest.fixture(scope="package")
def owner_password(installed: None, kubectl: Kubectl) -> str:
    return platform.add_user(kubectl, OWNER, "--max-stores", "20")


@pytest.fixture(scope="package")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        yield session


@pytest.fixture(scope="package")
async def owner(http: aiohttp.ClientSession, target: Target, owner_password: str) -> Gateway:
    """The shop owner, signed in to the dashboard's API through the ingress."""
    return await Gateway.sign_in(http, target.ingress_url, OWNER, owner_password)


def wordpress_runs(target: Target, kubectl: Kubectl) -> bool:
    """Whether WooCommerce stores can run whole: on another cluster (which pulls
    WordPress), or on this machine's node once a WordPress image is in it."""
    return not target.local or node_has_image(kubectl, "docker.io/library/wordpress:")


def node_has_image(kubectl: Kubectl, prefix: str) -> bool:
    """Whether any node of the cluster holds an image whose name starts with `prefix`."""
    nodes = kubectl.get("nodes")["items"]
    names = [n for node in nodes for i in node["status"].get("images", []) for n in i["names"]]
    return any(name.startswith(prefix) for name in names)
