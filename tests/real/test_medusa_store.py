"""A Medusa store on real pods, from the shop owner's request to its deletion, all through
the platform's gateway and the ingress controller: the store's Postgres, Medusa server and
setup Job run; `ready` arrives on the live stream; a customer orders through the Store API
and through the storefront page in Chromium, on the store's own host; the owner reads the
admin credentials from the dashboard's API and sees the orders through Medusa's Admin
API; a file the owner uploads through the Admin API is still served after the Medusa pod
is replaced; deleting the store removes its namespace, pods and volumes. The tests run in
file order on one store; the last one deletes it."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from tests.browser import chromium_page
from tests.gateway.sse_client import Frame
from tests.medusa.medusa_app import REPO
from tests.medusa.store_api import AdminApi, StoreApi, place_order
from tests.medusa.storefront import CUSTOMER, buy_a_t_shirt
from tests.node.conftest import Kubectl
from tests.real import platform
from tests.real.conftest import Target
from tests.real.platform import Gateway

# Real pods on two cores: a store takes a minute, five take several.
pytestmark = pytest.mark.timeout(1800)

SCREENSHOTS = REPO / ".run" / "screenshots" / "real-medusa"
READY_WITHIN = 600.0
WEB_PODS = "app.kubernetes.io/component=web"
# A product image as the admin uploads one: a PNG signature, then bytes of every value.
IMAGE = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


@dataclass(frozen=True)
class Requested:
    store: dict[str, Any]
    outcome: Frame
    types: list[str]
    seconds: float
    served_after: float  # from `ready` until the ingress controller routes its host

    @property
    def id(self) -> str:
        return str(self.store["id"])

    @property
    def slug(self) -> str:
        return str(self.store["slug"])

    @property
    def namespace(self) -> str:
        return str(self.store["namespace"])


@pytest.fixture(scope="module")
async def store(owner: Gateway, target: Target) -> AsyncIterator[Requested]:
    async with owner.watch() as watch:
        started = time.monotonic()
        store = await owner.create_store("Real Medusa")
        outcome = await watch.outcome(store["id"], within=READY_WITHIN)
        took = time.monotonic() - started
    served_after = await platform.served(target.ingress_url, store["slug"])
    yield Requested(store, outcome, watch.types(store["id"]), took, served_after)


async def test_the_store_runs_its_database_server_and_setup_job_and_ready_arrives_live(
    store: Requested, owner: Gateway, kubectl: Kubectl
) -> None:
    assert store.outcome.event == "ready", store.outcome.data
    assert store.types[0] == "requested" and store.types[-1] == "ready", store.types
    assert store.served_after < 30, "the ingress controller took long to route the store"
    seen = await owner.store(store.id)
    assert seen["status"] == "ready"
    assert seen["url"] == f"http://{store.slug}.stores.localhost"

    job = kubectl.get("job", "medusa-setup", "-n", store.namespace)
    assert job["status"]["succeeded"] == 1
    for workload in ("statefulset/postgres", "deployment/medusa"):
        status = kubectl.get(workload, "-n", store.namespace)["status"]
        assert status["readyReplicas"] == 1, workload
    pods = kubectl.get("pods", "-n", store.namespace)["items"]
    running = [p for p in pods if p["status"]["phase"] == "Running"]
    assert len(running) == 2, [p["metadata"]["name"] for p in pods]
    for pod in running:
        for container in pod["status"]["containerStatuses"]:
            assert container["ready"] and container["containerID"].startswith("containerd://")


async def test_an_order_through_the_store_api_is_seen_by_the_admin_with_the_dashboards_credentials(
    store: Requested, owner: Gateway, target: Target
) -> None:
    credentials = await owner.credentials(store.id)
    async with platform.shop(store.slug) as http:
        placed = await place_order(StoreApi(http, target.ingress_url), "ada@customer.example")
        admin = AdminApi(http, target.ingress_url)
        await admin.login(credentials["username"], credentials["password"])
        seen = await admin.order(placed.order["id"])

    assert credentials["url"] == f"http://{store.slug}.stores.localhost"
    assert seen["email"] == "ada@customer.example"
    assert float(seen["total"]) == pytest.approx(placed.expected_total)


async def test_a_customer_buys_on_the_storefront_page_in_chromium_and_the_admin_sees_it(
    store: Requested, owner: Gateway, target: Target
) -> None:
    ingress = urlsplit(target.ingress_url)
    url = f"http://{store.slug}.stores.localhost:{ingress.port or 80}"
    rules = f"--host-resolver-rules=MAP *.stores.localhost {ingress.hostname}"
    async with chromium_page([rules]) as page:
        bought = await buy_a_t_shirt(page, url, "Real Medusa", SCREENSHOTS)

    credentials = await owner.credentials(store.id)
    async with platform.shop(store.slug) as http:
        admin = AdminApi(http, target.ingress_url)
        await admin.login(credentials["username"], credentials["password"])
        order = await admin.order(bought.order_id)
    assert bought.shown_number == f"#{order['display_id']}"
    assert order["email"] == CUSTOMER["Email"]
    assert f"{order['total']:.2f}" in bought.shown_total


def _web_pods(kubectl: Kubectl, namespace: str) -> dict[str, bool]:
    """The store's Medusa pods still running (not being deleted), each with its readiness."""
    pods = kubectl.get("pods", "-n", namespace, "-l", WEB_PODS)["items"]
    return {
        pod["metadata"]["name"]: any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in pod["status"].get("conditions", [])
        )
        for pod in pods
        if not pod["metadata"].get("deletionTimestamp")
    }


async def _fetched(ingress_url: str, slug: str, path: str, within: float = 60) -> bytes:
    """The body of `path` on the store's host once the ingress controller serves it
    with 200 (a replaced pod takes a few seconds to be its endpoint again)."""
    deadline, status = time.monotonic() + within, "no answer"
    async with platform.shop(slug) as http:
        while True:
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"{ingress_url}{path}") as resp:
                    if resp.status == 200:
                        return await resp.read()
                    status = str(resp.status)
            assert time.monotonic() < deadline, f"{path} answered {status} for {within}s"
            await asyncio.sleep(1)


async def test_a_file_uploaded_through_the_admin_api_is_still_served_after_the_pod_is_replaced(
    store: Requested, owner: Gateway, kubectl: Kubectl, target: Target
) -> None:
    credentials = await owner.credentials(store.id)
    async with platform.shop(store.slug) as http:
        admin = AdminApi(http, target.ingress_url)
        await admin.login(credentials["username"], credentials["password"])
        uploaded = await admin.upload("kept.png", IMAGE, "image/png")
    url = urlsplit(uploaded["url"])
    assert f"{url.scheme}://{url.netloc}" == f"http://{store.slug}.stores.localhost"
    assert await _fetched(target.ingress_url, store.slug, url.path) == IMAGE
    before = set(_web_pods(kubectl, store.namespace))
    assert len(before) == 1, before

    kubectl("delete", "pod", "-n", store.namespace, *before, "--wait=true")

    def replaced() -> bool:
        pods = _web_pods(kubectl, store.namespace)
        return bool(pods) and all(ready and name not in before for name, ready in pods.items())

    await platform.until(replaced, "a new Medusa pod to be ready", within=300)

    assert await _fetched(target.ingress_url, store.slug, url.path) == IMAGE


def _volumes(kubectl: Kubectl, namespace: str) -> dict[str, Path]:
    """The store's persistent volumes and where local-path keeps each on the node."""
    volumes = {}
    for volume in kubectl.get("pv")["items"]:
        claim = volume["spec"].get("claimRef", {})
        if claim.get("namespace") == namespace:
            spec = volume["spec"]
            path = spec.get("hostPath", spec.get("local", {})).get("path", "")
            volumes[volume["metadata"]["name"]] = Path(path)
    return volumes


async def test_deleting_the_store_removes_its_namespace_pods_and_volumes(
    store: Requested, owner: Gateway, kubectl: Kubectl, target: Target
) -> None:
    volumes = _volumes(kubectl, store.namespace)
    assert len(volumes) == 2, volumes  # Postgres's data and Medusa's uploads
    if target.local:
        assert all(path.is_dir() for path in volumes.values()), volumes

    async with owner.watch() as watch:
        await owner.delete_store(store.id)

        gone = functools.partial(platform.namespace_gone, kubectl, store.namespace)
        await platform.until(gone, f"namespace {store.namespace} to go", within=240)
        await watch.outcome(store.id, within=60, events=["deleted"])

    # local-path releases each volume after its claim has gone: a helper pod wipes it.
    released = lambda: not kubectl("get", "pv", *volumes, "--ignore-not-found",  # noqa: E731
                                   "-o", "name").strip()  # fmt: skip
    await platform.until(released, "the store's persistent volumes to go", within=120)
    if target.local:
        wiped = lambda: not any(p.exists() for p in volumes.values())  # noqa: E731
        await platform.until(wiped, "the volumes' data to go", within=60)
    assert (await owner.store(store.id))["status"] == "deleted"
