"""What the provisioner may write inside a store namespace, refused by the chart's
admission policy on a real API server: requests impersonate the provisioner's service
account, as in tests/chart/test_least_privilege.py.

A store's Ingress may name only its own host (`<slug>.<stores.baseDomain>`) and carry only
the annotations the engine charts use; its Services are ClusterIP without externalIPs.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
import yaml
from kubernetes_asyncio.client import ApiClient, CoreV1Api
from kubernetes_asyncio.client.exceptions import ApiException

from services.provisioner.kubeapi import StoreKube
from shared.namespaces import store_labels
from tests.chart import helm
from tests.chart.conftest import RESTRICTED, ActAs, Platform
from tests.chart.test_least_privilege import POLICY, refused

pytestmark = pytest.mark.cluster

BASE_DOMAIN = yaml.safe_load((helm.CHART / "values-local.yaml").read_text())["stores"]["baseDomain"]


@dataclass(frozen=True)
class Store:
    """A store namespace named as the gateway names them, and its one host."""

    namespace: str
    host: str


MakeStore = Callable[[], Awaitable[Store]]


@pytest.fixture
async def store(kube_api: ApiClient) -> AsyncIterator[MakeStore]:
    core = CoreV1Api(kube_api)
    made: list[str] = []

    async def make() -> Store:
        store_id = str(uuid.uuid4())
        slug = f"shop-{store_id[:4]}"
        name = f"store-{slug}-{store_id.replace('-', '')[:6]}"
        labels = {**store_labels(store_id, "woocommerce"), **RESTRICTED}
        await core.create_namespace({"metadata": {"name": name, "labels": labels}})
        made.append(name)
        return Store(name, f"{slug}.{BASE_DOMAIN}")

    yield make
    for name in made:
        with contextlib.suppress(ApiException):
            await core.delete_namespace(name)


def ingress(
    namespace: str, hosts: list[str | None], tls: list[str] | None = None, **annotations: str
) -> dict[str, Any]:
    backend = {"service": {"name": "web", "port": {"number": 80}}}
    path = {"path": "/", "pathType": "Prefix", "backend": backend}
    rules = [{**({"host": h} if h else {}), "http": {"paths": [path]}} for h in hosts]
    spec: dict[str, Any] = {"ingressClassName": "nginx", "rules": rules}
    if tls is not None:
        spec["tls"] = [{"hosts": tls, "secretName": "store-tls"}]
    metadata = {"name": "web", "namespace": namespace, "annotations": annotations}
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": metadata,
            "spec": spec}  # fmt: skip


def service(namespace: str, **spec: Any) -> dict[str, Any]:
    ports = [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": namespace},
            "spec": {"selector": {"app": "web"}, "ports": ports, **spec}}  # fmt: skip


async def as_provisioner(platform: Platform, act_as: ActAs) -> StoreKube:
    return StoreKube(await act_as(platform.user("provisioner")))


# -- Ingress hosts -------------------------------------------------------------------------


async def test_a_store_ingress_may_name_only_its_own_host(
    platform: Platform, act_as: ActAs, store: MakeStore
) -> None:
    kube = await as_provisioner(platform, act_as)
    shop, neighbour = await store(), await store()

    for hosts in (
        ["pay.example.com"],  # outside the stores' base domain
        [neighbour.host],  # another store's host
        [f"*.{BASE_DOMAIN}"],  # every store's host
        [f"admin.{shop.host}"],  # below its own host
        [shop.host, "pay.example.com"],  # its own plus another
        [None],  # no host: every host the controller serves
    ):
        assert POLICY in await refused(kube.apply(ingress(shop.namespace, hosts))), hosts
    own_rules_other_tls = ingress(shop.namespace, [shop.host], tls=["pay.example.com"])
    assert POLICY in await refused(kube.apply(own_rules_other_tls))
    tls_without_hosts = ingress(shop.namespace, [shop.host], tls=[])
    assert POLICY in await refused(kube.apply(tls_without_hosts))

    applied = await kube.apply(ingress(shop.namespace, [shop.host], tls=[shop.host]))

    assert [rule["host"] for rule in applied["spec"]["rules"]] == [shop.host]


async def test_a_store_ingress_may_not_have_a_default_backend(
    platform: Platform, act_as: ActAs, store: MakeStore
) -> None:
    kube = await as_provisioner(platform, act_as)
    shop = await store()
    catch_all = ingress(shop.namespace, [shop.host])
    catch_all["spec"]["defaultBackend"] = {"service": {"name": "web", "port": {"number": 80}}}

    message = await refused(kube.apply(catch_all))

    assert POLICY in message and "default backend" in message


# -- Ingress annotations -------------------------------------------------------------------

CONTROLLER_CONFIGURATION = {
    "nginx.ingress.kubernetes.io/configuration-snippet": "more_set_headers 'X: y';",
    "nginx.ingress.kubernetes.io/server-snippet": "location /x { proxy_pass http://10.0.0.1; }",
    "nginx.ingress.kubernetes.io/auth-snippet": "proxy_set_header X-Key $http_x;",
    "nginx.ingress.kubernetes.io/stream-snippet": "server { listen 9000; }",
    "nginx.ingress.kubernetes.io/auth-url": "http://storefleet-gateway.storefleet.svc/",
    "nginx.ingress.kubernetes.io/mirror-target": "http://postgres.storefleet.svc:5432",
    "nginx.ingress.kubernetes.io/upstream-vhost": "storefleet-gateway.storefleet.svc",
    "traefik.ingress.kubernetes.io/router.middlewares": "storefleet-admin-auth@kubernetescrd",
    "traefik.ingress.kubernetes.io/router.entrypoints": "internal-admin",
    "traefik.ingress.kubernetes.io/router.tls.options": "storefleet-weak@kubernetescrd",
}


@pytest.mark.parametrize("annotation", sorted(CONTROLLER_CONFIGURATION))
async def test_a_store_ingress_may_not_configure_the_ingress_controller(
    platform: Platform, act_as: ActAs, store: MakeStore, annotation: str
) -> None:
    kube = await as_provisioner(platform, act_as)
    shop = await store()
    hostile = ingress(shop.namespace, [shop.host])
    hostile["metadata"]["annotations"][annotation] = CONTROLLER_CONFIGURATION[annotation]

    message = await refused(kube.apply(hostile))

    assert POLICY in message and annotation in message
    assert CONTROLLER_CONFIGURATION[annotation] not in message


async def test_a_store_ingress_may_carry_the_annotations_the_engines_use(
    platform: Platform, act_as: ActAs, store: MakeStore
) -> None:
    kube = await as_provisioner(platform, act_as)
    shop = await store()
    used = {"nginx.ingress.kubernetes.io/proxy-body-size": "64m",
            "cert-manager.io/cluster-issuer": "letsencrypt"}  # fmt: skip

    applied = await kube.apply(ingress(shop.namespace, [shop.host], **used))

    assert applied["metadata"]["annotations"] == used


# -- Services ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "LoadBalancer"},
        {"type": "NodePort"},
        {"type": "ExternalName", "externalName": "storefleet-postgres.storefleet.svc"},
        {"type": "ClusterIP", "externalIPs": ["203.0.113.7"]},
    ],
    ids=["load-balancer", "node-port", "external-name", "external-ips"],
)
async def test_a_store_service_is_cluster_ip_only_without_external_ips(
    platform: Platform, act_as: ActAs, store: MakeStore, spec: dict[str, Any]
) -> None:
    kube = await as_provisioner(platform, act_as)
    shop = await store()

    message = await refused(kube.apply(service(shop.namespace, **spec)))

    assert POLICY in message


def paused(namespace: str, name: str, target: str) -> dict[str, Any]:
    body = service(namespace, type="ExternalName", externalName=target)
    body["metadata"]["name"] = name
    del body["spec"]["selector"]
    return body


async def test_the_one_external_name_service_is_the_paused_page_under_its_name(
    platform: Platform, act_as: ActAs, store: MakeStore
) -> None:
    kube = await as_provisioner(platform, act_as)
    shop = await store()
    gateway = f"{platform.release}-gateway.{platform.namespace}.svc.cluster.local"

    made = await kube.apply(paused(shop.namespace, "storefleet-paused", gateway))

    assert made["spec"]["externalName"] == gateway
    # Another name for the same target, or the paused name for any other target: refused.
    for name, target in [
        ("web", gateway),
        (
            "storefleet-paused",
            f"{platform.release}-postgres.{platform.namespace}.svc.cluster.local",
        ),
        ("storefleet-paused", "203.0.113.7"),
        ("storefleet-paused", gateway + ".evil.example"),
    ]:
        message = await refused(kube.apply(paused(shop.namespace, name, target)))
        assert POLICY in message


async def test_a_store_may_have_cluster_ip_and_headless_services(
    platform: Platform, act_as: ActAs, store: MakeStore
) -> None:
    kube = await as_provisioner(platform, act_as)
    shop = await store()

    plain = await kube.apply(service(shop.namespace))
    headless = service(shop.namespace, clusterIP="None")
    headless["metadata"]["name"] = "db"

    assert plain["spec"]["type"] == "ClusterIP"
    assert (await kube.apply(headless))["spec"]["clusterIP"] == "None"
