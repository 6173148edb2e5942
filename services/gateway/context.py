"""What every handler of the gateway reaches through `request.app[GATEWAY_KEY]`: its
settings, the Postgres pool, the NATS connection, the rate limits and the store-owner
cache. Built once by `app.build_app` from resources the caller opened and closes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    import asyncpg
    from nats.aio.client import Client as NATS
    from nats.js import JetStreamContext

    from services.gateway.auth import CallerCache
    from services.gateway.owners import OwnerCache
    from services.gateway.ratelimit import RateLimits
    from services.gateway.settings import GatewaySettings


@dataclass
class Gateway:
    settings: GatewaySettings
    pool: asyncpg.Pool
    nc: NATS
    js: JetStreamContext
    limits: RateLimits
    owners: OwnerCache
    callers: CallerCache
    # Set when the server shuts down, so live streams end instead of holding it up.
    stopping: asyncio.Event = field(default_factory=asyncio.Event)


GATEWAY_KEY = web.AppKey("gateway", Gateway)
