"""`python -m services.auditor rebuild`: replay the whole stream into empty `store_events`
and `store_states` tables, through the same batch code the live auditor uses.

Called from the auditor's `__main__`. Reads the stream with an ephemeral consumer
(no acks, nothing durable left behind) from its first message to its end, and writes
one transaction per batch. Because the projection is a fold in stream order
(`services.auditor.projection`), the result equals the live projection.

The tables must be empty (a fresh database), or `--in-place` empties `store_events`
and marks every `store_states` row to be refolded from the replay; rows are kept, so the
stores the gateway shows keep their columns meanwhile. The live auditor may keep running:
its batches are idempotent on event id and fold into the rebuilt rows. Emptying the audit
log takes the migration owner's STOREFLEET_DATABASE_URL: the auditor's own role may only
append to it (migration 0007).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import asyncpg
import nats.errors
import structlog
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from services.auditor.consumer import Storer, to_audit_events
from services.auditor.store import finish_replay, is_empty, reset_for_replay
from shared.subjects import ALL_STORE_SUBJECTS, REBUILD_CONSUMER

log = structlog.get_logger(__name__)


class RebuildRefused(Exception):
    """The tables hold data and `--in-place` was not given."""


@dataclass(frozen=True)
class RebuildReport:
    messages: int
    stored: int
    rejected: int
    first_seq: int
    last_seq: int
    rows_not_replayed: int = 0


async def rebuild(
    js: JetStreamContext,
    pool: asyncpg.Pool,
    stream: str,
    *,
    in_place: bool = False,
    batch_size: int = 500,
) -> RebuildReport:
    """Replay `stream` into the audit tables; refuse non-empty tables unless `in_place`."""
    async with pool.acquire() as conn:
        if in_place:
            marked = await reset_for_replay(conn)
            log.info("audit log emptied, store_states rows marked for refolding", rows=marked)
        elif not await is_empty(conn):
            raise RebuildRefused(
                "store_events or store_states is not empty; rebuild into an empty database or "
                "pass --in-place"
            )
    info = await js.stream_info(stream)
    log.info(
        "rebuild starting",
        stream=stream,
        first_seq=info.state.first_seq,
        last_seq=info.state.last_seq,
        messages=info.state.messages,
    )
    config = ConsumerConfig(
        name=REBUILD_CONSUMER,  # named, so the auditor's NATS user may use this one only
        filter_subject=ALL_STORE_SUBJECTS,
        ack_policy=AckPolicy.NONE,
        deliver_policy=DeliverPolicy.ALL,
        inactive_threshold=60.0,
        mem_storage=True,
    )
    with contextlib.suppress(NotFoundError):  # left by a rebuild that did not finish
        await js.delete_consumer(stream, REBUILD_CONSUMER)
    await js.add_consumer(stream, config)
    sub = await js.pull_subscribe_bind(REBUILD_CONSUMER, stream=stream)
    storer = Storer(pool)
    messages = stored = rejected = last = 0
    try:
        while True:
            try:
                msgs = await sub.fetch(batch_size, timeout=1.0)
            except TimeoutError:
                if last >= info.state.last_seq:
                    break
                continue
            good, bad = to_audit_events(msgs)
            result = await storer.store([event for _, event in good])
            assert result is not None  # no give-up event: retried until it commits
            messages += len(msgs)
            stored += result.stored
            rejected += len(bad)
            last = msgs[-1].metadata.sequence.stream
    finally:
        try:
            await sub.unsubscribe()
            await js.delete_consumer(stream, REBUILD_CONSUMER)
        except nats.errors.Error:
            log.warning("could not remove the replay consumer; it expires by itself")
    async with pool.acquire() as conn:
        untouched = await finish_replay(conn)
    report = RebuildReport(messages, stored, rejected, info.state.first_seq, last, untouched)
    log.info("rebuild finished", **report.__dict__)
    return report
