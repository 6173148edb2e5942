"""The gateway in-process for tests: a real Postgres database and a real NATS server, a
`STORES`-shaped stream of this test's own (unique name, deleted afterwards), and the
aiohttp app on a loopback port, its health app (`/readyz`, `/metrics`) on another
(`Harness.ops_url`). The app logs in as the gateway's own Postgres role, as deployed;
`Harness.pool` is the migration owner's, for a test's own setup and checks (it may write
what the auditor would). `make_gateway(**settings)` starts one (`port=` serves it on that
port: the single sign-on tests' provider knows its callback there); `gateway` is one
with rate limits raised out of the way. Users come from `Harness.add_user`, each with an
API token; `Harness.client(user)` is an HTTP session that sends it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from services.gateway import accounts
from services.gateway.app import build_app, keep_session
from services.gateway.security import digest, hash_password, new_api_token
from services.gateway.settings import GatewaySettings
from shared.db import close_pool, create_pool
from shared.health import Health, health_app
from shared.jetstream import connect, ensure_stream
from shared.subjects import stores_stream

RELAXED = {"rate_limit_requests": "100000/minute", "rate_limit_creates": "100000/minute"}


@dataclass(frozen=True)
class TestUser:
    __test__ = False

    id: str
    username: str
    password: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Harness:
    url: str
    settings: GatewaySettings
    pool: asyncpg.Pool
    nc: NATS
    js: JetStreamContext
    api_routes: set[tuple[str, str]]
    ops_url: str = ""
    sessions: list[aiohttp.ClientSession] = field(default_factory=list)
    _hash: str = field(default_factory=lambda: hash_password("secret-password"))

    async def add_user(
        self, name: str | None = None, *, admin: bool = False, max_stores: int | None = None
    ) -> TestUser:
        username = name or f"user-{uuid.uuid4().hex[:8]}"
        user_id = await accounts.create_user(
            self.pool, username, self._hash, admin=admin, max_stores=max_stores
        )
        token = new_api_token()
        await accounts.create_token(self.pool, user_id, "tests", digest(token))
        return TestUser(user_id, username, "secret-password", token)

    def client(self, user: TestUser | None = None, **kwargs: Any) -> aiohttp.ClientSession:
        headers = dict(user.auth) if user else {}
        headers.update(kwargs.pop("headers", {}))
        # unsafe: keep cookies from an IP-address host such as 127.0.0.1
        kwargs.setdefault("cookie_jar", aiohttp.CookieJar(unsafe=True))
        session = aiohttp.ClientSession(base_url=self.url, headers=headers, **kwargs)
        self.sessions.append(session)
        return session

    def ops_client(self) -> aiohttp.ClientSession:
        """A session on the health port, where `/readyz` and `/metrics` are served."""
        session = aiohttp.ClientSession(base_url=self.ops_url)
        self.sessions.append(session)
        return session

    async def create_store(
        self, user: TestUser, name: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        body = {"name": name or f"shop {uuid.uuid4().hex[:8]}", **extra}
        async with self.client(user).post("/api/v1/stores", json=body) as resp:
            assert resp.status == 202, await resp.text()
            created: dict[str, Any] = await resp.json()
            return created

    async def project(self, store_id: str, status: str, **columns: Any) -> None:
        """Write the store's `store_states` row as the auditor would once its events say
        `status` (and `columns`, e.g. error): the gateway tests run no auditor."""
        sid = uuid.UUID(store_id)
        await self.pool.execute(
            "INSERT INTO store_states (id, owner_id, name, slug, namespace, engine, plan,"
            " status, created_at, updated_at, attempt) SELECT id, owner_id, name, slug,"
            " namespace, engine, plan, $2, created_at, now(), attempt FROM store_requests"
            " WHERE id = $1 ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status,"
            " updated_at = EXCLUDED.updated_at, attempt = EXCLUDED.attempt",
            sid,
            status,
        )
        for column, value in columns.items():
            await self.pool.execute(
                f"UPDATE store_states SET {column} = $2 WHERE id = $1", sid, value
            )


def api_routes(app: web.Application) -> set[tuple[str, str]]:
    """(method, path) of every route under /api/v1, as the app's router has them."""
    found = set()
    for route in app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if path.startswith("/api/v1/") and route.method != "HEAD":
            found.add((route.method, path))
    return found


MakeGateway = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def gateway_stream(js: JetStreamContext, stores_stream_name: str) -> str:
    """This test's stream on `store.>`, deleted at teardown by `stores_stream_name`."""
    await ensure_stream(js, stores_stream(timedelta(hours=1), 1, stores_stream_name))
    return stores_stream_name


@pytest.fixture
async def make_gateway(
    migrated_database_url: str,
    service_database_urls: dict[str, str],
    nats_server: Any,
    gateway_stream: str,
) -> AsyncIterator[MakeGateway]:
    opened: list[tuple[TestServer, TestServer, Harness, asyncpg.Pool]] = []
    as_gateway = service_database_urls["gateway"]

    async def make(*, port: int | None = None, **overrides: Any) -> Harness:
        values = {
            "database_url": as_gateway,
            **nats_server.service_settings("gateway"),
            "stream_name": gateway_stream,
            "cookie_secure": False,
            "outbox_poll_seconds": 0.5,
            **overrides,
        }
        settings = GatewaySettings(**values)
        service_pool = await create_pool(
            settings.database_url.get_secret_value(), max_size=20, reset=keep_session
        )
        pool = await create_pool(migrated_database_url, max_size=5)
        nc = await connect(nats_server.url, name="gateway-tests", connect_timeout=5.0)
        js = nc.jetstream()
        health = Health()
        health.started = True  # as run_service marks it once everything is open
        app = build_app(settings, service_pool, nc, js, health)
        server = TestServer(app, host="127.0.0.1", port=port)
        await server.start_server()
        ops = TestServer(health_app(health), host="127.0.0.1")
        await ops.start_server()
        url = str(server.make_url("")).rstrip("/")
        harness = Harness(url, settings, pool, nc, js, api_routes(app))
        harness.ops_url = str(ops.make_url("")).rstrip("/")
        opened.append((server, ops, harness, service_pool))
        return harness

    yield make
    for server, ops, harness, service_pool in reversed(opened):
        for session in harness.sessions:
            await session.close()
        await server.close()
        await ops.close()
        await harness.nc.close()
        await close_pool(service_pool)
        await close_pool(harness.pool)


@pytest.fixture
async def gateway(make_gateway: MakeGateway) -> Harness:
    return await make_gateway(**RELAXED)


async def stream_messages(js: JetStreamContext, stream: str, subject: str) -> list[Any]:
    """Every message of `stream` on `subject` (wildcards allowed), in stream order."""
    info = await js.stream_info(stream)
    if info.state.messages == 0:
        return []
    sub = await js.pull_subscribe(subject, stream=stream)
    messages = []
    try:
        while True:
            try:
                batch = await sub.fetch(100, timeout=0.5)
            except TimeoutError:
                break
            for msg in batch:
                await msg.ack()
            messages.extend(batch)
    finally:
        await sub.unsubscribe()
    return messages
