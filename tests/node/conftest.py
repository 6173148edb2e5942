"""A real node for the tests that need containers to run: `real_cluster` starts the
local control plane with a real worker node (devtools/node.py) once per test module
(only one real node runs on a machine at a time, and the lifecycle tests start and stop
their own), and `kubectl` runs the real kubectl against it as admin."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.node import RealCluster, node_binaries, start_real_cluster, stop_real_cluster
from services.provisioner.settings import PRIVATE_CIDRS
from services.provisioner.spec import Cluster

REASON = "the real node needs root (network interfaces, mounts, firewall rules)"


@pytest.fixture(scope="module")
def real_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealCluster]:
    if os.geteuid() != 0:
        pytest.skip(REASON)
    # The node's own images only (pause, CoreDNS, the toolbox): tests that need others
    # import them with `devtools.images.import_images`.
    real = start_real_cluster(tmp_path_factory.mktemp("real-cluster"), images=())
    try:
        yield real
    finally:
        stop_real_cluster()


class Kubectl:
    """The real kubectl with the cluster's admin kubeconfig."""

    def __init__(self, kubeconfig: Path) -> None:
        self.argv = [str(node_binaries()["kubectl"]), f"--kubeconfig={kubeconfig}"]

    def __call__(self, *args: str, input: str | None = None, check: bool = True) -> str:
        done = subprocess.run(
            [*self.argv, *args], input=input, capture_output=True, text=True, timeout=180
        )
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout + (done.stderr if not check else "")

    def apply(self, *objects: dict[str, Any]) -> None:
        body = json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)})
        self("apply", "-f", "-", input=body)

    def get(self, *args: str) -> Any:
        return json.loads(self("get", *args, "-o", "json"))

    def exec(self, namespace: str, pod: str, *command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.argv, "exec", "-n", namespace, pod, "--", *command],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    def wait_ready(self, namespace: str, *pods: str, timeout: int = 120) -> None:
        self("wait", "-n", namespace, "--for=condition=Ready", f"--timeout={timeout}s",
             *(f"pod/{p}" for p in pods))  # fmt: skip


@pytest.fixture(scope="module")
def kubectl(real_cluster: RealCluster) -> Kubectl:
    return Kubectl(real_cluster.kubeconfig)


def eventually(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def restricted_namespace(name: str, **labels: str) -> dict[str, Any]:
    """A namespace enforcing Pod Security `restricted`, as store namespaces do."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {"pod-security.kubernetes.io/enforce": "restricted", **labels},
        },
    }


RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def toolbox_pod(
    name: str,
    namespace: str,
    command: list[str],
    labels: dict[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """A pod of the toolbox image (curl, nc, python3) that passes Pod Security
    `restricted` with a read-only root filesystem."""
    container = {
        "name": "main",
        "image": "docker.io/storefleet/toolbox:dev",
        "imagePullPolicy": "IfNotPresent",
        "command": command,
        "securityContext": {**RESTRICTED_CONTAINER, "runAsUser": 65532},
        "resources": {"limits": {"cpu": "200m", "memory": "64Mi"}},
        **spec.pop("container", {}),
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {"app": name}},
        "spec": {
            "automountServiceAccountToken": False,
            "terminationGracePeriodSeconds": 1,
            "containers": [container],
            **spec,
        },
    }


def node_cluster(platform: str = "storefleet") -> Cluster:
    """The cluster's shape as the provisioner sees it on the real node: Traefik on the
    host (IngressClass `traefik`), DNS in kube-system, no storage class named."""
    return Cluster(
        base_domain="stores.localhost",
        ingress_class="traefik",
        ingress_namespace="kube-system",
        platform_namespace=platform,
        dns_namespace="kube-system",
        storage_class="",
        tls_issuer="",
        egress_blocked_cidrs=PRIVATE_CIDRS,
        values_profile="local",
        country="DE",
        currency="EUR",
    )
