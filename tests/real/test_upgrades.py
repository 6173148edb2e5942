"""A fleet rollout of a Medusa upgrade on real pods, through the platform's gateway and
its reaper's rollout driver: a store created on the older Medusa version (its own image,
built from npm) takes an order; a rollout to the current version whose image the node
cannot get fails the store's health gate, and the store comes back on the older version
with its order; once the image is back, a second rollout upgrades it, and the upgraded
store still shows the order and takes a new one.

An image missing on the node is how a real upgrade fails its gate here: the new pods stay
in ErrImagePull (no registry), so the setup Job never completes.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from typing import Any

import pytest

from devtools.images import import_images, reference
from devtools.node_agents import LAYOUT
from services.gateway.settings import REPO
from shared.engine_versions import load_versions
from tests.medusa.store_api import StoreApi, place_order
from tests.node.conftest import Kubectl
from tests.real import platform
from tests.real.conftest import Target
from tests.real.platform import Gateway
from tests.real.test_medusa_backups import admin_of
from tests.real.test_suspend import shows

pytestmark = pytest.mark.timeout(2400)

READY_WITHIN = 600.0
ROLLOUT_WITHIN = 900.0
ADMIN = "fleetadmin"
VERSIONS = load_versions(REPO / "charts" / "engines", "medusa")
CURRENT = VERSIONS.default
OLDER = next(iter(VERSIONS.versions[CURRENT].upgrades_from), None)


@pytest.fixture(scope="module")
async def admin(http: Any, target: Target, kubectl: Kubectl, installed: None) -> Gateway:
    password = platform.add_user(kubectl, ADMIN, "--admin")
    return await Gateway.sign_in(http, target.ingress_url, ADMIN, password)


def current_image() -> str:
    """The current version's image as the node names it."""
    return reference(f"storefleet/medusa:{CURRENT}")


def ctr(*args: str) -> subprocess.CompletedProcess[str]:
    argv = ["ctr", "--address", str(LAYOUT.containerd_socket), "-n", "k8s.io", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


async def rollout(admin: Gateway, body: dict[str, Any]) -> dict[str, Any]:
    """Start a rollout and wait until it ends; the rollout as the gateway shows it then."""
    started = await admin.call("POST", "/admin/rollouts", body)
    deadline = time.monotonic() + ROLLOUT_WITHIN
    while True:
        shown = await admin.call("GET", f"/admin/rollouts/{started['id']}")
        if shown["state"] in ("completed", "stopped", "aborted"):
            return dict(shown)
        assert time.monotonic() < deadline, f"the rollout is still {shown['state']}: {shown}"
        await asyncio.sleep(3)


def web_images(kubectl: Kubectl, namespace: str) -> set[str]:
    deployments = kubectl.get("deployments", "-n", namespace)["items"]
    return {c["image"] for d in deployments for c in d["spec"]["template"]["spec"]["containers"]}


async def upgrade_event(owner: Gateway, store_id: str, kind: str) -> dict[str, Any]:
    """The store's last `kind` event from its timeline (the audit log, every page)."""
    deadline = time.monotonic() + 30
    while True:
        found, cursor = [], ""
        while True:
            page = await owner.call("GET", f"/stores/{store_id}/events?limit=100{cursor}")
            found += [e for e in page["items"] if e["type"] == kind]
            if not page["next_cursor"]:
                break
            cursor = f"&cursor={page['next_cursor']}"
        if found:
            return dict(found[-1])
        assert time.monotonic() < deadline, f"no {kind} in the store's timeline"
        await asyncio.sleep(1)


async def test_a_rollout_upgrades_a_medusa_store_with_its_orders_and_rolls_back_a_failed_gate(
    owner: Gateway, admin: Gateway, kubectl: Kubectl, target: Target
) -> None:
    assert OLDER is not None, f"medusa {CURRENT} lists no version to upgrade from"
    if not target.local:
        pytest.skip("removing an image from the node needs this machine's own node")
    import_images(str(LAYOUT.containerd_socket), [f"medusa:{OLDER}"])  # built on demand
    async with owner.watch() as watch:
        store = await owner.call(
            "POST", "/stores", {"name": "Upgrade Medusa", "engine": "medusa",
                                "engine_version": OLDER},
        )  # fmt: skip
        assert (await watch.outcome(store["id"], within=READY_WITHIN)).event == "ready"
    assert (await owner.store(store["id"]))["engine_version"] == OLDER
    older_images = web_images(kubectl, store["namespace"])
    assert f"storefleet/medusa:{OLDER}" in older_images
    assert f"storefleet/medusa:{CURRENT}" not in older_images
    await platform.served(target.ingress_url, store["slug"])
    async with platform.shop(store["slug"]) as http:
        first = await place_order(StoreApi(http, target.ingress_url), "ada@customer.example")

    # The current version's image is gone from the node: the upgrade cannot pass its gate.
    removed = ctr("images", "rm", current_image())
    assert removed.returncode == 0, removed.stderr
    try:
        failed = await rollout(admin, {"engine": "medusa", "version": CURRENT,
                                       "waves": ["100%"], "failure_threshold": 0})  # fmt: skip
    finally:
        import_images(str(LAYOUT.containerd_socket), ["medusa"])
    assert failed["state"] == "stopped", failed
    back = await upgrade_event(owner, store["id"], "upgrade.rolled_back")
    print(f"medusa {OLDER} -> {CURRENT} rolled back after a failed gate: "
          f"{back['data']['seconds']:.1f}s ({back['data']['code']})")  # fmt: skip
    await shows(owner, store["id"], "ready")
    assert (await owner.store(store["id"]))["engine_version"] == OLDER
    assert web_images(kubectl, store["namespace"]) == older_images
    await platform.served(target.ingress_url, store["slug"])
    async with platform.shop(store["slug"]) as http:
        admin_api = await admin_of(owner, http, target, store["id"])
        assert (await admin_api.order(first.order["id"]))["email"] == "ada@customer.example"

    done = await rollout(admin, {"engine": "medusa", "version": CURRENT, "waves": ["100%"]})
    assert done["state"] == "completed", done
    upgraded = await upgrade_event(owner, store["id"], "upgrade.completed")
    print(f"medusa {OLDER} -> {CURRENT} upgrade of a 1-order store: "
          f"{upgraded['data']['seconds']:.1f}s")  # fmt: skip
    await shows(owner, store["id"], "ready")
    assert (await owner.store(store["id"]))["engine_version"] == CURRENT
    assert f"storefleet/medusa:{CURRENT}" in web_images(kubectl, store["namespace"])
    await platform.served(target.ingress_url, store["slug"])
    async with platform.shop(store["slug"]) as http:
        admin_api = await admin_of(owner, http, target, store["id"])
        assert (await admin_api.order(first.order["id"]))["email"] == "ada@customer.example"
        second = await place_order(StoreApi(http, target.ingress_url), "bo@customer.example")
        assert (await admin_api.order(second.order["id"]))["email"] == "bo@customer.example"
    await platform.delete_stores(owner, kubectl, [store])
