"""Who may call the API: every route but login and the document needs a session cookie
or an API token; the cookie cannot be used from a foreign site; tokens are shown once,
stored hashed and revocable; passwords are argon2id."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from services.gateway import accounts
from services.gateway.openapi import DOCUMENT_PATH
from tests.gateway.conftest import Harness, TestUser

API = "/api/v1"
# Ids in test ids are the same on every collection (pytest-xdist's workers compare them).
SOME_ID = uuid.UUID("5f0e6a52-6c1d-4f3e-9b7a-2d8c4e1f0a93")


def protected_operations() -> list[tuple[str, str]]:
    document = json.loads(DOCUMENT_PATH.read_text())
    found = []
    for path, operations in document["paths"].items():
        for method, spec in operations.items():
            if spec.get("security") != []:
                found.append((method.upper(), API + path.replace("{id}", str(SOME_ID))))
    return found


@pytest.mark.parametrize(("method", "path"), protected_operations())
async def test_requests_without_credentials_get_401(
    gateway: Harness, method: str, path: str
) -> None:
    async with gateway.client().request(method, path, json={}) as resp:
        assert resp.status == 401
        assert (await resp.json())["error"]["code"] == "unauthenticated"


async def test_an_unknown_or_revoked_token_gets_401(gateway: Harness) -> None:
    user = await gateway.add_user()
    async with gateway.client(headers={"Authorization": "Bearer sf_nope"}).get(f"{API}/me") as resp:
        assert resp.status == 401
    tokens = await accounts.list_tokens(gateway.pool, user.id)
    await accounts.revoke_token(gateway.pool, user.id, tokens[0]["id"])

    async with gateway.client(user).get(f"{API}/me") as resp:
        assert resp.status == 401


async def test_login_sets_an_httponly_samesite_strict_session_cookie(gateway: Harness) -> None:
    user = await gateway.add_user(max_stores=3)
    http = gateway.client()
    async with http.post(
        f"{API}/auth/login", json={"username": user.username, "password": user.password}
    ) as resp:
        assert resp.status == 200
        cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie

    async with http.get(f"{API}/me") as resp:
        me = await resp.json()
    assert me["user"]["username"] == user.username
    assert me["user"]["role"] == "user"
    assert me["quota"] == {"max_stores": 3, "stores": 0}


async def test_a_wrong_password_or_unknown_user_gets_the_same_401(gateway: Harness) -> None:
    user = await gateway.add_user()
    bodies = [
        {"username": user.username, "password": "wrong"},
        {"username": "nobody-here", "password": "wrong"},
    ]
    answers = []
    for body in bodies:
        async with gateway.client().post(f"{API}/auth/login", json=body) as resp:
            answers.append((resp.status, await resp.json()))

    assert answers[0] == answers[1]
    assert answers[0][0] == 401


async def signed_in(gateway: Harness) -> object:
    return await signed_in_as(gateway, await gateway.add_user())


async def signed_in_as(gateway: Harness, user: TestUser) -> Any:
    """A session of `user` signed in with the session cookie."""
    http = gateway.client()
    async with http.post(
        f"{API}/auth/login", json={"username": user.username, "password": user.password}
    ) as resp:
        assert resp.status == 200
    return http


async def test_a_cookie_authenticated_post_from_a_foreign_origin_is_refused(
    gateway: Harness,
) -> None:
    http = await signed_in(gateway)
    async with http.post(
        f"{API}/stores",
        json={"name": "evil corp"},  # type: ignore[attr-defined]
        headers={"Origin": "https://evil.example"},
    ) as resp:
        assert resp.status == 403
        assert (await resp.json())["error"]["code"] == "cross_site_request"
    async with http.post(f"{API}/stores", json={"name": "no origin"}) as resp:  # type: ignore[attr-defined]
        assert resp.status == 403

    async with gateway.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM stores") == 0


async def test_a_cookie_authenticated_post_from_our_own_origin_is_accepted(
    gateway: Harness,
) -> None:
    http = await signed_in(gateway)
    async with http.post(
        f"{API}/stores",
        json={"name": "own shop"},  # type: ignore[attr-defined]
        headers={"Origin": gateway.url},
    ) as resp:
        assert resp.status == 202


async def test_logout_ends_the_session(gateway: Harness) -> None:
    http = await signed_in(gateway)
    async with http.post(f"{API}/auth/logout", headers={"Origin": gateway.url}) as resp:  # type: ignore[attr-defined]
        assert resp.status == 204
    async with http.get(f"{API}/me") as resp:  # type: ignore[attr-defined]
        assert resp.status == 401


async def test_api_tokens_are_shown_once_listed_without_secret_and_revocable(
    gateway: Harness,
) -> None:
    user = await gateway.add_user()
    http = gateway.client(user)
    browser = await signed_in_as(gateway, user)  # only a session may create tokens
    own_origin = {"Origin": gateway.url}
    async with browser.post(f"{API}/tokens", json={"name": "ci"}, headers=own_origin) as resp:
        assert resp.status == 201
        created = await resp.json()
    assert created["token"].startswith("sf_")
    async with http.get(f"{API}/tokens") as resp:
        listed = (await resp.json())["items"]
    assert {t["name"] for t in listed} == {"tests", "ci"}
    assert all("token" not in t for t in listed)
    stored = await gateway.pool.fetchval(
        "SELECT token_hash FROM api_tokens WHERE id = $1", uuid.UUID(created["id"])
    )
    assert created["token"] not in stored

    with_new_token = gateway.client(headers={"Authorization": f"Bearer {created['token']}"})
    async with with_new_token.get(f"{API}/me") as resp:
        assert resp.status == 200  # and now this replica remembers the token for a moment

    async with http.delete(f"{API}/tokens/{created['id']}") as resp:
        assert resp.status == 204
    async with with_new_token.get(f"{API}/me") as resp:
        assert resp.status == 401


async def test_a_disabled_user_can_neither_sign_in_nor_use_a_token(gateway: Harness) -> None:
    user = await gateway.add_user()
    assert await accounts.disable_user(gateway.pool, user.username)

    async with gateway.client().post(
        f"{API}/auth/login", json={"username": user.username, "password": user.password}
    ) as resp:
        assert resp.status == 401
    async with gateway.client(user).get(f"{API}/me") as resp:
        assert resp.status == 401


async def test_passwords_are_stored_as_argon2id(gateway: Harness) -> None:
    user = await gateway.add_user()
    stored = await gateway.pool.fetchval(
        "SELECT password_hash FROM users WHERE id = $1", uuid.UUID(user.id)
    )

    assert stored.startswith("$argon2id$")
