"""How every storefleet process starts and stops.

`run_service` is called from each service's `__main__`: it configures logging, serves
`/healthz`, `/readyz` and `/metrics`, turns SIGTERM and SIGINT into `Runtime.stopping`,
and runs the service's `main` inside one `AsyncExitStack` that closes every long-lived
resource in reverse order. A dependency that cannot be reached at start-up, or a setting
that is missing or wrong, ends the process with exit code 2 and one line naming the
setting or the endpoint, not a traceback.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Literal, TypeVar

import structlog
from aiohttp import web
from pydantic_settings import BaseSettings

from shared.db import DatabaseUnavailable, SchemaBehind
from shared.health import Health, health_app
from shared.jetstream import NatsUnavailable
from shared.kube_errors import KubeError
from shared.logs import configure_logging
from shared.objectstore import ObjectStoreError
from shared.settings import CommonSettings, SettingsError, load_settings

STARTUP_ERRORS = (
    SettingsError,
    NatsUnavailable,
    DatabaseUnavailable,
    SchemaBehind,
    KubeError,
    ObjectStoreError,
)
EXIT_STARTUP = 2

log = structlog.get_logger(__name__)
S = TypeVar("S", bound=BaseSettings)


class StopSignal(asyncio.Event):
    """Set when the process is told to stop. A service that starts waiting on it has
    opened everything it needs, so the first wait also marks the service started."""

    def __init__(self, health: Health) -> None:
        super().__init__()
        self.health = health

    async def wait(self) -> Literal[True]:
        self.health.started = True
        return await super().wait()


@dataclass
class Runtime:
    """What a service's main gets: its exit stack, its health checks, and the stop signal."""

    name: str
    stack: AsyncExitStack
    health: Health = field(default_factory=Health)
    stopping: StopSignal = field(init=False)

    def __post_init__(self) -> None:
        self.stopping = StopSignal(self.health)

    def mark_started(self) -> None:
        """Every resource is open: from now on /readyz answers from the checks."""
        self.health.started = True
        log.info("service started")


ServiceMain = Callable[[Runtime], Awaitable[None]]


def settings_or_exit(name: str, cls: type[S]) -> S:
    try:
        return load_settings(cls)
    except SettingsError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_STARTUP) from None


def run_service(
    name: str, settings: CommonSettings, main: ServiceMain, *, serve_health: bool = True
) -> None:
    """Run `main` until it returns or the process is told to stop; exit 2 on start-up errors."""
    configure_logging(name, settings.log_level)
    try:
        asyncio.run(_serve(name, settings, main, serve_health))
    except STARTUP_ERRORS as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_STARTUP) from None


async def _serve(
    name: str, settings: CommonSettings, main: ServiceMain, serve_health: bool
) -> None:
    async with AsyncExitStack() as stack:
        runtime = Runtime(name=name, stack=stack)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, _request_stop, runtime, sig)
        if serve_health:
            await _start_health_server(runtime, settings.health_host, settings.health_port)
        log.info("service starting")
        await main(runtime)
        log.info("service stopped")


def _request_stop(runtime: Runtime, sig: signal.Signals) -> None:
    if not runtime.stopping.is_set():
        log.info("stop requested", signal=sig.name)
    runtime.health.live = False
    runtime.stopping.set()


async def _start_health_server(runtime: Runtime, host: str, port: int) -> None:
    runner = web.AppRunner(health_app(runtime.health), access_log=None)
    await runner.setup()
    runtime.stack.push_async_callback(runner.cleanup)
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as exc:
        raise SettingsError(f"cannot serve health on {host}:{port}: {exc.strerror}") from exc
    log.info("health endpoints up", host=host, port=port)
