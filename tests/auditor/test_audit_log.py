"""The auditor against real NATS and Postgres: every event lands in store_events once,
with its stream sequence, and the stores projection follows the status machine."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import asyncpg
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from prometheus_client import REGISTRY

from services.auditor.consumer import Storer
from services.auditor.projection import AuditEvent
from services.auditor.store import CREATED_AND_READY, created_and_ready, store_batch
from shared.events import Envelope
from tests.auditor.lifecycle import (
    audit_log,
    consumer_caught_up,
    event,
    eventually,
    lifecycle,
    projection,
    publish_all,
    requested,
    running_auditor,
    store_id,
)
from tests.fixtures.nats import TestStream


def stored_total() -> float:
    return REGISTRY.get_sample_value("storefleet_auditor_events_stored_total") or 0.0


def as_audit(envelopes: list[Envelope], first_seq: int = 1) -> list[AuditEvent]:
    return [
        AuditEvent.from_envelope(e, first_seq + i, e.to_bytes().decode())
        for i, e in enumerate(envelopes)
    ]


async def status_of(pool: asyncpg.Pool, sid: str) -> str | None:
    return await pool.fetchval("SELECT status FROM store_states WHERE id = $1", sid)  # type: ignore[no-any-return]


async def test_every_event_is_stored_once_with_its_stream_sequence_and_the_store_becomes_ready(
    nc: NATS, js: JetStreamContext, stream: TestStream, pool: asyncpg.Pool
) -> None:
    sid = store_id()
    events = lifecycle(sid, delete=False)
    await publish_all(js, stream.name, events)
    stored_before = stored_total()

    async with running_auditor(nc, pool, stream.name):
        await eventually(lambda: consumer_caught_up(js, stream.name), what="auditor caught up")

    log = await audit_log(pool)
    assert stored_total() - stored_before == len(events)
    assert REGISTRY.get_sample_value("storefleet_auditor_lag_messages") == 0
    assert REGISTRY.get_sample_value("storefleet_auditor_batch_size_count")
    assert [row["event_id"] for row in log] == [e.id for e in events]
    assert [row["stream_seq"] for row in log] == list(range(1, len(events) + 1))
    assert [row["subject"] for row in log] == [e.subject for e in events]
    [store] = await projection(pool)
    assert store["status"] == "ready"
    assert store["url"] == events[-1].data.url  # type: ignore[attr-defined]
    assert store["ready_at"] == events[-1].occurred_at
    assert str(store["owner_id"]) == events[0].actor
    assert store["last_event_seq"] == len(events)


async def test_a_batch_delivered_twice_is_stored_once(pool: asyncpg.Pool) -> None:
    events = as_audit(lifecycle(store_id()))
    async with pool.acquire() as conn:
        first = await store_batch(conn, events)
        before = await projection(pool)
        again = await store_batch(conn, events)

    assert (first.stored, first.duplicates) == (10, 0)
    assert (again.stored, again.duplicates) == (0, 10)
    assert await pool.fetchval("SELECT count(*) FROM store_events") == 10
    assert await projection(pool) == before


async def test_a_ready_after_deleting_is_logged_but_does_not_change_the_store(
    pool: asyncpg.Pool,
) -> None:
    sid = store_id()
    t0 = datetime.now(UTC)
    envelopes = [
        requested(sid, at=t0),
        event("provisioning", sid, at=t0 + timedelta(seconds=1)),
        event("delete", sid, at=t0 + timedelta(seconds=2)),
        event("deleting", sid, at=t0 + timedelta(seconds=3)),
        event("ready", sid, at=t0 + timedelta(seconds=4)),
    ]
    async with pool.acquire() as conn:
        await store_batch(conn, as_audit(envelopes))

    assert await status_of(pool, sid) == "deleting"
    assert await pool.fetchval("SELECT url FROM store_states WHERE id = $1", sid) is None
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM store_events WHERE store_id = $1 AND type = 'ready'", sid
        )
        == 1
    )


async def test_deleted_is_terminal_but_a_retry_after_failed_is_allowed(pool: asyncpg.Pool) -> None:
    gone, retried = store_id(), store_id()
    t0 = datetime.now(UTC)
    batches = [
        [
            requested(gone, at=t0),
            event("deleted", gone, at=t0),
            event("requested", gone, requested(gone).data.model_dump(), at=t0),
        ],
        [
            requested(retried, at=t0),
            event("failed", retried, at=t0),
            event("requested", retried, requested(retried).data.model_dump(), at=t0),
        ],
    ]
    async with pool.acquire() as conn:
        for number, batch in enumerate(batches):
            await store_batch(conn, as_audit(batch, first_seq=10 * number + 1))

    assert await status_of(pool, gone) == "deleted"
    assert await status_of(pool, retried) == "requested"
    assert await pool.fetchval("SELECT error FROM store_states WHERE id = $1", retried) is None


async def test_events_arriving_out_of_order_give_the_projection_of_stream_order(
    pool: asyncpg.Pool, other_pool: asyncpg.Pool
) -> None:
    rng = random.Random(5)
    events: list[AuditEvent] = []
    for number in range(40):
        life = lifecycle(store_id(), delete=number % 2 == 0)
        if number % 5 == 0:  # a failed attempt, then a retry that succeeds
            sid, at = life[0].store_id, life[5].occurred_at
            life[6:6] = [
                event("failed", sid, at=at),
                event("requested", sid, life[0].data.model_dump(), at=at),
                event("provisioning", sid, at=at),
            ]
        events += as_audit(life, first_seq=len(events) + 1)
    shuffled = events[:]
    rng.shuffle(shuffled)

    async with pool.acquire() as conn:
        for i in range(0, len(events), 25):
            await store_batch(conn, events[i : i + 25])
    async with other_pool.acquire() as conn:
        for i in range(0, len(shuffled), 7):
            await store_batch(conn, shuffled[i : i + 7])

    in_order, out_of_order = await projection(pool), await projection(other_pool)
    assert len(in_order) == 40
    assert out_of_order == in_order
    assert {row["status"] for row in in_order} == {"ready", "deleted"}


async def test_a_store_whose_owner_is_not_a_user_is_still_projected(
    pool: asyncpg.Pool, db_pool: asyncpg.Pool
) -> None:
    sid = store_id()
    async with pool.acquire() as conn:
        await store_batch(conn, as_audit([requested(sid, owner=store_id())]))

    assert await db_pool.fetchval("SELECT count(*) FROM users") == 0  # the auditor may not look
    assert await status_of(pool, sid) == "requested"


async def test_the_audit_log_says_who_created_a_store_and_when_it_became_ready_with_one_index_scan(
    pool: asyncpg.Pool,
) -> None:
    events: list[AuditEvent] = []
    for _ in range(600):
        events += as_audit(lifecycle(store_id()), first_seq=len(events) + 1)
    async with pool.acquire() as conn:
        for i in range(0, len(events), 500):
            await store_batch(conn, events[i : i + 500])
        await conn.execute("ANALYZE store_events")
        target = events[123 * 10]

        answer = await created_and_ready(conn, target.store_id)
        plan = "\n".join(
            r[0]
            for r in await conn.fetch(
                "EXPLAIN " + CREATED_AND_READY.replace("$1", f"'{target.store_id}'")
            )
        )

    assert answer.created_by == target.actor
    assert answer.created_at == target.occurred_at
    assert answer.ready_at == events[123 * 10 + 6].occurred_at
    assert "Index" in plan and "store_events_store" in plan, plan
    assert "Seq Scan" not in plan, plan


async def test_a_store_whose_slug_a_live_store_holds_stays_in_the_log_without_blocking_the_batch(
    pool: asyncpg.Pool,
) -> None:
    first, second, later = store_id(), store_id(), store_id()
    batch = as_audit(
        [
            # The second claim comes first in the batch, but the first claim is older.
            requested(second, slug="corner-shop", at=datetime.now(UTC)),
            requested(first, slug="corner-shop", at=datetime.now(UTC) - timedelta(seconds=1)),
            requested(later),
        ]
    )
    result = await Storer(pool).store(batch)  # as the consumer stores a batch

    assert result is not None
    assert result.unprojected == {second: "slug_taken"}
    assert result.stored == 3
    assert await status_of(pool, first) == "requested"
    assert await status_of(pool, second) is None
    assert await status_of(pool, later) == "requested"
