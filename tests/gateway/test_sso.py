"""Single sign-on through a real OpenID Connect provider (Dex, tests/fixtures/oidc.py):
the gateway in-process over real Postgres and NATS, an HTTP client that follows the
redirect to the provider, fills its login form and comes back to the callback with its
cookies, as a browser does. Then the ID token checks, fed real tokens Dex issued and
hostile variants of them: each is refused with its own reason."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import jwt
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from services.gateway.oidc import Expectation, TokenRefused, check_id_token
from tests.fixtures.oidc import ADMIN_EMAIL, CLIENT_ID, OTHER_CLIENT_ID, USER_EMAIL, TestDex
from tests.gateway.conftest import RELAXED, Harness, MakeGateway

LOGIN = "/api/v1/auth/oidc/login"


@pytest.fixture
async def sso(make_gateway: MakeGateway, dex: TestDex) -> Harness:
    return await make_gateway(**RELAXED, **dex.gateway_settings())


def browser(harness: Harness) -> aiohttp.ClientSession:
    """A cookie-keeping client for the gateway and the provider alike."""
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    harness.sessions.append(session)
    return session


async def to_provider(session: aiohttp.ClientSession, harness: Harness, **query: str) -> str:
    async with session.get(harness.url + LOGIN, params=query, allow_redirects=False) as resp:
        assert resp.status == 302, await resp.text()
        return resp.headers["Location"]


async def back_at(session: aiohttp.ClientSession, callback: str) -> str:
    """Visit the callback; where it redirects to."""
    async with session.get(callback, allow_redirects=False) as resp:
        assert resp.status == 302, await resp.text()
        return resp.headers["Location"]


async def sign_in(
    harness: Harness, dex: TestDex, email: str = USER_EMAIL, **query: str
) -> tuple[aiohttp.ClientSession, str]:
    """A browser signed in (or refused) as `email`; where the callback sent it."""
    session = browser(harness)
    callback = await dex.authorize(session, await to_provider(session, harness, **query), email)
    return session, await back_at(session, callback)


async def me(session: aiohttp.ClientSession, harness: Harness) -> tuple[int, Any]:
    async with session.get(f"{harness.url}/api/v1/me") as resp:
        return resp.status, await resp.json()


async def test_the_login_redirect_asks_for_a_code_with_pkce_state_and_nonce(
    sso: Harness, dex: TestDex
) -> None:
    location = await to_provider(browser(sso), sso)
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}

    assert location.startswith(f"{dex.issuer}/auth?")
    assert query["response_type"] == "code"
    assert query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == dex.redirect_url
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43
    assert len(query["state"]) >= 32 and len(query["nonce"]) >= 32


async def test_first_sign_in_creates_the_user_with_the_default_quota_and_a_session(
    sso: Harness, dex: TestDex
) -> None:
    session, landed = await sign_in(sso, dex)
    status, body = await me(session, sso)

    assert landed == "/"
    assert status == 200
    assert body["user"]["role"] == "user"
    assert body["quota"] == {"max_stores": sso.settings.default_max_stores, "stores": 0}
    row = await sso.pool.fetchrow(
        "SELECT username, max_stores, password_hash, oidc_issuer FROM users WHERE id = $1",
        body["user"]["id"],
    )
    assert row["max_stores"] is None and row["password_hash"] is None
    assert row["oidc_issuer"] == dex.issuer
    assert row["username"] == body["user"]["username"]


async def test_a_second_sign_in_is_the_same_user(sso: Harness, dex: TestDex) -> None:
    first, _ = await sign_in(sso, dex)
    second, _ = await sign_in(sso, dex)

    assert (await me(first, sso))[1]["user"]["id"] == (await me(second, sso))[1]["user"]["id"]
    assert await sso.pool.fetchval("SELECT count(*) FROM users") == 1


async def test_a_local_user_of_the_same_name_is_never_taken_over(
    sso: Harness, dex: TestDex
) -> None:
    local = await sso.add_user(USER_EMAIL)
    session, _ = await sign_in(sso, dex)
    body = (await me(session, sso))[1]

    assert body["user"]["id"] != local.id
    assert body["user"]["username"] != USER_EMAIL


async def test_the_admin_mapping_makes_an_admin_and_losing_it_demotes_at_next_sign_in(
    make_gateway: MakeGateway, dex: TestDex
) -> None:
    mapped = await make_gateway(**RELAXED, **dex.gateway_settings())
    session, _ = await sign_in(mapped, dex, ADMIN_EMAIL)
    assert (await me(session, mapped))[1]["user"]["role"] == "admin"

    # The same database, the mapping gone (a second gateway, on the provider's other port).
    unmapped = dex.gateway_settings(dex.gateway_ports[1], oidc_admin_claim="", oidc_admin_values=[])
    again = await make_gateway(**RELAXED, **unmapped)
    demoted, _ = await sign_in(again, dex, ADMIN_EMAIL)

    assert (await me(demoted, again))[1]["user"]["role"] == "user"
    assert (await me(session, mapped))[1]["user"]["role"] == "user"  # in every session


async def test_a_disabled_user_is_refused(sso: Harness, dex: TestDex) -> None:
    session, _ = await sign_in(sso, dex)
    username = (await me(session, sso))[1]["user"]["username"]
    await sso.pool.execute("UPDATE users SET disabled = true WHERE username = $1", username)

    again, landed = await sign_in(sso, dex)

    assert landed == "/login?error=sso_user_disabled"
    assert (await me(again, sso))[0] == 401


async def test_password_login_is_refused_when_local_login_is_off(
    make_gateway: MakeGateway, dex: TestDex
) -> None:
    harness = await make_gateway(**RELAXED, **dex.gateway_settings(local_login=False))
    user = await harness.add_user()
    body = {"username": user.username, "password": user.password}
    async with harness.client().post("/api/v1/auth/login", json=body) as resp:
        assert resp.status == 403
        assert (await resp.json())["error"]["code"] == "local_login_disabled"
    async with harness.client().get("/api/v1/auth/providers") as resp:
        assert await resp.json() == {"password": False, "sso": True, "sso_name": "Example SSO"}
    session, landed = await sign_in(harness, dex)
    assert landed == "/" and (await me(session, harness))[0] == 200


async def test_logout_ends_the_session(sso: Harness, dex: TestDex) -> None:
    session, _ = await sign_in(sso, dex)
    headers = {"Origin": sso.url}
    async with session.post(f"{sso.url}/api/v1/auth/logout", headers=headers) as resp:
        assert resp.status == 204

    assert (await me(session, sso))[0] == 401


async def test_a_state_serves_once(sso: Harness, dex: TestDex) -> None:
    session = browser(sso)
    callback = await dex.authorize(session, await to_provider(session, sso), USER_EMAIL)
    assert await back_at(session, callback) == "/"

    assert await back_at(session, callback) == "/login?error=sso_state_invalid"


async def test_a_callback_without_the_browser_s_state_cookie_is_refused(
    sso: Harness, dex: TestDex
) -> None:
    session = browser(sso)
    callback = await dex.authorize(session, await to_provider(session, sso), USER_EMAIL)

    assert await back_at(browser(sso), callback) == "/login?error=sso_state_invalid"
    # The refusal was the missing cookie's: the browser that began it still gets in.
    assert await back_at(session, callback) == "/"


@pytest.mark.parametrize("wanted", ["//evil.example/", "https://evil.example/", "/\\evil.example"])
async def test_next_is_followed_only_within_this_site(
    sso: Harness, dex: TestDex, wanted: str
) -> None:
    _, landed = await sign_in(sso, dex, next=wanted)
    _, local = await sign_in(sso, dex, next="/stores/new?x=1")

    assert landed == "/"
    assert local == "/stores/new?x=1"


async def test_single_sign_on_routes_are_absent_when_it_is_off(gateway: Harness) -> None:
    async with gateway.client().get(LOGIN, allow_redirects=False) as resp:
        assert resp.status == 404
    async with gateway.client().get("/api/v1/auth/providers") as resp:
        assert await resp.json() == {"password": True, "sso": False, "sso_name": None}


# The ID token checks, on real tokens from Dex.


def expectation(dex: TestDex, nonce: str = "n-0") -> Expectation:
    return Expectation(dex.issuer, CLIENT_ID, nonce, skew_seconds=60)


async def provider_keys(dex: TestDex) -> jwt.PyJWKSet:
    async with aiohttp.ClientSession() as session, session.get(f"{dex.issuer}/keys") as resp:
        return jwt.PyJWKSet.from_dict(await resp.json())


def refusal(token: str, keys: jwt.PyJWKSet, expect: Expectation, now: float) -> str:
    with pytest.raises(TokenRefused) as refused:
        check_id_token(token, keys, expect, now)
    return refused.value.reason


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(token: str) -> dict[str, Any]:
    payload: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return payload


async def test_a_genuine_token_passes_and_hostile_ones_are_refused_each_for_its_reason(
    dex: TestDex,
) -> None:
    keys = await provider_keys(dex)
    token = await dex.id_token(nonce="n-0")
    claims = _claims(token)
    now = time.time()
    header, payload, signature = token.split(".")
    flipped = bytearray(base64.urlsafe_b64decode(signature + "=="))
    flipped[len(flipped) // 2] ^= 0x01
    kid = jwt.get_unverified_header(token)["kid"]
    unsigned = f"{_b64(json.dumps({'alg': 'none', 'kid': kid}).encode())}.{payload}."
    public_pem = keys[kid].key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    hs_input = f"{_b64(json.dumps({'alg': 'HS256', 'kid': kid}).encode())}.{payload}"
    hs_mac = hmac.new(public_pem, hs_input.encode(), hashlib.sha256).digest()
    hs_signed = f"{hs_input}.{_b64(hs_mac)}"
    tampered = f"{header}.{payload}.{_b64(bytes(flipped))}"
    other = await dex.id_token(nonce="n-0", client=OTHER_CLIENT_ID)

    assert check_id_token(token, keys, expectation(dex), now)["sub"] == claims["sub"]
    reasons = {
        "another audience": refusal(other, keys, expectation(dex), now),
        "wrong nonce": refusal(token, keys, expectation(dex, "n-1"), now),
        "expired": refusal(token, keys, expectation(dex), claims["exp"] + 61),
        "tampered": refusal(tampered, keys, expectation(dex), now),
        "alg none": refusal(unsigned, keys, expectation(dex), now),
        "HS256 with the public key": refusal(hs_signed, keys, expectation(dex), now),
    }
    assert reasons == {
        "another audience": "audience",
        "wrong nonce": "nonce",
        "expired": "expired",
        "tampered": "signature",
        "alg none": "algorithm",
        "HS256 with the public key": "algorithm",
    }
    # Within the skew, a token just past its expiry still passes.
    assert check_id_token(token, keys, expectation(dex), claims["exp"] + 59)
