"""The deliveries queue in Postgres (migration 0015), as the webhooks service sees it.

- `queue_event`: one pending row per endpoint that wants an event, in the transaction
  before the stream message is acked; the unique (endpoint, event) makes a redelivered
  message a no-op. Called by `intake`.
- `pending_endpoints`: endpoints with pending rows, whether one is due, and how old the
  oldest is. Called by `senders` each poll.
- `claim`: up to `count` due rows of an endpoint, each the oldest pending row of its
  store there (so a store's events go out in stream order, and no two of one store are
  claimed together), leased to this replica; `SKIP LOCKED` and the lease let replicas
  share the work. Called by `senders`.
- `record`: an attempt in the log and its consequence on the row and the endpoint.
- `prune`: finished deliveries older than the retention, a batch at a time.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import asyncpg

from services.webhooks.schedule import Result, Step
from services.webhooks.sender import Answer
from shared.events import Envelope

_QUEUE = """
INSERT INTO webhook_deliveries
    (endpoint_id, event_id, event_type, store_id, occurred_at, stream_seq, body)
SELECT e.id, $1, $2, $3, $4, $5, $6
FROM webhook_endpoints e JOIN users u ON u.id = e.owner_id
WHERE NOT u.disabled AND e.created_at <= $4
  AND ($2 = ANY (e.event_types) OR '*' = ANY (e.event_types))
  AND (e.store_id IS NULL OR e.store_id = $7)
  AND (u.role = 'admin' OR EXISTS (SELECT 1 FROM stores s WHERE s.id = $7 AND s.owner_id = u.id))
ON CONFLICT (endpoint_id, event_id) DO NOTHING
"""

_PENDING = """
SELECT endpoint_id,
       bool_or(next_attempt_at <= now() AND (leased_until IS NULL OR leased_until < now()))
           AS due,
       extract(epoch FROM now() - min(created_at))::float8 AS lag
FROM webhook_deliveries WHERE outcome = 'pending' GROUP BY endpoint_id
"""

_CLAIM = """
UPDATE webhook_deliveries SET leased_until = now() + make_interval(secs => $2)
WHERE id IN (
    SELECT d.id FROM webhook_deliveries d
    WHERE d.endpoint_id = $1 AND d.outcome = 'pending' AND d.next_attempt_at <= now()
      AND (d.leased_until IS NULL OR d.leased_until < now())
      AND NOT EXISTS (
          SELECT 1 FROM webhook_deliveries o
          WHERE o.endpoint_id = d.endpoint_id AND o.store_id = d.store_id
            AND o.outcome = 'pending' AND o.stream_seq < d.stream_seq)
    ORDER BY d.next_attempt_at, d.stream_seq LIMIT $3
    FOR UPDATE SKIP LOCKED)
RETURNING id, event_id, store_id, attempt, body,
    (SELECT url FROM webhook_endpoints WHERE id = $1) AS url,
    (SELECT secret FROM webhook_endpoints WHERE id = $1) AS secret,
    (SELECT failing FROM webhook_endpoints WHERE id = $1) AS failing
"""


@dataclass(frozen=True)
class Claimed:
    """One delivery leased to this replica for one attempt."""

    id: int
    endpoint_id: uuid.UUID
    event_id: str
    store_id: str
    attempt: int  # the number of this attempt, from 1
    url: str
    body: bytes
    failing: bool  # the endpoint, when this was claimed
    secret: bytes = field(repr=False)


@dataclass(frozen=True)
class PendingEndpoint:
    id: uuid.UUID
    due: bool
    lag_seconds: float


def _store_uuid(store_id: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(store_id)
    except ValueError:
        return None


async def queue_event(pool: asyncpg.Pool, event: Envelope, stream_seq: int, body: bytes) -> int:
    """Queue `event` for every endpoint that wants it; the number of rows added."""
    status = await pool.execute(
        _QUEUE,
        event.id,
        event.type,  # type: ignore[attr-defined]
        event.store_id,
        event.occurred_at,
        stream_seq,
        body,
        _store_uuid(event.store_id),
    )
    return int(status.rsplit(" ", 1)[-1])


async def pending_endpoints(pool: asyncpg.Pool) -> list[PendingEndpoint]:
    rows = await pool.fetch(_PENDING)
    return [PendingEndpoint(r["endpoint_id"], r["due"], r["lag"]) for r in rows]


# Leases and attempts may be lost in a Postgres crash without breaking "at least once"
# (a delivery is only sent again), so their commits do not wait for the disk; a queued
# delivery must not be lost, so `queue_event` commits as usual.
_NO_FLUSH = "SET LOCAL synchronous_commit = off"


async def claim(
    pool: asyncpg.Pool, endpoint_id: uuid.UUID, lease: float, count: int = 1
) -> list[Claimed]:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(_NO_FLUSH)
        rows = await conn.fetch(_CLAIM, endpoint_id, lease, count)
    return [
        Claimed(
            row["id"],
            endpoint_id,
            row["event_id"],
            row["store_id"],
            row["attempt"] + 1,
            row["url"],
            bytes(row["body"]),
            row["failing"],
            bytes(row["secret"]),
        )
        for row in sorted(rows, key=lambda r: r["id"])
        if row["url"] is not None
    ]


async def record(pool: asyncpg.Pool, sent: Claimed, answer: Answer, step: Step) -> None:
    """The attempt in the log; the row delivered, due again later, or failed; the endpoint
    failing after a failed row, and no longer once one goes through."""
    outcome = {Result.DELIVERED: "delivered", Result.RETRY: "pending"}.get(step.result, "failed")
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(_NO_FLUSH)
        await conn.execute(
            "INSERT INTO webhook_attempts"
            " (delivery_id, attempt, status_code, latency_ms, response, error)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            sent.id,
            sent.attempt,
            answer.status,
            answer.latency_ms,
            answer.excerpt,
            answer.error[:200],
        )
        await conn.execute(
            "UPDATE webhook_deliveries SET attempt = $2, outcome = $3,"
            " next_attempt_at = now() + make_interval(secs => $4), leased_until = NULL,"
            " status_code = $5, latency_ms = $6, response = $7,"
            " delivered_at = CASE WHEN $3 = 'delivered' THEN now() END WHERE id = $1",
            sent.id,
            sent.attempt,
            outcome,
            step.delay,
            answer.status,
            answer.latency_ms,
            answer.excerpt,
        )
        await _endpoint_health(conn, sent.endpoint_id, step)


async def _endpoint_health(conn: asyncpg.Connection, endpoint_id: uuid.UUID, step: Step) -> None:
    if step.result is Result.GIVEN_UP:
        # The first reason stays: it says why the endpoint started failing.
        await conn.execute(
            "UPDATE webhook_endpoints SET failing = true,"
            " failing_reason = CASE WHEN failing THEN failing_reason ELSE $2 END,"
            " failing_since = coalesce(failing_since, now()) WHERE id = $1",
            endpoint_id,
            step.reason[:200],
        )
    elif step.result is Result.DELIVERED:
        await conn.execute(
            "UPDATE webhook_endpoints SET failing = false, failing_reason = '',"
            " failing_since = NULL WHERE id = $1 AND failing",
            endpoint_id,
        )


async def prune(pool: asyncpg.Pool, days: float, batch: int = 5000) -> int:
    """Remove up to `batch` delivered or failed rows (with their attempts) created more
    than `days` ago; the number removed."""
    done = await pool.execute(
        "DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries"
        " WHERE outcome <> 'pending' AND created_at < now() - make_interval(days => $1)"
        " LIMIT $2)",
        days,
        batch,
    )
    return int(done.rsplit(" ", 1)[-1])
