"""Two gateway processes (`python -m services.gateway`, started through
`devtools.launcher`) sharing one real Redis hold one set of limits: an attacker gains
nothing by spreading calls over the replicas, and the per-user and per-address counts
stay apart on both."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import coredis
import pytest

from devtools import procs
from devtools.launcher import settings_env, start_service
from services.gateway import accounts
from services.gateway.security import digest, hash_password, new_api_token
from tests.fixtures.redis import TestRedis
from tests.security.gateways import wait_serving

API = "/api/v1"
NAMES = ("gateway-a", "gateway-b")
LIMITS = {
    "rate_limit_requests": "6/minute",
    "rate_limit_login_client": "4/minute",
    "rate_limit_login_account": "1000/minute",
}


@pytest.fixture
async def redis_url(redis_server: TestRedis) -> str:
    """The session's Redis, emptied: counts of 127.0.0.1 from earlier tests are gone."""
    client = coredis.Redis.from_url(redis_server.url)
    try:
        await client.flushdb()
    finally:
        client.connection_pool.disconnect()
    return redis_server.url


@pytest.fixture
def replicas(
    migrated_database_url: str,
    nats_server: Any,
    stores_stream_name: str,
    redis_url: str,
    tmp_path: Path,
) -> Iterator[list[str]]:
    """Two gateway processes over one database, NATS and Redis; their base URLs."""
    started: list[subprocess.Popen[bytes]] = []
    urls = []
    for name in NAMES:
        port = procs.free_port()
        env = settings_env(
            database_url=migrated_database_url,
            **nats_server.service_settings("gateway"),
            stream_name=stores_stream_name,
            http_host="127.0.0.1",
            http_port=port,
            health_port=procs.free_port(),
            cookie_secure="false",
            rate_limit_storage=redis_url,
            **LIMITS,
        )
        started.append(start_service("gateway", tmp_path / f"{name}.log", env))
        urls.append(f"http://127.0.0.1:{port}")
    yield urls
    for proc in started:
        procs.stop(proc, timeout=20)


@pytest.fixture
async def http(replicas: list[str], tmp_path: Path) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        for name, url in zip(NAMES, replicas, strict=True):
            await wait_serving(url, tmp_path / f"{name}.log")
        yield session


@pytest.fixture
async def tokens(migrated_database_url: str) -> AsyncIterator[list[tuple[str, str]]]:
    """(username, API token) of three users with the password `right-password`."""
    pool = await asyncpg.create_pool(migrated_database_url, min_size=1, max_size=2)
    stored = hash_password("right-password")
    made = []
    try:
        for _ in range(3):
            name = f"replica-user-{uuid.uuid4().hex[:8]}"
            user_id = await accounts.create_user(pool, name, stored)
            token = new_api_token()
            await accounts.create_token(pool, user_id, "tests", digest(token))
            made.append((name, token))
        yield made
    finally:
        await pool.close()


async def get_stores(http: aiohttp.ClientSession, url: str, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    async with http.get(f"{url}{API}/stores", headers=headers) as resp:
        return resp.status


async def sign_in(http: aiohttp.ClientSession, url: str, username: str, password: str) -> int:
    body = {"username": username, "password": password}
    async with http.post(f"{url}{API}/auth/login", json=body) as resp:
        return resp.status


async def test_a_users_limit_holds_across_two_replicas_and_is_the_users_own(
    http: aiohttp.ClientSession, replicas: list[str], tokens: list[tuple[str, str]]
) -> None:
    a, b = replicas
    (_, user), (_, colleague), _ = tokens

    # A colleague at the same address spends part of their own count first.
    assert [await get_stores(http, url, colleague) for url in (a, b, a, b)] == [200] * 4
    spread = [await get_stores(http, url, user) for url in (a, b) * 3]
    assert spread == [200] * 6  # 6 per minute, counted once for both replicas
    assert await get_stores(http, a, user) == 429
    assert await get_stores(http, b, user) == 429
    assert [await get_stores(http, url, colleague) for url in (a, b)] == [200, 200]
    assert await get_stores(http, a, colleague) == 429


async def test_a_login_flood_over_both_replicas_is_refused_per_address_not_per_user(
    http: aiohttp.ClientSession, replicas: list[str], tokens: list[tuple[str, str]]
) -> None:
    a, b = replicas
    (username, token), *_ = tokens

    flood = [await sign_in(http, url, f"nobody-{n}", "guess") for n, url in enumerate((a, b) * 2)]
    assert flood == [401] * 4  # 4 per minute from this address, counted once for both
    assert await sign_in(http, a, username, "right-password") == 429
    assert await sign_in(http, b, username, "right-password") == 429
    # Signed-in work from that address is the user's own count, untouched by the flood.
    assert [await get_stores(http, url, token) for url in (a, b) * 3] == [200] * 6
