"""Auditor benchmark: `python -m tests.bench.bench_auditor [--events N] [--rate R]`.

Starts its own Postgres (durable: fsync on) and nats-server, runs the auditor as a
subprocess (`python -m services.auditor`, as in production), and measures:

- burst: N events (default 100,000; ten-event store lifecycles) published with
  `publish_async`; the time from the first publish until every event is a row of
  `store_events`, as events per second; and the drain rate of the same number of events
  waiting in the stream before the auditor starts;
- steady: events published at R per second (default 2,000) for a while; the lag from
  each publish to the moment its row is visible (polled every 10 ms), p50/p99/max;
- ceiling: the raw INSERT of the same rows into a copy of `store_events` (same
  indexes), 500 rows per transaction, with the auditor's statement and with COPY.

Prints the figures and writes them to `.run/bench/auditor.json`.
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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from devtools import procs
from devtools.launcher import start_service
from devtools.nats import LocalNats
from devtools.postgres import LocalPostgres
from shared.db import create_pool, migrate
from shared.events import Envelope, new_event
from shared.jetstream import connect, ensure_consumer, ensure_stream
from shared.subjects import CONSUMERS, stores_stream
from tests.bench.machine import machine

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / ".run" / "bench" / "auditor.json"
STREAM = "STORES"


def lifecycle(store_id: str, t0: datetime) -> list[Envelope]:
    owner = str(uuid.uuid4())
    slug = f"s-{store_id[:12]}"
    kinds: list[tuple[str, dict[str, Any]]] = [
        (
            "requested",
            {
                "name": "Bench shop",
                "slug": slug,
                "engine": "woocommerce",
                "plan": "small",
                "owner": owner,
                "namespace": f"store-{slug}",
            },
        ),
        ("provisioning", {"worker": "bench-1"}),
        ("progress", {"wave": "guardrails", "applied": ["Namespace/x", "ResourceQuota/q"]}),
        ("progress", {"wave": "workloads", "applied": ["StatefulSet/db", "Deployment/web"]}),
        ("progress", {"wave": "setup", "applied": ["Job/setup"]}),
        ("progress", {"wave": "ingress", "applied": ["Ingress/web"]}),
        ("ready", {"url": f"https://{slug}.shops.example"}),
        ("delete", {"requested_by": owner}),
        ("deleting", {"namespace": f"store-{slug}"}),
        ("deleted", {"namespace": f"store-{slug}"}),
    ]
    return [
        new_event(
            kind,
            store_id,
            data,
            actor=owner if i in (0, 7) else "bench",
            correlation_id=f"bench-{store_id[:8]}",
            occurred_at=t0 + timedelta(seconds=i),
        )
        for i, (kind, data) in enumerate(kinds)
    ]


# What goes on the wire: subject, body, Nats-Msg-Id. Rendered before any clock starts.
Wire = tuple[str, bytes, str]
MSG_ID = "Nats-Msg-Id"


def events_for(count: int) -> list[Wire]:
    t0 = datetime.now(UTC)
    events: list[Envelope] = []
    while len(events) < count:
        events += lifecycle(str(uuid.uuid4()), t0)
    return [(e.subject, e.to_bytes(), e.id) for e in events[:count]]


class Bench:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.pg = LocalPostgres(workdir / "pg", durable=True)
        self.nats = LocalNats(workdir / "nats")
        self.auditor: Any = None
        self.dsn = ""

    async def start(self) -> None:
        self.pg.start()
        self.nats.start()
        self.dsn = self.pg.create_database("bench")
        await migrate(self.dsn)
        self.nc = await connect(self.nats.url, name="bench")
        self.js = self.nc.jetstream()
        await ensure_stream(self.js, stores_stream())
        for spec in CONSUMERS:
            await ensure_consumer(self.js, STREAM, spec)
        self.pool = await create_pool(self.dsn, max_size=4)

    def start_auditor(self, name: str) -> None:
        env = {
            "STOREFLEET_NATS_URL": self.nats.url,
            "STOREFLEET_DATABASE_URL": self.dsn,
            "STOREFLEET_HEALTH_PORT": str(procs.free_port()),
            "STOREFLEET_LOG_LEVEL": "warning",
            "STOREFLEET_STREAM_NAME": STREAM,
        }
        self.auditor = start_service("auditor", self.workdir / f"{name}.log", env)

    def stop_auditor(self) -> None:
        if self.auditor is not None:
            procs.stop(self.auditor, timeout=30)
            self.auditor = None

    async def stop(self) -> None:
        self.stop_auditor()
        await self.pool.close()
        await self.nc.close()
        self.nats.stop()
        self.pg.stop()

    async def stored(self) -> int:
        return int(await self.pool.fetchval("SELECT count(*) FROM store_events"))

    async def wait_stored(self, count: int, timeout: float = 600, poll: float = 0.05) -> float:
        deadline = time.monotonic() + timeout
        while (have := await self.stored()) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {have} of {count} events stored")
            await asyncio.sleep(poll)
        return time.monotonic()

    async def publish(self, events: list[Wire]) -> None:
        """publish_async all of `events`; nats-py keeps at most 4,000 unacknowledged."""
        futures = [
            await self.js.publish_async(subject, body, stream=STREAM, headers={MSG_ID: msg_id})
            for subject, body, msg_id in events
        ]
        await asyncio.gather(*futures)

    async def wait_auditor_ready(self) -> None:
        # The durable consumer exists already; ready once it has fetched anything.
        probe = events_for(1)
        base = await self.stored()
        await self.publish(probe)
        await self.wait_stored(base + 1, timeout=60)


async def burst(bench: Bench, count: int) -> dict[str, float]:
    base = await bench.stored()
    events = events_for(count)
    started = time.monotonic()
    await bench.publish(events)
    published = time.monotonic()
    done = await bench.wait_stored(base + count)
    return {
        "events": count,
        "publish_seconds": round(published - started, 3),
        "publish_per_second": round(count / (published - started)),
        "stored_seconds": round(done - started, 3),
        "events_per_second": round(count / (done - started)),
    }


async def drain(bench: Bench, count: int) -> dict[str, float]:
    bench.stop_auditor()
    base = await bench.stored()
    await bench.publish(events_for(count))
    bench.start_auditor("auditor-drain")
    await bench.wait_stored(base + 1, poll=0.01)
    started = time.monotonic()
    first = await bench.stored() - base
    done = await bench.wait_stored(base + count)
    return {
        "events": count - first,
        "seconds": round(done - started, 3),
        "events_per_second": round((count - first) / (done - started)),
    }


async def steady(bench: Bench, rate: int, seconds: float) -> dict[str, float]:
    floor = int(await bench.pool.fetchval("SELECT coalesce(max(stream_seq), 0) FROM store_events"))
    events = events_for(int(rate * seconds))
    published_at: dict[str, float] = {}
    seen_at: dict[str, float] = {}
    tick = 0.01
    per_tick = max(1, int(rate * tick))

    async def publisher() -> None:
        start = time.monotonic()
        futures = []
        for n, i in enumerate(range(0, len(events), per_tick)):
            delay = start + n * tick - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            for subject, body, msg_id in events[i : i + per_tick]:
                published_at[msg_id] = time.monotonic()
                futures.append(
                    await bench.js.publish_async(
                        subject, body, stream=STREAM, headers={MSG_ID: msg_id}
                    )
                )
        await asyncio.gather(*futures)

    async def poller() -> None:
        nonlocal floor
        async with bench.pool.acquire() as conn:
            while len(seen_at) < len(events):
                rows = await conn.fetch(
                    "SELECT event_id, stream_seq FROM store_events WHERE stream_seq > $1", floor
                )
                now = time.monotonic()
                for row in rows:
                    seen_at.setdefault(row["event_id"], now)
                if rows:
                    floor = _contiguous_floor(floor, [r["stream_seq"] for r in rows])
                await asyncio.sleep(0.01)

    await asyncio.wait_for(asyncio.gather(publisher(), poller()), seconds + 120)
    lags = sorted(seen_at[msg_id] - published_at[msg_id] for _, _, msg_id in events)
    return {
        "rate": rate,
        "events": len(events),
        "lag_p50_ms": round(statistics.median(lags) * 1000, 1),
        "lag_p99_ms": round(lags[int(len(lags) * 0.99) - 1] * 1000, 1),
        "lag_max_ms": round(lags[-1] * 1000, 1),
    }


def _contiguous_floor(floor: int, seqs: list[int]) -> int:
    for seq in sorted(seqs):
        if seq != floor + 1:
            break
        floor = seq
    return floor


async def ceiling(bench: Bench) -> dict[str, float]:
    """Raw INSERT of the rows the auditor stored, into a copy of store_events."""
    from services.auditor.store import INSERT_EVENTS

    # A plain connection: jsonb travels as text, as the auditor sends it.
    conn = await asyncpg.connect(bench.dsn)
    try:
        rows = await conn.fetch(
            "SELECT event_id, store_id, type, subject, actor, occurred_at, envelope::text AS body,"
            " stream_seq FROM store_events ORDER BY stream_seq LIMIT 100000"
        )
        figures: dict[str, float] = {"rows": len(rows)}
        for method in ("insert_unnest", "copy"):
            await conn.execute(
                "DROP TABLE IF EXISTS ceiling; "
                "CREATE TABLE ceiling (LIKE store_events INCLUDING ALL)"
            )
            started = time.monotonic()
            for i in range(0, len(rows), 500):
                chunk = rows[i : i + 500]
                async with conn.transaction():
                    if method == "copy":
                        await conn.copy_records_to_table(
                            "ceiling",
                            records=[(*r[:6], r[6], r[7]) for r in chunk],
                            columns=[
                                "event_id",
                                "store_id",
                                "type",
                                "subject",
                                "actor",
                                "occurred_at",
                                "envelope",
                                "stream_seq",
                            ],
                        )
                    else:
                        columns = [list(c) for c in zip(*chunk, strict=True)]
                        await conn.execute(
                            INSERT_EVENTS.replace("store_events", "ceiling"), *columns
                        )
            figures[f"{method}_rows_per_second"] = round(len(rows) / (time.monotonic() - started))
        await conn.execute("DROP TABLE ceiling")
    finally:
        await conn.close()
    return figures


async def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    bench = Bench(workdir)
    await bench.start()
    try:
        bench.start_auditor("auditor")
        await bench.wait_auditor_ready()
        results: dict[str, Any] = {"burst": await burst(bench, args.events)}
        print("burst", results["burst"], flush=True)
        results["steady"] = await steady(bench, args.rate, args.seconds)
        print("steady", results["steady"], flush=True)
        results["drain"] = await drain(bench, args.events)
        print("drain", results["drain"], flush=True)
        results["ceiling"] = await ceiling(bench)
        print("ceiling", results["ceiling"], flush=True)
    finally:
        await bench.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.bench_auditor")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rate", type=int, default=2_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-auditor-") as tmp:
        workdir = Path(tmp)
        workdir.chmod(0o755)  # postgres runs as an unprivileged user
        results = asyncio.run(run(args, workdir))
    results["machine"] = machine(load_before)
    results["targets"] = {"events_per_second": 10_000, "lag_p99_ms_at_2000_per_second": 1000}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    met = results["burst"]["events_per_second"] >= 10_000 and results["steady"]["lag_p99_ms"] < 1000
    print(
        f"targets {'met' if met else 'NOT met'}: {results['burst']['events_per_second']} "
        f"events/s (>= 10000), p99 lag {results['steady']['lag_p99_ms']} ms at "
        f"{results['steady']['rate']}/s (< 1000); load {results['machine']}"
    )
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
