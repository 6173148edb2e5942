"""`/healthz`, `/readyz` and `/metrics` on every service's health port (`health_app`,
served by `shared.service`); the gateway also answers `/healthz` on its public port.
Readiness is a set of named checks, each a cheap async call that says whether a
dependency (NATS, Postgres, the API server) answers now; a 503 body names the failing
ones so an operator sees why a pod is not ready. A check added with `required=False`
names a dependency the service works on without (the gateway's NATS: its outbox holds
events meanwhile): when it fails the service stays ready, status `degraded`, so the
ingress keeps routing to it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import prometheus_client
from aiohttp import web

Check = Callable[[], Awaitable[bool]]
CHECK_TIMEOUT = 2.0


class Health:
    def __init__(self) -> None:
        self.checks: dict[str, Check] = {}
        self.optional: set[str] = set()
        self.live = True
        # False until the service has opened every resource (and so registered every
        # check): a half-started service must not look ready.
        self.started = False

    def add(self, name: str, check: Check, required: bool = True) -> None:
        self.checks[name] = check
        if not required:
            self.optional.add(name)

    async def results(self) -> dict[str, bool]:
        names = list(self.checks)
        outcomes = await asyncio.gather(*(self._run(self.checks[n]) for n in names))
        return dict(zip(names, outcomes, strict=True))

    @staticmethod
    async def _run(check: Check) -> bool:
        try:
            async with asyncio.timeout(CHECK_TIMEOUT):
                return await check()
        except Exception:
            return False


HEALTH_KEY = web.AppKey("health", Health)


async def healthz(request: web.Request) -> web.Response:
    live = request.app[HEALTH_KEY].live
    return web.json_response({"status": "ok" if live else "stopping"}, status=200 if live else 503)


async def readyz(request: web.Request) -> web.Response:
    health = request.app[HEALTH_KEY]
    results = await health.results()
    failing = {name for name, ok in results.items() if not ok}
    ready = health.started and health.live and failing <= health.optional
    status = "ready" if ready else ("not ready" if health.started else "starting")
    if ready and failing:
        status = "degraded"
    body = {"status": status, "checks": results}
    return web.json_response(body, status=200 if ready else 503)


async def metrics(_: web.Request) -> web.Response:
    body = prometheus_client.generate_latest(prometheus_client.REGISTRY)
    return web.Response(body=body, headers={"Content-Type": prometheus_client.CONTENT_TYPE_LATEST})


def add_health_routes(app: web.Application, health: Health) -> None:
    app[HEALTH_KEY] = health
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)


def health_app(health: Health) -> web.Application:
    app = web.Application()
    add_health_routes(app, health)
    return app
