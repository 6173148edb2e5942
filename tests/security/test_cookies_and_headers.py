"""The dashboard's session cannot be planted or shadowed from a store's host, and every
answer tells browsers how to treat it (CSP with `frame-ancestors 'none'`, nosniff, a
referrer policy, HSTS over TLS).

Stores live on sibling subdomains of the dashboard (shop.stores.example next to
dashboard.stores.example); a store owner controls their host and can set cookies for the
parent domain, which browsers then send to the dashboard too. They cannot set a
`__Host-` cookie there: browsers refuse that prefix with a Domain attribute. These tests
send the Cookie header such a browser sends, in both orders browsers may use.
"""

from __future__ import annotations

from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import aiohttp

from tests.gateway.conftest import RELAXED, Harness, MakeGateway, TestUser

API = "/api/v1"


async def login(gateway: Harness, user: TestUser) -> SimpleCookie:
    """The cookie the gateway sets when `user` signs in."""
    body = {"username": user.username, "password": user.password}
    async with gateway.client(cookie_jar=aiohttp.DummyCookieJar()).post(
        f"{API}/auth/login", json=body
    ) as resp:
        assert resp.status == 200
        return SimpleCookie(resp.headers["Set-Cookie"])


async def me_with(gateway: Harness, cookie_header: str) -> tuple[int, str | None]:
    """Who /me says the caller is when the browser sends `cookie_header`."""
    http = gateway.client(cookie_jar=aiohttp.DummyCookieJar())
    async with http.get(f"{API}/me", headers={"Cookie": cookie_header}) as resp:
        if resp.status != 200:
            return resp.status, None
        return 200, (await resp.json())["user"]["username"]


async def test_the_session_cookie_is_host_prefixed_secure_path_root_without_domain(
    make_gateway: MakeGateway,
) -> None:
    gateway = await make_gateway(cookie_secure=True, **RELAXED)
    cookie = await login(gateway, await gateway.add_user())

    [(name, morsel)] = cookie.items()
    assert name == "__Host-storefleet_session"
    assert morsel["secure"] and morsel["httponly"]
    assert morsel["path"] == "/"
    assert not morsel["domain"]
    assert morsel["samesite"] == "Strict"


async def test_a_cookie_set_by_a_store_host_cannot_replace_or_shadow_the_session(
    make_gateway: MakeGateway,
) -> None:
    gateway = await make_gateway(cookie_secure=True, **RELAXED)
    victim, attacker = await gateway.add_user(), await gateway.add_user()
    [(name, own)] = (await login(gateway, victim)).items()
    [(_, planted)] = (await login(gateway, attacker)).items()
    # What a store host can set for the whole site: `Domain=stores.example`, and so
    # never the `__Host-` name, only the bare one.
    bare = name.removeprefix("__Host-")
    from_store = f"{bare}={planted.value}"
    victims = f"{name}={own.value}"

    assert await me_with(gateway, f"{from_store}; {victims}") == (200, victim.username)
    assert await me_with(gateway, f"{victims}; {from_store}") == (200, victim.username)
    # Not signed in to the dashboard: the planted session must not sign the victim in
    # as the attacker (whose stores they would then fill in).
    assert await me_with(gateway, from_store) == (401, None)


async def test_plain_http_development_keeps_signing_in_with_the_bare_cookie_name(
    gateway: Harness,
) -> None:
    # The in-process gateway runs with cookie_secure=False, as local development does.
    user = await gateway.add_user()
    [(name, morsel)] = (await login(gateway, user)).items()

    assert name == "storefleet_session"
    assert not morsel["secure"]
    assert await me_with(gateway, f"{name}={morsel.value}") == (200, user.username)


def assert_protective(headers: Any) -> None:
    policy = headers["Content-Security-Policy"]
    for directive in ("frame-ancestors 'none'", "default-src 'self'", "script-src 'self'"):
        assert directive in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] in {"same-origin", "no-referrer", "strict-origin"}


async def test_every_answer_carries_csp_nosniff_and_a_referrer_policy(
    make_gateway: MakeGateway, tmp_path: Path
) -> None:
    (tmp_path / "index.html").write_text("<!doctype html><title>dashboard</title>")
    gateway = await make_gateway(web_dist=tmp_path, **RELAXED)
    user = await gateway.add_user()
    http = gateway.client(user)

    for path in ("/", "/stores/abc", f"{API}/openapi.json", f"{API}/me", f"{API}/nowhere"):
        async with http.get(path) as resp:
            assert_protective(resp.headers)
    async with gateway.client().get(f"{API}/me") as resp:
        assert resp.status == 401
        assert_protective(resp.headers)
    async with http.get(f"{API}/stream") as resp:  # a streamed answer, prepared early
        assert resp.status == 200
        assert_protective(resp.headers)


async def test_hsts_is_sent_only_over_tls(make_gateway: MakeGateway) -> None:
    behind_proxy = await make_gateway(trust_forwarded_for=True, **RELAXED)
    untrusting = await make_gateway(**RELAXED)
    tls = {"X-Forwarded-Proto": "https"}

    async with behind_proxy.client().get(f"{API}/openapi.json", headers=tls) as resp:
        assert resp.headers["Strict-Transport-Security"] == "max-age=31536000"
    async with behind_proxy.client().get(f"{API}/openapi.json") as resp:
        assert "Strict-Transport-Security" not in resp.headers  # plain HTTP
    async with untrusting.client().get(f"{API}/openapi.json", headers=tls) as resp:
        assert "Strict-Transport-Security" not in resp.headers  # nobody we trust said TLS
