"""The domain issuer with no certificate issuer configured, against a real control plane
(simulated nodes), real Postgres (the reaper's role), real NATS and a real DNS server:
a verified domain of a live store gets its own Ingress (no TLS) and a line in the
namespace's `storefleet-domains` ConfigMap, and is `active` with `domain.active`; one
its owner removes loses both; one of a store not provisioned yet waits in the queue; a
store whose primary domain ends is sent back to its own host, once.

The certificate path (Pebble and cert-manager) is tests/certificates/."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from kubernetes_asyncio.client import ApiClient, CoreV1Api, NetworkingV1Api
from kubernetes_asyncio.client.exceptions import ApiException
from nats.js import JetStreamContext

from services.reaper.cert_plan import CertLimits
from services.reaper.cert_records import CertRecords
from services.reaper.domain_certs import DomainKube
from services.reaper.domain_issuer import DomainIssuer, IssuerConfig
from services.reaper.domain_objects import ALLOWED_DOMAINS, object_name
from shared.domains import challenge_name
from tests.fixtures.dns import TestDns, TestZone
from tests.fixtures.nats import TestStream
from tests.gateway.conftest import stream_messages
from tests.reaper.conftest import MakeNamespace, MakeVerifier, namespace_name, store_labels
from tests.reaper.test_domains import OWNER, add_request, domain_events, state_of

pytestmark = pytest.mark.cluster


async def add_store(
    pool: asyncpg.Pool, make_namespace: MakeNamespace, store_id: str, status: str = "ready"
) -> str:
    """A store as the auditor records it, with its namespace on the cluster."""
    slug = f"shop-{store_id[:8]}"
    namespace = await make_namespace(namespace_name(slug), store_labels(store_id))
    await pool.execute(
        "INSERT INTO store_states (id, owner_id, name, slug, namespace, engine, plan, status)"
        " VALUES ($1, $2, 'Shop', $3, $4, 'woocommerce', 'small', $5)",
        store_id,
        OWNER,
        slug,
        namespace,
        status,
    )
    return namespace


async def route_of(api: ApiClient, namespace: str, domain_id: str) -> Any:
    try:
        return await NetworkingV1Api(api).read_namespaced_ingress(object_name(domain_id), namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


async def allowed_in(api: ApiClient, namespace: str) -> dict[str, str]:
    found = await CoreV1Api(api).read_namespaced_config_map(ALLOWED_DOMAINS, namespace)
    return dict(found.data or {})


async def test_a_verified_domain_is_served_over_http_and_unserved_when_removed(
    pool: asyncpg.Pool,
    reaper_pool: asyncpg.Pool,
    kube_api: ApiClient,
    make_namespace: MakeNamespace,
    make_verifier: MakeVerifier,
    dns_server: TestDns,
    dns_zone: TestZone,
    js: JetStreamContext,
    stream: TestStream,
) -> None:
    domain = dns_zone.name("served")
    request = await add_request(pool, domain)
    namespace = await add_store(pool, make_namespace, request["store_id"])
    waiting = await add_request(pool, dns_zone.name("waiting"))
    await add_store(pool, make_namespace, waiting["store_id"], status="provisioning")
    for each in (request, waiting):
        dns_server.set_txt(challenge_name(each["domain"]), each["token"])
    config = IssuerConfig("", "ClusterIssuer", "traefik", CertLimits())
    issuer = DomainIssuer(CertRecords(reaper_pool), DomainKube(kube_api), config)
    verifier = make_verifier(dns_server.resolver, issuer=issuer)
    now = datetime.now(UTC)

    await verifier.pass_once(now)

    assert await state_of(pool, request) == ("active", None)
    assert await state_of(pool, waiting) == ("verified", None)
    route = await route_of(kube_api, namespace, request["id"])
    assert [r.host for r in route.spec.rules] == [domain]
    assert route.spec.tls is None
    backend = route.spec.rules[0].http.paths[0].backend.service
    assert (backend.name, backend.port.name) == ("wordpress", "http")
    assert route.metadata.labels["storefleet.io/custom-domain"] == "true"
    assert await allowed_in(kube_api, namespace) == {domain: request["id"]}
    assert (await domain_events(js, stream))[-1] == ("domain.active", request["id"])

    await pool.execute("UPDATE domain_requests SET removed_at = now() WHERE id = $1", request["id"])
    await verifier.pass_once(now + timedelta(minutes=1))

    assert await state_of(pool, request) == ("removed", "owner")
    assert await route_of(kube_api, namespace, request["id"]) is None
    assert await allowed_in(kube_api, namespace) == {}
    served = await pool.fetchval("SELECT served FROM domain_states WHERE id = $1", request["id"])
    assert served is False


async def test_a_suspended_stores_domain_shows_the_paused_page_until_it_resumes(
    pool: asyncpg.Pool,
    reaper_pool: asyncpg.Pool,
    kube_api: ApiClient,
    make_namespace: MakeNamespace,
    make_verifier: MakeVerifier,
    dns_server: TestDns,
    dns_zone: TestZone,
) -> None:
    request = await add_request(pool, dns_zone.name("napping"))
    namespace = await add_store(pool, make_namespace, request["store_id"])
    dns_server.set_txt(challenge_name(request["domain"]), request["token"])
    config = IssuerConfig("", "ClusterIssuer", "traefik", CertLimits(), paused_port=8082)
    issuer = DomainIssuer(CertRecords(reaper_pool), DomainKube(kube_api), config)
    verifier = make_verifier(dns_server.resolver, issuer=issuer)
    now = datetime.now(UTC)
    await verifier.pass_once(now)

    async def backend() -> tuple[str, str | None, int | None]:
        route = await route_of(kube_api, namespace, request["id"])
        service = route.spec.rules[0].http.paths[0].backend.service
        return service.name, service.port.name, service.port.number

    assert await backend() == ("wordpress", "http", None)
    for status, expected in (
        ("suspended", ("storefleet-paused", None, 8082)),
        ("resuming", ("wordpress", "http", None)),
    ):
        await pool.execute(
            "UPDATE store_states SET status = $2 WHERE id = $1", request["store_id"], status
        )
        now += timedelta(seconds=30)
        await verifier.pass_once(now)
        assert await backend() == expected, status
    assert await state_of(pool, request) == ("active", None)


async def choose_primary(pool: asyncpg.Pool, request: dict[str, Any]) -> None:
    """The owner's choice of the domain as its store's primary, as the gateway records it."""
    await pool.execute(
        "INSERT INTO store_primary_domains (store_id, domain_id, operation_id, requested_by)"
        " VALUES ($1, $2, $3, $4)",
        request["store_id"],
        request["id"],
        str(uuid.uuid4()),
        OWNER,
    )


async def primary_events(js: JetStreamContext, stream: TestStream) -> list[dict[str, Any]]:
    return [
        json.loads(m.data) for m in await stream_messages(js, stream.name, "store.domain.primary.>")
    ]


async def test_a_primary_domain_that_ends_sends_its_store_back_to_its_host_once(
    pool: asyncpg.Pool,
    reaper_pool: asyncpg.Pool,
    kube_api: ApiClient,
    make_namespace: MakeNamespace,
    make_verifier: MakeVerifier,
    dns_server: TestDns,
    dns_zone: TestZone,
    js: JetStreamContext,
    stream: TestStream,
) -> None:
    primary = await add_request(pool, dns_zone.name("primary"))
    namespace = await add_store(pool, make_namespace, primary["store_id"])
    # The same store's other domain, and another store's primary, whose store is deleted.
    other = await add_request(pool, dns_zone.name("other"), store_id=primary["store_id"])
    doomed = await add_request(pool, dns_zone.name("doomed"))
    await add_store(pool, make_namespace, doomed["store_id"])
    for each in (primary, other, doomed):
        dns_server.set_txt(challenge_name(each["domain"]), each["token"])
    config = IssuerConfig("", "ClusterIssuer", "traefik", CertLimits())
    issuer = DomainIssuer(CertRecords(reaper_pool), DomainKube(kube_api), config)
    verifier = make_verifier(dns_server.resolver, issuer=issuer)
    now = datetime.now(UTC)
    await verifier.pass_once(now)
    assert [await state_of(pool, r) for r in (primary, other, doomed)] == [("active", None)] * 3
    await choose_primary(pool, primary)
    await choose_primary(pool, doomed)
    await verifier.pass_once(now + timedelta(minutes=1))
    assert await primary_events(js, stream) == []  # nothing ended

    # The daily re-check finds the primary's and the other's TXT records gone; the
    # doomed store is deleted.
    dns_server.delete_txt(challenge_name(primary["domain"]))
    dns_server.delete_txt(challenge_name(other["domain"]))
    await pool.execute(
        "UPDATE store_states SET status = 'deleting' WHERE id = $1", doomed["store_id"]
    )
    for hours in (25, 26):
        await verifier.pass_once(now + timedelta(hours=hours))

    assert await state_of(pool, primary) == ("removed", "dns_missing")
    assert await route_of(kube_api, namespace, primary["id"]) is None
    [back] = await primary_events(js, stream)
    assert (back["store_id"], back["actor"]) == (primary["store_id"], "reaper")
    assert back["data"]["domain"] is None and back["data"]["domain_id"] is None
    assert (back["data"]["reason"], back["data"]["ended_domain"]) == (
        "domain_ended",
        primary["domain"],
    )
