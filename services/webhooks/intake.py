"""The handler of the `webhooks` consumer: each store event becomes one pending delivery
per endpoint that wants it (`queue.queue_event`), committed before the message is acked,
so an event is never lost to a crash and a redelivered message adds nothing.

Called by `shared.worker.WorkerPool` (one message at a time, see
`shared.subjects.WEBHOOKS`); the sending is `senders`' work. Emits only acks.
"""

from __future__ import annotations

import asyncpg
import structlog

from services.webhooks import metrics, queue
from shared.events import InvalidEvent
from shared.outcome import Outcome
from shared.worker import Delivery, Handler

log = structlog.get_logger(__name__)


def intake_handler(pool: asyncpg.Pool) -> Handler:
    async def take(delivery: Delivery) -> Outcome:
        try:
            event = delivery.event()
        except InvalidEvent as exc:
            log.warning("not a store event; skipped", subject=delivery.subject, error=str(exc))
            return Outcome.give_up("not a store event")
        added = await queue.queue_event(pool, event, delivery.stream_seq, delivery.data)
        metrics.EVENTS.inc()
        metrics.QUEUED.inc(added)
        return Outcome.ack()

    return take
