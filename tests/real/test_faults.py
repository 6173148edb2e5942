"""Faults on real pods while stores are being created: the provisioner's pod and the NATS
pod deleted in the middle of five creations, and the kubelet SIGKILLed in the middle of
one. Every store still ends `ready` and takes an order. Status is read with `GET
/stores` (not the live stream, which a NATS restart interrupts by design)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from devtools.node import kill_agent
from tests.medusa.store_api import StoreApi, place_order
from tests.node.conftest import Kubectl
from tests.real import platform
from tests.real.conftest import Target
from tests.real.platform import NAMESPACE, Gateway

# Real pods on two cores: a store takes a minute, five take several.
pytestmark = pytest.mark.timeout(1800)

WITHIN = 900.0


async def _settled(owner: Gateway, ids: list[str], within: float = WITHIN) -> dict[str, Any]:
    """The stores once none is still on its way, by id."""
    deadline = time.monotonic() + within
    while True:
        listing = await owner.call("GET", "/stores?limit=100")
        stores = {s["id"]: s for s in listing["items"] if s["id"] in ids}
        if len(stores) == len(ids) and all(
            s["status"] not in ("requested", "provisioning") for s in stores.values()
        ):
            return stores
        statuses = {s["name"]: s["status"] for s in stores.values()}
        assert time.monotonic() < deadline, f"not settled in {within}s: {statuses}"
        await asyncio.sleep(3)


async def _order(target: Target, slug: str) -> str:
    await platform.served(target.ingress_url, slug)
    async with platform.shop(slug) as http:
        placed = await place_order(StoreApi(http, target.ingress_url), f"{slug}@customer.example")
    return str(placed.order["id"])


def _namespaces_with_pods(kubectl: Kubectl, stores: list[dict[str, Any]]) -> int:
    pods = kubectl.get("pods", "-A", "-l", "app.kubernetes.io/name=medusa")["items"]
    return len({p["metadata"]["namespace"] for p in pods} & {s["namespace"] for s in stores})


async def test_five_creations_survive_the_provisioner_pod_and_the_nats_pod_being_deleted(
    owner: Gateway, kubectl: Kubectl, target: Target
) -> None:
    created = [await owner.create_store(f"Faulty {n}") for n in range(1, 6)]
    # Once the provisioner is at work (some stores have pods), take it away, then NATS.
    await platform.until(lambda: _namespaces_with_pods(kubectl, created) >= 2,
                         "the first stores' pods", within=300)  # fmt: skip
    kubectl("delete", "pod", "-n", NAMESPACE, "-l", "app.kubernetes.io/component=provisioner",
            "--wait=false")  # fmt: skip
    await asyncio.sleep(5)
    kubectl("delete", "pod", "-n", NAMESPACE, "storefleet-nats-0", "--wait=false")

    stores = await _settled(owner, [s["id"] for s in created])

    assert {s["name"]: s["status"] for s in stores.values()} == {
        f"Faulty {n}": "ready" for n in range(1, 6)
    }, [s["error"] for s in stores.values()]
    orders = [await _order(target, s["slug"]) for s in stores.values()]
    assert len(set(orders)) == 5
    await platform.delete_stores(owner, kubectl, created)


async def test_a_creation_ends_ready_after_the_kubelet_is_killed_and_comes_back(
    owner: Gateway, kubectl: Kubectl, target: Target
) -> None:
    if not target.local:
        pytest.skip("kills this machine's kubelet: only on the real node started here")
    store = await owner.create_store("Kubelet Crash")
    await platform.until(lambda: _namespaces_with_pods(kubectl, [store]) == 1,
                         "the store's first pods", within=300)  # fmt: skip
    start_again = kill_agent("kubelet")
    await asyncio.sleep(20)  # pods keep running; nothing reports their status meanwhile
    start_again()

    stores = await _settled(owner, [store["id"]])

    assert stores[store["id"]]["status"] == "ready", stores[store["id"]]["error"]
    assert await _order(target, store["slug"])
    await platform.delete_stores(owner, kubectl, [store])
