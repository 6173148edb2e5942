"""The long-lived resources a service opens at start-up, each registered on the
service's exit stack (closed in reverse order) and on its readiness checks.

Called from each service's `app.main`. A dependency that cannot be reached raises one of
`shared.service.STARTUP_ERRORS`, which `run_service` reports in one line.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import asyncpg
from kubernetes_asyncio import client
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from shared.db import close_pool, create_pool, migrate
from shared.jetstream import connect, ensure_consumer, ensure_stream
from shared.kube import kube_client
from shared.service import Runtime
from shared.settings import CommonSettings, KubeSettings
from shared.subjects import CONSUMERS, ConsumerSpec, stores_stream


async def open_nats(
    runtime: Runtime,
    settings: CommonSettings,
    consumers: tuple[ConsumerSpec, ...] = CONSUMERS,
    required: bool = True,
) -> tuple[NATS, JetStreamContext]:
    """Connect, make sure the STORES stream and the consumers exist, and watch the link
    (`required=False`: a lost link leaves the service ready, `degraded`)."""
    nc = await connect(settings, runtime.name)
    runtime.stack.push_async_callback(nc.close)
    js = nc.jetstream()
    spec = stores_stream(
        timedelta(days=settings.stream_max_age_days), settings.stream_replicas, settings.stream_name
    )
    await ensure_stream(js, spec)
    for consumer in consumers:
        await ensure_consumer(js, spec.name, consumer)

    async def connected() -> bool:
        return bool(nc.is_connected)

    runtime.health.add("nats", connected, required=required)
    return nc, js


async def open_database(
    runtime: Runtime,
    settings: CommonSettings,
    *,
    max_size: int = 10,
    run_migrations: bool = False,
    read_only: bool = False,
) -> asyncpg.Pool:
    """The pool (`read_only`: every transaction read-only, for a service that must never
    write)."""
    dsn = settings.database_url.get_secret_value()
    if run_migrations:
        await migrate(dsn)
    extra: dict[str, Any] = (
        {"server_settings": {"default_transaction_read_only": "on"}} if read_only else {}
    )
    pool = await create_pool(
        dsn, max_size=max_size, timeout=settings.connect_timeout_seconds, **extra
    )
    runtime.stack.push_async_callback(close_pool, pool)

    async def answers() -> bool:
        return bool(await pool.fetchval("SELECT 1") == 1)

    runtime.health.add("postgres", answers)
    return pool


async def open_kube(runtime: Runtime, settings: KubeSettings) -> client.ApiClient:
    api = await runtime.stack.enter_async_context(kube_client(settings))

    async def answers() -> bool:
        await client.VersionApi(api).get_code(_request_timeout=2)
        return True

    runtime.health.add("kubernetes", answers)
    return api
