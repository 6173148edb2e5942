"""Fixtures of the provisioner tests: helm from the cluster build cache and a `harness` per
test with its own stream (see harness.py); volumes bind through the session's
`volume_binder` (tests/fixtures/cluster.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from kubernetes_asyncio.client import ApiClient
from nats.js import JetStreamContext

from devtools.cluster import ensure_binaries
from devtools.nats import LocalNats
from devtools.volumes import VolumeBinder
from tests.fixtures.cluster import KubeCluster
from tests.fixtures.nats import ExternalNats
from tests.provisioner.harness import Harness


@pytest.fixture(scope="session")
def helm_binary() -> Path:
    return ensure_binaries() / "helm"


@pytest.fixture
async def harness(
    js: JetStreamContext,
    nats_server: LocalNats | ExternalNats,
    kube_cluster: KubeCluster,
    kube_api: ApiClient,
    helm_binary: Path,
    volume_binder: VolumeBinder,
    tmp_path: Path,
) -> AsyncIterator[Harness]:
    harness = Harness(
        js,
        nats_server,
        kube_cluster.kubeconfig,
        kube_api,
        helm_binary,
        volume_binder.storage_class,
        tmp_path,
    )
    await harness.start()
    try:
        yield harness
    finally:
        await harness.close()
