"""Test helpers shared by the auditor and reaper tests: store lifecycles as events, a
stream of our own on `store.>`, an in-process auditor, and polling.

Only one stream can capture `store.>` on a server: each test that needs one names it
with the `stores_stream_name` fixture (which deletes it at teardown) and creates it with
`store_stream`; tests run one at a time within a session.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from services.auditor.consumer import AuditConsumer
from shared.events import Envelope, new_event, parse_event
from shared.jetstream import ensure_consumer, ensure_stream, publish_event
from shared.subjects import CONSUMERS, stores_stream
from tests.fixtures.nats import TestStream

PROJECTION_COLUMNS = (
    "id, owner_id, name, slug, namespace, engine, plan, status, url, error, "
    "created_at, updated_at, ready_at, deleted_at, last_event_seq, attempt"
)


async def store_stream(js: JetStreamContext, name: str) -> TestStream:
    """The `store.>` stream named `name` (from the `stores_stream_name` fixture, which
    deletes it at teardown), with every durable consumer, as the services declare them."""
    spec = stores_stream(timedelta(hours=1), 1, name)
    await ensure_stream(js, spec)
    for consumer in CONSUMERS:
        await ensure_consumer(js, name, consumer)
    return TestStream(spec, "store")


def store_id() -> str:
    return str(uuid.uuid4())


def requested(
    sid: str,
    *,
    owner: str | None = None,
    slug: str | None = None,
    namespace: str | None = None,
    at: datetime | None = None,
    event_id: str | None = None,
) -> Envelope:
    owner = owner or str(uuid.uuid4())
    slug = slug or f"shop-{sid[:8]}"
    return new_event(
        "requested",
        sid,
        {
            "name": "Shop",
            "slug": slug,
            "engine": "woocommerce",
            "plan": "small",
            "owner": owner,
            "namespace": namespace or f"store-{slug}-{sid[:6]}",
        },
        actor=owner,
        correlation_id=f"req-{sid[:8]}",
        occurred_at=at,
        event_id=event_id,
    )


def event(
    kind: str,
    sid: str,
    data: dict[str, Any] | None = None,
    *,
    at: datetime | None = None,
    actor: str = "provisioner",
) -> Envelope:
    defaults: dict[str, dict[str, Any]] = {
        "provisioning": {"worker": "w1"},
        "progress": {"wave": "guardrails", "applied": ["Namespace/x"]},
        "ready": {"url": f"https://{sid[:8]}.shops.test"},
        "failed": {"code": "apply_refused", "reason": "the quota refused the database"},
        "delete": {"requested_by": "user"},
        "deleting": {"namespace": f"store-{sid[:6]}"},
        "deleted": {"namespace": f"store-{sid[:6]}"},
    }
    return new_event(
        kind,
        sid,
        data if data is not None else defaults[kind],
        actor=actor,
        correlation_id=f"req-{sid[:8]}",
        occurred_at=at,
    )


def lifecycle(sid: str, start: datetime | None = None, *, delete: bool = True) -> list[Envelope]:
    """A store's whole life, one event a second: ten events, or seven without deletion."""
    t0 = start or datetime.now(UTC)
    at = [t0 + timedelta(seconds=i) for i in range(10)]
    events = [
        requested(sid, at=at[0]),
        event("provisioning", sid, at=at[1]),
        event("progress", sid, {"wave": "guardrails"}, at=at[2]),
        event("progress", sid, {"wave": "workloads"}, at=at[3]),
        event("progress", sid, {"wave": "setup"}, at=at[4]),
        event("progress", sid, {"wave": "ingress"}, at=at[5]),
        event("ready", sid, at=at[6]),
    ]
    if delete:
        events += [
            event("delete", sid, at=at[7], actor=events[0].actor),
            event("deleting", sid, at=at[8], actor="reaper"),
            event("deleted", sid, at=at[9], actor="reaper"),
        ]
    return events


async def publish_all(js: JetStreamContext, stream: str, events: list[Envelope]) -> None:
    """Publish in order, each acked by the stream before the next is sent."""
    for envelope in events:
        await publish_event(js, envelope, stream=stream)


async def publish_burst(
    js: JetStreamContext, stream: str, events: list[Envelope], window: int = 2000
) -> None:
    """Publish with publish_async, at most `window` unacknowledged at a time."""
    for i in range(0, len(events), window):
        futures = [
            await js.publish_async(
                e.subject, e.to_bytes(), stream=stream, headers={"Nats-Msg-Id": e.id}
            )
            for e in events[i : i + window]
        ]
        await asyncio.gather(*futures)


@contextlib.asynccontextmanager
async def running_auditor(
    nc: NATS, pool: asyncpg.Pool, stream: str, **options: Any
) -> AsyncIterator[AuditConsumer]:
    consumer = AuditConsumer(nc, pool, stream=stream, fetch_timeout=0.3, grace=5.0, **options)
    task = asyncio.create_task(consumer.run(), name="test auditor")
    try:
        yield consumer
    finally:
        consumer.stop()
        await task


async def eventually(
    check: Callable[[], Awaitable[bool]], within: float = 20.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not met within {within}s")
        await asyncio.sleep(0.05)


async def consumer_caught_up(js: JetStreamContext, stream: str, durable: str = "auditor") -> bool:
    """Whether the consumer has acked every message the stream holds now. Its ack floor is
    compared with the stream's last sequence rather than trusting `num_pending` alone: the
    server counts pending messages as it signals consumers, and a consumer info taken just
    after a publish can read 0 (nats-io/nats-server#6297 describes that count drifting)."""
    last = (await js.stream_info(stream)).state.last_seq
    info = await js.consumer_info(stream, durable)
    acked = info.ack_floor.stream_seq if info.ack_floor else 0
    return acked >= last and info.num_pending == 0 and info.num_ack_pending == 0


async def events_of(js: JetStreamContext, stream: str, sid: str) -> list[Envelope]:
    """Every event the stream holds for one store, in stream order."""
    config = ConsumerConfig(
        ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL, inactive_threshold=10.0
    )
    sub = await js.pull_subscribe(f"store.*.{sid}", stream=stream, config=config)
    found: list[Envelope] = []
    try:
        while True:
            try:
                msgs = await sub.fetch(100, timeout=0.5)
            except TimeoutError:
                return found
            found += [parse_event(m.data) for m in msgs]
    finally:
        await sub.unsubscribe()


async def status_is(pool: asyncpg.Pool, sid: str, status: str) -> bool:
    return bool(
        await pool.fetchval("SELECT status = $2 FROM store_states WHERE id = $1", sid, status)
    )


async def projection(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    rows = await pool.fetch(f"SELECT {PROJECTION_COLUMNS} FROM store_states ORDER BY id")
    return [dict(r) for r in rows]


async def audit_log(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT event_id, store_id, type, subject, actor, occurred_at, envelope::text AS body,"
        " stream_seq FROM store_events ORDER BY stream_seq"
    )
    return [dict(r) for r in rows]
