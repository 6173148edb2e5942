"""Tenant isolation: a user reaches only their own stores. Someone else's store is 404
on every route, exactly like a store that does not exist; admins reach every store."""

from __future__ import annotations

import uuid

import pytest

from tests.gateway.conftest import Harness

API = "/api/v1"
ROUTES = [
    ("GET", "/stores/{id}"),
    ("DELETE", "/stores/{id}"),
    ("POST", "/stores/{id}/retry"),
    ("GET", "/stores/{id}/events"),
    ("GET", "/stores/{id}/credentials"),
    ("GET", "/stream?store_id={id}"),
    ("GET", "/stores/{id}/domains"),
    ("DELETE", "/stores/{id}/domains/shop.example.org"),
]


@pytest.mark.parametrize(("method", "route"), ROUTES)
async def test_another_users_store_is_404_like_a_missing_one(
    gateway: Harness, method: str, route: str
) -> None:
    alice, bob = await gateway.add_user(), await gateway.add_user()
    store = await gateway.create_store(alice)
    await gateway.project(store["id"], "failed")
    answers = []
    for store_id in (store["id"], str(uuid.uuid4())):
        async with gateway.client(bob).request(method, API + route.format(id=store_id)) as resp:
            answers.append((resp.status, await resp.json()))

    assert answers[0] == answers[1]
    assert answers[0][0] == 404
    assert answers[0][1]["error"]["code"] == "not_found"
    status = await gateway.pool.fetchval(
        "SELECT status FROM stores WHERE id = $1", uuid.UUID(store["id"])
    )
    assert status == "failed"
    assert await gateway.pool.fetchval("SELECT count(*) FROM credential_access") == 0


async def test_another_users_stores_are_not_listed(gateway: Harness) -> None:
    alice, bob = await gateway.add_user(), await gateway.add_user()
    await gateway.create_store(alice)
    async with gateway.client(bob).get(f"{API}/stores") as resp:
        assert (await resp.json())["items"] == []


async def test_an_admin_reaches_anyones_store(gateway: Harness) -> None:
    admin, alice = await gateway.add_user(admin=True), await gateway.add_user()
    store = await gateway.create_store(alice)
    async with gateway.client(admin).get(f"{API}/stores/{store['id']}") as resp:
        assert resp.status == 200
    async with gateway.client(admin).delete(f"{API}/stores/{store['id']}") as resp:
        assert resp.status == 202
    async with gateway.client(alice).get(f"{API}/audit") as resp:
        assert resp.status == 403
