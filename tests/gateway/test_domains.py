"""Custom domains through the API: an owner adds a domain and is told the DNS records to
create (a `_storefleet-challenge` TXT record holding the store's token, and a CNAME or A
record to the platform's ingress), lists its domains with their states, removes one; the
name is normalised (lower case, punycode, no final dot) and anything that cannot be a
store's own domain is refused with a code saying why; nobody else reaches the store;
each command publishes its `store.domain.*` event, which the store's audit timeline
shows. With the reaper's verifier reading a real DNS server (knotd), two users racing for
one domain cannot both hold it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from services.gateway.views import API
from services.reaper.deletion import Publish
from services.reaper.dns_lookup import TxtLookup
from services.reaper.domain_plan import DomainPolicy
from services.reaper.domain_records import DomainRecords
from services.reaper.domains import DOMAIN_LOCK_KEY, DomainVerifier
from services.reaper.sweeper import SweeperLock
from shared.db import create_pool
from shared.events import parse_event
from shared.jetstream import publish_event
from tests.fixtures.dns import TestDns, TestZone
from tests.gateway.backups import fold_envelopes, published
from tests.gateway.conftest import RELAXED, Harness, MakeGateway, TestUser
from tests.gateway.test_backups import get, post, ready_store

HOSTILE = [
    ("-shop.example.org", "invalid_domain"),
    ("shop-.example.org", "invalid_domain"),
    ('shop".example.org', "invalid_domain"),
    ("shop'.example.org", "invalid_domain"),
    ("$(reboot).example.org", "invalid_domain"),
    ("`id`.example.org", "invalid_domain"),
    ("shop\n.example.org", "invalid_domain"),
    ("shop.example.org\nevil.example.com", "invalid_domain"),
    ("{{ .Values.secret }}.example.org", "invalid_domain"),
    ("shop.example.org/../admin", "invalid_domain"),
    ("*.example.org", "wildcard_domain"),
    ("127.0.0.1", "ip_address"),
    ("[::1]", "ip_address"),
    ("::1", "ip_address"),
    ("localhost", "single_label_domain"),
    ("org.", "single_label_domain"),
    ("stores.localhost", "reserved_domain"),  # the stores' base domain
    ("my-shop.stores.localhost", "reserved_domain"),
    ("Dashboard.Platform.Example.", "reserved_domain"),  # the platform's own
    ("api.dashboard.platform.example", "reserved_domain"),
    ("a" * 64 + ".example.org", "label_too_long"),
    (".".join(["abcdefghi"] * 25) + ".shop", "domain_too_long"),  # 254 characters
    ("p\u0430ypal.com", "mixed_script_label"),  # a Cyrillic "a" among Latin letters
    ("ex\u200bample.com", "invalid_domain"),  # an invisible character
    ("xn--zz9999.example.org", "invalid_domain"),  # not punycode of anything
    ("", "invalid"),
]


@pytest.fixture
async def domains_gateway(make_gateway: MakeGateway) -> Harness:
    return await make_gateway(
        **RELAXED,
        platform_domains=["dashboard.platform.example"],
        ingress_host="ingress.platform.example",
        ingress_address="203.0.113.7",
    )


async def add(gateway: Harness, user: TestUser, sid: str, domain: Any) -> tuple[int, Any]:
    return await post(gateway, user, f"/stores/{sid}/domains", {"domain": domain})


async def delete(gateway: Harness, user: TestUser, sid: str, domain: str) -> int:
    async with gateway.client(user).delete(f"{API}/stores/{sid}/domains/{domain}") as resp:
        return resp.status


async def test_an_owner_adds_a_domain_and_is_told_the_records_to_create(
    domains_gateway: Harness,
) -> None:
    gateway = domains_gateway
    user = await gateway.add_user()
    store = await ready_store(gateway, user)
    sid = store["id"]

    status, domain = await add(gateway, user, sid, "Bücher.Example.ORG.")

    assert status == 201, domain
    assert (domain["domain"], domain["state"], domain["reason"]) == (
        "xn--bcher-kva.example.org",
        "pending_dns",
        None,
    )
    txt, cname, a = domain["records"]
    assert (txt["type"], txt["name"]) == ("TXT", "_storefleet-challenge.xn--bcher-kva.example.org")
    assert txt["value"].startswith("storefleet-verify-") and len(txt["value"]) > 30
    assert (cname["type"], cname["name"], cname["value"]) == (
        "CNAME",
        "xn--bcher-kva.example.org",
        "ingress.platform.example",
    )
    assert (a["type"], a["value"]) == ("A", "203.0.113.7")
    status, listed = await get(gateway, user, f"/stores/{sid}/domains")
    assert status == 200
    assert listed == {
        "items": [domain],
        "max_domains": 2,
        "primary_domain_id": None,
        "url": None,
        "host": f"{store['slug']}.stores.localhost",
    }
    assert domain["primary"] is False
    [event] = await published(gateway, f"store.domain.added.{sid}", 1)
    assert event["actor"] == user.id
    assert event["data"] == {
        "domain_id": domain["id"],
        "domain": "xn--bcher-kva.example.org",
        "challenge": "_storefleet-challenge.xn--bcher-kva.example.org",
        "requested_by": user.id,
    }
    # The auditor records it: the store's timeline shows it.
    await fold_envelopes(gateway, [parse_event(json.dumps(event))])
    status, timeline = await get(gateway, user, f"/stores/{sid}/events")
    assert "domain.added" in [entry["type"] for entry in timeline["items"]]


@pytest.mark.parametrize(("name", "code"), HOSTILE, ids=[repr(h[0])[:40] for h in HOSTILE])
async def test_a_name_that_cannot_be_a_stores_domain_is_refused_saying_why(
    domains_gateway: Harness, name: str, code: str
) -> None:
    gateway = domains_gateway
    user = await gateway.add_user()
    sid = (await ready_store(gateway, user))["id"]

    status, body = await add(gateway, user, sid, name)

    assert (status, body["error"]["code"], body["error"]["field"]) == (422, code, "domain")
    assert await gateway.pool.fetchval("SELECT count(*) FROM domain_requests") == 0


async def test_a_huge_body_or_a_domain_that_is_not_text_is_refused(gateway: Harness) -> None:
    user = await gateway.add_user()
    sid = (await ready_store(gateway, user))["id"]

    assert (await add(gateway, user, sid, "a" * 200_000 + ".org"))[0] == 413
    assert (await add(gateway, user, sid, ["shop.example.org"]))[0] == 422
    assert (await add(gateway, user, sid, {"$ne": ""}))[0] == 422
    status, body = await post(gateway, user, f"/stores/{sid}/domains", {"domain": "a.org", "x": 1})
    assert (status, body["error"]["code"]) == (422, "unknown_field")
    assert await gateway.pool.fetchval("SELECT count(*) FROM domain_requests") == 0


async def test_nobody_else_reaches_a_stores_domains(gateway: Harness) -> None:
    owner, other = await gateway.add_user(), await gateway.add_user()
    sid = (await ready_store(gateway, owner))["id"]
    assert (await add(gateway, owner, sid, "shop.example.org"))[0] == 201

    status, body = await add(gateway, other, sid, "other.example.org")
    assert (status, body["error"]["code"]) == (404, "not_found")
    assert (await get(gateway, other, f"/stores/{sid}/domains"))[0] == 404
    assert await delete(gateway, other, sid, "shop.example.org") == 404
    assert len((await get(gateway, owner, f"/stores/{sid}/domains"))[1]["items"]) == 1


async def test_a_store_has_as_many_domains_as_its_plan_allows_each_once(gateway: Harness) -> None:
    user = await gateway.add_user()
    sid = (await ready_store(gateway, user))["id"]
    assert (await add(gateway, user, sid, "one.example.org"))[0] == 201

    status, body = await add(gateway, user, sid, "ONE.example.org.")
    assert (status, body["error"]["code"]) == (409, "domain_exists")
    assert (await add(gateway, user, sid, "two.example.org"))[0] == 201
    status, body = await add(gateway, user, sid, "three.example.org")
    assert (status, body["error"]["code"]) == (409, "domain_limit")

    # Many at once cannot pass the limit either: the store's row is locked per add.
    other = (await ready_store(gateway, user))["id"]
    answers = await asyncio.gather(
        *(add(gateway, user, other, f"d{n}.example.org") for n in range(8))
    )
    assert sorted(status for status, _ in answers) == [201, 201] + [409] * 6


async def test_an_owner_removes_a_domain_and_may_add_it_again(gateway: Harness) -> None:
    user = await gateway.add_user()
    sid = (await ready_store(gateway, user))["id"]
    _, first = await add(gateway, user, sid, "shop.example.org")

    assert await delete(gateway, user, sid, "Shop.Example.Org.") == 204

    assert (await get(gateway, user, f"/stores/{sid}/domains"))[1]["items"] == []
    assert await delete(gateway, user, sid, "shop.example.org") == 404
    assert await delete(gateway, user, sid, "$(reboot)") == 404
    [event] = await published(gateway, f"store.domain.removed.{sid}", 1)
    assert event["data"] == {
        "domain_id": first["id"],
        "domain": "shop.example.org",
        "reason": "owner",
        "requested_by": user.id,
    }
    status, again = await add(gateway, user, sid, "shop.example.org")
    assert status == 201 and again["records"][0]["value"] != first["records"][0]["value"]


@pytest.fixture
async def verifier(
    gateway: Harness, service_database_urls: dict[str, str], dns_server: TestDns
) -> AsyncIterator[DomainVerifier]:
    """The reaper's verifier on the gateway's database, as the reaper's role, reading knotd."""
    pool = await create_pool(service_database_urls["reaper"], max_size=4)

    async def publish(envelope: Any) -> object:
        return await publish_event(gateway.js, envelope, stream=gateway.settings.stream_name)

    sent: Publish = publish
    try:
        yield DomainVerifier(
            SweeperLock(service_database_urls["reaper"], key=DOMAIN_LOCK_KEY),
            DomainRecords(pool),
            TxtLookup((("127.0.0.1", dns_server.port),), 2.0),
            sent,
            DomainPolicy(),
            interval=1.0,
        )
    finally:
        await pool.close()


async def states(gateway: Harness, users: list[TestUser], sids: list[str]) -> list[str]:
    found = []
    for user, sid in zip(users, sids, strict=True):
        [item] = (await get(gateway, user, f"/stores/{sid}/domains"))[1]["items"]
        found.append(item["state"])
    return found


async def test_two_users_racing_for_one_domain_cannot_both_hold_it(
    gateway: Harness, verifier: DomainVerifier, dns_server: TestDns, dns_zone: TestZone
) -> None:
    domain = dns_zone.name("shop")
    users = [await gateway.add_user() for _ in range(2)]
    sids = [(await ready_store(gateway, u))["id"] for u in users]
    added = await asyncio.gather(
        *(add(gateway, u, s, domain) for u, s in zip(users, sids, strict=True))
    )
    assert [status for status, _ in added] == [201, 201]  # both may have it pending
    tokens = [body["records"][0]["value"] for _, body in added]

    # Only the second user's token is in DNS: only the second verifies.
    dns_server.set_txt(f"_storefleet-challenge.{domain}", tokens[1])
    await verifier.pass_once(datetime.now(UTC))
    assert await states(gateway, users, sids) == ["pending_dns", "verified"]
    # Both tokens in DNS, both stores checked at once: still exactly one holds it.
    other = dns_zone.name("both")
    more = [await gateway.add_user() for _ in range(2)]
    stores = [(await ready_store(gateway, u))["id"] for u in more]
    raced = await asyncio.gather(
        *(add(gateway, u, s, other) for u, s in zip(more, stores, strict=True))
    )
    dns_server.set_txt(
        f"_storefleet-challenge.{other}", *(b["records"][0]["value"] for _, b in raced)
    )
    now = datetime.now(UTC)
    await verifier._records.adopt(now)
    due = [row for row in await verifier._records.due(now, 100) if row.domain == other]
    await asyncio.gather(*(verifier.check(row, now) for row in due))
    assert sorted(await states(gateway, more, stores)) == ["pending_dns", "verified"]

    late = await gateway.add_user()
    late_store = (await ready_store(gateway, late))["id"]
    status, body = await add(gateway, late, late_store, other)
    assert (status, body["error"]["code"]) == (409, "domain_taken")
