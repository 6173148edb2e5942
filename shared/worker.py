"""A pool of workers on one durable pull consumer: bounded concurrency, one place that
carries a handler's `Outcome` out against NATS, and a graceful shutdown.

Called by the provisioner and the reaper, each with its own handler
(`Delivery -> Outcome`). The pool fetches only as many messages as it has free slots,
keeps each message alive with `in_progress()` while its handler runs, then acks, naks
with a delay (retry) or terms (give up). It emits nothing but JetStream acks and
structlog records; an optional `on_settled` callback lets a service count outcomes.
The auditor's batch consumer shares its ack helpers: `settle_quietly`, `keep_alive` and
`keepalive_interval`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import nats.errors
import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig

from shared.events import Envelope, parse_event
from shared.outcome import Outcome, PermanentError, TemporaryError, Verdict
from shared.tasks import stop_tasks

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Delivery:
    """One delivery of a stream message to a handler."""

    subject: str
    data: bytes
    num_delivered: int
    stream_seq: int
    headers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def from_msg(cls, msg: Msg) -> Delivery:
        meta = msg.metadata
        return cls(
            subject=msg.subject,
            data=msg.data,
            num_delivered=meta.num_delivered,
            stream_seq=meta.sequence.stream,
            headers=MappingProxyType(dict(msg.headers or {})),
        )

    def event(self) -> Envelope:
        """The body parsed as a store event; raises `shared.events.InvalidEvent`."""
        return parse_event(self.data)


Handler = Callable[[Delivery], Awaitable[Outcome]]
OnSettled = Callable[[Delivery, Outcome, float], None]


class WorkerPool:
    """Run `handler` on up to `concurrency` messages of `stream`/`durable` at once.

    `in_progress_interval` defaults to a third of the shortest ack deadline the server
    reports for the consumer (its `ack_wait`, which a backoff's first entry replaces).
    `fetch_timeout` bounds how long `stop()` waits for a pull request to end.
    """

    def __init__(
        self,
        js: JetStreamContext,
        stream: str,
        durable: str,
        handler: Handler,
        *,
        concurrency: int = 8,
        batch: int | None = None,
        in_progress_interval: float | None = None,
        grace: float = 20.0,
        fetch_timeout: float = 2.0,
        error_delay: float = 5.0,
        on_settled: OnSettled | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._js = js
        self._stream = stream
        self._durable = durable
        self._handler = handler
        self._concurrency = concurrency
        self._batch = batch or concurrency
        self._interval = in_progress_interval
        self._grace = grace
        self._fetch_timeout = fetch_timeout
        self._error_delay = error_delay
        self._on_settled = on_settled
        self._inflight: dict[asyncio.Task[None], Msg] = {}
        self._stopping = asyncio.Event()
        self._room = asyncio.Event()
        self._log = log.bind(stream=stream, consumer=durable)

    @property
    def in_flight(self) -> int:
        return len(self._inflight)

    def stop(self) -> None:
        """Ask `run()` to stop fetching and shut down; safe from a signal handler."""
        self._stopping.set()
        self._room.set()

    async def run(self) -> None:
        """Fetch and handle messages until `stop()`, then drain within the grace period."""
        sub = await self._js.pull_subscribe_bind(durable=self._durable, stream=self._stream)
        try:
            if self._interval is None:
                self._interval = keepalive_interval((await sub.consumer_info()).config)
            self._log.info("worker pool started", concurrency=self._concurrency)
            while not self._stopping.is_set():
                free = self._concurrency - len(self._inflight)
                if free <= 0:
                    self._room.clear()
                    await self._room.wait()
                    continue
                for msg in await self._fetch(sub, min(free, self._batch)):
                    await self._dispatch(msg)
        finally:
            await self._drain()
            with contextlib.suppress(nats.errors.Error):
                await sub.unsubscribe()

    async def _fetch(self, sub: JetStreamContext.PullSubscription, count: int) -> list[Msg]:
        try:
            return await sub.fetch(count, timeout=self._fetch_timeout)
        except TimeoutError:  # nothing to do right now; nats' TimeoutError derives from it
            return []
        except nats.errors.Error as exc:
            self._log.warning("fetch failed, retrying", error=str(exc))
            await asyncio.sleep(1.0)
            return []

    async def _dispatch(self, msg: Msg) -> None:
        # Hand back what arrives after stop() or beyond our slots (nats-py can return
        # leftovers of an earlier pull), so nobody sits on it until its ack wait ends.
        if self._stopping.is_set() or len(self._inflight) >= self._concurrency:
            await settle_quietly(msg.nak())
            return
        task = asyncio.create_task(self._process(msg), name=f"handle {msg.subject}")
        self._inflight[task] = msg
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._inflight.pop(task, None)
        self._room.set()

    async def _process(self, msg: Msg) -> None:
        delivery = Delivery.from_msg(msg)
        started = time.monotonic()
        assert self._interval is not None
        keepalive = asyncio.create_task(
            keep_alive(lambda: (msg,), self._interval), name=f"keep alive {msg.subject}"
        )
        try:
            outcome = await self._decide(delivery)
        finally:
            await stop_tasks(keepalive)
        await self._apply(msg, delivery, outcome)
        if self._on_settled is not None:
            try:
                self._on_settled(delivery, outcome, time.monotonic() - started)
            except Exception:
                self._log.exception("on_settled callback failed")

    async def _decide(self, delivery: Delivery) -> Outcome:
        """The handler's outcome, with its exceptions turned into outcomes."""
        try:
            return await self._handler(delivery)
        except TemporaryError as exc:
            return Outcome.retry(exc.delay, str(exc))
        except PermanentError as exc:
            return Outcome.give_up(str(exc))
        except Exception as exc:
            self._log.exception(
                "handler failed unexpectedly",
                subject=delivery.subject,
                stream_seq=delivery.stream_seq,
                num_delivered=delivery.num_delivered,
            )
            return Outcome.retry(self._error_delay, f"unexpected {type(exc).__name__}")

    async def _apply(self, msg: Msg, delivery: Delivery, outcome: Outcome) -> None:
        """The one place an outcome is carried out against NATS."""
        if outcome.verdict is Verdict.ACK:
            # ack_sync waits for the server to confirm, so "acked" means stored as acked.
            done = settle_quietly(msg.ack_sync(timeout=5.0))
        elif outcome.verdict is Verdict.RETRY:
            done = settle_quietly(msg.nak(delay=outcome.delay or None))
        else:
            done = settle_quietly(msg.term())
        if not await done:
            self._log.warning(
                "could not settle message; it will be redelivered after its ack wait",
                subject=delivery.subject,
                stream_seq=delivery.stream_seq,
                verdict=outcome.verdict.value,
            )
        elif outcome.verdict is not Verdict.ACK:
            self._log.info(
                "message not acked",
                subject=delivery.subject,
                stream_seq=delivery.stream_seq,
                num_delivered=delivery.num_delivered,
                verdict=outcome.verdict.value,
                delay=outcome.delay,
                reason=outcome.reason,
            )

    async def _drain(self) -> None:
        """Let in-flight handlers finish within the grace period; hand back the rest."""
        if not self._inflight:
            return
        tasks = set(self._inflight)
        self._log.info("waiting for in-flight handlers", count=len(tasks), grace=self._grace)
        _, late = await asyncio.wait(tasks, timeout=self._grace)
        if not late:
            return
        messages = [self._inflight[task] for task in late]
        await stop_tasks(*late)
        # A bare nak redelivers at once, to another worker or to our replacement.
        await asyncio.gather(*(settle_quietly(msg.nak()) for msg in messages))
        self._log.warning("handed back unfinished messages", dropped=len(messages))


async def settle_quietly(call: Awaitable[object]) -> bool:
    """Await one ack-family call; False if NATS refused it or the connection is gone."""
    try:
        await call
    except nats.errors.Error:
        return False
    return True


async def keep_alive(held: Callable[[], Collection[Msg]], interval: float) -> None:
    """Every `interval` seconds, tell the server that each message `held()` returns is
    still being worked on, so none is redelivered meanwhile. Runs until cancelled."""
    while True:
        await asyncio.sleep(interval)
        failed = [msg for msg in list(held()) if not await settle_quietly(msg.in_progress())]
        if failed:
            log.warning("in-progress ack failed", subject=failed[0].subject, count=len(failed))


def keepalive_interval(config: ConsumerConfig) -> float:
    """A third of the shortest ack deadline of a consumer: its `ack_wait`, or the first
    entry of a `backoff` that replaces it."""
    deadlines = [config.ack_wait or 30.0, *(config.backoff or [])]
    return max(0.05, min(deadlines) / 3)
