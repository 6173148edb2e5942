"""The certificate half of custom domains as the API shows it: an owner's domain list says
when its certificate was asked for and when it expires, and administrators see the
certificate queue (`GET /admin/domains/queue`): verified domains in the order the reaper's
issuer takes them, numbered, then those issuing. Nobody else sees it; `limit` bounds it.

The reaper's issuer is not run here: its `domain_states` rows are written as the schema
owner, as it would write them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.gateway.views import API
from tests.gateway.conftest import Harness, TestUser
from tests.gateway.test_backups import get, ready_store

QUEUE = "/admin/domains/queue"
T0 = datetime(2031, 5, 1, 12, 0, tzinfo=UTC)


async def domain_in(
    gateway: Harness, store: dict[str, Any], domain: str, state: str, **columns: Any
) -> str:
    """A request for `domain` and the verifier's row for it, in `state`."""
    domain_id = uuid.uuid4()
    await gateway.pool.execute(
        "INSERT INTO domain_requests (id, store_id, domain, token, requested_by)"
        " SELECT $1, id, $2, 'storefleet-verify-test', owner_id FROM store_requests"
        " WHERE id = $3",
        domain_id,
        domain,
        uuid.UUID(store["id"]),
    )
    names = ", ".join(columns)
    places = ", ".join(f"${n}" for n in range(5, 5 + len(columns)))
    await gateway.pool.execute(
        f"INSERT INTO domain_states (id, store_id, domain, state, next_check_at"
        f"{', ' if columns else ''}{names}) VALUES ($1, $2, $3, $4, now(){', ' if columns else ''}"
        f"{places})",
        domain_id,
        uuid.UUID(store["id"]),
        domain,
        state,
        *columns.values(),
    )
    return str(domain_id)


async def fill_queue(gateway: Harness, user: TestUser) -> dict[str, Any]:
    """Two stores' domains in every state; the ids of those in the queue and issuing."""
    shop = await ready_store(gateway, user, name="Shop one")
    other = await ready_store(gateway, user, name="Shop two")
    tie_a = await domain_in(gateway, shop, "tie-a.example.org", "verified", verified_at=T0)
    tie_b = await domain_in(gateway, other, "tie-b.example.org", "verified", verified_at=T0)
    first = await domain_in(
        gateway, other, "first.example.org", "verified", verified_at=T0 - timedelta(hours=1)
    )
    late = await domain_in(
        gateway, shop, "late.example.org", "verified", verified_at=T0 + timedelta(hours=1)
    )
    old = await domain_in(
        gateway, shop, "old.example.org", "issuing",
        verified_at=T0 - timedelta(days=2), issuing_at=T0 - timedelta(minutes=5),
    )  # fmt: skip
    new = await domain_in(
        gateway, other, "new.example.org", "issuing",
        verified_at=T0 - timedelta(days=3), issuing_at=T0,
    )  # fmt: skip
    await domain_in(gateway, shop, "pending.example.org", "pending_dns")
    await domain_in(gateway, shop, "served.example.org", "active", verified_at=T0)
    await domain_in(gateway, other, "gone.example.org", "failed", reason="rate_limited")
    ties = sorted([tie_a, tie_b])  # the same verified_at: by id, as the issuer takes them
    return {"queued": [first, *ties, late], "issuing": [old, new], "shop": shop}


async def test_an_admin_sees_the_queue_in_the_issuers_order_then_those_issuing(
    gateway: Harness,
) -> None:
    admin, owner = await gateway.add_user(admin=True), await gateway.add_user()
    ids = await fill_queue(gateway, owner)

    status, body = await get(gateway, admin, QUEUE)

    assert status == 200, body
    assert (body["queued"], body["issuing"]) == (4, 2)
    items = body["items"]
    assert [item["id"] for item in items] == ids["queued"] + ids["issuing"]
    assert [item["position"] for item in items] == [1, 2, 3, 4, None, None]
    assert [item["state"] for item in items] == ["verified"] * 4 + ["issuing"] * 2
    old = items[4]
    assert old == {
        "id": ids["issuing"][0],
        "store_id": ids["shop"]["id"],
        "store_name": "Shop one",
        "domain": "old.example.org",
        "state": "issuing",
        "position": None,
        "verified_at": (T0 - timedelta(days=2)).isoformat(),
        "issuing_at": (T0 - timedelta(minutes=5)).isoformat(),
    }
    assert items[0]["verified_at"] == (T0 - timedelta(hours=1)).isoformat()
    assert items[0]["issuing_at"] is None


async def test_the_queue_is_empty_when_nothing_waits(gateway: Harness) -> None:
    admin = await gateway.add_user(admin=True)

    assert await get(gateway, admin, QUEUE) == (200, {"items": [], "queued": 0, "issuing": 0})


async def test_only_admins_see_the_certificate_queue(gateway: Harness) -> None:
    owner = await gateway.add_user()
    await fill_queue(gateway, owner)

    status, body = await get(gateway, owner, QUEUE)
    assert (status, body["error"]["code"]) == (403, "forbidden")
    assert (await get(gateway, owner, QUEUE, limit="0"))[0] == 403  # the role first
    async with gateway.client().get(f"{API}{QUEUE}") as resp:
        assert resp.status == 401
        assert (await resp.json())["error"]["code"] == "unauthenticated"


async def test_limit_caps_the_items_but_not_the_counts(gateway: Harness) -> None:
    admin, owner = await gateway.add_user(admin=True), await gateway.add_user()
    ids = await fill_queue(gateway, owner)

    _, two = await get(gateway, admin, QUEUE, limit="2")
    _, five = await get(gateway, admin, QUEUE, limit="5")
    _, most = await get(gateway, admin, QUEUE, limit="500")

    assert [(i["id"], i["position"]) for i in two["items"]] == list(
        zip(ids["queued"][:2], [1, 2], strict=True)
    )
    assert (two["queued"], two["issuing"]) == (4, 2)
    assert [i["id"] for i in five["items"]] == [*ids["queued"], ids["issuing"][0]]
    assert len(most["items"]) == 6


HOSTILE_LIMITS = [
    "0",
    "501",
    "-1",
    "abc",
    "1.5",
    "1e2",
    "",
    " 5",
    "5 ",
    "0x10",
    "\uff15",  # a full-width 5: a digit, but not ASCII
    "\u0665",  # an Arabic-Indic 5
    "9" * 5000,  # past int()'s digit limit: refused, not a 500
    "$(reboot)",
    "{{ 7*7 }}",
    "5; DROP TABLE domain_states",
    "5\x00",
    "null",
]


@pytest.mark.parametrize("limit", HOSTILE_LIMITS, ids=[repr(v)[:24] for v in HOSTILE_LIMITS])
async def test_a_limit_that_is_not_1_to_500_is_refused(gateway: Harness, limit: str) -> None:
    admin = await gateway.add_user(admin=True)

    status, body = await get(gateway, admin, QUEUE, limit=limit)

    assert (status, body["error"]["code"], body["error"]["field"]) == (422, "invalid", "limit")


async def test_an_owner_sees_when_a_certificate_was_asked_for_and_when_it_expires(
    gateway: Harness,
) -> None:
    owner = await gateway.add_user()
    store = await ready_store(gateway, owner)
    not_after = T0 + timedelta(days=90)
    await domain_in(
        gateway, store, "a-served.example.org", "active",
        verified_at=T0 - timedelta(minutes=9), issuing_at=T0, not_after=not_after,
    )  # fmt: skip
    await domain_in(gateway, store, "b-plain.example.org", "active", verified_at=T0)

    status, body = await get(gateway, owner, f"/stores/{store['id']}/domains")

    assert status == 200
    served, plain = body["items"]
    assert (served["state"], served["issuing_at"], served["not_after"]) == (
        "active",
        T0.isoformat(),
        not_after.isoformat(),
    )
    assert (plain["state"], plain["issuing_at"], plain["not_after"]) == ("active", None, None)
