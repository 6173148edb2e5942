"""Benchmark of one gateway process over 127.0.0.1, with Postgres and NATS started here
by devtools on the same machine. Run: `python -m tests.bench.bench_gateway`.

Measures, with an open-loop generator (requests sent on a fixed schedule, latency counted
from the scheduled send time so a slow server cannot hide its queue):
  - p50/p99 of `GET /stores?limit=100` (100 stores) at 300 requests/s (target p99 <= 50 ms)
  - p50/p99 of `POST /stores` at 100 requests/s (target p99 <= 100 ms), limits raised
  - throughput at saturation of both, with a fixed number of concurrent clients.
Prints the figures and writes them to `.run/bench/gateway.json`. Bounded: about a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from devtools import procs
from devtools.launcher import start_service
from devtools.nats import LocalNats
from devtools.postgres import LocalPostgres
from services.gateway import accounts
from services.gateway.security import digest, hash_password, new_api_token
from shared.db import create_pool, migrate

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / ".run" / "bench" / "gateway.json"
Request = Callable[[aiohttp.ClientSession, int], Awaitable[int]]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def open_loop(
    http: aiohttp.ClientSession, request: Request, rate: float, seconds: float
) -> dict[str, Any]:
    """Send `rate` requests a second for `seconds`, each on its schedule."""
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.1
    latencies: list[float] = []
    errors = 0

    async def one(i: int, due: float) -> None:
        nonlocal errors
        await asyncio.sleep(max(0.0, due - loop.time()))
        try:
            status = await request(http, i)
        except aiohttp.ClientError:
            status = 0
        latencies.append(loop.time() - due)
        errors += status >= 400 or status == 0

    count = int(rate * seconds)
    await asyncio.gather(*(one(i, start + i / rate) for i in range(count)))
    return {
        "rate_per_s": rate,
        "requests": count,
        "errors": errors,
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "max_ms": round(max(latencies) * 1000, 2),
    }


async def saturate(
    http: aiohttp.ClientSession, request: Request, clients: int, seconds: float
) -> dict[str, Any]:
    """As many requests as `clients` concurrent callers get through in `seconds`."""
    deadline = time.monotonic() + seconds
    done = errors = 0
    counter = iter(range(10**9))

    async def caller() -> None:
        nonlocal done, errors
        while time.monotonic() < deadline:
            status = await request(http, next(counter))
            done += 1
            errors += status >= 400

    started = time.monotonic()
    await asyncio.gather(*(caller() for _ in range(clients)))
    elapsed = time.monotonic() - started
    return {
        "clients": clients,
        "requests": done,
        "errors": errors,
        "throughput_per_s": round(done / elapsed, 1),
    }


def list_stores(http: aiohttp.ClientSession, _: int) -> Awaitable[int]:
    async def call() -> int:
        async with http.get("/api/v1/stores", params={"limit": "100"}) as resp:
            body = await resp.read()
            assert resp.status != 200 or body.count(b'"slug"') == 100
            return resp.status

    return call()


def create_store(tag: str) -> Request:
    async def call(http: aiohttp.ClientSession, i: int) -> int:
        async with http.post("/api/v1/stores", json={"name": f"{tag} {i}"}) as resp:
            await resp.read()
            return resp.status

    return call


async def seed(dsn: str) -> str:
    await migrate(dsn)
    pool = await create_pool(dsn, max_size=2)
    try:
        user_id = await accounts.create_user(pool, "bench", hash_password("bench-password"))
        token = new_api_token()
        await accounts.create_token(pool, user_id, "bench", digest(token))
        return token
    finally:
        await pool.close()


def start_gateway(
    workdir: Path, dsn: str, nats_url: str, port: int, health_port: int
) -> subprocess.Popen[bytes]:
    env = {
        "STOREFLEET_HEALTH_HOST": "127.0.0.1",
        "STOREFLEET_HEALTH_PORT": str(health_port),
        "STOREFLEET_DATABASE_URL": dsn,
        "STOREFLEET_NATS_URL": nats_url,
        "STOREFLEET_HTTP_HOST": "127.0.0.1",
        "STOREFLEET_HTTP_PORT": str(port),
        "STOREFLEET_LOG_LEVEL": "warning",
        "STOREFLEET_DEFAULT_MAX_STORES": "1000000",
        "STOREFLEET_RATE_LIMIT_REQUESTS": "10000000/minute",
        "STOREFLEET_RATE_LIMIT_CREATES": "10000000/minute",
    }
    proc = start_service("gateway", workdir / "gateway.log", env)
    procs.wait_for_port(port, 60, proc=proc, log=workdir / "gateway.log")
    return proc


async def wait_ready(url: str) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            with_status = 0
            try:
                async with http.get(f"{url}/readyz") as resp:
                    with_status = resp.status
            except aiohttp.ClientError:
                pass
            if with_status == 200:
                return
            await asyncio.sleep(0.1)
    raise TimeoutError("the gateway never became ready")


async def measure(url: str, token: str, seconds: float) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=400)
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(url, headers=headers, connector=connector) as http:
        for i in range(100):
            assert await create_store("seed")(http, i) == 202
        await saturate(http, list_stores, 8, 1.0)  # warm up connections and caches
        figures = {
            "get_stores_at_300": await open_loop(http, list_stores, 300, seconds),
            "post_stores_at_100": await open_loop(http, create_store("steady"), 100, seconds),
            "get_stores_saturation": await saturate(http, list_stores, 32, seconds / 2),
            "post_stores_saturation": await saturate(http, create_store("burst"), 32, seconds / 2),
        }
    return figures


async def run(seconds: float) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="storefleet-bench-"))
    os.chmod(workdir, 0o755)  # postgres runs unprivileged and must reach its data dir
    postgres = LocalPostgres(workdir / "pg")
    nats = LocalNats(workdir / "nats")
    gateway = None
    try:
        postgres.start()
        nats.start()
        dsn = postgres.create_database(f"bench_{uuid.uuid4().hex[:8]}")
        token = await seed(dsn)
        port, health_port = procs.free_port(), procs.free_port()
        gateway = start_gateway(workdir, dsn, nats.url, port, health_port)
        url = f"http://127.0.0.1:{port}"
        await wait_ready(f"http://127.0.0.1:{health_port}")
        figures = await measure(url, token, seconds)
    finally:
        if gateway is not None:
            procs.stop(gateway)
        nats.stop()
        postgres.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "duration_s_per_rate": seconds,
        **figures,
        "targets": {"get_stores_p99_ms": 50, "post_stores_p99_ms": 100},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per measured rate")
    args = parser.parse_args()
    result = asyncio.run(run(args.seconds))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"written to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
