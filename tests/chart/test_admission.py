"""What the provisioner and the reaper may write inside a store namespace, refused by the
chart's admission policies on a real API server: requests impersonate their service
accounts, as in tests/chart/test_least_privilege.py.

A store's Ingress may name only its own host (`<slug>.<stores.baseDomain>`) and carry only
the annotations the engine charts use; its Services are ClusterIP without externalIPs.
A custom domain's Ingress and Certificate (services/reaper/domain_objects.py) are the
reaper's alone, and may name only a domain the reaper has listed as verified in the
namespace's ConfigMap `storefleet-domains`, which only the reaper writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
import yaml
from kubernetes_asyncio.client import ApiClient, CoreV1Api, NetworkingV1Api
from kubernetes_asyncio.client.exceptions import ApiException

from services.provisioner.kubeapi import StoreKube
from services.reaper import domain_objects
from services.reaper.domain_certs import DomainKube
from services.reaper.domain_objects import CUSTOM_DOMAIN
from shared.namespaces import store_labels
from tests.chart import helm, kube
from tests.chart.conftest import RESTRICTED, ActAs, Platform
from tests.chart.test_least_privilege import POLICY, refused

pytestmark = pytest.mark.cluster

LOCAL_VALUES = yaml.safe_load((helm.CHART / "values-local.yaml").read_text())
BASE_DOMAIN = LOCAL_VALUES["stores"]["baseDomain"]
DASHBOARD_HOST = LOCAL_VALUES["dashboard"]["host"]


@dataclass(frozen=True)
class Store:
    """A store namespace named as the gateway names them, and its one host."""

    namespace: str
    host: str
    store_id: str


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
        return Store(name, f"{slug}.{BASE_DOMAIN}", store_id)

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


# -- Custom domains ------------------------------------------------------------------------
# The reaper, once it has verified a domain for a store, lists it in the namespace's
# ConfigMap storefleet-domains and applies the domain's Ingress and Certificate: the
# objects services/reaper/domain_objects.py builds, used here as they are.


def owned_domain() -> tuple[str, str]:
    """A domain a store's owner may verify, and the id the platform gives it."""
    domain_id = str(uuid.uuid4())
    return f"shop-{domain_id[:8]}.example.org", domain_id


def domain_ingress(shop: Store, domain: str, domain_id: str) -> dict[str, Any]:
    return domain_objects.ingress(
        shop.namespace, shop.store_id, domain_id, domain, "woocommerce", "traefik"
    )


def domain_certificate(shop: Store, domain: str, domain_id: str) -> dict[str, Any]:
    return domain_objects.certificate(
        shop.namespace, shop.store_id, domain_id, domain, "letsencrypt", "ClusterIssuer"
    )


def verified_domains(shop: Store, domains: dict[str, str]) -> dict[str, Any]:
    return domain_objects.allowed_domains(shop.namespace, shop.store_id, domains)


# What the API server answers when a binding's parameter is missing: it cannot configure
# the binding, and the policy's failurePolicy (Fail) refuses the request as invalid.
NO_LIST = (422, "no params found")


def no_verified_domains(exc: ApiException) -> bool:
    return exc.status == NO_LIST[0] and NO_LIST[1] in str(exc.body)


# Why the custom-domains policy refuses an object naming a host it should not.
NOT_VERIFIED = "may name only the domain verified for the store"


async def eventually(call: Callable[[], Awaitable[Any]], timeout: float = 60.0) -> Any:
    """`call()`'s result once the API server admits it: it reads a new storefleet-domains
    through an informer, some time after it is written (until then: the list's previous
    version, or none)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            return await call()
        except ApiException as exc:
            if not (exc.status == 403 or no_verified_domains(exc)):
                raise
            if asyncio.get_running_loop().time() > deadline:
                raise
        await asyncio.sleep(0.2)


async def verify(reaper: ApiClient, shop: Store, domains: dict[str, str]) -> None:
    """What the reaper does once it has verified `domains` for `shop`: list them. Then
    wait until the API server admits the first one's Ingress. First, while the list is not
    there, until the API server refuses that Ingress for want of it: the custom-domains
    policy is loaded."""
    first = domain_ingress(shop, *next(iter(domains.items())))
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        try:
            await kube.apply(reaper, first, dry_run=True)
            answer = "admitted"
        except ApiException as exc:
            answer = f"{exc.status}: {exc.body!r}"
            if no_verified_domains(exc) and "custom-domains" in answer:
                break
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"the custom-domains policy was not enforced in 60 s: {answer}")
        await asyncio.sleep(0.2)
    await kube.apply(reaper, verified_domains(shop, domains))
    await eventually(lambda: kube.apply(reaper, first, dry_run=True))


@pytest.fixture
async def reaper(platform: Platform, act_as: ActAs) -> ApiClient:
    return await act_as(platform.user("reaper"))


async def test_the_reaper_may_serve_a_domain_verified_for_the_store(
    reaper: ApiClient, store: MakeStore
) -> None:
    shop = await store()
    domain, domain_id = owned_domain()
    await verify(reaper, shop, {domain: domain_id})

    served = await kube.apply(reaper, domain_ingress(shop, domain, domain_id))

    assert [rule["host"] for rule in served["spec"]["rules"]] == [domain]
    assert served["spec"]["tls"][0]["hosts"] == [domain]


async def test_a_custom_domain_ingress_is_refused_while_its_store_has_no_verified_domains(
    reaper: ApiClient, store: MakeStore
) -> None:
    shop, neighbour = await store(), await store()
    domain, domain_id = owned_domain()
    await verify(reaper, neighbour, {domain: domain_id})  # listed in another namespace only

    with pytest.raises(ApiException) as refusal:
        await kube.apply(reaper, domain_ingress(shop, domain, domain_id))

    assert no_verified_domains(refusal.value), refusal.value.body
    assert POLICY in str(refusal.value.body) and "custom-domains" in str(refusal.value.body)


async def test_a_custom_domain_ingress_may_name_only_a_domain_verified_for_its_store(
    reaper: ApiClient, store: MakeStore
) -> None:
    shop, neighbour = await store(), await store()
    (domain, domain_id), (theirs, their_id), (other, other_id) = (owned_domain() for _ in "abc")
    await verify(reaper, shop, {domain: domain_id})
    await verify(reaper, neighbour, {theirs: their_id})

    for host, name_id in [
        (other, other_id),  # verified for no store
        (theirs, their_id),  # verified for another store
        (f"*.{domain}", domain_id),  # every name under its domain
        (f"www.{domain}", domain_id),  # a name under it
        (shop.host, domain_id),  # the store's own host is no custom domain
        (domain, other_id),  # its domain, under another domain's name
    ]:
        hostile = domain_ingress(shop, host, name_id)
        assert NOT_VERIFIED in await refused(kube.apply(reaper, hostile)), host
    two_hosts = domain_ingress(shop, domain, domain_id)
    two_hosts["spec"]["rules"].append({**two_hosts["spec"]["rules"][0], "host": other})
    other_tls = domain_ingress(shop, domain, domain_id)
    other_tls["spec"]["tls"][0]["hosts"] = [other]
    no_host = domain_ingress(shop, domain, domain_id)
    del no_host["spec"]["rules"][0]["host"]
    for hostile in (two_hosts, other_tls, no_host):
        assert NOT_VERIFIED in await refused(kube.apply(reaper, hostile))


async def test_a_custom_domain_ingress_may_not_catch_other_traffic_or_configure_the_controller(
    reaper: ApiClient, store: MakeStore
) -> None:
    shop = await store()
    domain, domain_id = owned_domain()
    await verify(reaper, shop, {domain: domain_id})
    catch_all = domain_ingress(shop, domain, domain_id)
    catch_all["spec"]["defaultBackend"] = {"service": {"name": "web", "port": {"number": 80}}}
    snippet = domain_ingress(shop, domain, domain_id)
    annotation = "nginx.ingress.kubernetes.io/server-snippet"
    snippet["metadata"]["annotations"] = {annotation: CONTROLLER_CONFIGURATION[annotation]}

    assert "default backend" in await refused(kube.apply(reaper, catch_all))
    assert annotation in await refused(kube.apply(reaper, snippet))


async def test_only_the_reaper_writes_a_stores_verified_domains_and_their_ingresses(
    platform: Platform, act_as: ActAs, reaper: ApiClient, store: MakeStore
) -> None:
    shop, unlisted = await store(), await store()
    domain, domain_id = owned_domain()
    await verify(reaper, shop, {domain: domain_id})
    provisioner = await as_provisioner(platform, act_as)
    other, other_id = owned_domain()

    # The provisioner: not the list, whether applied or created, nor a domain's Ingress,
    # nor an Ingress of its own for the domain.
    only_the_reaper = "only the reaper writes"
    listing = verified_domains(shop, {other: other_id})
    assert only_the_reaper in await refused(provisioner.apply(listing))
    listing = verified_domains(unlisted, {other: other_id})
    assert only_the_reaper in await refused(provisioner.create(listing))
    served = domain_ingress(shop, domain, domain_id)
    assert only_the_reaper in await refused(provisioner.apply(served))
    own = ingress(shop.namespace, [domain], tls=[domain])
    assert "only the store host" in await refused(provisioner.apply(own))
    # The reaper: no Ingress but a custom domain's, not even for the store's own host.
    plain = ingress(shop.namespace, [shop.host])
    assert "the reaper writes only" in await refused(kube.apply(reaper, plain))
    assert POLICY in await refused(kube.apply(reaper, ingress(shop.namespace, [domain])))
    listed = await CoreV1Api(reaper).read_namespaced_config_map(
        domain_objects.ALLOWED_DOMAINS, shop.namespace
    )
    assert listed.data == {domain: domain_id}


async def test_removing_the_custom_domain_label_lets_no_other_host_through(
    platform: Platform, act_as: ActAs, reaper: ApiClient, store: MakeStore, kube_api: ApiClient
) -> None:
    shop = await store()
    domain, domain_id = owned_domain()
    await verify(reaper, shop, {domain: domain_id})
    await kube.apply(reaper, domain_ingress(shop, domain, domain_id))
    provisioner = await as_provisioner(platform, act_as)

    for host in ("pay.example.com", shop.host, domain):
        for value in (None, "false"):
            relabelled = domain_ingress(shop, host, domain_id)
            labels = relabelled["metadata"]["labels"]
            if value is None:
                del labels[CUSTOM_DOMAIN]
            else:
                labels[CUSTOM_DOMAIN] = value
            assert POLICY in await refused(kube.apply(reaper, relabelled)), (host, value)
            assert POLICY in await refused(provisioner.apply(relabelled)), (host, value)

    served = await NetworkingV1Api(kube_api).read_namespaced_ingress(
        domain_objects.object_name(domain_id), shop.namespace
    )
    assert served.metadata.labels[CUSTOM_DOMAIN] == "true"
    assert [rule.host for rule in served.spec.rules] == [domain]


async def test_the_reaper_deletes_only_custom_domain_ingresses(
    platform: Platform, act_as: ActAs, reaper: ApiClient, store: MakeStore
) -> None:
    shop = await store()
    domain, domain_id = owned_domain()
    await verify(reaper, shop, {domain: domain_id})
    served = await kube.apply(reaper, domain_ingress(shop, domain, domain_id))
    provisioner = await as_provisioner(platform, act_as)
    own = await provisioner.apply(ingress(shop.namespace, [shop.host]))

    assert "the reaper writes only" in await refused(kube.delete(reaper, own))
    await kube.delete(reaper, served)
    assert "cannot delete" in await refused(
        kube.delete(await act_as(platform.user("provisioner")), own)
    )


@pytest.mark.usefixtures("certmanager_crds")
async def test_the_reapers_adapter_serves_a_domain_right_after_listing_it(
    reaper: ApiClient, store: MakeStore, kube_api: ApiClient
) -> None:
    """As the issuer does it: list, then at once the Certificate and the Ingress, with
    the adapter's retries over the policy's lagging view of the list; then remove all."""
    adapter = DomainKube(reaper)
    for _ in range(3):
        shop = await store()
        domain, domain_id = owned_domain()
        await adapter.apply(verified_domains(shop, {domain: domain_id}))
        await adapter.apply_listed(domain_certificate(shop, domain, domain_id))
        await adapter.apply_listed(domain_ingress(shop, domain, domain_id))

        assert (await adapter.certificate(shop.namespace, domain_id) or {})["spec"]["dnsNames"] == [
            domain
        ]
        await adapter.remove(shop.namespace, domain_id)
        assert await adapter.certificate(shop.namespace, domain_id) is None
        routes = await NetworkingV1Api(kube_api).list_namespaced_ingress(shop.namespace)
        assert routes.items == []


async def test_the_reaper_deletes_only_a_custom_domains_key_secret(
    reaper: ApiClient, store: MakeStore, kube_api: ApiClient
) -> None:
    shop = await store()
    _, domain_id = owned_domain()
    core = CoreV1Api(kube_api)
    for name in (domain_objects.secret_name(domain_id), "store-secret", "domain-x-tls"):
        await core.create_namespaced_secret(shop.namespace, {"metadata": {"name": name}})

    def secret(name: str) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": name, "namespace": shop.namespace}}  # fmt: skip

    for name in ("store-secret", "domain-x-tls"):
        message = await refused(kube.delete(reaper, secret(name)))
        assert "may only delete the key Secret" in message
    assert "cannot patch" in await refused(kube.apply(reaper, secret("domain-new-tls")))
    with pytest.raises(ApiException) as unread:
        await CoreV1Api(reaper).read_namespaced_secret("store-secret", shop.namespace)
    assert unread.value.status == 403
    await kube.delete(reaper, secret(domain_objects.secret_name(domain_id)))
    left = await core.list_namespaced_secret(shop.namespace)
    assert sorted(s.metadata.name for s in left.items) == ["domain-x-tls", "store-secret"]


async def test_the_verified_domains_never_list_the_platforms_own_names(
    reaper: ApiClient, store: MakeStore
) -> None:
    shop, neighbour = await store(), await store()

    for name in (neighbour.host, BASE_DOMAIN, f"admin.{neighbour.host}", DASHBOARD_HOST,
                 f"api.{DASHBOARD_HOST}"):  # fmt: skip
        listing = verified_domains(shop, {name: str(uuid.uuid4())})
        message = await refused(kube.apply(reaper, listing))
        assert "may not list a name of the platform" in message and name in message


@pytest.mark.usefixtures("certmanager_crds")
async def test_a_custom_domain_certificate_may_name_only_a_domain_verified_for_its_store(
    reaper: ApiClient, store: MakeStore
) -> None:
    shop = await store()
    domain, domain_id = owned_domain()
    other, other_id = owned_domain()
    await verify(reaper, shop, {domain: domain_id})

    issued = await kube.apply(reaper, domain_certificate(shop, domain, domain_id))

    assert issued["spec"]["dnsNames"] == [domain]
    assert issued["spec"]["secretName"] == domain_objects.secret_name(domain_id)
    hostile = [
        (domain_certificate(shop, other, other_id), NOT_VERIFIED),
        (domain_certificate(shop, domain, other_id), NOT_VERIFIED),  # under another's name
        (domain_certificate(shop, f"*.{domain}", domain_id), NOT_VERIFIED),
    ]
    for field, value, why in [
        ("commonName", other, NOT_VERIFIED),
        ("ipAddresses", ["203.0.113.7"], "DNS names only"),
        ("uris", ["spiffe://storefleet/gateway"], "DNS names only"),
        ("emailAddresses", ["a@example.org"], "DNS names only"),
        ("literalSubject", f"CN={other}", "DNS names only"),
        ("isCA", True, "is no CA"),
        ("secretName", "store-secret", "only the Secret named after it"),
    ]:
        certificate = domain_certificate(shop, domain, domain_id)
        certificate["spec"][field] = value
        hostile.append((certificate, why))
    unlabelled = domain_certificate(shop, domain, domain_id)
    del unlabelled["metadata"]["labels"][CUSTOM_DOMAIN]
    hostile.append((unlabelled, "the reaper writes only"))
    for certificate, why in hostile:
        assert why in await refused(kube.apply(reaper, certificate)), certificate["spec"]


@pytest.mark.usefixtures("certmanager_crds")
async def test_the_provisioner_may_not_write_a_certificate(
    platform: Platform, act_as: ActAs, reaper: ApiClient, store: MakeStore
) -> None:
    shop = await store()
    domain, domain_id = owned_domain()
    await verify(reaper, shop, {domain: domain_id})
    provisioner = await act_as(platform.user("provisioner"))

    # RBAC grants it no Certificates; the admission policy would refuse them too.
    for host in (domain, shop.host):
        certificate = domain_certificate(shop, host, domain_id)
        assert "cannot patch resource" in await refused(kube.apply(provisioner, certificate))
