"""End to end on a real cluster (kind or k3s) with real WordPress, MariaDB and wp-cli
containers: a store is provisioned, takes a cash-on-delivery order through WooCommerce's
Store API, and is deleted; likewise a MedusaJS store (its image built from engines/medusa
and loaded into the cluster) takes an order the admin then sees through the Admin API.
The kwok control plane of the other tests has no container
runtime, so this suite runs only when STOREFLEET_E2E_KUBECONFIG names a real cluster's
kubeconfig, and skips, saying so, otherwise.

The cluster needs an ingress controller and a default StorageClass. Settings:
- STOREFLEET_E2E_KUBECONFIG: the cluster's admin kubeconfig (required);
- STOREFLEET_E2E_INGRESS_URL: where the ingress controller answers from here, default
  http://127.0.0.1 (kind with ports 80/443 mapped, or k3s);
- STOREFLEET_E2E_INGRESS_CLASS / _INGRESS_NAMESPACE: default nginx / ingress-nginx
  (k3s: traefik / kube-system);
- STOREFLEET_E2E_STORAGE_CLASS: default empty (the cluster's default class).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import os
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from kubernetes_asyncio.client import ApiClient, BatchV1Api, CoreV1Api
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.config import new_client_from_config
from nats.js import JetStreamContext

from devtools.cluster import ensure_binaries
from devtools.nats import LocalNats
from services.provisioner.engines import MEDUSA
from tests.fixtures.nats import ExternalNats
from tests.medusa.store_api import AdminApi, StoreApi, place_order
from tests.provisioner.harness import Harness, Store, eventually

E2E = "STOREFLEET_E2E_KUBECONFIG"
pytestmark = pytest.mark.skipif(
    not os.environ.get(E2E),
    reason=f"{E2E} is not set: the WooCommerce and Medusa images need a real cluster "
    "(kind or k3s); point it at that cluster's kubeconfig to run the end-to-end suite",
)
INGRESS_URL = os.environ.get("STOREFLEET_E2E_INGRESS_URL", "http://127.0.0.1").rstrip("/")
ADMIN = "storeadmin"


@pytest.fixture
async def real_harness(
    js: JetStreamContext, nats_server: LocalNats | ExternalNats, tmp_path: Path
) -> AsyncIterator[Harness]:
    kubeconfig = Path(os.environ[E2E])
    api = await new_client_from_config(config_file=str(kubeconfig), persist_config=False)
    harness = Harness(
        js,
        nats_server.url,
        kubeconfig,
        api,
        ensure_binaries() / "helm",
        os.environ.get("STOREFLEET_E2E_STORAGE_CLASS", ""),
        tmp_path,
    )
    await harness.start()
    try:
        yield harness
    finally:
        await harness.close()
        await api.close()


async def wp_cli(api: ApiClient, store: Store, *args: str) -> str:
    """Run wp-cli in the store, in a Job shaped like its setup Job; return its output."""
    batch, core = BatchV1Api(api), CoreV1Api(api)
    setup = api.sanitize_for_serialization(
        await batch.read_namespaced_job("wordpress-setup", store.namespace)
    )
    template = copy.deepcopy(setup["spec"]["template"])
    for key in (
        "controller-uid",
        "batch.kubernetes.io/controller-uid",
        "job-name",
        "batch.kubernetes.io/job-name",
    ):
        template["metadata"]["labels"].pop(key, None)
    template["spec"]["containers"][0]["command"] = ["wp", *args]
    name = f"e2e-{uuid.uuid4().hex[:6]}"
    job = {"metadata": {"name": name}, "spec": {"backoffLimit": 0, "template": template}}
    await batch.create_namespaced_job(store.namespace, job)
    deadline = time.monotonic() + 300
    while True:
        status = (await batch.read_namespaced_job(name, store.namespace)).status
        if status.succeeded or status.failed:
            break
        assert time.monotonic() < deadline, f"wp {' '.join(args)} did not finish"
        await asyncio.sleep(2)
    pods = await core.list_namespaced_pod(store.namespace, label_selector=f"job-name={name}")
    log = await core.read_namespaced_pod_log(
        pods.items[0].metadata.name, store.namespace, container="wp-cli"
    )
    assert status.succeeded, f"wp {' '.join(args)} failed: {log}"
    return str(log).strip()


async def place_cod_order(host: str, product_id: int) -> dict[str, Any]:
    """Guest checkout through the WooCommerce Store API, paying cash on delivery."""
    address = {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "address_1": "1 Market St",
        "city": "San Francisco",
        "state": "CA",
        "postcode": "94103",
        "country": "US",
        "email": "ada@example.com",
        "phone": "5550100",
    }

    def url(route: str) -> str:
        return f"{INGRESS_URL}/?rest_route=/wc/store/v1/{route}"

    async with aiohttp.ClientSession(headers={"Host": host}) as http:
        async with http.get(url("cart")) as resp:
            assert resp.status == 200, await resp.text()
            token = resp.headers["Cart-Token"]
        headers = {"Cart-Token": token}
        async with http.post(
            url("cart/add-item"), json={"id": product_id, "quantity": 1}, headers=headers
        ) as resp:
            assert resp.status in (200, 201), await resp.text()
        body = {"billing_address": address, "shipping_address": address, "payment_method": "cod"}
        async with http.post(url("checkout"), json=body, headers=headers) as resp:
            assert resp.status == 200, await resp.text()
            return dict(await resp.json())


async def test_a_store_on_a_real_cluster_takes_a_cash_on_delivery_order_and_is_deleted(
    real_harness: Harness,
) -> None:
    harness = real_harness
    async with harness.running(
        workers=1,
        ready_deadline_seconds=900,
        engine_values="local",
        ingress_class=os.environ.get("STOREFLEET_E2E_INGRESS_CLASS", "nginx"),
        ingress_namespace=os.environ.get("STOREFLEET_E2E_INGRESS_NAMESPACE", "ingress-nginx"),
    ):
        store = await harness.request(name="E2E Shop")
        outcome = await harness.events.outcome(store.id, within=960)
    assert outcome.type == "ready", outcome.data
    host = f"{store.slug}.stores.localhost"

    product = int(
        await wp_cli(
            harness.kube,
            store,
            "wc",
            "product",
            "create",
            "--name=E2E Mug",
            "--regular_price=9.50",
            "--virtual=true",
            "--status=publish",
            f"--user={ADMIN}",
            "--porcelain",
        )
    )
    order = await place_cod_order(host, product)
    assert order["payment_method"] == "cod"
    assert order["status"] in ("processing", "on-hold", "pending")
    method = await wp_cli(
        harness.kube,
        store,
        "wc",
        "shop_order",
        "get",
        str(order["order_id"]),
        "--field=payment_method",
        f"--user={ADMIN}",
    )
    assert method == "cod"

    await harness.delete(store)
    core = CoreV1Api(harness.kube)
    await core.delete_namespace(store.namespace)  # what the reaper does on store.delete

    async def gone() -> bool:
        try:
            await core.read_namespace(store.namespace)
        except ApiException as exc:
            return exc.status == 404
        return False

    await eventually(gone, within=300, what=f"namespace {store.namespace} to go")


async def test_a_medusa_store_on_a_real_cluster_takes_an_order_the_admin_sees(
    real_harness: Harness,
) -> None:
    harness = real_harness
    async with harness.running(
        workers=1,
        ready_deadline_seconds=900,
        engine_values="local",
        ingress_class=os.environ.get("STOREFLEET_E2E_INGRESS_CLASS", "nginx"),
        ingress_namespace=os.environ.get("STOREFLEET_E2E_INGRESS_NAMESPACE", "ingress-nginx"),
    ):
        store = await harness.request(name="E2E Medusa", engine="medusa")
        outcome = await harness.events.outcome(store.id, within=960)
    assert outcome.type == "ready", outcome.data
    secret = await CoreV1Api(harness.kube).read_namespaced_secret("store-secret", store.namespace)
    password = base64.b64decode(secret.data["admin-password"]).decode()

    host = f"{store.slug}.stores.localhost"
    async with aiohttp.ClientSession(headers={"Host": host}) as http:
        placed = await place_order(StoreApi(http, INGRESS_URL), "e2e@customer.example")
        admin = AdminApi(http, INGRESS_URL)
        await admin.login(MEDUSA.admin_username, password)
        seen = await admin.order(placed.order["id"])
    assert float(seen["total"]) == pytest.approx(placed.expected_total)

    await harness.delete(store)
    core = CoreV1Api(harness.kube)
    await core.delete_namespace(store.namespace)  # what the reaper does on store.delete
