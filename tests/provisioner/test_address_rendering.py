"""The engine charts rendered for a store on its primary domain, with each values file:
WordPress (web, setup and cron) takes the domain's address as STORE_URL, hence its home
and siteurl; Medusa takes it as its URL and allows it, beside its own host, in its CORS
lists; the store's own Ingress keeps its platform host either way. And the address
itself: https only for a domain served with a certificate, the ingress controller's port
only for the stores' own scheme. `helm template` only, no cluster."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from services.provisioner.engines import ENGINES
from services.provisioner.render import EngineManifests, Renderer, engine_manifests
from services.provisioner.spec import Cluster, StoreSpec, on_primary, primary_url, store_spec
from shared.events import DomainPrimary, new_event
from shared.plans import DEFAULT_PLANS
from tests.chart.helm import KUBE_VERSION

CHARTS = Path(__file__).resolve().parents[2] / "charts" / "engines"
PROFILES = ("none", "local", "prod")
DOMAIN = "shop.example.org"


def cluster_shape(tls_issuer: str = "letsencrypt", public_port: int | None = None) -> Cluster:
    return Cluster(
        base_domain="stores.example.com",
        ingress_class="nginx",
        ingress_namespace="ingress-nginx",
        platform_namespace="storefleet",
        dns_namespace="kube-system",
        storage_class="",
        tls_issuer=tls_issuer,
        egress_blocked_cidrs=(),
        values_profile="none",
        country="DE:BE",
        currency="EUR",
        public_port=public_port,
    )


def a_store(engine: str, cluster: Cluster) -> StoreSpec:
    token = uuid.uuid4().hex[:8]
    data = {"name": "Corner Shop", "slug": f"corner-{token}", "engine": engine, "plan": "small",
            "owner": "user-1", "namespace": f"store-corner-{token}"}  # fmt: skip
    event = new_event("requested", str(uuid.uuid4()), data, actor="user-1", correlation_id="t")
    return store_spec(event, cluster, DEFAULT_PLANS, ENGINES)  # type: ignore[arg-type]


def primary(domain: str | None, tls: bool = True) -> DomainPrimary:
    return DomainPrimary(
        operation_id=str(uuid.uuid4()),
        domain_id=str(uuid.uuid4()) if domain else None,
        domain=domain,
        tls=tls,
        reason="owner",
        requested_by="user-1",
    )


async def render(helm: Path, spec: StoreSpec, profile: str) -> EngineManifests:
    renderer = Renderer(str(helm), CHARTS, profile, KUBE_VERSION, 60)
    return engine_manifests(await renderer.render(spec, cluster_shape()), spec)


def named(engine: EngineManifests, kind: str, name: str) -> dict[str, Any]:
    return next(m for m in engine.workloads if m["kind"] == kind and m["metadata"]["name"] == name)


def env(manifest: dict[str, Any], container: str) -> dict[str, str]:
    spec = manifest["spec"]
    if manifest["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    [found] = [c for c in spec["template"]["spec"]["containers"] if c["name"] == container]
    return {e["name"]: e["value"] for e in found["env"] if "value" in e}


def hosts(engine: EngineManifests) -> list[str]:
    return [rule["host"] for ingress in engine.ingress for rule in ingress["spec"]["rules"]]


@pytest.mark.parametrize("profile", PROFILES)
async def test_wordpress_takes_its_primary_domains_address_and_keeps_its_own_host(
    helm_binary: Path, profile: str
) -> None:
    spec = on_primary(a_store("woocommerce", cluster_shape()), primary(DOMAIN), cluster_shape())

    engine = await render(helm_binary, spec, profile)

    for manifest, container in (
        (named(engine, "Deployment", "wordpress"), "wordpress"),
        (named(engine, "Job", "wordpress-setup"), "wp-cli"),
        (named(engine, "CronJob", "wordpress-cron"), "wp-cli"),
    ):
        assert env(manifest, container)["STORE_URL"] == f"https://{DOMAIN}", manifest["kind"]
    assert hosts(engine) == [spec.host]
    assert engine.ingress[0]["spec"]["tls"][0]["hosts"] == [spec.host]


@pytest.mark.parametrize("profile", PROFILES)
async def test_medusa_takes_its_primary_domains_address_and_allows_it_with_its_host(
    helm_binary: Path, profile: str
) -> None:
    store = a_store("medusa", cluster_shape())
    spec = on_primary(store, primary(DOMAIN), cluster_shape())

    engine = await render(helm_binary, spec, profile)

    own = f"https://{store.host}"
    for manifest, container in (
        (named(engine, "Deployment", "medusa"), "medusa"),
        (named(engine, "Job", "medusa-setup"), "setup"),
    ):
        found = env(manifest, container)
        assert found["STORE_URL"] == f"https://{DOMAIN}"
        for cors in ("STORE_CORS", "ADMIN_CORS", "AUTH_CORS"):
            assert found[cors] == f"https://{DOMAIN},{own}", (manifest["kind"], cors)
    assert hosts(engine) == [spec.host]

    # On its own host only, the lists hold that alone.
    plain = await render(helm_binary, store, profile)
    found = env(named(plain, "Deployment", "medusa"), "medusa")
    assert (found["STORE_URL"], found["STORE_CORS"], found["AUTH_CORS"]) == (own, own, own)


def test_a_primary_domain_is_https_only_when_served_with_a_certificate() -> None:
    https = cluster_shape()
    local = cluster_shape(tls_issuer="", public_port=18080)

    assert primary_url(DOMAIN, True, https) == f"https://{DOMAIN}"
    assert primary_url(DOMAIN, False, https) == f"http://{DOMAIN}"
    # The controller's port belongs to the stores' own scheme.
    assert primary_url(DOMAIN, False, local) == f"http://{DOMAIN}:18080"
    assert primary_url(DOMAIN, True, local) == f"https://{DOMAIN}"


def test_a_store_without_a_primary_or_sent_back_answers_at_its_own_host() -> None:
    cluster = cluster_shape(tls_issuer="", public_port=18080)
    store = a_store("woocommerce", cluster)
    assert store.url == store.platform_url == f"http://{store.host}:18080"

    moved = on_primary(store, primary(DOMAIN, tls=False), cluster)
    assert (moved.url, moved.primary_domain, moved.host) == (
        f"http://{DOMAIN}:18080", DOMAIN, store.host,
    )  # fmt: skip
    for back in (None, primary(None)):
        returned = on_primary(moved, back, cluster)
        assert (returned.url, returned.primary_domain) == (store.url, None)
