"""The intake of the `webhooks` consumer: store events, a batch at a time, become pending
deliveries, one per endpoint that wants each (`queue.queue_events`, one statement for the
batch), committed before the batch is acked, so an event is never lost to a crash and a
redelivered message adds nothing. A message that is not a store event is terminated.

After each batch the intake reads the consumer's ack floor from NATS and writes it as the
queue's horizon (`queue.advance_horizon`): every message up to there is queued, so the
senders, which claim only rows at or below it, never send a store's event while an
earlier one of that store may still be on its way in (another replica's batch, or one a
crash left unacked that comes back after its ack wait). Then it wakes this replica's
senders (`on_queued`); other replicas find the work at their next poll.

Started by `services.webhooks.app.main`. Emits acks, terms, and the horizon.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence

import asyncpg
import nats.errors
import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from services.webhooks import metrics, queue
from shared.events import InvalidEvent, parse_event
from shared.tasks import stop_tasks
from shared.worker import keep_alive, keepalive_interval, settle_quietly

log = structlog.get_logger(__name__)
RETRY_DELAY = 1.0  # after Postgres or NATS refused us


def sort_batch(msgs: Sequence[Msg]) -> tuple[list[queue.Taken], list[Msg]]:
    """The store events of a batch, and the messages that are not store events."""
    taken, invalid = [], []
    for msg in msgs:
        try:
            event = parse_event(msg.data)
        except InvalidEvent as exc:
            log.warning("not a store event; skipped", subject=msg.subject, error=str(exc))
            invalid.append(msg)
            continue
        taken.append(queue.Taken(event, msg.metadata.sequence.stream, msg.data))
    return taken, invalid


class Intake:
    """Fetch up to `batch` messages, queue them in one transaction, ack; until `stop()`."""

    def __init__(
        self,
        js: JetStreamContext,
        pool: asyncpg.Pool,
        stream: str,
        durable: str,
        *,
        batch: int,
        fetch_timeout: float,
        on_queued: Callable[[], None] = lambda: None,
    ) -> None:
        self._js, self._pool = js, pool
        self._stream, self._durable = stream, durable
        self._batch = batch
        self._fetch_timeout = fetch_timeout
        self._on_queued = on_queued
        self._stopping = asyncio.Event()
        self._acked = 0  # the highest stream sequence this replica acked
        self._horizon = -1  # the last horizon written

    def stop(self) -> None:
        """Stop fetching; the batch under way is finished or handed back. Signal-safe."""
        self._stopping.set()

    async def run(self) -> None:
        sub = await self._js.pull_subscribe_bind(durable=self._durable, stream=self._stream)
        try:
            interval = keepalive_interval((await sub.consumer_info()).config)
            log.info("webhooks intake started", batch=self._batch)
            while not self._stopping.is_set():
                msgs = await self._fetch(sub)
                if msgs:
                    await self._take(msgs, interval)
                if msgs or self._acked > self._horizon:
                    await self._advance(sub)
        finally:
            with contextlib.suppress(nats.errors.Error):
                await sub.unsubscribe()

    async def _fetch(self, sub: JetStreamContext.PullSubscription) -> list[Msg]:
        try:
            return await sub.fetch(self._batch, timeout=self._fetch_timeout)
        except TimeoutError:  # nothing to do right now; nats' TimeoutError derives from it
            return []
        except nats.errors.Error as exc:
            log.warning("fetch failed, retrying", error=str(exc))
            await asyncio.sleep(RETRY_DELAY)
            return []

    async def _take(self, msgs: list[Msg], interval: float) -> None:
        taken, invalid = sort_batch(msgs)
        keepalive = asyncio.create_task(keep_alive(lambda: msgs, interval), name="keep alive")
        try:
            added = await self._queue(taken)
        finally:
            await stop_tasks(keepalive)
        if added is None:  # stopped before Postgres took the batch: it comes back at once
            await asyncio.gather(*(settle_quietly(m.nak()) for m in msgs))
            log.warning("handed back an unqueued batch at stop", dropped=len(msgs))
            return
        skipped = {id(m) for m in invalid}
        await asyncio.gather(
            *(settle_quietly(m.ack()) for m in msgs if id(m) not in skipped),
            *(settle_quietly(m.term()) for m in invalid),
        )
        self._acked = max(self._acked, *(m.metadata.sequence.stream for m in msgs))
        metrics.EVENTS.inc(len(taken))
        metrics.QUEUED.inc(added)

    async def _queue(self, taken: list[queue.Taken]) -> int | None:
        """Rows added, once committed; None if stopped first. Retries while Postgres fails
        (holding the batch: nothing later is queued before it)."""
        while True:
            try:
                async with self._pool.acquire() as conn, conn.transaction():
                    return await queue.queue_events(conn, taken)
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
                log.warning("queueing a batch failed, retrying", error=type(exc).__name__)
            if self._stopping.is_set():
                return None
            await asyncio.sleep(RETRY_DELAY)

    async def _advance(self, sub: JetStreamContext.PullSubscription) -> None:
        """Write the consumer's ack floor as the horizon, and wake the senders."""
        try:
            floor = (await sub.consumer_info()).ack_floor
            seq = floor.stream_seq if floor is not None else 0
            if seq > self._horizon:
                await queue.advance_horizon(self._pool, seq)
                self._horizon = seq
                self._on_queued()
        except (nats.errors.Error, asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            log.warning("advancing the horizon failed; tried again", error=type(exc).__name__)
            await asyncio.sleep(RETRY_DELAY)
