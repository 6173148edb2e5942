"""The gateway process: applies migrations, opens Postgres and NATS, and serves HTTP with
`/healthz`, `/readyz` and `/metrics` on its own port. The API arrives with the gateway
issue."""

from __future__ import annotations

from aiohttp import web

from services.gateway.settings import GatewaySettings
from shared.health import add_health_routes
from shared.resources import open_database, open_nats
from shared.service import Runtime
from shared.settings import SettingsError


async def main(settings: GatewaySettings, runtime: Runtime) -> None:
    await open_database(runtime, settings, run_migrations=True)
    await open_nats(runtime, settings)
    app = web.Application(client_max_size=16 * 1024)
    add_health_routes(app, runtime.health)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    runtime.stack.push_async_callback(runner.cleanup)
    try:
        await web.TCPSite(runner, settings.http_host, settings.http_port).start()
    except OSError as exc:
        where = f"{settings.http_host}:{settings.http_port}"
        raise SettingsError(f"cannot listen on {where} (STOREFLEET_HTTP_PORT): {exc.strerror}") from exc
    await runtime.stopping.wait()
