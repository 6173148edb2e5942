"""Fixtures for the reaper tests: a migrated database, a stream of the test's own on
`store.>`, store namespaces made on the real control plane (and removed afterwards, even
when a test left a finalizer on something inside), and the reaper's parts wired to them,
logged in to Postgres as the reaper's own role as deployed. `pool` is the migration
owner's, which the tests' in-process auditor writes through.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from kubernetes_asyncio.client import ApiClient, CoreV1Api
from kubernetes_asyncio.client.exceptions import ApiException
from nats.js import JetStreamContext

from devtools import procs
from devtools.launcher import settings_env, start_service
from services.reaper.deletion import DeletionHandler, DeletionTiming, Publish
from services.reaper.dns_lookup import TxtLookup
from services.reaper.domain_issuer import DomainIssuer
from services.reaper.domain_plan import DomainPolicy
from services.reaper.domain_records import DomainRecords
from services.reaper.domains import DOMAIN_LOCK_KEY, DomainVerifier
from services.reaper.namespaces import Namespaces
from services.reaper.records import Records
from services.reaper.sweep_plan import SweepPolicy
from services.reaper.sweeper import Sweeper, SweeperLock
from shared.db import create_pool
from shared.events import Envelope
from shared.jetstream import publish_event
from shared.namespaces import MANAGED_BY, OWNER, PLATFORM, STORE_ID
from tests.auditor.lifecycle import store_stream
from tests.fixtures.cluster import KubeCluster
from tests.fixtures.nats import TestStream

HOLD = "storefleet.io/test-hold"  # a finalizer nobody removes but the test

MakeNamespace = Callable[..., Awaitable[str]]


@pytest.fixture
async def pool(migrated_database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(migrated_database_url, max_size=6)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def stream(js: JetStreamContext, stores_stream_name: str) -> TestStream:
    return await store_stream(js, stores_stream_name)


@pytest.fixture
def namespaces(kube_api: ApiClient) -> Namespaces:
    return Namespaces(kube_api, request_timeout=10)


@pytest.fixture
async def reaper_pool(service_database_urls: dict[str, str]) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(service_database_urls["reaper"], max_size=4)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
def records(reaper_pool: asyncpg.Pool, js: JetStreamContext, stream: TestStream) -> Records:
    return Records(reaper_pool, js, stream.name)


@pytest.fixture
def publish(js: JetStreamContext, stream: TestStream) -> Publish:
    async def publish(envelope: Envelope) -> object:
        return await publish_event(js, envelope, stream=stream.name)

    return publish


@pytest.fixture
def handler(namespaces: Namespaces, records: Records, publish: Publish) -> DeletionHandler:
    return DeletionHandler(
        namespaces,
        records,
        publish,
        DeletionTiming(wait_seconds=60, poll_seconds=0.2, retry_seconds=1),
    )


@pytest.fixture
def policy() -> SweepPolicy:
    """Everything is overdue at once: no grace, no deadlines."""
    return SweepPolicy(*[timedelta(0)] * 7)


MakeSweeper = Callable[..., Sweeper]


@pytest.fixture
def make_sweeper(
    service_database_urls: dict[str, str],
    namespaces: Namespaces,
    records: Records,
    publish: Publish,
    policy: SweepPolicy,
) -> MakeSweeper:
    """Sweepers over this test's database, cluster and stream, with the everything-overdue
    `policy` unless given another."""

    def make(sweep_policy: SweepPolicy = policy, interval: float = 1) -> Sweeper:
        lock = SweeperLock(service_database_urls["reaper"])
        return Sweeper(lock, namespaces, records, publish, sweep_policy, interval=interval)

    return make


def store_labels(store_id: str, owner: str | None = None) -> dict[str, str]:
    return {MANAGED_BY: PLATFORM, STORE_ID: store_id, OWNER: owner or str(uuid.uuid4())}


@pytest.fixture
async def make_namespace(kube_api: ApiClient) -> AsyncIterator[MakeNamespace]:
    """Create a namespace (optionally holding a ConfigMap with a finalizer, so deleting
    it stays in Terminating until the test releases it); all removed at teardown."""
    core = CoreV1Api(kube_api)
    made: list[str] = []

    async def make(name: str, labels: dict[str, str] | None = None, *, held: bool = False) -> str:
        await core.create_namespace({"metadata": {"name": name, "labels": labels or {}}})
        made.append(name)
        if held:
            await core.create_namespaced_config_map(
                name, {"metadata": {"name": "held", "finalizers": [HOLD]}}
            )
        return name

    yield make
    for name in made:
        await release(kube_api, name)
        with contextlib.suppress(ApiException):
            await core.delete_namespace(name)


async def release(kube_api: ApiClient, namespace: str) -> None:
    """Remove the test finalizer from the namespace's ConfigMap, if it is there."""
    core = CoreV1Api(kube_api)
    patch: dict[str, Any] = {"metadata": {"finalizers": None}}
    with contextlib.suppress(ApiException):
        await core.patch_namespaced_config_map("held", namespace, patch)


def namespace_name(slug: str | None = None) -> str:
    return f"store-{slug or 'shop'}-{uuid.uuid4().hex[:8]}"


StartReaper = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def start_reaper(
    tmp_path: Path,
    nats_server: Any,
    service_database_urls: dict[str, str],
    kube_cluster: KubeCluster,
    stream: TestStream,
) -> Iterator[StartReaper]:
    """Start `python -m services.reaper` on this test's stream, database and cluster;
    every process started is stopped at teardown. Returns the Popen (its own process
    group, so a test can SIGKILL it)."""
    started: list[subprocess.Popen[bytes]] = []

    def start(name: str = "reaper", **settings: str) -> subprocess.Popen[bytes]:
        env = {
            **nats_server.service_env("reaper"),
            "STOREFLEET_DATABASE_URL": service_database_urls["reaper"],
            "STOREFLEET_KUBECONFIG": str(kube_cluster.kubeconfig),
            "STOREFLEET_STREAM_NAME": stream.name,
            "STOREFLEET_HEALTH_PORT": str(procs.free_port()),
            "STOREFLEET_DELETION_POLL_SECONDS": "0.2",
            "STOREFLEET_LOG_LEVEL": "debug",
            **settings_env(**settings),
        }
        proc = start_service("reaper", tmp_path / f"{name}.log", env)
        proc.health_port = int(env["STOREFLEET_HEALTH_PORT"])  # type: ignore[attr-defined]
        started.append(proc)
        return proc

    yield start
    for proc in started:
        procs.stop(proc)


def kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process group: no shutdown, no naks, nothing flushed."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)


async def metrics_of(port: int) -> dict[str, float]:
    """The process's /metrics as {sample name with labels: value}; empty if not up."""
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(
                f"http://127.0.0.1:{port}/metrics", timeout=aiohttp.ClientTimeout(total=2)
            ) as resp,
        ):
            text = await resp.text()
    except (aiohttp.ClientError, TimeoutError):
        return {}
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


MakeVerifier = Callable[..., DomainVerifier]


@pytest.fixture
def make_verifier(
    reaper_pool: asyncpg.Pool, service_database_urls: dict[str, str], publish: Publish
) -> MakeVerifier:
    """Domain verifiers over this test's database and stream, reading `resolvers` (the
    knotd's, as `STOREFLEET_DNS_RESOLVERS=127.0.0.1:<port>` gives them), with `issuer`
    serving what they verify when one is given."""

    def make(
        resolvers: str,
        timeout: float = 2.0,
        interval: float = 0.2,
        issuer: DomainIssuer | None = None,
    ) -> DomainVerifier:
        host, port = resolvers.split(":")
        return DomainVerifier(
            SweeperLock(service_database_urls["reaper"], key=DOMAIN_LOCK_KEY),
            DomainRecords(reaper_pool),
            TxtLookup(((host, int(port)),), timeout),
            publish,
            DomainPolicy(),
            interval,
            issuer=issuer,
        )

    return make
