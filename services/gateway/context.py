"""The resources the gateway's handlers share, each under its own `web.AppKey`, so a
module names exactly what it reaches for in `request.app`: the settings, the engines'
versions, the Postgres pool, the NATS connection and its JetStream context, and the event
set when the server shuts down. `app.build_app` stores them from resources its caller
opened and closes.

Caches and limits live with the module that owns them: `auth.CALLERS_KEY`,
`ratelimit.LIMITS_KEY`, `sse.OWNERS_KEY`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import asyncpg
from aiohttp import web
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from services.gateway.settings import GatewaySettings
from shared.engine_versions import EngineVersions

SETTINGS_KEY = web.AppKey("settings", GatewaySettings)
# Each offered engine's versions (charts/engines/<engine>/versions.yaml), read at start-up.
VERSIONS_KEY = web.AppKey("engine_versions", Mapping[str, EngineVersions])
POOL_KEY = web.AppKey("pool", asyncpg.Pool)
NATS_KEY = web.AppKey("nats", NATS)
JETSTREAM_KEY = web.AppKey("jetstream", JetStreamContext)
# Set when the server shuts down, so live streams end instead of holding it up.
STOPPING_KEY = web.AppKey("stopping", asyncio.Event)
