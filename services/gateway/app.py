"""The gateway process: applies migrations, opens Postgres and NATS, runs the outbox
relay and the credential listener, and serves the API under `/api/v1`, `/healthz` and,
when `web/dist` exists, the SPA at `/` on its public port. `/readyz` and `/metrics` are
not on the public port: `shared.service.run_service` serves them (and `/healthz`) on the
health port, which the Ingress does not route.

`main` is what `python -m services.gateway` runs (through `shared.service.run_service`);
`build_app` is the aiohttp application over resources the caller opened, which the
tests serve in-process. It stores each shared resource under its own `web.AppKey` (those
of `context`, plus `auth.CALLERS_KEY`, `ratelimit.LIMITS_KEY`, `hashing.HASHING_KEY`,
`sse.OWNERS_KEY`, `streams.STREAMS_KEY` and, with single sign-on on,
`oidc_provider.PROVIDER_KEY`) and hands the middlewares what they use.
Middlewares, outermost first: errors, refused credentials (counted per address), auth,
rate limits (per user, so after auth);
`headers.security_headers` adds the security headers to every answer as it is prepared.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
from aiohttp import web
from aiohttp.typedefs import Handler
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from services.gateway import (
    credentials,
    routes_audit,
    routes_auth,
    routes_backups,
    routes_catalog,
    routes_domains,
    routes_operations,
    routes_rollouts,
    routes_sso,
    routes_stores,
    routes_users,
    routes_webhooks,
    sse,
)
from services.gateway.auth import CALLERS_KEY, CallerCache, auth_middleware
from services.gateway.context import (
    JETSTREAM_KEY,
    NATS_KEY,
    POOL_KEY,
    SETTINGS_KEY,
    STOPPING_KEY,
    VERSIONS_KEY,
)
from services.gateway.errors import error_middleware
from services.gateway.hashing import HASHING_KEY, PasswordHashing
from services.gateway.headers import security_headers
from services.gateway.oidc_provider import PROVIDER_KEY, OidcProvider
from services.gateway.openapi import DOCUMENT_PATH
from services.gateway.outbox import OutboxRelay
from services.gateway.owners import OwnerCache
from services.gateway.paused import paused_app
from services.gateway.ratelimit import (
    LIMITS_KEY,
    RateLimits,
    rate_limit_middleware,
    refused_credentials_middleware,
)
from services.gateway.security import session_cookie
from services.gateway.settings import GatewaySettings, engine_versions
from services.gateway.sse import OWNERS_KEY
from services.gateway.streams import STREAMS_KEY, CredentialListener, OpenStreams
from services.gateway.views import API
from shared.db import close_pool, create_pool, migrate
from shared.health import HEALTH_KEY, Health, healthz
from shared.resources import open_nats
from shared.service import Runtime
from shared.settings import SettingsError
from shared.tasks import background

BODY_LIMIT = 16 * 1024


def build_app(
    settings: GatewaySettings, pool: asyncpg.Pool, nc: NATS, js: JetStreamContext, health: Health
) -> web.Application:
    """The gateway's application; its cleanup context runs the outbox relay and the
    credential listener."""
    limits = RateLimits(settings)
    callers = CallerCache(settings.auth_cache_seconds)
    app = web.Application(
        client_max_size=BODY_LIMIT,
        middlewares=[
            error_middleware,
            refused_credentials_middleware(limits),
            auth_middleware(
                pool, callers, settings.allowed_origins, session_cookie(settings.cookie_secure)
            ),
            rate_limit_middleware(limits),
        ],
    )
    app.on_response_prepare.append(security_headers(settings))
    app[SETTINGS_KEY] = settings
    app[VERSIONS_KEY] = engine_versions(settings)
    app[POOL_KEY] = pool
    app[NATS_KEY] = nc
    app[JETSTREAM_KEY] = js
    app[STOPPING_KEY] = asyncio.Event()
    app[LIMITS_KEY] = limits
    app[CALLERS_KEY] = callers
    app[HASHING_KEY] = PasswordHashing(settings.login_hash_workers, settings.login_queue)
    app[OWNERS_KEY] = OwnerCache(pool)
    app[STREAMS_KEY] = OpenStreams(settings.sse_streams_per_user, settings.sse_recheck_seconds)
    _add_routes(app, health)
    app.cleanup_ctx.append(_relay)
    app.cleanup_ctx.append(_credential_listener)
    if settings.sso_enabled:
        app[PROVIDER_KEY] = OidcProvider(settings)
        app.cleanup_ctx.append(_oidc_provider)
    app.on_cleanup.append(_stop_hashing)
    app.on_shutdown.append(_end_streams)
    _add_spa(app, settings.web_dist)
    return app


def _add_routes(app: web.Application, health: Health) -> None:
    app[HEALTH_KEY] = health
    app.router.add_get("/healthz", healthz)
    for module in (
        routes_auth,
        routes_sso,
        routes_users,
        routes_catalog,
        routes_stores,
        routes_backups,
        routes_domains,
        routes_operations,
        routes_rollouts,
        routes_audit,
        routes_webhooks,
        credentials,
        sse,
    ):
        app.add_routes(module.routes)
    document = DOCUMENT_PATH.read_bytes()
    app.router.add_get(f"{API}/openapi.json", _serve_document(document))


def _serve_document(document: bytes) -> Handler:
    async def openapi_document(_: web.Request) -> web.Response:
        return web.Response(body=document, content_type="application/json")

    return openapi_document


async def _end_streams(app: web.Application) -> None:
    app[STOPPING_KEY].set()


async def _stop_hashing(app: web.Application) -> None:
    app[HASHING_KEY].close()


async def _relay(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS_KEY]
    worker = OutboxRelay(
        app[POOL_KEY],
        settings.database_url.get_secret_value(),
        app[NATS_KEY],
        app[JETSTREAM_KEY],
        settings.stream_name,
        poll=settings.outbox_poll_seconds,
        batch=settings.outbox_batch,
    )
    async with background(worker.run(), "outbox relay"):
        yield


async def _credential_listener(app: web.Application) -> AsyncIterator[None]:
    dsn = app[SETTINGS_KEY].database_url.get_secret_value()
    listener = CredentialListener(dsn, app[STREAMS_KEY], app[CALLERS_KEY])
    async with background(listener.run(), "credential listener"):
        yield


async def _oidc_provider(app: web.Application) -> AsyncIterator[None]:
    async with app[PROVIDER_KEY].opened():
        yield


def _add_spa(app: web.Application, dist: Path) -> None:
    """Serve the built SPA: its files, and index.html for the app's own paths. Never for
    the health port's paths: a monitor pointed at the public port must get a 404, not a
    page that looks like an answer."""
    index = dist / "index.html"
    if not index.is_file():
        return
    root = dist.resolve()

    async def spa(request: web.Request) -> web.FileResponse:
        wanted = (root / request.match_info["path"]).resolve()
        if wanted.is_file() and wanted.is_relative_to(root):
            return web.FileResponse(wanted)
        return web.FileResponse(index)

    app.router.add_get("/{path:(?!api/|readyz$|metrics$).*}", spa)


async def keep_session(_: asyncpg.Connection) -> None:
    """Skip asyncpg's reset query on every pool release: a round trip per query.

    Safe because the gateway leaves no session state behind: no SET, no session advisory
    locks, LISTEN only on the relay's own connection; asyncpg still rolls back an open
    transaction before this runs.
    """


async def open_pool(runtime: Runtime, settings: GatewaySettings) -> asyncpg.Pool:
    """Like `shared.resources.open_database`, with the reset round trip skipped."""
    dsn = settings.database_url.get_secret_value()
    await migrate(dsn)
    pool = await create_pool(
        dsn,
        max_size=settings.db_pool_size,
        timeout=settings.connect_timeout_seconds,
        reset=keep_session,
    )
    runtime.stack.push_async_callback(close_pool, pool)

    async def answers() -> bool:
        return bool(await pool.fetchval("SELECT 1") == 1)

    runtime.health.add("postgres", answers)
    return pool


async def main(settings: GatewaySettings, runtime: Runtime) -> None:
    pool = await open_pool(runtime, settings)
    # Without NATS the API still serves and takes requests (the outbox holds their
    # events), so a NATS restart must not take the dashboard out of the ingress.
    nc, js = await open_nats(runtime, settings, consumers=(), required=False)
    app = build_app(settings, pool, nc, js, runtime.health)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=settings.shutdown_grace_seconds)
    await runner.setup()
    runtime.stack.push_async_callback(runner.cleanup)
    try:
        await web.TCPSite(runner, settings.http_host, settings.http_port).start()
    except OSError as exc:
        where = f"{settings.http_host}:{settings.http_port}"
        raise SettingsError(
            f"cannot listen on {where} (STOREFLEET_HTTP_PORT): {exc.strerror}"
        ) from exc
    if settings.paused_port:
        await _serve_paused(runtime, settings)
    await runtime.stopping.wait()


async def _serve_paused(runtime: Runtime, settings: GatewaySettings) -> None:
    runner = web.AppRunner(paused_app(), access_log=None, shutdown_timeout=1)
    await runner.setup()
    runtime.stack.push_async_callback(runner.cleanup)
    try:
        await web.TCPSite(runner, settings.http_host, settings.paused_port).start()
    except OSError as exc:
        where = f"{settings.http_host}:{settings.paused_port}"
        raise SettingsError(
            f"cannot listen on {where} (STOREFLEET_PAUSED_PORT): {exc.strerror}"
        ) from exc
