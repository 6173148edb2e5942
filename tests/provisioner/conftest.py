"""Fixtures of the provisioner tests: helm from the cluster build cache, a stand-in volume
provisioner for the kwok control plane (session-wide), and a `harness` per test with its
own stream (see harness.py)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.config import new_client_from_config
from nats.js import JetStreamContext

from devtools.cluster import ensure_binaries
from devtools.nats import LocalNats
from tests.fixtures.cluster import KubeCluster
from tests.fixtures.nats import ExternalNats
from tests.provisioner.harness import Harness
from tests.provisioner.volumes import VolumeProvisioner


@pytest.fixture(scope="session")
def helm_binary() -> Path:
    return ensure_binaries() / "helm"


@pytest.fixture(scope="session")
async def volume_provisioner(kube_cluster: KubeCluster) -> AsyncIterator[VolumeProvisioner]:
    api = await new_client_from_config(
        config_file=str(kube_cluster.kubeconfig), persist_config=False
    )
    volumes = VolumeProvisioner(api)
    await volumes.ensure_class()
    task = asyncio.create_task(volumes.run(), name="fake volumes")
    try:
        yield volumes
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await api.close()


@pytest.fixture
async def harness(
    js: JetStreamContext,
    nats_server: LocalNats | ExternalNats,
    kube_cluster: KubeCluster,
    kube_api: ApiClient,
    helm_binary: Path,
    volume_provisioner: VolumeProvisioner,
    tmp_path: Path,
) -> AsyncIterator[Harness]:
    harness = Harness(
        js,
        nats_server.url,
        kube_cluster.kubeconfig,
        kube_api,
        helm_binary,
        volume_provisioner.storage_class,
        tmp_path,
    )
    await harness.start()
    try:
        yield harness
    finally:
        await harness.close()
