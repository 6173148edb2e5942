"""The deliveries queue as the webhooks service's own role uses it: an event taken twice
(a redelivered message) is queued once, and finished deliveries past the retention are
pruned while pending ones stay."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from services.webhooks import queue
from shared.db import create_pool
from shared.events import new_event


@pytest.fixture
async def hooks_pool(service_database_urls: dict[str, str]) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(service_database_urls["webhooks"], max_size=2)
    yield pool
    await pool.close()


async def endpoint(db_pool: asyncpg.Pool, admin: bool = True) -> uuid.UUID:
    user, hook = uuid.uuid4(), uuid.uuid4()
    await db_pool.execute(
        "INSERT INTO users (id, username, password_hash, role) VALUES ($1, $2, 'x', $3)",
        user,
        f"u-{user.hex[:8]}",
        "admin" if admin else "user",
    )
    await db_pool.execute(
        "INSERT INTO webhook_endpoints (id, owner_id, url, event_types, secret, created_at)"
        " VALUES ($1, $2, 'https://example.com/', '{*}', $3, now() - interval '1 hour')",
        hook,
        user,
        b"k" * 32,
    )
    return hook


async def test_an_event_taken_twice_is_queued_once(
    db_pool: asyncpg.Pool, hooks_pool: asyncpg.Pool
) -> None:
    await endpoint(db_pool)
    await endpoint(db_pool, admin=False)  # no store of its owner's: nothing for it
    event = new_event(
        "ready", str(uuid.uuid4()), {"url": "https://x"}, actor="p", correlation_id="c"
    )

    first = await queue.queue_event(hooks_pool, event, 7, event.to_bytes())
    again = await queue.queue_event(hooks_pool, event, 7, event.to_bytes())

    assert (first, again) == (1, 0)
    assert await db_pool.fetchval("SELECT count(*) FROM webhook_deliveries") == 1


async def test_finished_deliveries_past_the_retention_are_pruned(
    db_pool: asyncpg.Pool, hooks_pool: asyncpg.Pool
) -> None:
    hook = await endpoint(db_pool)
    for n, (outcome, age) in enumerate(
        [("delivered", 40), ("failed", 40), ("pending", 40), ("delivered", 1)]
    ):
        await db_pool.execute(
            "INSERT INTO webhook_deliveries (endpoint_id, event_id, event_type, store_id,"
            " occurred_at, stream_seq, body, outcome, created_at) VALUES ($1, $2, 'ready',"
            " 's', now(), $3, '{}', $4, now() - make_interval(days => $5))",
            hook,
            f"e{n}",
            n,
            outcome,
            age,
        )

    removed = await queue.prune(hooks_pool, days=30)

    left = await db_pool.fetch("SELECT event_id FROM webhook_deliveries ORDER BY event_id")
    assert removed == 2
    assert [r["event_id"] for r in left] == ["e2", "e3"]
