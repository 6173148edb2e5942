"""The domain verifier against a real authoritative DNS server (knotd, `tests.fixtures.dns`),
real Postgres (logged in as the reaper's role) and real NATS: the test plays the owner,
writing and deleting `_storefleet-challenge` TXT records with RFC 2136 updates, and the
gateway, whose `domain_requests` rows it writes as the owner of the schema would.

A pending domain is verified once its token is in DNS, and only then; a verified domain
whose record disappears is unlinked at its next re-check (with `domain.removed`, which the
real auditor records in the store's timeline); a pending
one past its window fails `expired`; a resolver that never answers changes nothing, and
never unlinks. Of two stores proving one domain at once, exactly one holds it."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from services.auditor.store import timeline
from services.reaper import metrics
from shared.db import create_pool
from shared.domains import challenge_name, new_token
from tests.auditor.lifecycle import consumer_caught_up, eventually, running_auditor
from tests.fixtures.dns import TestDns, TestZone, silent_udp_port
from tests.fixtures.nats import TestStream
from tests.gateway.conftest import stream_messages
from tests.reaper.conftest import MakeVerifier

OWNER = "00000000-0000-0000-0000-0000000000a1"


async def add_request(
    pool: asyncpg.Pool, domain: str, store_id: str | None = None
) -> dict[str, Any]:
    """A domain request as the gateway records it; its id, store, token and time."""
    row = {
        "id": str(uuid.uuid4()),
        "store_id": store_id or str(uuid.uuid4()),
        "domain": domain,
        "token": new_token(),
    }
    row["requested_at"] = await pool.fetchval(
        "INSERT INTO domain_requests (id, store_id, domain, token, requested_by)"
        " VALUES ($1, $2, $3, $4, $5) RETURNING requested_at",
        *row.values(),
        OWNER,
    )
    return row


async def state_of(pool: asyncpg.Pool, request: dict[str, Any]) -> tuple[str, str | None]:
    row = await pool.fetchrow(
        "SELECT state, reason FROM store_domains WHERE id = $1", request["id"]
    )
    return row["state"], row["reason"]


async def domain_events(js: JetStreamContext, stream: TestStream) -> list[tuple[str, str]]:
    """(type, domain id) of every domain event on the stream, in order."""
    found = []
    for msg in await stream_messages(js, stream.name, "store.domain.>"):
        body = json.loads(msg.data)
        found.append((body["type"], body["data"]["domain_id"]))
    return found


async def test_a_pending_domain_is_verified_once_its_token_is_in_dns_and_only_then(
    pool: asyncpg.Pool,
    make_verifier: MakeVerifier,
    dns_server: TestDns,
    dns_zone: TestZone,
    js: JetStreamContext,
    stream: TestStream,
) -> None:
    domain = dns_zone.name("shop")
    request = await add_request(pool, domain)
    verifier = make_verifier(dns_server.resolver)

    await verifier.pass_once(datetime.now(UTC))
    assert await state_of(pool, request) == ("pending_dns", None)

    dns_server.set_txt(challenge_name(domain), "someone-elses-token")
    await verifier.pass_once(datetime.now(UTC) + timedelta(hours=1))
    assert await state_of(pool, request) == ("pending_dns", None)

    dns_server.set_txt(challenge_name(domain), request["token"])
    await verifier.pass_once(datetime.now(UTC) + timedelta(hours=2))

    assert await state_of(pool, request) == ("verified", None)
    assert await domain_events(js, stream) == [("domain.verified", request["id"])]
    assert metrics.DOMAINS.labels("verified")._value.get() >= 1


async def test_the_leader_loop_verifies_a_new_domain_within_a_pass(
    pool: asyncpg.Pool, make_verifier: MakeVerifier, dns_server: TestDns, dns_zone: TestZone
) -> None:
    domain = dns_zone.name("prompt")
    request = await add_request(pool, domain)
    dns_server.set_txt(challenge_name(domain), request["token"])
    stopping = asyncio.Event()
    running = asyncio.create_task(make_verifier(dns_server.resolver).run(stopping))

    async def verified() -> bool:
        return await state_of(pool, request) == ("verified", None)

    try:
        await eventually(verified, 20, "the domain verified")
    finally:
        stopping.set()
        await running
    assert metrics.DOMAIN_LEADER._value.get() == 0  # stood down on stopping


async def test_of_two_stores_proving_one_domain_only_the_one_whose_token_is_in_dns_verifies(
    pool: asyncpg.Pool, make_verifier: MakeVerifier, dns_server: TestDns, dns_zone: TestZone
) -> None:
    domain = dns_zone.name("contested")
    first, second = await add_request(pool, domain), await add_request(pool, domain)
    verifier = make_verifier(dns_server.resolver)

    dns_server.set_txt(challenge_name(domain), second["token"])
    await verifier.pass_once(datetime.now(UTC))

    assert await state_of(pool, first) == ("pending_dns", None)
    assert await state_of(pool, second) == ("verified", None)


@pytest.mark.parametrize("round_", range(3))
async def test_when_both_tokens_are_in_dns_exactly_one_store_verifies_the_domain(
    pool: asyncpg.Pool,
    make_verifier: MakeVerifier,
    dns_server: TestDns,
    dns_zone: TestZone,
    round_: int,
) -> None:
    domain = dns_zone.name("both")
    requests = [await add_request(pool, domain) for _ in range(2)]
    dns_server.set_txt(challenge_name(domain), *(r["token"] for r in requests))
    # Two verifiers (say, an old leader and a new one) check both domains at once.
    verifiers = [make_verifier(dns_server.resolver) for _ in range(2)]
    now = datetime.now(UTC)
    await verifiers[0]._records.adopt(now)
    rows = await verifiers[0]._records.due(now, 10)
    assert len(rows) == 2
    taken = metrics.DOMAIN_CHECKS.labels("taken")._value.get()

    await asyncio.gather(*(v.check(row, now) for v in verifiers for row in rows))

    states = sorted([(await state_of(pool, r))[0] for r in requests])
    assert states == ["pending_dns", "verified"]
    held = await pool.fetchval(
        "SELECT count(*) FROM domain_states WHERE domain = $1 AND state = 'verified'", domain
    )
    assert held == 1
    assert metrics.DOMAIN_CHECKS.labels("taken")._value.get() >= taken + 1


async def test_a_verified_domain_whose_record_disappears_is_unlinked_at_the_next_recheck(
    pool: asyncpg.Pool,
    make_verifier: MakeVerifier,
    dns_server: TestDns,
    dns_zone: TestZone,
    nc: NATS,
    js: JetStreamContext,
    stream: TestStream,
    service_database_urls: dict[str, str],
) -> None:
    domain = dns_zone.name("fleeting")
    request = await add_request(pool, domain)
    verifier = make_verifier(dns_server.resolver)
    dns_server.set_txt(challenge_name(domain), request["token"])
    now = datetime.now(UTC)
    await verifier.pass_once(now)
    assert await state_of(pool, request) == ("verified", None)

    dns_server.delete_txt(challenge_name(domain))
    await verifier.pass_once(now + timedelta(hours=1))  # not due yet: still linked
    assert await state_of(pool, request) == ("verified", None)
    await verifier.pass_once(now + timedelta(hours=24, minutes=1))

    assert await state_of(pool, request) == ("removed", "dns_missing")
    assert await domain_events(js, stream) == [
        ("domain.verified", request["id"]),
        ("domain.removed", request["id"]),
    ]
    # The auditor, as its own role, records both: they are in the store's timeline.
    auditor_pool = await create_pool(service_database_urls["auditor"], max_size=2)
    try:
        async with running_auditor(nc, auditor_pool, stream.name):
            await eventually(lambda: consumer_caught_up(js, stream.name), 20, "auditor caught up")
        async with auditor_pool.acquire() as conn:
            entries = await timeline(conn, request["store_id"])
    finally:
        await auditor_pool.close()
    assert [e["type"] for e in entries] == ["domain.verified", "domain.removed"]


async def test_a_pending_domain_past_its_window_fails_expired(
    pool: asyncpg.Pool,
    make_verifier: MakeVerifier,
    dns_server: TestDns,
    dns_zone: TestZone,
    js: JetStreamContext,
    stream: TestStream,
) -> None:
    request = await add_request(pool, dns_zone.name("late"))
    verifier = make_verifier(dns_server.resolver)
    await verifier.pass_once(datetime.now(UTC))

    await verifier.pass_once(request["requested_at"] + timedelta(hours=72, seconds=1))

    assert await state_of(pool, request) == ("failed", "expired")
    assert await domain_events(js, stream) == [("domain.failed", request["id"])]


async def test_a_resolver_that_never_answers_never_unlinks_a_verified_domain(
    pool: asyncpg.Pool,
    make_verifier: MakeVerifier,
    dns_server: TestDns,
    dns_zone: TestZone,
) -> None:
    domain = dns_zone.name("steady")
    request = await add_request(pool, domain)
    pending = await add_request(pool, dns_zone.name("waiting"))
    dns_server.set_txt(challenge_name(domain), request["token"])
    now = datetime.now(UTC)
    await make_verifier(dns_server.resolver).pass_once(now)
    assert await state_of(pool, request) == ("verified", None)
    dns_server.delete_txt(challenge_name(domain))  # gone, but nobody can tell
    silent = make_verifier(f"127.0.0.1:{silent_udp_port()}", timeout=0.5)
    errors = metrics.DOMAIN_CHECKS.labels("resolver_error")._value.get()

    for hours in (25, 50, 70):
        await silent.pass_once(now + timedelta(hours=hours))

    assert await state_of(pool, request) == ("verified", None)
    assert await state_of(pool, pending) == ("pending_dns", None)
    assert metrics.DOMAIN_CHECKS.labels("resolver_error")._value.get() >= errors + 2


async def test_a_domain_the_owner_removed_is_freed_for_another_store(
    pool: asyncpg.Pool, make_verifier: MakeVerifier, dns_server: TestDns, dns_zone: TestZone
) -> None:
    domain = dns_zone.name("moving")
    first = await add_request(pool, domain)
    verifier = make_verifier(dns_server.resolver)
    dns_server.set_txt(challenge_name(domain), first["token"])
    now = datetime.now(UTC)
    await verifier.pass_once(now)
    second = await add_request(pool, domain)
    dns_server.set_txt(challenge_name(domain), second["token"])
    await verifier.pass_once(now + timedelta(minutes=5))
    assert await state_of(pool, second) == ("pending_dns", None)

    await pool.execute("UPDATE domain_requests SET removed_at = now() WHERE id = $1", first["id"])
    await verifier.pass_once(now + timedelta(hours=2))

    assert await state_of(pool, first) == ("removed", "owner")
    assert await state_of(pool, second) == ("verified", None)


async def test_the_domains_of_a_deleted_store_are_unlinked(
    pool: asyncpg.Pool,
    make_verifier: MakeVerifier,
    dns_server: TestDns,
    dns_zone: TestZone,
    js: JetStreamContext,
    stream: TestStream,
) -> None:
    domain = dns_zone.name("closing")
    request = await add_request(pool, domain)
    dns_server.set_txt(challenge_name(domain), request["token"])
    verifier = make_verifier(dns_server.resolver)
    now = datetime.now(UTC)
    await verifier.pass_once(now)
    await pool.execute(
        "INSERT INTO store_states (id, owner_id, name, slug, namespace, engine, plan, status)"
        " VALUES ($1, $2, 'Shop', 'shop', 'store-shop-1', 'woocommerce', 'small', 'deleted')",
        request["store_id"],
        OWNER,
    )

    await verifier.pass_once(now + timedelta(minutes=1))

    assert await state_of(pool, request) == ("removed", "store_deleted")
    assert await domain_events(js, stream) == [
        ("domain.verified", request["id"]),
        ("domain.removed", request["id"]),
    ]
