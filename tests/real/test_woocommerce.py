"""A WooCommerce store requested through the platform on real pods. WordPress and
WooCommerce cannot be fetched on these machines, so here everything up to them runs for
real: MariaDB (the stand-in honouring the official image's contract) under the chart's
security context, passing the chart's probes; the store's Pod Security level, quota and
NetworkPolicies applied to its pods, with real traffic; the store held back (no Ingress,
not `ready`) while WordPress's image cannot be pulled. The order test runs where the
cluster can pull WordPress (STOREFLEET_E2E_KUBECONFIG) and skips, saying why, here."""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.node.conftest import Kubectl, toolbox_pod
from tests.real import platform
from tests.real.conftest import Target, wordpress_runs
from tests.real.platform import NAMESPACE, Gateway

# Real pods on two cores: a store takes a minute, five take several.
pytestmark = pytest.mark.timeout(1800)

ADMIN = "storeadmin"
DATABASE = "app.kubernetes.io/name=woocommerce,app.kubernetes.io/component=database"
WEB_LABELS = {"app.kubernetes.io/name": "woocommerce", "app.kubernetes.io/component": "web"}
# bash's /dev/tcp, in the MariaDB image (no nc, no python): exit 0 when the port accepts.
BASH_CONNECT = "timeout 3 bash -c 'exec 3<>/dev/tcp/$0/$1'"


@pytest.fixture(scope="module")
async def woo(owner: Gateway, kubectl: Kubectl) -> AsyncIterator[dict[str, Any]]:
    """A WooCommerce store, once its MariaDB is Ready; deleted afterwards."""
    store = await owner.create_store("Real Woo", engine="woocommerce")
    namespace = store["namespace"]

    def database_ready() -> bool:
        found = kubectl("get", "statefulset", "mariadb", "-n", namespace, "--ignore-not-found",
                        "-o", "json")  # fmt: skip
        return bool(found.strip()) and json.loads(found)["status"].get("readyReplicas") == 1

    await platform.until(database_ready, "MariaDB of the WooCommerce store", within=300)
    yield store
    await platform.delete_stores(owner, kubectl, [store])


def _database_pod(kubectl: Kubectl, namespace: str) -> dict[str, Any]:
    return dict(kubectl.get("pods", "-n", namespace, "-l", DATABASE)["items"][0])


def test_mariadb_runs_under_the_charts_security_context_and_passes_its_probes(
    woo: dict[str, Any], kubectl: Kubectl
) -> None:
    namespace = woo["namespace"]
    pod = _database_pod(kubectl, namespace)
    name = pod["metadata"]["name"]
    container = pod["spec"]["containers"][0]
    status = pod["status"]["containerStatuses"][0]

    assert {"startupProbe", "readinessProbe", "livenessProbe"} <= set(container)
    assert status["ready"] and status["started"] and status["restartCount"] == 0
    assert pod["spec"]["securityContext"]["runAsUser"] == 999
    assert kubectl.exec(namespace, name, "id", "-u").stdout.strip() == "999"
    written = kubectl.exec(namespace, name, "touch", "/probe")
    assert "Read-only file system" in written.stderr, written
    # The probe's own command, as the kubelet runs it.
    probe = kubectl.exec(namespace, name, *container["readinessProbe"]["exec"]["command"])
    assert probe.returncode == 0, probe.stderr


def _connects(kubectl: Kubectl, namespace: str, pod: str, host: str, port: str) -> bool:
    done = kubectl.exec(namespace, pod, "bash", "-c", BASH_CONNECT, host, port)
    return done.returncode == 0


def test_the_guardrails_apply_to_its_pods_with_real_traffic(
    woo: dict[str, Any], kubectl: Kubectl
) -> None:
    namespace = woo["namespace"]
    labels = kubectl.get("namespace", namespace)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    quota = kubectl.get("resourcequota", "-n", namespace)["items"][0]["status"]
    assert quota["used"]["requests.memory"] not in ("0", None)  # MariaDB's pod counts

    # The web pods' flow to the database (WordPress cannot run here: a pod with its
    # labels stands in), and nobody else's.
    web = toolbox_pod("web", namespace, ["sleep", "infinity"], labels=WEB_LABELS)
    other = toolbox_pod("other", namespace, ["sleep", "infinity"])
    kubectl.apply(web, other)
    kubectl.wait_ready(namespace, "web", "other")
    database = _database_pod(kubectl, namespace)["metadata"]["name"]
    # curl's telnet:// prints what the server sends first: MariaDB's greeting.
    probe = ["sh", "-c", "curl -s --max-time 3 telnet://mariadb:3306 | tr -dc a-z_"]
    assert "mysql_native_password" in kubectl.exec(namespace, "web", *probe).stdout
    assert kubectl.exec(namespace, "other", *probe).stdout == ""
    assert not _connects(kubectl, namespace, database, f"storefleet-postgres.{NAMESPACE}.svc",
                         "5432")  # fmt: skip
    assert not _connects(kubectl, namespace, database, "kubernetes.default.svc", "443")


async def test_the_store_is_held_back_while_wordpress_cannot_be_pulled(
    woo: dict[str, Any], kubectl: Kubectl, owner: Gateway, target: Target
) -> None:
    if wordpress_runs(target, kubectl):
        pytest.skip("WordPress runs on this cluster, so the store is not held back: "
                    "the order test covers it")  # fmt: skip
    namespace = woo["namespace"]
    selector = ",".join(f"{k}={v}" for k, v in WEB_LABELS.items())

    def waiting_reason() -> str:
        pods = kubectl.get("pods", "-n", namespace, "-l", selector)["items"]
        statuses = [s for p in pods for s in p["status"].get("containerStatuses", [])]
        return ",".join(s["state"].get("waiting", {}).get("reason", "") for s in statuses)

    await platform.until(lambda: "ImagePull" in waiting_reason() or "ErrImage" in
                         waiting_reason(), "WordPress's image pull to fail", 120)  # fmt: skip
    assert (await owner.store(woo["id"]))["status"] == "provisioning"
    assert kubectl("get", "ingress", "-n", namespace, "-o", "name").strip() == ""


# -- where WordPress can run --------------------------------------------------------------


def _wp_cli(kubectl: Kubectl, namespace: str, *args: str) -> str:
    """wp-cli in the store, in a Job shaped like its setup Job; its output."""
    template = copy.deepcopy(kubectl.get("job", "wordpress-setup", "-n", namespace)["spec"]
                             ["template"])  # fmt: skip
    for key in list(template["metadata"].get("labels", {})):
        if "controller-uid" in key or "job-name" in key:
            del template["metadata"]["labels"][key]
    template["spec"]["containers"][0]["command"] = ["wp", *args]
    name = f"e2e-{uuid.uuid4().hex[:6]}"
    kubectl.apply({"apiVersion": "batch/v1", "kind": "Job",
                   "metadata": {"name": name, "namespace": namespace},
                   "spec": {"backoffLimit": 0, "template": template}})  # fmt: skip
    deadline = time.monotonic() + 300
    while not kubectl.get("job", name, "-n", namespace)["status"].get("succeeded"):
        assert not kubectl.get("job", name, "-n", namespace)["status"].get("failed"), args
        assert time.monotonic() < deadline, f"wp {' '.join(args)} did not finish"
        time.sleep(2)
    return kubectl("logs", "-n", namespace, f"job/{name}", "-c", "wp-cli").strip()


async def _place_cod_order(ingress_url: str, slug: str, product_id: int) -> dict[str, Any]:
    """Guest checkout through the WooCommerce Store API, paying cash on delivery."""
    address = {"first_name": "Ada", "last_name": "Lovelace", "address_1": "1 Market St",
               "city": "San Francisco", "state": "CA", "postcode": "94103", "country": "US",
               "email": "ada@example.com", "phone": "5550100"}  # fmt: skip

    def url(route: str) -> str:
        return f"{ingress_url}/?rest_route=/wc/store/v1/{route}"

    async with platform.shop(slug) as http:
        async with http.get(url("cart")) as resp:
            assert resp.status == 200, await resp.text()
            headers = {"Cart-Token": resp.headers["Cart-Token"]}
        item = {"id": product_id, "quantity": 1}
        async with http.post(url("cart/add-item"), json=item, headers=headers) as resp:
            assert resp.status in (200, 201), await resp.text()
        body = {"billing_address": address, "shipping_address": address, "payment_method": "cod"}
        async with http.post(url("checkout"), json=body, headers=headers) as resp:
            assert resp.status == 200, await resp.text()
            return dict(await resp.json())


async def test_a_woocommerce_store_takes_a_cash_on_delivery_order_and_is_deleted(
    owner: Gateway, kubectl: Kubectl, target: Target
) -> None:
    if not wordpress_runs(target, kubectl):
        pytest.skip("the WordPress and WooCommerce images cannot be fetched on this machine "
                    "(no registry); set STOREFLEET_E2E_KUBECONFIG to a cluster that can pull "
                    "docker.io/library/wordpress to run this test")  # fmt: skip
    async with owner.watch() as watch:
        store = await owner.create_store("E2E Woo", engine="woocommerce")
        outcome = await watch.outcome(store["id"], within=960)
    assert outcome.event == "ready", outcome.data
    namespace = store["namespace"]
    product = int(_wp_cli(kubectl, namespace, "wc", "product", "create", "--name=E2E Mug",
                          "--regular_price=9.50", "--virtual=true", "--status=publish",
                          f"--user={ADMIN}", "--porcelain"))  # fmt: skip
    order = await _place_cod_order(target.ingress_url, store["slug"], product)
    assert order["payment_method"] == "cod"
    method = _wp_cli(kubectl, namespace, "wc", "shop_order", "get", str(order["order_id"]),
                     "--field=payment_method", f"--user={ADMIN}")  # fmt: skip
    assert method == "cod"
    await platform.delete_stores(owner, kubectl, [store])
