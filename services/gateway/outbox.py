"""The outbox relay: publishes the `outbox` rows the store routes committed, in id
order, to JetStream with `Nats-Msg-Id` = the event id, then marks them sent.

Several gateway replicas each run one relay; a batch is claimed with
`FOR UPDATE SKIP LOCKED`, so no row is published by two replicas at once, and a crash
between publishing and marking only re-publishes rows the stream then drops as
duplicates. The relay wakes on the `storefleet_outbox` NOTIFY (a trigger on `outbox`,
migration 0002) or every `STOREFLEET_OUTBOX_POLL_SECONDS`. While NATS is down it backs
off and requests still succeed; the rows go out when NATS returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass

import asyncpg
import nats.errors
import prometheus_client
import structlog
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from shared.backoff import Backoff
from shared.events import InvalidEvent, parse_event
from shared.jetstream import publish_event

log = structlog.get_logger(__name__)

CHANNEL = "storefleet_outbox"
PUBLISHED = prometheus_client.Counter(
    "storefleet_gateway_outbox_published_total", "outbox rows published to JetStream"
)
PENDING = prometheus_client.Gauge(
    "storefleet_gateway_outbox_pending", "outbox rows not yet published (the relay's backlog)"
)
# Between failed batches while NATS or Postgres is away: 0.2 s, 0.4 s, ... up to 5 s.
RETRY = Backoff(base=0.2, cap=5.0)


@dataclass(frozen=True)
class BatchResult:
    sent: int
    claimed: int
    failed: bool


class OutboxRelay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        dsn: str,
        nc: NATS,
        js: JetStreamContext,
        stream: str,
        *,
        poll: float = 2.0,
        batch: int = 100,
    ) -> None:
        self._pool = pool
        self._dsn = dsn
        self._nc = nc
        self._js = js
        self._stream = stream
        self._poll = poll
        self._batch = batch
        self._wake = asyncio.Event()
        self._listener: asyncpg.Connection | None = None

    async def run(self) -> None:
        """Relay until cancelled."""
        failures = 0
        try:
            while True:
                await self._listen()
                result = await self.publish_batch()
                await self._measure_backlog()
                if result.failed:
                    failures += 1
                    await asyncio.sleep(RETRY.delay(failures))
                    continue
                failures = 0
                if result.claimed < self._batch:
                    await self._sleep()
        finally:
            await self._unlisten()

    async def publish_batch(self) -> BatchResult:
        """Claim up to one batch of unsent rows, publish them in order, mark the sent ones."""
        if not self._nc.is_connected:
            return BatchResult(0, 0, failed=True)
        try:
            return await self._publish_batch()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("outbox relay cannot reach Postgres", error=str(exc))
            return BatchResult(0, 0, failed=True)

    async def _publish_batch(self) -> BatchResult:
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT id, event_id, envelope FROM outbox WHERE sent_at IS NULL"
                " ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                self._batch,
            )
            done, failed = await self._publish(rows)
            if done:
                await conn.execute(
                    "UPDATE outbox SET sent_at = now() WHERE id = ANY($1::bigint[])", done
                )
        PUBLISHED.inc(len(done))
        return BatchResult(len(done), len(rows), failed)

    async def _publish(self, rows: list[asyncpg.Record]) -> tuple[list[int], bool]:
        done: list[int] = []
        for row in rows:
            try:
                event = parse_event(json.dumps(row["envelope"]))
            except InvalidEvent as exc:
                # Never ours to fix at run time; holding it would stop every later row.
                log.error(
                    "outbox row is not a valid event; skipped",
                    event_id=row["event_id"],
                    error=str(exc),
                )
                done.append(row["id"])
                continue
            try:
                await publish_event(self._js, event, stream=self._stream)
            except (nats.errors.Error, TimeoutError) as exc:
                log.warning(
                    "outbox publish failed; will retry", event_id=event.id, error=type(exc).__name__
                )
                return done, True
            done.append(row["id"])
        return done, False

    async def _measure_backlog(self) -> None:
        """Export the unsent row count; the partial index on unsent rows keeps it cheap."""
        with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            PENDING.set(
                await self._pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
            )

    async def _sleep(self) -> None:
        # asyncio.timeout, not wait_for: on 3.11 wait_for may swallow a cancellation.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._poll):
                await self._wake.wait()
        self._wake.clear()

    def _notified(self, *_: object) -> None:
        self._wake.set()

    async def _listen(self) -> None:
        """Keep a LISTEN connection; without one the relay still polls."""
        if self._listener is not None and not self._listener.is_closed():
            return
        try:
            self._listener = await asyncpg.connect(self._dsn, timeout=5)
            await self._listener.add_listener(CHANNEL, self._notified)
        except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
            log.warning("outbox relay cannot LISTEN; polling", error=str(exc))
            self._listener = None

    async def _unlisten(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close(timeout=2)
            self._listener = None
