"""The provisioner survives what production throws at it: a process SIGKILLed in the
middle of twenty stores, and an API server that cannot be reached for twenty seconds.
Stores end ready, once, with nothing duplicated and no failure left behind."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from kubernetes_asyncio.client import ApiClient, AppsV1Api, BatchV1Api, CoreV1Api, NetworkingV1Api

from devtools.procs import free_port
from shared.namespaces import STORE_ID
from tests.fixtures.cluster import KubeCluster
from tests.provisioner.harness import Harness, Store
from tests.provisioner.proxy import TcpProxy

pytestmark = pytest.mark.cluster
STORES = 20


async def _ready_probe(port: int, proc: subprocess.Popen[bytes], within: float = 60.0) -> None:
    """Wait for the process's /readyz, as a kubelet would."""
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"the provisioner exited with {proc.returncode}")
            try:
                async with http.get(f"http://127.0.0.1:{port}/readyz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"the provisioner was not ready within {within}s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


async def test_a_provisioner_killed_in_the_middle_of_twenty_stores_leaves_all_twenty_ready_once(
    harness: Harness, kube_api: ApiClient, tmp_path: Path
) -> None:
    log = tmp_path / "provisioner.log"
    port = free_port()
    first = harness.spawn(log, workers=6, health_port=port)
    second: subprocess.Popen[bytes] | None = None
    try:
        await _ready_probe(port, first)
        stores = [await harness.request(name=f"Shop {i}") for i in range(STORES)]
        kill_after = random.uniform(0.5, 4.0)
        await asyncio.sleep(kill_after)
        ready_at_kill = sum(1 for s in stores if harness.events.of_type(s.id, "ready"))
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
        print(f"SIGKILL after {kill_after:.2f}s with {ready_at_kill}/{STORES} stores ready")

        second = harness.spawn(log, workers=6, health_port=port)
        for store in stores:
            outcome = await harness.events.outcome(store.id, within=240)
            assert outcome.type == "ready", (store.id, outcome.data)
        await harness.consumer_settled()
    finally:
        for proc in (first, second):
            if proc is not None:
                _stop(proc)

    assert ready_at_kill < STORES, "the kill came after every store was done; nothing was tested"
    for store in stores:
        assert len(harness.events.of_type(store.id, "ready")) == 1
        assert harness.events.of_type(store.id, "failed") == []
        await _assert_one_of_each(kube_api, store)


async def _assert_one_of_each(kube_api: ApiClient, store: Store) -> None:
    core, apps, batch = CoreV1Api(kube_api), AppsV1Api(kube_api), BatchV1Api(kube_api)
    ns = store.namespace
    namespaces = await core.list_namespace(label_selector=f"{STORE_ID}={store.id}")
    assert [n.metadata.name for n in namespaces.items] == [ns]

    def names(items: list[Any]) -> list[str]:
        return sorted(item.metadata.name for item in items)

    assert names((await apps.list_namespaced_deployment(ns)).items) == ["wordpress"]
    assert len((await apps.list_namespaced_replica_set(ns)).items) == 1
    assert names((await apps.list_namespaced_stateful_set(ns)).items) == ["mariadb"]
    assert names((await batch.list_namespaced_cron_job(ns)).items) == ["wordpress-cron"]
    # The CronJob's own runs (one may fall due during the test) are the cluster's, not ours.
    jobs = [j for j in (await batch.list_namespaced_job(ns)).items if not _owned_by_cron(j)]
    assert names(jobs) == ["wordpress-setup"]
    assert names((await core.list_namespaced_service(ns)).items) == ["mariadb", "wordpress"]
    claims = (await core.list_namespaced_persistent_volume_claim(ns)).items
    assert names(claims) == ["data-mariadb-0", "wordpress-content"]
    secrets = [s for s in (await core.list_namespaced_secret(ns)).items if s.type == "Opaque"]
    assert names(secrets) == ["store-secret"]
    ingresses = (await NetworkingV1Api(kube_api).list_namespaced_ingress(ns)).items
    assert names(ingresses) == ["wordpress"]
    pods = (await core.list_namespaced_pod(ns)).items
    phases = sorted(
        (p.metadata.labels["app.kubernetes.io/component"], p.status.phase)
        for p in pods
        if p.metadata.labels["app.kubernetes.io/component"] != "cron"
    )
    assert phases == [("database", "Running"), ("setup", "Succeeded"), ("web", "Running")]


def _owned_by_cron(job: Any) -> bool:
    return any(ref.kind == "CronJob" for ref in job.metadata.owner_references or [])


def _kubeconfig_through(source: Path, port: int, target: Path) -> Path:
    config = json.loads(source.read_text())
    for cluster in config["clusters"]:
        cluster["cluster"]["server"] = f"https://127.0.0.1:{port}"
    target.write_text(json.dumps(config))
    target.chmod(0o600)
    return target


async def test_a_store_becomes_ready_although_the_api_server_is_unreachable_for_twenty_seconds(
    harness: Harness, kube_cluster: KubeCluster, tmp_path: Path
) -> None:
    host, port = kube_cluster.server.removeprefix("https://").split(":")
    proxy = TcpProxy(host, int(port))
    await proxy.start()
    kubeconfig = _kubeconfig_through(kube_cluster.kubeconfig, proxy.port, tmp_path / "kubeconfig")
    try:
        async with harness.running(workers=2, kubeconfig=str(kubeconfig)):
            store = await harness.request()
            await harness.events.first(store.id, ("provisioning",), within=30)
            await proxy.pause()
            await asyncio.sleep(20)
            during = harness.events.types(store.id)
            await proxy.resume()
            resumed = time.time()
            outcome = await harness.events.outcome(store.id, within=180)
    finally:
        await proxy.close()

    assert "ready" not in during, "the store was ready before the outage; nothing was tested"
    assert outcome.type == "ready", outcome.data
    assert outcome.occurred_at.timestamp() >= resumed
    assert harness.events.of_type(store.id, "failed") == []
