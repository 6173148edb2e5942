"""Two Medusa stores of one owner, provisioned by the platform on real pods, isolated
with real traffic: from store A's Medusa pod its own database answers, while store B's
database and web server, the platform's NATS and Postgres and the API server do not;
each blocked target is shown to be up from where it is allowed. A pod of store A that
outgrows its memory limit is OOM-killed by the kernel and restarted, and neither store's
own pods notice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.node.conftest import Kubectl, toolbox_pod
from tests.real import platform
from tests.real.conftest import Target
from tests.real.platform import NAMESPACE, Gateway

# Real pods on two cores: a store takes a minute, five take several.
pytestmark = pytest.mark.timeout(1800)

# A TCP connect from inside a pod with what its image has (node in Medusa's, python in
# the platform's): prints `open` or why not, within 3 s.
NODE_CONNECT = (
    "const s = require('net').connect({host: process.argv[1], port: +process.argv[2]});"
    "s.setTimeout(3000, () => { console.log('timeout'); process.exit(1); });"
    "s.on('connect', () => { console.log('open'); process.exit(0); });"
    "s.on('error', (e) => { console.log(e.code); process.exit(1); });"
)
PYTHON_CONNECT = (
    "import socket, sys\n"
    "try:\n"
    "    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3); print('open')\n"
    "except OSError as e:\n"
    "    print(type(e).__name__)\n"
)
API_SERVER = ("kubernetes.default.svc", "443")
API_SERVER_DIRECT = ("10.244.0.1", "6443")  # the node's address, where it listens
PLATFORM_NATS = (f"storefleet-nats.{NAMESPACE}.svc", "4222")
MEDUSA_WEB = "app.kubernetes.io/name=medusa,app.kubernetes.io/component=web"
PLATFORM_POSTGRES = (f"storefleet-postgres.{NAMESPACE}.svc", "5432")


@dataclass(frozen=True)
class Store:
    id: str
    slug: str
    namespace: str


@pytest.fixture(scope="module")
async def stores(owner: Gateway, kubectl: Kubectl) -> AsyncIterator[tuple[Store, Store]]:
    async with owner.watch() as watch:
        created = [await owner.create_store(f"Isolated {x}") for x in "AB"]
        outcomes = await asyncio.gather(*(watch.outcome(s["id"], 600) for s in created))
    assert [o.event for o in outcomes] == ["ready", "ready"], [o.data for o in outcomes]
    a, b = (Store(s["id"], s["slug"], s["namespace"]) for s in created)
    yield a, b
    await platform.delete_stores(owner, kubectl, created)


def _pod(kubectl: Kubectl, namespace: str, selector: str) -> str:
    pods = kubectl.get("pods", "-n", namespace, "-l", selector)["items"]
    running = [p["metadata"]["name"] for p in pods if p["status"]["phase"] == "Running"]
    assert running, f"no running pod {selector} in {namespace}"
    return str(running[0])


def _medusa(kubectl: Kubectl, store: Store) -> str:
    return _pod(kubectl, store.namespace, MEDUSA_WEB)


def _from_medusa(kubectl: Kubectl, store: Store, host: str, port: str) -> str:
    done = kubectl.exec(store.namespace, _medusa(kubectl, store), "node", "-e", NODE_CONNECT,
                        host, port)  # fmt: skip
    return (done.stdout or done.stderr).strip()


def _from_platform(kubectl: Kubectl, component: str, host: str, port: str) -> str:
    pod = _pod(kubectl, NAMESPACE, f"app.kubernetes.io/component={component}")
    done = kubectl.exec(NAMESPACE, pod, "python", "-c", PYTHON_CONNECT, host, port)
    return (done.stdout or done.stderr).strip()


def test_from_a_stores_pod_only_its_own_flows_reach_anything(
    stores: tuple[Store, Store], kubectl: Kubectl
) -> None:
    a, b = stores
    b_database = (f"postgres.{b.namespace}.svc", "5432")
    b_web = (f"medusa.{b.namespace}.svc", "80")

    # Every target is up: each answers where the guardrails allow it.
    assert _from_medusa(kubectl, a, "postgres", "5432") == "open"
    assert _from_medusa(kubectl, b, *b_database) == "open"
    for target in (PLATFORM_NATS, PLATFORM_POSTGRES):
        assert _from_platform(kubectl, "gateway", *target) == "open", target
    assert _from_platform(kubectl, "provisioner", *API_SERVER) == "open"

    for target in (b_database, b_web, PLATFORM_NATS, PLATFORM_POSTGRES, API_SERVER,
                   API_SERVER_DIRECT):  # fmt: skip
        assert _from_medusa(kubectl, a, *target) != "open", f"store A reached {target}"


def _restarts(kubectl: Kubectl, namespace: str) -> dict[str, int]:
    pods = kubectl.get("pods", "-n", namespace)["items"]
    return {f"{p['metadata']['name']}/{c['name']}": c["restartCount"]
            for p in pods if p["status"]["phase"] == "Running"
            for c in p["status"]["containerStatuses"]}  # fmt: skip


async def _storefront(target: Target, store: Store) -> int:
    url = f"{target.ingress_url}/storefront/config"
    async with platform.shop(store.slug) as http, http.get(url) as resp:
        return resp.status


async def test_a_pod_over_its_memory_limit_is_oom_killed_and_restarted_and_no_store_notices(
    stores: tuple[Store, Store], kubectl: Kubectl, target: Target
) -> None:
    a, b = stores
    before = {store.namespace: _restarts(kubectl, store.namespace) for store in stores}
    # Writes 256 MiB in a container limited to 64 MiB (a plain bytearray would stay
    # unwritten zero pages).
    hog = toolbox_pod("hog", a.namespace, ["python3", "-c", "b = b'x' * (256 << 20)"],
                      restartPolicy="Always")  # fmt: skip
    kubectl.apply(hog)

    def killed_and_restarted() -> dict[str, Any] | None:
        status = kubectl.get("pod", "hog", "-n", a.namespace)["status"]
        container = status.get("containerStatuses", [{}])[0]
        last = container.get("lastState", {}).get("terminated", {})
        return container if container.get("restartCount", 0) >= 1 and last else None

    await platform.until(lambda: killed_and_restarted() is not None, "the hog's restart", 120)
    hogged = killed_and_restarted()
    assert hogged is not None
    assert hogged["lastState"]["terminated"]["reason"] == "OOMKilled", hogged
    assert hogged["lastState"]["terminated"]["exitCode"] == 137
    kubectl("delete", "pod", "hog", "-n", a.namespace, "--wait=false")

    after = {store.namespace: _restarts(kubectl, store.namespace) for store in stores}
    after[a.namespace] = {k: v for k, v in after[a.namespace].items() if not k.startswith("hog/")}
    assert after == before
    assert [await _storefront(target, store) for store in (a, b)] == [200, 200]
