"""Sending what is due: one task per endpoint with due deliveries, so a slow or dead
endpoint holds up only its own queue. Each task takes (`queue.claim`) up to
`per_endpoint` stores whose oldest delivery there is due, with a run of up to `run` of
each store's deliveries; it sends the stores' runs at once, each run one delivery after
another in stream order (`sender.Sender`, signed, over kept-alive connections), asks
`schedule.after_attempt` what follows each, stops a run at a delivery to be retried,
records the round in one transaction (`queue.record_all`) and releases what was not
sent, until the endpoint has nothing due.

`Dispatcher.run` is started by `services.webhooks.app.main`; it looks for due endpoints
every poll and whenever the intake `wake`s it, keeps the lag gauge, prunes finished
deliveries past the retention now and then, and on stop starts no attempt more and lets
those under way finish within the grace period. An attempt cut short is sent again once
its lease ends (at least once).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from itertools import groupby

import asyncpg
import structlog

from services.webhooks import metrics, queue
from services.webhooks.schedule import Result, RetryPolicy, after_attempt
from services.webhooks.sender import Sender
from shared.tasks import stop_tasks
from shared.webhook_signing import signed_headers

log = structlog.get_logger(__name__)
# An attempt ends within its timeout; the margin covers recording it.
LEASE_MARGIN = 5.0
PRUNE_EVERY = 600.0


class Dispatcher:
    def __init__(
        self,
        pool: asyncpg.Pool,
        sender: Sender,
        policy: RetryPolicy,
        *,
        timeout: float,
        senders: int,
        poll: float,
        grace: float,
        retention_days: float = 30.0,
        per_endpoint: int = 1,
        run: int = 1,
    ) -> None:
        self._pool = pool
        self._sender = sender
        self._policy = policy
        # A run goes on while an attempt more still ends within its lease.
        self._timeout = timeout
        self._lease = 2 * timeout + LEASE_MARGIN
        self._senders = senders
        self._poll = poll
        self._grace = grace
        self._retention_days = retention_days
        self._per_endpoint = per_endpoint
        self._run = run
        self._pruned_at = 0.0
        self._stopping = asyncio.Event()
        self._woken = asyncio.Event()
        self._running: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._gauged: set[str] = set()

    async def run(self, stopping: asyncio.Event) -> None:
        self._stopping = stopping
        try:
            while not stopping.is_set():
                try:
                    await self._start_due()
                    await self._prune()
                except (asyncpg.PostgresError, OSError) as exc:
                    log.warning("looking for due deliveries failed", error=type(exc).__name__)
                await self._sleep()
        finally:
            await self._finish()

    def wake(self) -> None:
        """New deliveries are queued: look for due endpoints now, not at the next poll."""
        self._woken.set()

    async def _sleep(self) -> None:
        woken = asyncio.create_task(self._woken.wait())
        stopped = asyncio.create_task(self._stopping.wait())
        try:
            await asyncio.wait({woken, stopped}, timeout=self._poll, return_when="FIRST_COMPLETED")
        finally:
            await stop_tasks(woken, stopped)
        self._woken.clear()

    async def _start_due(self) -> None:
        pending = await queue.pending_endpoints(self._pool)
        self._gauge(pending)
        for endpoint in pending:
            if len(self._running) >= self._senders:
                return
            if endpoint.due and endpoint.id not in self._running:
                self._start(endpoint.id)

    def _start(self, endpoint_id: uuid.UUID) -> None:
        task = asyncio.create_task(self._send_due(endpoint_id), name=f"send {endpoint_id}")
        self._running[endpoint_id] = task

        def finished(_: asyncio.Task[None]) -> None:
            self._running.pop(endpoint_id, None)

        task.add_done_callback(finished)

    async def _prune(self) -> None:
        now = time.monotonic()
        if now - self._pruned_at < PRUNE_EVERY:
            return
        self._pruned_at = now
        removed = await queue.prune(self._pool, self._retention_days)
        if removed:
            log.info("finished deliveries pruned", removed=removed)

    def _gauge(self, pending: list[queue.PendingEndpoint]) -> None:
        seen = {str(p.id) for p in pending}
        for gone in self._gauged - seen:
            metrics.LAG.remove(gone)
        for endpoint in pending:
            metrics.LAG.labels(str(endpoint.id)).set(endpoint.lag_seconds)
        self._gauged = seen

    async def _send_due(self, endpoint_id: uuid.UUID) -> None:
        try:
            while not self._stopping.is_set():
                claimed = await queue.claim(
                    self._pool, endpoint_id, self._lease, self._per_endpoint, self._run
                )
                if not claimed:
                    return
                runs = [list(run) for _, run in groupby(claimed, key=lambda c: c.store_id)]
                started, gave_up = time.monotonic(), asyncio.Event()
                done = await asyncio.gather(
                    *(self._send_run(run, started, gave_up) for run in runs)
                )
                attempts = [one for run in done for one in run]
                await queue.record_all(self._pool, attempts)
                tried = {one.sent.id for one in attempts}
                await queue.release(self._pool, [c.id for c in claimed if c.id not in tried])
                self._count(attempts)
        except (asyncpg.PostgresError, OSError) as exc:
            log.warning("sending stopped; retried next poll", error=type(exc).__name__)

    async def _send_run(
        self, run: list[queue.Claimed], started: float, gave_up: asyncio.Event
    ) -> list[queue.Attempted]:
        """One store's rows in stream order, until one must wait for a retry or the next
        attempt might outlast the lease. Once a row of the round is given up, the
        endpoint is failing for the rest of it too (one attempt each)."""
        attempts: list[queue.Attempted] = []
        for claimed in run:
            if attempts and time.monotonic() - started > self._timeout:
                break
            attempts.append(await self._attempt(claimed, gave_up.is_set()))
            if attempts[-1].step.result is Result.GIVEN_UP:
                gave_up.set()
            if attempts[-1].step.result is Result.RETRY:
                break
        return attempts

    async def _attempt(self, claimed: queue.Claimed, failing: bool) -> queue.Attempted:
        timestamp = int(time.time())
        headers = signed_headers(claimed.secret, claimed.event_id, timestamp, claimed.body)
        answer = await self._sender.post(claimed.url, headers, claimed.body)
        step = after_attempt(
            claimed.attempt, answer.status, answer.error, self._policy, claimed.failing or failing
        )
        return queue.Attempted(claimed, answer, step)

    def _count(self, attempts: list[queue.Attempted]) -> None:
        for one in attempts:
            metrics.ATTEMPTS.labels(one.step.result.value).inc()
            metrics.ATTEMPT_SECONDS.observe(one.answer.latency_ms / 1000)
            if one.step.result is Result.GIVEN_UP:
                metrics.FAILURES.inc()
                log.warning(
                    "delivery given up; endpoint marked failing",
                    endpoint=str(one.sent.endpoint_id),
                    event_id=one.sent.event_id,
                    reason=one.step.reason,
                )

    async def _finish(self) -> None:
        tasks = list(self._running.values())
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=self._grace)
        if late:
            log.warning("attempts cut short at stop; sent again after their lease", count=len(late))
        await stop_tasks(*late)
