"""Suspend and resume a Medusa store on real pods, through the platform's gateway: while
suspended, no pod of the store runs and its host answers the platform's "store paused"
page through the ingress controller (503, not a 502); resumed, it serves again with the
same order history and the same secrets."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.medusa.store_api import StoreApi, place_order
from tests.node.conftest import Kubectl
from tests.real import platform
from tests.real.conftest import Target
from tests.real.platform import Gateway
from tests.real.test_medusa_backups import admin_of

pytestmark = pytest.mark.timeout(1800)

READY_WITHIN = 600.0
OPERATION_WITHIN = 300.0


def running_pods(kubectl: Kubectl, namespace: str) -> list[str]:
    pods = kubectl.get("pods", "-n", namespace)["items"]
    ended = ("Succeeded", "Failed")
    return [p["metadata"]["name"] for p in pods if p["status"].get("phase") not in ended]


async def shows(owner: Gateway, store_id: str, status: str, within: float = 30) -> None:
    """Wait until the API shows the store `status`: the stream brings an event before the
    auditor has folded it into what the gateway answers."""
    deadline = time.monotonic() + within
    while (shown := (await owner.store(store_id))["status"]) != status:
        assert time.monotonic() < deadline, f"the store shows {shown}, not {status}"
        await asyncio.sleep(0.5)


async def operate(owner: Gateway, store: dict[str, Any], kind: str) -> tuple[Any, float]:
    async with owner.watch() as watch:
        started = time.monotonic()
        answer = await owner.call("POST", f"/stores/{store['id']}/{kind}")
        frame = await watch.outcome(
            store["id"], within=OPERATION_WITHIN, events=(f"{kind}.completed", f"{kind}.failed")
        )
    assert frame.event == f"{kind}.completed", frame.data
    assert answer["operation_id"] == frame.data["data"]["operation_id"]
    return frame, time.monotonic() - started


async def test_a_suspended_store_runs_nothing_shows_the_paused_page_and_resumes_with_its_orders(
    owner: Gateway, kubectl: Kubectl, target: Target
) -> None:
    async with owner.watch() as watch:
        store = await owner.create_store("Paused Medusa")
        assert (await watch.outcome(store["id"], within=READY_WITHIN)).event == "ready"
    await platform.served(target.ingress_url, store["slug"])
    async with platform.shop(store["slug"]) as http:
        placed = await place_order(StoreApi(http, target.ingress_url), "lin@customer.example")
    secrets = await owner.credentials(store["id"])

    _, took = await operate(owner, store, "suspend")
    print(f"suspend of a Medusa store: {took:.1f}s")

    await shows(owner, store["id"], "suspended")
    assert running_pods(kubectl, store["namespace"]) == []
    async with platform.shop(store["slug"]) as http:
        for path in ("/", "/storefront/config", "/app/orders?x=1"):
            async with http.get(f"{target.ingress_url}{path}") as resp:
                page = await resp.text()
                assert resp.status == 503, (path, resp.status, page[:300])
                assert resp.headers.get("X-Storefleet-Paused") == "1"
                assert "This store is paused" in page
                assert store["slug"] not in page

    _, took = await operate(owner, store, "resume")
    print(f"resume of a Medusa store: {took:.1f}s")

    await shows(owner, store["id"], "ready")
    await platform.served(target.ingress_url, store["slug"])
    async with platform.shop(store["slug"]) as http:
        admin = await admin_of(owner, http, target, store["id"])
        order = await admin.order(placed.order["id"])
    assert order["email"] == "lin@customer.example"
    assert await owner.credentials(store["id"]) == secrets
    await platform.delete_stores(owner, kubectl, [store])
