"""API tokens are bounded: only a signed-in session mints them (a leaked token cannot
breed), a `read` token can only look, and every new token expires."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.gateway.conftest import Harness, TestUser

API = "/api/v1"


async def browser_of(gateway: Harness, user: TestUser) -> Any:
    """`user` signed in with the session cookie, sending our own Origin as the SPA does."""
    http = gateway.client(headers={"Origin": gateway.url})
    login = {"username": user.username, "password": user.password}
    async with http.post(f"{API}/auth/login", json=login) as resp:
        assert resp.status == 200
    return http


async def mint(gateway: Harness, user: TestUser, **body: Any) -> dict[str, Any]:
    async with (await browser_of(gateway, user)).post(
        f"{API}/tokens", json={"name": "integration", **body}
    ) as resp:
        assert resp.status == 201, await resp.text()
        created: dict[str, Any] = await resp.json()
        return created


def bearer(gateway: Harness, token: str) -> Any:
    return gateway.client(headers={"Authorization": f"Bearer {token}"})


async def test_a_token_cannot_mint_another_token(gateway: Harness) -> None:
    user = await gateway.add_user()

    async with gateway.client(user).post(f"{API}/tokens", json={"name": "child"}) as resp:
        assert resp.status == 403
        assert (await resp.json())["error"]["code"] == "session_required"
    names = await gateway.pool.fetch(
        "SELECT name FROM api_tokens WHERE user_id = $1", uuid.UUID(user.id)
    )
    assert [row["name"] for row in names] == ["tests"]


async def test_a_read_token_may_look_but_not_change_anything(gateway: Harness) -> None:
    user = await gateway.add_user()
    created = await mint(gateway, user, scope="read")
    assert created["scope"] == "read"
    reader = bearer(gateway, created["token"])

    for path in ("/me", "/stores", "/tokens", "/catalog"):
        async with reader.get(f"{API}{path}") as resp:
            assert resp.status == 200, path
    refused = [
        ("POST", "/stores", {"name": "sneaky shop"}),
        ("DELETE", f"/tokens/{created['id']}", None),
        ("POST", "/auth/logout", None),
    ]
    for method, path, body in refused:
        async with reader.request(method, f"{API}{path}", json=body) as resp:
            assert resp.status == 403, (method, path)
            assert (await resp.json())["error"]["code"] == "read_only_token"
    assert await gateway.pool.fetchval("SELECT count(*) FROM store_requests") == 0


async def test_a_full_token_still_changes_things(gateway: Harness) -> None:
    user = await gateway.add_user()
    created = await mint(gateway, user, scope="full")

    async with bearer(gateway, created["token"]).post(
        f"{API}/stores", json={"name": "real shop"}
    ) as resp:
        assert resp.status == 202


async def test_an_expired_token_gets_401(gateway: Harness) -> None:
    user = await gateway.add_user()
    created = await mint(gateway, user, expires_in_days=1)
    expires = datetime.fromisoformat(created["expires_at"])
    assert abs(expires - (datetime.now(UTC) + timedelta(days=1))) < timedelta(minutes=5)
    # A day passes: Postgres's clock is the one the gateway compares with.
    await gateway.pool.execute(
        "UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = $1",
        uuid.UUID(created["id"]),
    )

    async with bearer(gateway, created["token"]).get(f"{API}/me") as resp:
        assert resp.status == 401
    async with gateway.client(user).get(f"{API}/tokens") as resp:
        listed = {t["id"] for t in (await resp.json())["items"]}
    assert created["id"] not in listed


async def test_a_token_a_replica_remembers_stops_working_when_it_expires(
    make_gateway: Any,
) -> None:
    gateway = await make_gateway(auth_cache_seconds=3600)
    user = await gateway.add_user()
    created = await mint(gateway, user)
    await gateway.pool.execute(
        "UPDATE api_tokens SET expires_at = now() + interval '1 second' WHERE id = $1",
        uuid.UUID(created["id"]),
    )
    reader = bearer(gateway, created["token"])
    async with reader.get(f"{API}/me") as resp:
        assert resp.status == 200  # now cached for an hour

    await gateway.pool.execute("SELECT pg_sleep(1.2)")
    async with reader.get(f"{API}/me") as resp:
        assert resp.status == 401


async def test_tokens_expire_within_a_year_and_by_default_in_ninety_days(
    gateway: Harness,
) -> None:
    user = await gateway.add_user()
    browser = await browser_of(gateway, user)
    for days in (0, 366, 10_000):
        body = {"name": "forever", "expires_in_days": days}
        async with browser.post(f"{API}/tokens", json=body) as resp:
            assert resp.status == 422, days
            assert (await resp.json())["error"]["field"] == "expires_in_days"

    created = await mint(gateway, user)
    expires = datetime.fromisoformat(created["expires_at"])
    assert abs(expires - (datetime.now(UTC) + timedelta(days=90))) < timedelta(minutes=5)
    assert created["scope"] == "full"
