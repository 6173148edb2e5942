"""The auditor's consumer loop: fetch up to `batch_size` messages from the durable
`auditor` consumer (through `services.auditor.pull.PullFeed`), store them in one
Postgres transaction, and only then ack them.

Called by the auditor's `app.main`; `rebuild` reuses `Storer` and `to_audit_events`.
Emits JetStream acks (after commit), terms for messages that are not events, and the
metrics of `services.auditor.metrics`.

Batches are fetched and parsed while up to `writers` earlier ones are in Postgres (each
in its own transaction, serialized per store by `services.auditor.store`), so NATS,
Python and Postgres work side by side. Nothing is acked before its transaction commits:
a crash at any moment leaves unacked messages, redelivered and then skipped by the
event-id primary key. While Postgres is down the batch in hand is retried with
in-progress acks, so its messages are not redelivered and never run out of delivery
attempts.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from asyncio import FIRST_COMPLETED
from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg
import nats.errors
import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from services.auditor import metrics
from services.auditor.projection import AuditEvent
from services.auditor.pull import PullFeed
from services.auditor.store import BatchResult, SlugConflict, store_batch
from shared.backoff import Backoff
from shared.events import InvalidEvent, parse_event
from shared.tasks import stop_tasks
from shared.worker import keep_alive, keepalive_interval, settle_quietly

log = structlog.get_logger(__name__)

# Errors that a retry cannot cure: the rows themselves are refused (SQLSTATE 22, 23).
POISON = (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError)
TRANSIENT = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


Parsed = tuple[list[tuple[Msg, AuditEvent]], list[tuple[Msg, str]]]


def to_audit_events(msgs: Sequence[Msg]) -> Parsed:
    """Pair each message with its audit event; the rest, with why they are not events."""
    good: list[tuple[Msg, AuditEvent]] = []
    bad: list[tuple[Msg, str]] = []
    for msg in msgs:
        try:
            body = msg.data.decode()
            if "\\u0000" in body:  # valid JSON that jsonb refuses
                raise InvalidEvent("body", "contains a NUL character")
            event = parse_event(body)
        except (InvalidEvent, UnicodeDecodeError) as exc:
            bad.append((msg, str(exc)))
            continue
        audit = AuditEvent.from_envelope(event, msg.metadata.sequence.stream, body, msg.subject)
        good.append((msg, audit))
    return good, bad


class Storer:
    """Stores one batch, retrying while Postgres is unreachable, until it commits."""

    def __init__(
        self, pool: asyncpg.Pool, retry_delay: float = 1.0, max_delay: float = 30.0
    ) -> None:
        self._pool = pool
        self._backoff = Backoff(base=retry_delay, cap=max_delay)

    async def store(
        self, events: Sequence[AuditEvent], give_up: asyncio.Event | None = None
    ) -> BatchResult | None:
        """The committed result, or None if `give_up` was set while retrying."""
        careful, attempt = False, 0
        while True:
            try:
                async with self._pool.acquire() as conn:
                    return await store_batch(conn, events, careful=careful)
            except SlugConflict as exc:
                log.warning("slug conflict in the projection; storing row by row", error=str(exc))
                careful = True
                continue
            except POISON:
                raise
            except TRANSIENT as exc:
                attempt += 1
                metrics.STORE_ERRORS.labels(type(exc).__name__).inc()
                delay = self._backoff.delay(attempt)
                log.warning(
                    "could not store batch, retrying",
                    error=str(exc),
                    attempt=attempt,
                    delay=delay,
                    events=len(events),
                )
            if give_up is not None and give_up.is_set():
                return None
            await asyncio.sleep(delay)


class AuditConsumer:
    """The fetch → store → ack loop on one durable pull consumer."""

    def __init__(
        self,
        nc: NATS,
        pool: asyncpg.Pool,
        *,
        stream: str,
        durable: str = "auditor",
        batch_size: int = 500,
        fetch_timeout: float = 1.0,
        grace: float = 20.0,
        retry_delay: float = 1.0,
        writers: int = 2,
    ) -> None:
        self._nc = nc
        self._writers = writers
        self._stream = stream
        self._durable = durable
        self._batch_size = batch_size
        self._fetch_timeout = fetch_timeout
        self._grace = grace
        self._storer = Storer(pool, retry_delay)
        self._stopping = asyncio.Event()
        self._abandon = asyncio.Event()
        self._held: list[Sequence[Msg]] = []
        self._rate = metrics.RateMeter()

    def stop(self) -> None:
        """Stop fetching; the batches in hand are stored within the grace period."""
        self._stopping.set()
        asyncio.get_running_loop().call_later(self._grace, self._abandon.set)

    async def run(self) -> None:
        feed = PullFeed(self._nc, self._stream, self._durable)
        info = await self._nc.jetstream().consumer_info(self._stream, self._durable)
        await feed.start()
        keepalive = asyncio.create_task(
            keep_alive(self._held_messages, keepalive_interval(info.config)),
            name="auditor keepalive",
        )
        log.info(
            "auditor consuming",
            stream=self._stream,
            batch_size=self._batch_size,
            writers=self._writers,
        )
        writing: set[asyncio.Task[None]] = set()
        try:
            while not self._stopping.is_set():
                # Fetching and parsing go on while up to `writers` batches are in Postgres.
                while len(writing) >= self._writers:
                    done, writing = await asyncio.wait(writing, return_when=FIRST_COMPLETED)
                    _raise_failures(done)
                msgs = await self._fetch(feed)
                if not msgs:
                    metrics.LAG_MESSAGES.set(0)
                    metrics.LAG_SECONDS.set(0)
                    continue
                self._held.append(msgs)
                writing.add(asyncio.create_task(self._handle(msgs), name="auditor batch"))
            if writing:
                done, writing = (await asyncio.wait(writing))[0], set()
                _raise_failures(done)
        finally:
            await stop_tasks(*writing, keepalive)
            with contextlib.suppress(nats.errors.Error):
                self._held.append(await feed.close())
            await self._hand_back()

    async def _fetch(self, feed: PullFeed) -> list[Msg]:
        try:
            return await feed.fetch(self._batch_size, self._fetch_timeout)
        except nats.errors.Error as exc:
            log.warning("fetch failed, retrying", error=str(exc))
            await asyncio.sleep(1.0)
            return []

    async def _handle(self, msgs: Sequence[Msg]) -> None:
        started = time.monotonic()
        good, bad = to_audit_events(msgs)
        for msg, reason in bad:
            log.warning(
                "not an event, terminated",
                subject=msg.subject,
                stream_seq=msg.metadata.sequence.stream,
                reason=reason,
            )
            metrics.EVENTS_REJECTED.labels("invalid").inc()
            await settle_quietly(msg.term())
        try:
            result = await self._storer.store([e for _, e in good], self._abandon)
        except POISON as exc:
            log.error("batch refused by Postgres; storing event by event", error=str(exc))
            if not await self._store_each(good):
                return
        else:
            if result is None:
                return  # shutting down with Postgres away: _hand_back naks the batch
            await _ack_all([m for m, _ in good])
            self._observe(msgs, result, time.monotonic() - started)
        self._held.remove(msgs)

    async def _store_each(self, pairs: Sequence[tuple[Msg, AuditEvent]]) -> bool:
        """Store one event per transaction, terminating those Postgres refuses; False if
        shutting down cut it short (what is left is handed back)."""
        for msg, event in pairs:
            try:
                if await self._storer.store([event], self._abandon) is None:
                    return False
            except POISON as exc:
                log.error(
                    "event refused by Postgres, terminated",
                    event_id=event.event_id,
                    stream_seq=event.stream_seq,
                    error=str(exc),
                )
                metrics.EVENTS_REJECTED.labels("refused").inc()
                await settle_quietly(msg.term())
            else:
                await settle_quietly(msg.ack())
        return True

    def _observe(self, msgs: Sequence[Msg], result: BatchResult, seconds: float) -> None:
        metrics.EVENTS_STORED.inc(result.stored)
        metrics.EVENTS_DUPLICATE.inc(result.duplicates)
        metrics.BATCH_SIZE.observe(len(msgs))
        metrics.BATCH_SECONDS.observe(seconds)
        metrics.STORE_RATE.set(self._rate.add(result.stored))
        oldest = msgs[0].metadata
        metrics.LAG_MESSAGES.set(msgs[-1].metadata.num_pending)
        metrics.LAG_SECONDS.set(max(0.0, (datetime.now(UTC) - oldest.timestamp).total_seconds()))
        for store_id, reason in result.unprojected.items():
            metrics.UNPROJECTED.labels(reason).inc()
            log.info("store events kept in the log only", store_id=store_id, reason=reason)

    def _held_messages(self) -> list[Msg]:
        return [m for batch in self._held for m in batch]

    async def _hand_back(self) -> None:
        """Nak what was fetched but not stored, so it is redelivered at once."""
        held = self._held_messages()
        self._held.clear()
        if held:
            await asyncio.gather(*(settle_quietly(m.nak()) for m in held))
            log.warning("handed back unstored messages", count=len(held))


def _raise_failures(done: set[asyncio.Task[None]]) -> None:
    for task in done:
        task.result()  # a batch task that failed unexpectedly ends the consumer


async def _ack_all(msgs: Sequence[Msg]) -> None:
    for msg in msgs:
        await settle_quietly(msg.ack())
