"""The gateway's webhook routes as a hostile client uses them: the secret shown once,
other users' endpoints answered like missing ones, stores of others refused as filters,
bad URLs, unknown event types, newlines, huge bodies, the per-user limit, and bad
redelivery requests."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from services.gateway.webhook_validation import ENDPOINTS_PER_USER
from tests.gateway.conftest import Harness

GOOD = {"url": "https://hooks.example.com/in", "event_types": ["ready", "failed"]}


async def create(harness: Harness, user: Any, body: dict[str, Any]) -> tuple[int, Any]:
    async with harness.client(user).post("/api/v1/webhooks", json=body) as resp:
        return resp.status, await resp.json()


async def test_the_secret_is_shown_on_creation_and_rotation_only(gateway: Harness) -> None:
    user = await gateway.add_user()
    status, created = await create(gateway, user, GOOD)
    client = gateway.client(user)

    assert status == 201
    assert created["secret"].startswith("whsec_") and len(created["secret"]) > 40
    async with client.get("/api/v1/webhooks") as resp:
        listed = await resp.json()
    async with client.get(f"/api/v1/webhooks/{created['id']}") as resp:
        one = await resp.json()
    async with client.post(f"/api/v1/webhooks/{created['id']}/rotate-secret") as resp:
        rotated = await resp.json()

    assert [e["id"] for e in listed["items"]] == [created["id"]]
    assert "secret" not in listed["items"][0] and "secret" not in one
    assert one["failing"] is False and one["event_types"] == ["ready", "failed"]
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != created["secret"]


async def test_another_users_endpoint_is_not_found_for_every_route(gateway: Harness) -> None:
    owner, other = await gateway.add_user(), await gateway.add_user()
    _, created = await create(gateway, owner, GOOD)
    client = gateway.client(other)
    base = f"/api/v1/webhooks/{created['id']}"

    for method, path, body in [
        ("GET", base, None),
        ("GET", f"{base}/deliveries", None),
        ("POST", f"{base}/redeliver", {"since": "2020-01-01T00:00:00Z"}),
        ("POST", f"{base}/rotate-secret", None),
        ("DELETE", base, None),
        ("GET", "/api/v1/webhooks/not-a-uuid", None),
        ("DELETE", f"/api/v1/webhooks/{uuid.uuid4()}", None),
    ]:
        async with client.request(method, path, json=body) as resp:
            assert resp.status == 404, (method, path)
    async with client.get("/api/v1/webhooks") as resp:
        assert (await resp.json())["items"] == []
    async with gateway.client(owner).get(base) as resp:
        assert resp.status == 200  # untouched


async def test_an_administrator_may_see_and_remove_anyones_endpoint(gateway: Harness) -> None:
    owner, admin = await gateway.add_user(), await gateway.add_user(admin=True)
    _, created = await create(gateway, owner, GOOD)

    async with gateway.client(admin).delete(f"/api/v1/webhooks/{created['id']}") as resp:
        assert resp.status == 204
    async with gateway.client(owner).get(f"/api/v1/webhooks/{created['id']}") as resp:
        assert resp.status == 404


async def test_a_store_filter_must_name_a_store_the_caller_may_see(gateway: Harness) -> None:
    owner, other = await gateway.add_user(), await gateway.add_user()
    admin = await gateway.add_user(admin=True)
    store = await gateway.create_store(owner)
    body = {**GOOD, "store_id": store["id"]}

    assert (await create(gateway, other, body))[0] == 404
    assert (await create(gateway, owner, body))[0] == 201
    assert (await create(gateway, admin, body))[0] == 201
    assert (await create(gateway, owner, {**GOOD, "store_id": str(uuid.uuid4())}))[0] == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"url": "ftp://hooks.example.com/"}, "url"),
        ({"url": "file:///etc/passwd"}, "url"),
        ({"url": "https://user:pw@hooks.example.com/"}, "url"),
        ({"url": "https://hooks.example.com/a\nHost: evil"}, "url"),
        ({"url": "https://hooks.example.com/a b"}, "url"),
        ({"url": "https:///no-host"}, "url"),
        ({"url": "https://hooks.example.com:99999/"}, "url"),
        ({"url": "https://hooks.example.com/#frag"}, "url"),
        ({"url": "https://hooks.example.com/" + "a" * 3000}, "url"),
        ({"url": 42}, "url"),
        ({"event_types": []}, "event_types"),
        ({"event_types": ["store.ready"]}, "event_types"),
        ({"event_types": ["ready", "ready"]}, "event_types"),
        ({"event_types": ["x" * 10_000]}, "event_types"),
        ({"store_id": "nope"}, "store_id"),
        ({"description": "two\nlines"}, "description"),
        ({"owner_id": str(uuid.uuid4())}, "owner_id"),
        ({"secret": "whsec_mine"}, "secret"),
    ],
)
async def test_bad_endpoints_are_refused_naming_the_field(
    gateway: Harness, change: dict[str, Any], field: str
) -> None:
    user = await gateway.add_user()
    status, body = await create(gateway, user, {**GOOD, **change})

    assert status == 422, body
    assert body["error"]["field"] == field


async def test_a_huge_body_is_refused_before_it_is_read(gateway: Harness) -> None:
    user = await gateway.add_user()
    huge = {**GOOD, "description": "x" * 100_000}

    assert (await create(gateway, user, huge))[0] == 413


async def test_a_user_may_have_a_bounded_number_of_endpoints(gateway: Harness) -> None:
    user = await gateway.add_user()
    for _ in range(ENDPOINTS_PER_USER):
        assert (await create(gateway, user, {**GOOD, "event_types": ["*"]}))[0] == 201

    status, body = await create(gateway, user, GOOD)

    assert status == 409 and body["error"]["code"] == "too_many_webhooks"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"event_id": "e1", "since": "2020-01-01T00:00:00Z"},
        {"since": "yesterday"},
        {"since": "2020-01-01T00:00:00"},
        {"event_id": ""},
        {"event_id": "e" * 500},
    ],
)
async def test_a_redelivery_names_one_event_or_one_time(
    gateway: Harness, body: dict[str, Any]
) -> None:
    user = await gateway.add_user()
    _, created = await create(gateway, user, GOOD)
    path = f"/api/v1/webhooks/{created['id']}/redeliver"

    async with gateway.client(user).post(path, json=body) as resp:
        assert resp.status == 422, await resp.text()


async def test_an_unknown_event_or_a_forged_cursor_is_refused(
    gateway: Harness,
) -> None:
    user = await gateway.add_user()
    _, created = await create(gateway, user, GOOD)
    base = f"/api/v1/webhooks/{created['id']}"

    async with gateway.client(user).post(f"{base}/redeliver", json={"event_id": "x"}) as resp:
        assert resp.status == 404
    async with gateway.client(user).get(f"{base}/deliveries?cursor=bad") as resp:
        assert resp.status == 400
