"""The Medusa engine as a real process on this machine: `npm ci` when node_modules is
missing, the setup step (`npm run setup`: migrations, then the seed) against a database,
and `medusa start` on a free port until GET /health answers OK.

Used by the Medusa test fixtures and the empty-database-to-order benchmark. Output of
each step goes to a log under `.run/logs/medusa/`; a failure raises with its tail.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from devtools import procs

REPO = Path(__file__).resolve().parents[2]
APP_DIR = REPO / "engines" / "medusa"
LOG_DIR = REPO / ".run" / "logs" / "medusa"
MEDUSA = APP_DIR / "node_modules" / ".bin" / "medusa"


class MedusaError(RuntimeError):
    """A step of the Medusa application failed; the message carries its log tail."""


def node_missing() -> str | None:
    """Why the Medusa engine cannot run here, or None when node and npm are present."""
    absent = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    return f"{' and '.join(absent)} not on PATH: the Medusa engine needs Node" if absent else None


@dataclass(frozen=True)
class StoreSettings:
    """The environment of one store's Medusa process, as the chart would set it."""

    database_url: str
    port: int
    store_name: str = "Fleet Test Shop"
    admin_email: str = "owner@shop.example"
    admin_password: str = "correct-horse-battery-staple"
    currency: str = "eur"
    country: str = "de"
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {
            "DATABASE_URL": self.database_url,
            "JWT_SECRET": "test-jwt-secret",
            "COOKIE_SECRET": "test-cookie-secret",
            "STORE_URL": self.url,
            "STORE_NAME": self.store_name,
            "STORE_CURRENCY": self.currency,
            "STORE_COUNTRY": self.country,
            "ADMIN_EMAIL": self.admin_email,
            "ADMIN_PASSWORD": self.admin_password,
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "MEDUSA_DISABLE_TELEMETRY": "true",
            "NODE_ENV": "production",
            "REDIS_URL": "",
            **self.extra,
        }


def record_timings(**seconds: float | None) -> None:
    """Append one run's figures to `.run/logs/medusa/timings.jsonl` (for the report)."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    with (LOG_DIR / "timings.jsonl").open("a") as out:
        out.write(json.dumps({"at": time.strftime("%Y-%m-%dT%H:%M:%S"), **seconds}) + "\n")


def install() -> float | None:
    """`npm ci` when node_modules is missing; the seconds it took, or None if skipped."""
    if MEDUSA.exists():
        return None
    return _run(
        ["npm", "ci", "--include=dev", "--no-audit", "--no-fund"], "npm-ci.log", env={}, timeout=900
    )


def setup(settings: StoreSettings) -> float:
    """Run the store's setup step; the seconds it took."""
    return _run(["npm", "run", "setup"], "setup.log", settings.env(), timeout=300)


def _run(argv: list[str], log_name: str, env: dict[str, str], timeout: float) -> float:
    log = LOG_DIR / log_name
    started = time.monotonic()
    proc = procs.start(argv, log, env=env, cwd=APP_DIR)
    try:
        code = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        procs.stop(proc)
        raise MedusaError(f"{' '.join(argv)} took over {timeout}s: {procs.tail(log)}") from None
    if code != 0:
        raise MedusaError(f"{' '.join(argv)} exited with {code}: {procs.tail(log, 30)}")
    return time.monotonic() - started


class MedusaServer:
    """`medusa start` for one store, stopped with SIGTERM (Medusa shuts down gracefully)."""

    def __init__(self, settings: StoreSettings) -> None:
        self.settings = settings
        self.log = LOG_DIR / f"server-{settings.port}.log"
        self._proc: subprocess.Popen[bytes] | None = None

    async def start(self, timeout: float = 120.0) -> float:
        """Start the server and wait until it is healthy; the seconds that took."""
        started = time.monotonic()
        self._proc = procs.start(
            [str(MEDUSA), "start"], self.log, env=self.settings.env(), cwd=APP_DIR
        )
        await self._wait_healthy(started + timeout)
        return time.monotonic() - started

    async def _wait_healthy(self, deadline: float) -> None:
        assert self._proc is not None
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self._proc.poll() is not None:
                    raise MedusaError(
                        f"medusa start exited with {self._proc.returncode}: "
                        f"{procs.tail(self.log, 30)}"
                    )
                if await _healthy(http, f"{self.settings.url}/health"):
                    return
                await asyncio.sleep(0.25)
        raise MedusaError(f"no OK from /health in time: {procs.tail(self.log, 30)}")

    def stop(self) -> None:
        if self._proc is not None:
            procs.stop(self._proc, timeout=20)


async def _healthy(http: aiohttp.ClientSession, url: str) -> bool:
    try:
        async with http.get(url, timeout=aiohttp.ClientTimeout(total=2)) as response:
            return response.status == 200 and await response.text() == "OK"
    except (aiohttp.ClientError, TimeoutError):
        return False
