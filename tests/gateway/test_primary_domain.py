"""A store's primary domain through the API: its owner makes an active custom domain the
store's address (`PUT /stores/{id}/primary-domain`) or goes back to the platform host
(`DELETE`); each asks the provisioner with `store.domain.primary`, which the store's
timeline shows, and the store and its domain list say which domain is primary and, once
the provisioner's `url.changed` is folded, the store's new URL. Only an active domain of
the store qualifies, only a ready store with no other change under way moves, nobody else
reaches either, and hostile bodies are refused without writing anything. With the
reaper's verifier on the same database, a primary domain its owner removes sends the
store back to its host.

The reaper's `domain_states` rows are written as the schema owner, as the verifier and
issuer would write them; the provisioner's and auditor's part is folded through the
auditor's own batch (`tests.gateway.backups`)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.gateway.views import API
from services.reaper.dns_lookup import TxtLookup
from services.reaper.domain_plan import DomainPolicy
from services.reaper.domain_records import DomainRecords
from services.reaper.domains import DOMAIN_LOCK_KEY, DomainVerifier
from services.reaper.sweeper import SweeperLock
from shared.db import create_pool
from shared.jetstream import publish_event
from tests.fixtures.dns import TestDns
from tests.gateway.backups import fold, published
from tests.gateway.conftest import Harness, TestUser, stream_messages
from tests.gateway.test_backups import get, post, ready_store
from tests.gateway.test_domain_queue import domain_in

NOT_AFTER = datetime(2031, 5, 1, 12, 0, tzinfo=UTC)
PRIMARY = "/stores/{}/primary-domain"


async def put(
    gateway: Harness, user: TestUser, sid: str, body: Any = None, *, raw: str | None = None,
    content_type: str = "application/json",
) -> tuple[int, Any]:  # fmt: skip
    """PUT the primary domain: `body` as JSON, or `raw` text sent as `content_type`."""
    kwargs: dict[str, Any] = {"json": body}
    if raw is not None:
        kwargs = {"data": raw, "headers": {"Content-Type": content_type}}
    async with gateway.client(user).put(f"{API}{PRIMARY.format(sid)}", **kwargs) as resp:
        return resp.status, await resp.json()


async def reset(gateway: Harness, user: TestUser, sid: str) -> tuple[int, Any]:
    async with gateway.client(user).delete(f"{API}{PRIMARY.format(sid)}") as resp:
        return resp.status, await resp.json()


async def active_domain(
    gateway: Harness, store: dict[str, Any], domain: str = "shop.example.org", tls: bool = True
) -> str:
    """An active domain of the store: with its certificate's expiry, or over HTTP."""
    columns = {"not_after": NOT_AFTER} if tls else {}
    return await domain_in(gateway, store, domain, "active", **columns)


async def primary_events(gateway: Harness, sid: str) -> list[dict[str, Any]]:
    subject = f"store.domain.primary.{sid}"
    return [json.loads(m.data) for m in await stream_messages(gateway.js,
                                                              gateway.settings.stream_name,
                                                              subject)]  # fmt: skip


async def asked_rows(gateway: Harness) -> tuple[int, int]:
    """Choices recorded, and `domain.primary` events in the outbox."""
    chosen = await gateway.pool.fetchval("SELECT count(*) FROM store_primary_domains")
    queued = await gateway.pool.fetchval(
        "SELECT count(*) FROM outbox WHERE subject LIKE 'store.domain.primary.%'"
    )
    return chosen, queued


async def test_an_owner_makes_an_active_domain_the_primary_and_the_store_follows_it(
    gateway: Harness,
) -> None:
    user = await gateway.add_user()
    store = await ready_store(gateway, user)
    sid = store["id"]
    await gateway.project(sid, "ready", url="http://shop.stores.localhost")
    domain_id = await active_domain(gateway, store)
    await domain_in(gateway, store, "other.example.org", "verified")

    status, answer = await put(gateway, user, sid, {"domain_id": domain_id.upper()})

    assert status == 202, answer
    assert answer == {
        "operation_id": answer["operation_id"],
        "store_id": sid,
        "domain_id": domain_id,
        "domain": "shop.example.org",
    }
    [event] = await published(gateway, f"store.domain.primary.{sid}", 1)
    assert (event["actor"], event["data"]) == (user.id, {
        "operation_id": answer["operation_id"], "domain_id": domain_id,
        "domain": "shop.example.org", "tls": True, "reason": "owner", "ended_domain": None,
        "requested_by": user.id,
    })  # fmt: skip
    shown = (await get(gateway, user, f"/stores/{sid}"))[1]
    assert shown["primary_domain"] == {"id": domain_id, "domain": "shop.example.org"}
    assert shown["url"] == "http://shop.stores.localhost"  # until the provisioner is done
    listed = (await get(gateway, user, f"/stores/{sid}/domains"))[1]
    assert listed["primary_domain_id"] == domain_id
    assert listed["host"] == f"{store['slug']}.stores.localhost"  # which keeps answering
    assert {d["domain"]: d["primary"] for d in listed["items"]} == {
        "shop.example.org": True,
        "other.example.org": False,
    }

    done = {"operation_id": answer["operation_id"], "url": "https://shop.example.org",
            "domain_id": domain_id, "domain": "shop.example.org", "seconds": 12.5}  # fmt: skip
    await fold(gateway, sid, [("domain.primary", event["data"]), ("url.changed", done)])

    assert (await get(gateway, user, f"/stores/{sid}"))[1]["url"] == "https://shop.example.org"
    assert (await get(gateway, user, f"/stores/{sid}/domains"))[1]["url"] == (
        "https://shop.example.org"
    )
    timeline = [e["type"] for e in (await get(gateway, user, f"/stores/{sid}/events"))[1]["items"]]
    assert {"domain.primary", "url.changed"} <= set(timeline)

    status, back = await reset(gateway, user, sid)
    assert status == 202, back
    assert (back["domain_id"], back["domain"]) == (None, None)
    _, again = await published(gateway, f"store.domain.primary.{sid}", 2)
    assert again["data"]["domain"] is None and again["data"]["reason"] == "owner"
    assert again["data"]["operation_id"] == back["operation_id"]
    assert (await get(gateway, user, f"/stores/{sid}"))[1]["primary_domain"] is None


async def test_a_domain_served_over_http_is_asked_for_without_tls(gateway: Harness) -> None:
    user = await gateway.add_user()
    store = await ready_store(gateway, user)
    domain_id = await active_domain(gateway, store, "plain.example.org", tls=False)

    assert (await put(gateway, user, store["id"], {"domain_id": domain_id}))[0] == 202

    [event] = await published(gateway, f"store.domain.primary.{store['id']}", 1)
    assert (event["data"]["domain"], event["data"]["tls"]) == ("plain.example.org", False)


@pytest.mark.parametrize("state", ["pending_dns", "verified", "issuing", "failed", "removed"])
async def test_only_an_active_domain_can_be_the_primary(gateway: Harness, state: str) -> None:
    user = await gateway.add_user()
    store = await ready_store(gateway, user)
    domain_id = await domain_in(gateway, store, "shop.example.org", state)

    status, body = await put(gateway, user, store["id"], {"domain_id": domain_id})

    assert (status, body["error"]["code"], body["error"]["field"]) == (
        409, "domain_not_active", "domain_id",
    )  # fmt: skip
    assert await asked_rows(gateway) == (0, 0)


async def test_a_removed_or_unknown_domain_is_not_found(gateway: Harness) -> None:
    user = await gateway.add_user()
    store = await ready_store(gateway, user)
    domain_id = await active_domain(gateway, store)
    assert await delete_domain(gateway, user, store["id"], "shop.example.org") == 204

    for unknown in (domain_id, str(uuid.uuid4())):
        status, body = await put(gateway, user, store["id"], {"domain_id": unknown})
        assert (status, body["error"]["code"]) == (404, "not_found"), unknown
    assert await asked_rows(gateway) == (0, 0)


async def delete_domain(gateway: Harness, user: TestUser, sid: str, domain: str) -> int:
    async with gateway.client(user).delete(f"{API}/stores/{sid}/domains/{domain}") as resp:
        return resp.status


async def test_nobody_else_reaches_a_stores_primary_domain(gateway: Harness) -> None:
    owner, other = await gateway.add_user(), await gateway.add_user()
    store = await ready_store(gateway, owner)
    domain_id = await active_domain(gateway, store)
    theirs = await ready_store(gateway, other)
    their_domain = await active_domain(gateway, theirs, "theirs.example.org")
    mine_too = await ready_store(gateway, owner)

    for user, sid, body in (
        (other, store["id"], {"domain_id": domain_id}),  # someone else's store
        (other, store["id"], {"domain_id": their_domain}),
        (owner, store["id"], {"domain_id": their_domain}),  # someone else's domain
        (owner, mine_too["id"], {"domain_id": domain_id}),  # another store's, even mine
    ):
        status, answer = await put(gateway, user, sid, body)
        assert (status, answer["error"]["code"]) == (404, "not_found"), (sid, body)
    status, answer = await reset(gateway, other, store["id"])
    assert (status, answer["error"]["code"]) == (404, "not_found")
    assert await asked_rows(gateway) == (0, 0)

    admin = await gateway.add_user(admin=True)
    assert (await put(gateway, admin, store["id"], {"domain_id": domain_id}))[0] == 202


async def test_hostile_requests_are_refused_and_write_nothing(gateway: Harness) -> None:
    user = await gateway.add_user()
    store = await ready_store(gateway, user)
    sid = store["id"]
    domain_id = await active_domain(gateway, store)

    for path_id in ("not-a-uuid", "' OR 1=1 --", "%00", "1" * 5000):
        status, body = await put(gateway, user, path_id, {"domain_id": domain_id})
        assert (status, body["error"]["code"]) == (404, "not_found"), path_id
    refused = [
        ({"domain_id": "not-a-uuid"}, "invalid"),
        ({"domain_id": "' OR 1=1 --"}, "invalid"),
        ({"domain_id": 12345}, "invalid"),
        ({"domain_id": [domain_id]}, "invalid"),
        ({"domain_id": None}, "invalid"),
        ({"domain_id": {"$ne": ""}}, "invalid"),
        ({"domain_id": domain_id, "url": "https://evil.example"}, "unknown_field"),
        ({}, "required"),
        ([domain_id], "invalid"),
    ]
    for body, code in refused:
        status, answer = await put(gateway, user, sid, body)
        assert (status, answer["error"]["code"]) == (422, code), body
    huge = json.dumps({"domain_id": domain_id, "padding": "a" * 200_000})
    assert (await put(gateway, user, sid, raw=huge))[0] == 413
    status, answer = await put(gateway, user, sid, raw="{")
    assert (status, answer["error"]["code"]) == (400, "malformed_json")
    status, answer = await put(
        gateway, user, sid, raw=json.dumps({"domain_id": domain_id}), content_type="text/plain"
    )
    assert (status, answer["error"]["code"]) == (415, "unsupported_media_type")
    assert await asked_rows(gateway) == (0, 0)


async def test_only_a_ready_store_with_no_change_under_way_moves(gateway: Harness) -> None:
    user = await gateway.add_user()
    store = await ready_store(gateway, user)
    sid = store["id"]
    domain_id = await active_domain(gateway, store)
    status, first = await put(gateway, user, sid, {"domain_id": domain_id})
    assert status == 202

    # While it is under way, no other change of the store starts, nor a second of these.
    for answer in (
        await put(gateway, user, sid, {"domain_id": domain_id}),
        await reset(gateway, user, sid),
        await patch_plan(gateway, user, sid, "medium"),
        await post(gateway, user, f"/stores/{sid}/suspend"),
    ):
        assert (answer[0], answer[1]["error"]["code"]) == (409, "operation_in_progress")
    # Its end, as the provisioner publishes it, lets the next one start; asking for the
    # same domain again applies it again (after a url.failed, say).
    failed = {"operation_id": first["operation_id"], "url": "https://shop.example.org",
              "code": "setup_failed", "reason": "the engine's setup did not complete"}  # fmt: skip
    await fold(gateway, sid, [("url.failed", failed)])
    again = await put(gateway, user, sid, {"domain_id": domain_id})
    assert again[0] == 202, again

    for status_now in ("provisioning", "suspended", "failed"):
        other = await ready_store(gateway, user)
        mine = await active_domain(gateway, other, f"{status_now}.example.org")
        await gateway.project(other["id"], status_now)
        status, body = await put(gateway, user, other["id"], {"domain_id": mine})
        assert (status, body["error"]["code"]) == (409, "store_not_ready"), status_now
        assert (await reset(gateway, user, other["id"]))[1]["error"]["code"] == "store_not_ready"


async def patch_plan(gateway: Harness, user: TestUser, sid: str, plan: str) -> tuple[int, Any]:
    async with gateway.client(user).patch(f"{API}/stores/{sid}", json={"plan": plan}) as resp:
        return resp.status, await resp.json()


@pytest.fixture
async def verifier(
    gateway: Harness, service_database_urls: dict[str, str], dns_server: TestDns
) -> AsyncIterator[DomainVerifier]:
    """The reaper's verifier on the gateway's database, as the reaper's role."""
    pool = await create_pool(service_database_urls["reaper"], max_size=4)

    async def publish(envelope: Any) -> object:
        return await publish_event(gateway.js, envelope, stream=gateway.settings.stream_name)

    try:
        yield DomainVerifier(
            SweeperLock(service_database_urls["reaper"], key=DOMAIN_LOCK_KEY),
            DomainRecords(pool),
            TxtLookup((("127.0.0.1", dns_server.port),), 2.0),
            publish,
            DomainPolicy(),
            interval=1.0,
        )
    finally:
        await pool.close()


async def test_a_primary_domain_its_owner_removes_sends_the_store_back_to_its_host(
    gateway: Harness, verifier: DomainVerifier
) -> None:
    user = await gateway.add_user()
    store = await ready_store(gateway, user)
    sid = store["id"]
    domain_id = await active_domain(gateway, store)
    later = datetime.now(UTC) + timedelta(days=1)  # no TXT look-up is due meanwhile
    await gateway.pool.execute(
        "UPDATE domain_states SET next_check_at = $2, served = true WHERE id = $1",
        uuid.UUID(domain_id), later,
    )  # fmt: skip
    assert (await put(gateway, user, sid, {"domain_id": domain_id}))[0] == 202
    # Nothing ended yet: a pass sends nothing.
    await verifier.pass_once(datetime.now(UTC))
    assert len(await primary_events(gateway, sid)) == 1

    assert await delete_domain(gateway, user, sid, "shop.example.org") == 204
    # The store shows no primary at once; the reaper's next pass asks for the host.
    assert (await get(gateway, user, f"/stores/{sid}"))[1]["primary_domain"] is None
    await verifier.pass_once(datetime.now(UTC))
    await verifier.pass_once(datetime.now(UTC))

    chosen, back = await primary_events(gateway, sid)
    assert back["actor"] == "reaper"
    assert back["id"] == f"{sid}:domain-primary-released:{domain_id}"
    assert back["data"] | {"operation_id": None} == {
        "operation_id": None, "domain_id": None, "domain": None, "tls": True,
        "reason": "domain_ended", "ended_domain": "shop.example.org", "requested_by": "reaper",
    }  # fmt: skip
    assert back["data"]["operation_id"] != chosen["data"]["operation_id"]
