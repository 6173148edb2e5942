"""The whole fleet end to end: gateway, provisioner, reaper and auditor, each started as
`python -m services.<name>` with nothing but its STOREFLEET_* settings, against real
NATS, Postgres and the local Kubernetes control plane (kwok runs the pods).

A user is added with the operators' CLI, signs in and takes an API token; every store
is then created and deleted through the REST API, as a client would.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from kubernetes_asyncio.client import ApiClient, CoreV1Api
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from devtools import procs
from devtools.cluster import ensure_binaries
from devtools.launcher import ROOT, service_argv, settings_env, start_service
from devtools.volumes import VolumeBinder
from shared.db import create_pool
from shared.events import Envelope, parse_event
from tests.fixtures.cluster import KubeCluster

pytestmark = pytest.mark.cluster

SWEEP_SECONDS = 3.0
SWEEPS = 'storefleet_reaper_sweeps_total{outcome="ok"}'


@dataclass
class Fleet:
    """The four services of one test, and a signed-in API client."""

    workdir: Path
    env: dict[str, str]
    nats: Any  # LocalNats or ExternalNats: each service connects as its own user
    gateway_url: str = ""
    health_ports: dict[str, int] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    api: aiohttp.ClientSession | None = None

    def start(self, service: str, **settings: str) -> None:
        env = {**self.env, **self.nats.service_env(service), **settings_env(**settings)}
        self.procs[service] = start_service(service, self.workdir / f"{service}.log", env)

    def logs(self) -> str:
        return "\n".join(
            f"--- {name}\n{procs.tail(self.workdir / f'{name}.log', 25)}" for name in self.procs
        )

    async def ready(self, within: float = 90.0) -> None:
        async with aiohttp.ClientSession() as http:
            for name, port in self.health_ports.items():
                await _until_ok(http, f"http://127.0.0.1:{port}/readyz", within, name, self)

    async def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        assert self.api is not None
        async with self.api.request(method, f"{self.gateway_url}/api/v1{path}", **kwargs) as resp:
            body = await resp.json() if resp.content_type == "application/json" else None
            return resp.status, body

    def stop(self) -> None:
        for proc in self.procs.values():
            procs.stop(proc, timeout=30)


async def _until_ok(
    http: aiohttp.ClientSession, url: str, within: float, name: str, fleet: Fleet
) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        with contextlib.suppress(aiohttp.ClientError):
            async with http.get(url) as resp:
                if resp.status == 200:
                    return
        await asyncio.sleep(0.3)
    pytest.fail(f"{name} never became ready\n{fleet.logs()}")


@pytest.fixture
async def fleet(
    tmp_path: Path,
    nats_server: Any,
    migrated_database_url: str,
    kube_cluster: KubeCluster,
    stores_stream_name: str,
    volume_binder: VolumeBinder,
) -> AsyncIterator[Fleet]:
    fleet = Fleet(
        tmp_path,
        nats=nats_server,
        env={
            **os.environ,
            "STOREFLEET_DATABASE_URL": migrated_database_url,
            "STOREFLEET_STREAM_NAME": stores_stream_name,
            "STOREFLEET_KUBECONFIG": str(kube_cluster.kubeconfig),
            "STOREFLEET_KUBE_QPS": "200",
            "STOREFLEET_KUBE_BURST": "400",
        },
    )
    http_port = procs.free_port()
    fleet.gateway_url = f"http://127.0.0.1:{http_port}"
    fleet.health_ports = {
        name: procs.free_port() for name in ("auditor", "reaper", "provisioner", "gateway")
    }
    try:
        fleet.start(
            "auditor", health_port=str(fleet.health_ports["auditor"]), fetch_timeout_seconds="0.3"
        )
        fleet.start(
            "gateway",
            http_port=str(http_port),
            health_port=str(fleet.health_ports["gateway"]),
            cookie_secure="false",
            rate_limit_requests="100000/minute",
            rate_limit_creates="1000/minute",
            default_max_stores="200",
            outbox_poll_seconds="0.5",
        )
        fleet.start(
            "provisioner",
            health_port=str(fleet.health_ports["provisioner"]),
            helm_binary=str(ensure_binaries() / "helm"),
            storage_class=volume_binder.storage_class,
            workers="64",
        )
        fleet.start(
            "reaper",
            health_port=str(fleet.health_ports["reaper"]),
            sweep_interval_seconds=str(SWEEP_SECONDS),
            deletion_poll_seconds="0.3",
        )
        await fleet.ready()
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            fleet.api = session
            token = await sign_in(fleet)
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as api:
            fleet.api = api
            yield fleet
    finally:
        fleet.stop()


async def sign_in(fleet: Fleet) -> str:
    """Add a user with the operators' CLI, sign in, and take an API token."""
    username = f"e2e-{uuid.uuid4().hex[:8]}"
    added = await asyncio.create_subprocess_exec(
        *service_argv("gateway", "users", "add", username, "--max-stores", "200"),
        cwd=ROOT,
        env=fleet.env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await added.communicate()
    assert added.returncode == 0, err.decode()
    password = out.decode().strip().splitlines()[-1]
    status, _ = await fleet.call(
        "POST", "/auth/login", json={"username": username, "password": password}
    )
    assert status == 200
    status, body = await fleet.call(
        "POST", "/tokens", json={"name": "e2e"}, headers={"Origin": fleet.gateway_url}
    )
    assert status == 201, body
    return str(body["token"])


async def eventually(
    check: Callable[[], Awaitable[bool]], within: float, what: str, fleet: Fleet
) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not within {within}s\n{fleet.logs()}")
        await asyncio.sleep(0.25)


async def events_of(js: JetStreamContext, stream: str, store_id: str) -> list[Envelope]:
    config = ConsumerConfig(
        ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL, inactive_threshold=10.0
    )
    sub = await js.pull_subscribe(f"store.*.{store_id}", stream=stream, config=config)
    found: list[Envelope] = []
    try:
        while True:
            try:
                found += [parse_event(m.data) for m in await sub.fetch(100, timeout=0.5)]
            except TimeoutError:
                return found
    finally:
        await sub.unsubscribe()


async def namespace_exists(kube_api: ApiClient, name: str) -> bool:
    found = await CoreV1Api(kube_api).list_namespace(field_selector=f"metadata.name={name}")
    return bool(found.items)


async def test_a_store_goes_from_create_to_ready_to_deleted_through_the_gateway(
    fleet: Fleet,
    nc: NATS,
    kube_api: ApiClient,
    stores_stream_name: str,
) -> None:
    status, store = await fleet.call("POST", "/stores", json={"name": "Corner Shop"})
    assert status == 202, store
    path = f"/stores/{store['id']}"

    async def has(wanted: str) -> bool:
        return (await fleet.call("GET", path))[1]["status"] == wanted

    await eventually(lambda: has("ready"), 120, "the store ready", fleet)
    assert await namespace_exists(kube_api, store["namespace"])
    status, _ = await fleet.call("DELETE", path)
    assert status == 202
    await eventually(lambda: has("deleted"), 120, "the store deleted", fleet)

    assert not await namespace_exists(kube_api, store["namespace"])
    stream_events = await events_of(nc.jetstream(), stores_stream_name, store["id"])
    status, timeline = await fleet.call("GET", f"{path}/events", params={"limit": "100"})
    assert status == 200
    entries = [e for e in timeline["items"] if e["kind"] == "event"]
    assert [e["id"] for e in entries] == [e.id for e in stream_events]
    assert [e["stream_seq"] for e in entries] == sorted(e["stream_seq"] for e in entries)
    kinds = [e["type"] for e in entries]
    assert kinds[:2] == ["requested", "provisioning"]
    assert kinds[-4:] == ["ready", "delete", "deleting", "deleted"]
    assert set(kinds[2:-4]) == {"progress"}


async def test_fifty_stores_deleted_at_random_moments_of_provisioning_end_deleted_with_no_namespace(
    fleet: Fleet,
    kube_api: ApiClient,
    migrated_database_url: str,
    volume_binder: VolumeBinder,
) -> None:
    rng = random.Random(50)

    async def create_then_delete(n: int) -> dict[str, Any]:
        status, store = await fleet.call("POST", "/stores", json={"name": f"Shop {n:02d}"})
        assert status == 202, store
        # Storage binds after a random while, so each store spends a random time mid-
        # provisioning; the delete comes at another random moment.
        namespace = store["namespace"]
        volume_binder.hold(namespace)
        bind_after, delete_after = rng.uniform(0.0, 6.0), rng.uniform(0.0, 6.0)
        await asyncio.sleep(min(bind_after, delete_after))
        if bind_after < delete_after:
            await volume_binder.release(namespace)
            await asyncio.sleep(delete_after - bind_after)
        status, _ = await fleet.call("DELETE", f"/stores/{store['id']}")
        assert status == 202
        await volume_binder.release(namespace, provision=False)
        return store

    stores = await asyncio.gather(*(create_then_delete(n) for n in range(50)))
    ids = [s["id"] for s in stores]
    pool = await create_pool(migrated_database_url, max_size=2)
    try:

        async def all_deleted() -> bool:
            rows = await pool.fetch("SELECT status FROM stores WHERE id = ANY($1::uuid[])", ids)
            return len(rows) == 50 and {r["status"] for r in rows} == {"deleted"}

        await eventually(all_deleted, 180, "all fifty stores deleted", fleet)
        statuses = await store_statuses(pool, ids)
        moments = await delete_moments(pool, ids)
        swept = await sweeps(fleet)
        # A sweep that starts after every store is deleted, and has finished.
        await eventually(lambda: more_sweeps(fleet, swept + 2), 60, "a full sweep", fleet)

        async def no_namespaces() -> bool:
            return not [n for n in await store_namespaces(kube_api) if n in set(ids)]

        await eventually(no_namespaces, 60, "no store namespace left", fleet)
    finally:
        await pool.close()
    assert statuses == {"deleted": 50}
    # The deletes did land at every moment, mid-provisioning above all.
    assert moments["during"] >= 10, moments
    assert moments["before"] + moments["during"] + moments["after"] == 50


async def delete_moments(pool: asyncpg.Pool, ids: list[str]) -> dict[str, int]:
    """When each delete came, by the audit log: before a worker took the store, during
    its provisioning, or after it was ready."""
    rows = await pool.fetch(
        "SELECT store_id, array_agg(type ORDER BY stream_seq) AS types FROM store_events"
        " WHERE store_id = ANY($1::text[]) GROUP BY store_id",
        ids,
    )
    moments = {"before": 0, "during": 0, "after": 0}
    for row in rows:
        before_delete = row["types"][: row["types"].index("delete")]
        if "ready" in before_delete:
            moments["after"] += 1
        elif "provisioning" in before_delete:
            moments["during"] += 1
        else:
            moments["before"] += 1
    return moments


async def store_statuses(pool: asyncpg.Pool, ids: list[str]) -> dict[str, int]:
    rows = await pool.fetch(
        "SELECT status, count(*) AS n FROM stores WHERE id = ANY($1::uuid[]) GROUP BY status", ids
    )
    return {r["status"]: r["n"] for r in rows}


async def store_namespaces(kube_api: ApiClient) -> list[str]:
    """Store ids of every namespace labeled as a store's (terminating ones included)."""
    found = await CoreV1Api(kube_api).list_namespace(
        label_selector="app.kubernetes.io/managed-by=storefleet"
    )
    return [ns.metadata.labels.get("storefleet.io/store-id", "") for ns in found.items]


async def sweeps(fleet: Fleet) -> float:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{fleet.health_ports['reaper']}/metrics") as resp,
    ):
        text = await resp.text()
    for line in text.splitlines():
        if line.startswith(SWEEPS):
            return float(line.rpartition(" ")[2])
    return 0.0


async def more_sweeps(fleet: Fleet, at_least: float) -> bool:
    return await sweeps(fleet) >= at_least
