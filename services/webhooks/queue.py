"""The deliveries queue in Postgres (migration 0015), as the webhooks service sees it.

- `queue_event`: one pending row per endpoint that wants an event, in the transaction
  before the stream message is acked; the unique (endpoint, event) makes a redelivered
  message a no-op. Called by `intake`.
- `pending_endpoints`: endpoints with pending rows, whether one is due, and how old the
  oldest is. Called by `senders` each poll.
- `claim`: up to `count` stores of an endpoint whose oldest pending row there is due,
  each with a run of its next pending rows (up to the intake's horizon, so nothing of
  the store can still arrive before them), leased to this replica; `SKIP LOCKED` on the
  oldest row and the lease let replicas share the work. `senders` sends a run in stream
  order and `release`s what follows a row that must wait for a retry.
- `record`: an attempt in the log and its consequence on the row and the endpoint.
- `prune`: finished deliveries older than the retention, a batch at a time.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg

from services.webhooks.schedule import Result, Step
from services.webhooks.sender import Answer
from shared.events import Envelope

# Each store's owner is looked up once per batch, not once per event and endpoint.
_QUEUE = """
WITH batch AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::bigint[],
                         $6::bytea[], $7::uuid[])
        AS b(event_id, event_type, store_id, occurred_at, stream_seq, body, store_uuid)
), owners AS MATERIALIZED (
    SELECT s.id, s.owner_id FROM stores s
    WHERE s.id IN (SELECT store_uuid FROM batch WHERE store_uuid IS NOT NULL)
)
INSERT INTO webhook_deliveries
    (endpoint_id, event_id, event_type, store_id, occurred_at, stream_seq, body)
SELECT e.id, b.event_id, b.event_type, b.store_id, b.occurred_at, b.stream_seq, b.body
FROM batch b
JOIN webhook_endpoints e ON e.created_at <= b.occurred_at
  AND (b.event_type = ANY (e.event_types) OR '*' = ANY (e.event_types))
  AND (e.store_id IS NULL OR e.store_id = b.store_uuid)
JOIN users u ON u.id = e.owner_id
WHERE NOT u.disabled
  AND (u.role = 'admin'
       OR EXISTS (SELECT 1 FROM owners o WHERE o.id = b.store_uuid AND o.owner_id = u.id))
ORDER BY b.stream_seq, e.id
ON CONFLICT (endpoint_id, event_id) DO NOTHING
"""

_PENDING = """
SELECT endpoint_id,
       bool_or(next_attempt_at <= now() AND (leased_until IS NULL OR leased_until < now()))
           AS due,
       extract(epoch FROM now() - min(created_at))::float8 AS lag
FROM webhook_deliveries WHERE outcome = 'pending' GROUP BY endpoint_id
"""

# The head of each store (its oldest pending row here) found by walking the pending
# index one store at a time, not by reading every pending row: a backlog costs nothing.
_CLAIM = """
WITH RECURSIVE heads AS (
    (SELECT store_id, id FROM webhook_deliveries
     WHERE endpoint_id = $1 AND outcome = 'pending' ORDER BY store_id, stream_seq LIMIT 1)
    UNION ALL
    SELECT n.store_id, n.id FROM heads h, LATERAL (
        SELECT store_id, id FROM webhook_deliveries
        WHERE endpoint_id = $1 AND outcome = 'pending' AND store_id > h.store_id
        ORDER BY store_id, stream_seq LIMIT 1) n
), chosen AS (
    SELECT d.id, d.store_id FROM webhook_deliveries d
    WHERE d.id IN (SELECT id FROM heads)
      AND d.outcome = 'pending' AND d.next_attempt_at <= now()
      AND (d.leased_until IS NULL OR d.leased_until < now())
      AND d.stream_seq <= (SELECT horizon FROM webhook_intake)
    ORDER BY d.next_attempt_at, d.stream_seq LIMIT $3
    FOR UPDATE SKIP LOCKED
), runs AS (
    SELECT r.id FROM chosen c, LATERAL (
        SELECT id FROM webhook_deliveries
        WHERE endpoint_id = $1 AND outcome = 'pending' AND store_id = c.store_id
          AND stream_seq <= (SELECT horizon FROM webhook_intake)
        ORDER BY stream_seq LIMIT $4) r
)
UPDATE webhook_deliveries SET leased_until = now() + make_interval(secs => $2)
WHERE id IN (SELECT id FROM runs)
RETURNING id, event_id, store_id, stream_seq, attempt, body,
    (SELECT url FROM webhook_endpoints WHERE id = $1) AS url,
    (SELECT secret FROM webhook_endpoints WHERE id = $1) AS secret,
    (SELECT failing FROM webhook_endpoints WHERE id = $1) AS failing
"""


# Leases and attempts may be lost in a Postgres crash without breaking "at least once"
# (a delivery is only sent again), so their commits do not wait for the disk; a queued
# delivery must not be lost, so `queue_events` commits as usual.
_NO_FLUSH = "SET LOCAL synchronous_commit = off"


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


@dataclass(frozen=True)
class Taken:
    """One store event from the stream, to be queued."""

    event: Envelope
    stream_seq: int
    body: bytes


async def queue_events(conn: asyncpg.Connection | asyncpg.Pool, taken: Sequence[Taken]) -> int:
    """Queue each event for every endpoint that wants it, in one statement; the number
    of rows added (a redelivered event adds none)."""
    if not taken:
        return 0
    status = await conn.execute(
        _QUEUE,
        [t.event.id for t in taken],
        [t.event.type for t in taken],  # type: ignore[attr-defined]
        [t.event.store_id for t in taken],
        [t.event.occurred_at for t in taken],
        [t.stream_seq for t in taken],
        [t.body for t in taken],
        [_store_uuid(t.event.store_id) for t in taken],
    )
    return int(status.rsplit(" ", 1)[-1])


async def queue_event(pool: asyncpg.Pool, event: Envelope, stream_seq: int, body: bytes) -> int:
    """Queue `event` for every endpoint that wants it; the number of rows added."""
    return await queue_events(pool, [Taken(event, stream_seq, body)])


async def advance_horizon(pool: asyncpg.Pool, stream_seq: int) -> None:
    """Every message up to `stream_seq` is queued (the consumer's ack floor): the senders
    may claim rows up to there. Losing this in a crash only delays them."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(_NO_FLUSH)
        await conn.execute("UPDATE webhook_intake SET horizon = greatest(horizon, $1)", stream_seq)


async def pending_endpoints(pool: asyncpg.Pool) -> list[PendingEndpoint]:
    rows = await pool.fetch(_PENDING)
    return [PendingEndpoint(r["endpoint_id"], r["due"], r["lag"]) for r in rows]


async def claim(
    pool: asyncpg.Pool, endpoint_id: uuid.UUID, lease: float, count: int = 1, run: int = 1
) -> list[Claimed]:
    """Up to `count` stores' runs of at most `run` pending rows each, leased; in store
    and stream order. A run is to be sent one row after another, stopping at the first
    that is not done (`release` the rest)."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(_NO_FLUSH)
        rows = await conn.fetch(_CLAIM, endpoint_id, lease, count, run)
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
        for row in sorted(rows, key=lambda r: (r["store_id"], r["stream_seq"]))
        if row["url"] is not None
    ]


_RECORD_ATTEMPTS = """
INSERT INTO webhook_attempts (delivery_id, attempt, status_code, latency_ms, response, error)
SELECT * FROM unnest($1::bigint[], $2::int[], $3::int[], $4::int[], $5::text[], $6::text[])
"""

_RECORD_DELIVERIES = """
UPDATE webhook_deliveries d SET attempt = a.attempt, outcome = a.outcome,
    next_attempt_at = now() + make_interval(secs => a.delay), leased_until = NULL,
    status_code = a.status_code, latency_ms = a.latency_ms, response = a.response,
    delivered_at = CASE WHEN a.outcome = 'delivered' THEN now() END
FROM unnest($1::bigint[], $2::int[], $3::text[], $4::float8[], $5::int[], $6::int[], $7::text[])
    AS a(id, attempt, outcome, delay, status_code, latency_ms, response)
WHERE d.id = a.id
"""


@dataclass(frozen=True)
class Attempted:
    """One attempt and what follows it, to be recorded."""

    sent: Claimed
    answer: Answer
    step: Step


def _outcome(step: Step) -> str:
    return {Result.DELIVERED: "delivered", Result.RETRY: "pending"}.get(step.result, "failed")


async def release(pool: asyncpg.Pool, ids: Sequence[int]) -> None:
    """Claimed rows not attempted (their run stopped before them): claimable again."""
    if ids:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(_NO_FLUSH)
            await conn.execute(
                "UPDATE webhook_deliveries SET leased_until = NULL WHERE id = ANY($1::bigint[])",
                list(ids),
            )


async def record(pool: asyncpg.Pool, sent: Claimed, answer: Answer, step: Step) -> None:
    await record_all(pool, [Attempted(sent, answer, step)])


async def record_all(pool: asyncpg.Pool, attempts: Sequence[Attempted]) -> None:
    """The attempts in the log; each row delivered, due again later, or failed; each
    endpoint failing after a failed row, and no longer once one goes through. One
    transaction for a sender's whole round."""
    if not attempts:
        return
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(_NO_FLUSH)
        await conn.execute(
            _RECORD_ATTEMPTS,
            [a.sent.id for a in attempts],
            [a.sent.attempt for a in attempts],
            [a.answer.status for a in attempts],
            [a.answer.latency_ms for a in attempts],
            [a.answer.excerpt for a in attempts],
            [a.answer.error[:200] for a in attempts],
        )
        await conn.execute(
            _RECORD_DELIVERIES,
            [a.sent.id for a in attempts],
            [a.sent.attempt for a in attempts],
            [_outcome(a.step) for a in attempts],
            [a.step.delay for a in attempts],
            [a.answer.status for a in attempts],
            [a.answer.latency_ms for a in attempts],
            [a.answer.excerpt for a in attempts],
        )
        for endpoint_id, step in _health_steps(attempts).items():
            await _endpoint_health(conn, endpoint_id, step)


def _health_steps(attempts: Sequence[Attempted]) -> dict[uuid.UUID, Step]:
    """Per endpoint, the step that decides its health: a delivery given up marks it
    failing even if another of the round went through."""
    steps: dict[uuid.UUID, Step] = {}
    for a in attempts:
        known = steps.get(a.sent.endpoint_id)
        settled = known is not None and known.result is Result.GIVEN_UP
        if not settled and a.step.result is not Result.RETRY:
            steps[a.sent.endpoint_id] = a.step
    return steps


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
