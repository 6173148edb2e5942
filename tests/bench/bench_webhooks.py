"""Webhooks benchmark: `python -m tests.bench.bench_webhooks [--rate R] [--events N]
[--stores S] [--healthy H]`.

Starts its own Postgres (durable) and nats-server, a receiver on 127.0.0.1 with H
endpoints that answer at once (default 2) and one that never answers, and the webhooks
service as a subprocess (`python -m services.webhooks`, 127.0.0.0/8 allowed). Publishes N
events (default 10,000) over S stores (default 20) at R events per second (default 500;
0: as fast as JetStream takes them) and measures:

- offered: the rate the events were actually published at (the baseline);
- intake: events per second queued (the `webhooks` consumer);
- delivery: the time until every answering endpoint has every event, events per second
  delivered to each, the ratio of that to the offered rate, and the lag from publish to
  receipt at the answering endpoints (p50, p99, max), with the hanging endpoint beside;
- order: whether each store's events reached each answering endpoint in order.

Prints the figures and writes them to `.run/bench/webhooks.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from aiohttp import web

from devtools import procs
from devtools.launcher import start_service
from devtools.nats import LocalNats
from devtools.postgres import LocalPostgres
from shared.db import create_pool, migrate
from shared.events import new_event
from shared.jetstream import connect, ensure_stream
from shared.subjects import stores_stream
from tests.bench.machine import machine

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / ".run" / "bench" / "webhooks.json"


class Receiver:
    def __init__(self) -> None:
        self.received: dict[tuple[str, str], float] = {}
        self.order: dict[tuple[str, str], list[int]] = {}
        self.runner: web.AppRunner | None = None
        self.port = procs.free_port()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/ok/{name}", self.ok)
        app.router.add_post("/hang", self.hang)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def ok(self, request: web.Request) -> web.Response:
        event, name = json.loads(await request.read()), request.match_info["name"]
        self.received.setdefault((name, event["id"]), time.time())
        self.order.setdefault((name, event["store_id"]), []).append(int(event["data"]["message"]))
        return web.Response(status=204)

    async def hang(self, request: web.Request) -> web.Response:
        await asyncio.sleep(3600)
        return web.Response(status=204)


async def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    pg, nats = LocalPostgres(workdir / "pg", durable=True), LocalNats(workdir / "nats")
    pg.start()
    nats.start()
    receiver = Receiver()
    await receiver.start()
    service = None
    try:
        dsn = pg.create_database("bench")
        await migrate(dsn)
        pool = await create_pool(dsn, max_size=2)
        admin = uuid.uuid4()
        await pool.execute(
            "INSERT INTO users (id, username, password_hash, role) VALUES ($1, 'a', 'x', 'admin')",
            admin,
        )
        healthy = [f"ok/{n}" for n in range(args.healthy)]
        for path in (*healthy, "hang"):
            await pool.execute(
                "INSERT INTO webhook_endpoints (id, owner_id, url, event_types, secret, created_at)"
                " VALUES ($1, $2, $3, '{*}', $4, now() - interval '1 minute')",
                uuid.uuid4(),
                admin,
                f"http://127.0.0.1:{receiver.port}/{path}",
                os.urandom(32),
            )
        nc = await connect(nats.url, name="bench")
        js = nc.jetstream()
        await ensure_stream(js, stores_stream())
        env = {
            **nats.service_env("webhooks"),
            "STOREFLEET_DATABASE_URL": dsn,
            "STOREFLEET_HEALTH_PORT": str(procs.free_port()),
            "STOREFLEET_LOG_LEVEL": "warning",
            "STOREFLEET_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
            "STOREFLEET_WEBHOOK_POLL_SECONDS": "0.1",
            "STOREFLEET_WEBHOOK_TIMEOUT_SECONDS": "30",
        }
        service = start_service("webhooks", workdir / "webhooks.log", env)
        stores = [str(uuid.uuid4()) for _ in range(args.stores)]
        published: dict[str, float] = {}
        started = time.monotonic()
        for n in range(args.events):
            if args.rate:
                await asyncio.sleep(max(0.0, started + n / args.rate - time.monotonic()))
            event = new_event(
                "progress",
                stores[n % len(stores)],
                {"wave": "setup", "message": str(n // len(stores))},
                actor="bench",
                correlation_id="bench",
            )
            published[event.id] = time.time()
            await js.publish(event.subject, event.to_bytes(), headers={"Nats-Msg-Id": event.id})
        publish_seconds = time.monotonic() - started
        deadline = started + args.timeout
        wanted = (args.healthy + 1) * args.events
        while await pool.fetchval("SELECT count(*) FROM webhook_deliveries") < wanted:
            await asyncio.sleep(0.05)
            if time.monotonic() > deadline:
                raise TimeoutError("intake did not finish in time")
        intake_seconds = time.monotonic() - started
        while len(receiver.received) < args.healthy * args.events:
            await asyncio.sleep(0.05)
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {len(receiver.received)} delivered in time")
        total = time.monotonic() - started
        lags = sorted((at - published[i]) * 1000 for (_, i), at in receiver.received.items())
        await nc.close()
        await pool.close()
    finally:
        if service is not None:
            procs.stop(service, timeout=30)
        if receiver.runner is not None:
            await receiver.runner.cleanup()
        nats.stop()
        pg.stop()
    in_order = all(v == sorted(v) for v in receiver.order.values())
    return {
        "events": args.events,
        "stores": args.stores,
        "healthy_endpoints": args.healthy,
        "offered_rate": args.rate or "burst",
        "publish_seconds": round(publish_seconds, 2),
        "published_events_per_second": round(args.events / publish_seconds),
        "intake_events_per_second": round(args.events / intake_seconds),
        "delivery_seconds": round(total, 2),
        "delivered_per_second": round(args.events / total),
        "delivered_to_published_ratio": round(publish_seconds / total, 3),
        "lag_p50_ms": round(statistics.median(lags)),
        "lag_p99_ms": round(lags[int(len(lags) * 0.99) - 1]),
        "lag_max_ms": round(lags[-1]),
        "each_store_in_order": in_order,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.bench_webhooks")
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--stores", type=int, default=20)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--healthy", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=1800.0)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-webhooks-") as tmp:
        workdir = Path(tmp)
        workdir.chmod(0o755)  # postgres runs as an unprivileged user
        results = asyncio.run(run(args, workdir))
    results["machine"] = machine(load_before)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
