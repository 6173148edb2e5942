"""The domain issuer with a real certificate authority: Pebble, and cert-manager's
controller on the test control plane (`tests.fixtures.acme`; the host responder stands in
for the solver pods simulated nodes cannot run). Real Postgres (the reaper's role), NATS
and DNS (knotd) as in tests/reaper/test_domains.py.

- 100 domains verified at once over ten stores, one of them made to fail its HTTP-01
  challenge: never more than the configured number issuing at once, each with a
  Certificate of its own; the other 99 end active with a certificate chaining to Pebble's
  root, the refused one failed (`challenge_failed`) with its objects removed.
- The orders-per-hour limit holds domains in the queue, where an admin sees them.
- Removing an active domain removes its route, its Certificate and its key's Secret.
"""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from cryptography import x509
from kubernetes_asyncio.client import ApiClient, CoreV1Api, CustomObjectsApi
from kubernetes_asyncio.client.exceptions import ApiException
from nats.js import JetStreamContext

from services.reaper import metrics
from services.reaper.cert_plan import CertLimits
from services.reaper.cert_records import CertRecords
from services.reaper.domain_certs import DomainKube
from services.reaper.domain_issuer import DomainIssuer, IssuerConfig
from services.reaper.domain_objects import object_name, secret_name
from shared.domains import challenge_name
from tests.fixtures.acme import AcmeIssuer
from tests.fixtures.dns import TestDns, TestZone
from tests.fixtures.nats import TestStream
from tests.reaper.conftest import MakeNamespace, MakeVerifier
from tests.reaper.test_domain_issuer import add_store, allowed_in, route_of
from tests.reaper.test_domains import add_request, domain_events

pytestmark = pytest.mark.cluster

CERT_MANAGER = ("cert-manager.io", "v1")


def issuer_for(
    reaper_pool: asyncpg.Pool, api: ApiClient, acme: AcmeIssuer, limits: CertLimits
) -> DomainIssuer:
    config = IssuerConfig(acme.name, acme.kind, "traefik", limits)
    return DomainIssuer(CertRecords(reaper_pool), DomainKube(api), config)


async def states(pool: asyncpg.Pool, ids: list[str]) -> dict[str, tuple[str, str | None]]:
    rows = await pool.fetch(
        "SELECT id::text AS id, state, reason FROM domain_states WHERE id = ANY($1::uuid[])", ids
    )
    return {r["id"]: (r["state"], r["reason"]) for r in rows}


async def certificate_of(api: ApiClient, namespace: str, domain_id: str) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = await CustomObjectsApi(api).get_namespaced_custom_object(
            *CERT_MANAGER, namespace, "certificates", object_name(domain_id)
        )
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return found


async def chain_of(api: ApiClient, namespace: str, domain_id: str) -> list[x509.Certificate]:
    secret = await CoreV1Api(api).read_namespaced_secret(secret_name(domain_id), namespace)
    return x509.load_pem_x509_certificates(base64.b64decode(secret.data["tls.crt"]))


async def test_a_hundred_domains_issue_within_the_throttle_and_one_failure_blocks_none(
    pool: asyncpg.Pool,
    reaper_pool: asyncpg.Pool,
    kube_api: ApiClient,
    acme: AcmeIssuer,
    make_namespace: MakeNamespace,
    make_verifier: MakeVerifier,
    dns_server: TestDns,
    dns_zone: TestZone,
    js: JetStreamContext,
    stream: TestStream,
) -> None:
    stores = [str(uuid.uuid4()) for _ in range(10)]
    namespaces = {s: await add_store(pool, make_namespace, s) for s in stores}
    requests = [
        await add_request(pool, dns_zone.name(f"shop{i}"), stores[i % 10]) for i in range(100)
    ]
    for request in requests:
        dns_server.set_txt(challenge_name(request["domain"]), request["token"])
    refused = requests[37]
    acme.refused.add(refused["domain"])
    limits = CertLimits(max_pending=20, orders_per_hour=1000)
    verifier = make_verifier(
        dns_server.resolver, issuer=issuer_for(reaper_pool, kube_api, acme, limits)
    )
    ids = [r["id"] for r in requests]
    started = time.monotonic()
    most_issuing = 0
    seen: dict[str, tuple[str, str | None]] = {}
    while time.monotonic() - started < 400:
        await verifier.pass_once(datetime.now(UTC))
        seen = await states(pool, ids)
        counts = Counter(state for state, _ in seen.values())
        most_issuing = max(most_issuing, counts["issuing"])
        if counts["active"] + counts["failed"] == 100:
            break
        await asyncio.sleep(1)
    took = time.monotonic() - started
    print(f"100 domains settled in {took:.0f}s, at most {most_issuing} issuing at once")

    assert seen[refused["id"]] == ("failed", "challenge_failed")
    assert Counter(seen.values())[("active", None)] == 99
    assert 0 < most_issuing <= 20
    for request in (requests[0], requests[99]):
        namespace = namespaces[request["store_id"]]
        certificate = await certificate_of(kube_api, namespace, request["id"])
        assert certificate is not None
        assert certificate["spec"]["dnsNames"] == [request["domain"]]
        chain = await chain_of(kube_api, namespace, request["id"])
        root = x509.load_pem_x509_certificate(acme.root_pem.encode())
        for issued, issuer in zip(chain, [*chain[1:], root], strict=True):
            issued.verify_directly_issued_by(issuer)
        route = await route_of(kube_api, namespace, request["id"])
        assert route.spec.tls[0].hosts == [request["domain"]]
        assert route.spec.tls[0].secret_name == secret_name(request["id"])
    failed_namespace = namespaces[refused["store_id"]]
    assert await route_of(kube_api, failed_namespace, refused["id"]) is None
    assert await certificate_of(kube_api, failed_namespace, refused["id"]) is None
    assert refused["domain"] not in await allowed_in(kube_api, failed_namespace)
    events = Counter(kind for kind, _ in await domain_events(js, stream))
    assert events["domain.issuing"] == 100
    assert events["domain.active"] == 99
    assert events["domain.failed"] == 1


async def test_the_orders_per_hour_limit_keeps_domains_queued(
    pool: asyncpg.Pool,
    reaper_pool: asyncpg.Pool,
    kube_api: ApiClient,
    acme: AcmeIssuer,
    make_namespace: MakeNamespace,
    make_verifier: MakeVerifier,
    dns_server: TestDns,
    dns_zone: TestZone,
) -> None:
    store = str(uuid.uuid4())
    await add_store(pool, make_namespace, store)
    requests = [await add_request(pool, dns_zone.name(f"hourly{i}"), store) for i in range(8)]
    for request in requests:
        dns_server.set_txt(challenge_name(request["domain"]), request["token"])
    limits = CertLimits(max_pending=50, orders_per_hour=5)
    verifier = make_verifier(
        dns_server.resolver, issuer=issuer_for(reaper_pool, kube_api, acme, limits)
    )

    now = datetime.now(UTC)
    await verifier.pass_once(now)
    await verifier.pass_once(now + timedelta(seconds=30))

    now_states = await states(pool, [r["id"] for r in requests])
    found = Counter(state for state, _ in now_states.values())
    assert found["verified"] == 3
    assert found["issuing"] + found["active"] == 5
    assert metrics.DOMAIN_QUEUE._value.get() == 3


async def test_removing_an_active_domain_removes_its_route_certificate_and_key(
    pool: asyncpg.Pool,
    reaper_pool: asyncpg.Pool,
    kube_api: ApiClient,
    acme: AcmeIssuer,
    make_namespace: MakeNamespace,
    make_verifier: MakeVerifier,
    dns_server: TestDns,
    dns_zone: TestZone,
) -> None:
    store = str(uuid.uuid4())
    namespace = await add_store(pool, make_namespace, store)
    request = await add_request(pool, dns_zone.name("leaving"), store)
    dns_server.set_txt(challenge_name(request["domain"]), request["token"])
    verifier = make_verifier(
        dns_server.resolver, issuer=issuer_for(reaper_pool, kube_api, acme, CertLimits())
    )
    deadline = time.monotonic() + 120
    await verifier.pass_once(datetime.now(UTC))
    while (await states(pool, [request["id"]]))[request["id"]][0] != "active":
        assert time.monotonic() < deadline, "the domain never went active"
        await asyncio.sleep(1)
        await verifier.pass_once(datetime.now(UTC))
    assert await chain_of(kube_api, namespace, request["id"])

    await pool.execute("UPDATE domain_requests SET removed_at = now() WHERE id = $1", request["id"])
    await verifier.pass_once(datetime.now(UTC))

    assert await route_of(kube_api, namespace, request["id"]) is None
    assert await certificate_of(kube_api, namespace, request["id"]) is None
    with pytest.raises(ApiException) as gone:
        await CoreV1Api(kube_api).read_namespaced_secret(secret_name(request["id"]), namespace)
    assert gone.value.status == 404
    assert await allowed_in(kube_api, namespace) == {}
