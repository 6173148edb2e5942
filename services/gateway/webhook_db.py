"""Postgres side of the webhook routes (migration 0015): endpoints (create within the
per-user limit, list, delete, rotate the secret), their deliveries with the latest
attempts, putting deliveries back in the queue (redelivery) and queueing a test
delivery (migration 0018), which the webhooks service then sends.

An endpoint is visible to its owner and to administrators; any other is answered like
one that does not exist. The gateway may write a secret but not read one back.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.gateway.accounts import Caller
from services.gateway.errors import ApiError, not_found
from services.gateway.store_db import visible_store
from services.gateway.webhook_test_send import (
    NO_STORE,
    TEST_EVENT_TYPE,
    TEST_INTERVAL_SECONDS,
    SyntheticEvent,
)
from services.gateway.webhook_validation import (
    ENDPOINTS_PER_USER,
    CreateWebhookBody,
    RedeliverBody,
)

_ENDPOINT = (
    "id, url, event_types, store_id, description, created_at, failing, failing_reason,"
    " failing_since"
)
_DELIVERY = (
    "id, event_id, event_type, store_id, occurred_at, outcome, attempt, next_attempt_at,"
    " status_code, latency_ms, response, delivered_at, created_at"
)
ATTEMPTS_SHOWN = 20


@dataclass(frozen=True)
class DeliveryListing:
    rows: list[asyncpg.Record]
    attempts: dict[int, list[asyncpg.Record]]


async def create_endpoint(
    pool: asyncpg.Pool, caller: Caller, body: CreateWebhookBody, secret: bytes
) -> asyncpg.Record:
    owner = uuid.UUID(caller.id)
    async with pool.acquire() as conn, conn.transaction():
        # One caller's creates are decided one after the other, so the limit holds.
        await conn.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", owner)
        store_id = uuid.UUID(body.store_id) if body.store_id else None
        if store_id is not None:
            await visible_store(conn, caller, store_id)
        count = await conn.fetchval(
            "SELECT count(*) FROM webhook_endpoints WHERE owner_id = $1", owner
        )
        if count >= ENDPOINTS_PER_USER:
            raise ApiError(
                409, "too_many_webhooks", f"at most {ENDPOINTS_PER_USER} endpoints per user"
            )
        row: asyncpg.Record = await conn.fetchrow(
            "INSERT INTO webhook_endpoints (id, owner_id, url, event_types, store_id, secret,"
            f" description) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {_ENDPOINT}",
            uuid.uuid4(),
            owner,
            body.url,
            body.event_types,
            store_id,
            secret,
            body.description,
        )
        return row


async def list_endpoints(pool: asyncpg.Pool, caller: Caller) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await pool.fetch(
        f"SELECT {_ENDPOINT} FROM webhook_endpoints WHERE owner_id = $1 ORDER BY created_at, id",
        uuid.UUID(caller.id),
    )
    return rows


_VISIBLE = "id = $1 AND (owner_id = $2 OR $3)"


def _who(caller: Caller) -> tuple[uuid.UUID, bool]:
    return uuid.UUID(caller.id), caller.is_admin


async def visible_endpoint(
    pool: asyncpg.Pool | asyncpg.Connection, caller: Caller, endpoint_id: uuid.UUID
) -> asyncpg.Record:
    row: asyncpg.Record | None = await pool.fetchrow(
        f"SELECT {_ENDPOINT} FROM webhook_endpoints WHERE {_VISIBLE}", endpoint_id, *_who(caller)
    )
    if row is None:
        raise not_found("webhook")
    return row


async def delete_endpoint(pool: asyncpg.Pool, caller: Caller, endpoint_id: uuid.UUID) -> None:
    done = await pool.execute(
        f"DELETE FROM webhook_endpoints WHERE {_VISIBLE}", endpoint_id, *_who(caller)
    )
    if done == "DELETE 0":
        raise not_found("webhook")


async def rotate_secret(
    pool: asyncpg.Pool, caller: Caller, endpoint_id: uuid.UUID, secret: bytes
) -> None:
    done = await pool.execute(
        f"UPDATE webhook_endpoints SET secret = $4 WHERE {_VISIBLE}",
        endpoint_id,
        *_who(caller),
        secret,
    )
    if done == "UPDATE 0":
        raise not_found("webhook")


async def list_deliveries(
    pool: asyncpg.Pool,
    caller: Caller,
    endpoint_id: uuid.UUID,
    after: tuple[datetime, str] | None,
    limit: int,
) -> DeliveryListing:
    """Newest first, `limit` rows after the cursor, each with its latest attempts."""
    async with pool.acquire() as conn:
        await visible_endpoint(conn, caller, endpoint_id)
        where, values = "endpoint_id = $1", [endpoint_id, limit]
        if after is not None:
            where += " AND (created_at, id) < ($3, $4)"
            values += [after[0], int(after[1])]
        rows = await conn.fetch(
            f"SELECT {_DELIVERY} FROM webhook_deliveries WHERE {where}"
            " ORDER BY created_at DESC, id DESC LIMIT $2",
            *values,
        )
        attempts = await conn.fetch(
            "SELECT * FROM (SELECT delivery_id, attempt, status_code, latency_ms, response,"
            " error, attempted_at, row_number() OVER (PARTITION BY delivery_id"
            " ORDER BY id DESC) AS n FROM webhook_attempts WHERE delivery_id = ANY($1)) a"
            " WHERE n <= $2 ORDER BY delivery_id, attempted_at",
            [r["id"] for r in rows],
            ATTEMPTS_SHOWN,
        )
    grouped: dict[int, list[asyncpg.Record]] = {}
    for attempt in attempts:
        grouped.setdefault(attempt["delivery_id"], []).append(attempt)
    return DeliveryListing(list(rows), grouped)


async def redeliver(
    pool: asyncpg.Pool, caller: Caller, endpoint_id: uuid.UUID, body: RedeliverBody
) -> int:
    """Queue again, with a fresh retry budget, the deliveries the body names that are not
    pending already; 404 when an event id names none of this endpoint's deliveries."""
    async with pool.acquire() as conn, conn.transaction():
        await visible_endpoint(conn, caller, endpoint_id)
        value: str | datetime | None
        if body.event_id is not None:
            which, value = "event_id = $2", body.event_id
            known = await conn.fetchval(
                "SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1 AND event_id = $2",
                endpoint_id,
                body.event_id,
            )
            if not known:
                raise not_found("delivery")
        else:
            which, value = "occurred_at >= $2", body.since
        done = await conn.execute(
            "UPDATE webhook_deliveries SET outcome = 'pending', attempt = 0,"
            " next_attempt_at = now(), leased_until = NULL"
            f" WHERE endpoint_id = $1 AND {which} AND outcome <> 'pending'",
            endpoint_id,
            value,
        )
    return int(done.rsplit(" ", 1)[-1])


_EARLIER_TESTS = """
SELECT EXISTS (SELECT 1 FROM webhook_deliveries
               WHERE endpoint_id = $1 AND store_id = $2 AND outcome = 'pending') AS pending,
       EXISTS (SELECT 1 FROM webhook_deliveries
               WHERE endpoint_id = $1 AND store_id = $2
                 AND created_at > now() - make_interval(secs => $3)) AS recent
"""


async def queue_test(
    pool: asyncpg.Pool, caller: Caller, endpoint_id: uuid.UUID, event: SyntheticEvent
) -> int:
    """Queue `event` for this endpoint alone; the delivery's id. Refused while a test
    delivery of the endpoint is pending (409) or within the interval after the last (429),
    so test sends cannot flood an endpoint."""
    async with pool.acquire() as conn, conn.transaction():
        # An endpoint's test sends are decided one after the other, so the cap holds.
        found = await conn.fetchval(
            f"SELECT 1 FROM webhook_endpoints WHERE {_VISIBLE} FOR NO KEY UPDATE",
            endpoint_id,
            *_who(caller),
        )
        if found is None:
            raise not_found("webhook")
        earlier = await conn.fetchrow(
            _EARLIER_TESTS, endpoint_id, NO_STORE, float(TEST_INTERVAL_SECONDS)
        )
        if earlier["pending"]:
            raise ApiError(409, "test_pending", "a test delivery to this endpoint is pending")
        if earlier["recent"]:
            raise ApiError(
                429,
                "test_too_soon",
                f"at most one test delivery every {TEST_INTERVAL_SECONDS} seconds",
                headers={"Retry-After": str(TEST_INTERVAL_SECONDS)},
            )
        delivery_id: int = await conn.fetchval(
            "INSERT INTO webhook_deliveries (endpoint_id, event_id, event_type, store_id,"
            " occurred_at, stream_seq, body) VALUES ($1, $2, $3, $4, $5, 0, $6) RETURNING id",
            endpoint_id,
            event.id,
            TEST_EVENT_TYPE,
            NO_STORE,
            event.occurred_at,
            event.body,
        )
    return delivery_id
