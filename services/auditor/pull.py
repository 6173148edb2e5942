"""Batches from a durable JetStream pull consumer, fetched over plain core NATS.

Called by the auditor's consumer loop (`services.auditor.consumer`). nats-py's
`PullSubscription.fetch` spends three asyncio tasks and a uuid on every message it
hands out, which at ten thousand events a second is a good part of the auditor's CPU.
This feed speaks the pull protocol itself: one inbox subscription whose callback
appends to a buffer, and pull requests published to
`$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>`:

- first a `no_wait` request for a whole batch: the server sends what it has (up to the
  batch) and, if that is less, a 404 status;
- when it had nothing, a long poll (`expires`); `fetch` returns as soon as the first
  message is in, and later fetches take what the same request delivers meanwhile.

Only one request is outstanding at a time, so a status always belongs to it. The
messages are ordinary nats-py `Msg`s: `ack()`, `nak()`, `in_progress()` and `metadata`
work as usual. Emits only pull requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable

import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

log = structlog.get_logger(__name__)

# A request the server never closed (a lost 408 across a reconnect) is given up after
# its expiry plus this much.
LOST_REQUEST_MARGIN = 5.0
_HEARTBEAT = "100"
_CONFLICT = "409"  # e.g. consumer deleted, too many waiting requests


class PullFeed:
    def __init__(self, nc: NATS, stream: str, consumer: str, api_prefix: str = "$JS.API") -> None:
        self._nc = nc
        self._next = f"{api_prefix}.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        self._inbox = nc.new_inbox()
        self._sub: Subscription | None = None
        self._buffer: list[Msg] = []
        self._remaining = 0  # messages the outstanding request may still deliver
        self._open_until = 0.0  # monotonic deadline of the outstanding request; 0: none
        self._conflict = ""
        self._changed = asyncio.Event()

    async def start(self) -> None:
        self._sub = await self._nc.subscribe(self._inbox, cb=self._arrive)

    async def close(self, grace: float = 2.0) -> list[Msg]:
        """Wait (within `grace`) for the outstanding request to end, stop listening, and
        return what was delivered but not fetched, for the caller to hand back."""
        deadline = time.monotonic() + grace
        while self._outstanding() and time.monotonic() < deadline:
            self._changed.clear()
            await self._wait(deadline - time.monotonic())
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None
        left, self._buffer = self._buffer, []
        return left

    async def fetch(self, batch: int, timeout: float) -> list[Msg]:
        """Up to `batch` messages; [] when none came within `timeout`."""
        if not self._buffer and not self._outstanding():
            await self._request({"batch": batch, "no_wait": True}, timeout)
            await self._until(lambda: not self._outstanding(), timeout)
            if not self._buffer:
                await self._pause_after_conflict()
                expires = int(timeout * 1e9)
                await self._request({"batch": batch, "expires": expires}, timeout)
        if not self._buffer:
            await self._until(lambda: bool(self._buffer) or not self._outstanding(), timeout)
        taken, self._buffer = self._buffer[:batch], self._buffer[batch:]
        return taken

    async def _request(self, body: dict[str, object], timeout: float) -> None:
        self._remaining = int(str(body["batch"]))
        self._open_until = time.monotonic() + timeout + LOST_REQUEST_MARGIN
        self._conflict = ""
        await self._nc.publish(self._next, json.dumps(body).encode(), reply=self._inbox)

    def _outstanding(self) -> bool:
        if self._open_until and time.monotonic() > self._open_until:
            log.warning("pull request never closed by the server; sending a new one")
            self._open_until = 0.0
        return self._open_until > 0

    async def _arrive(self, msg: Msg) -> None:
        status = msg.headers.get("Status") if msg.headers and not msg.data else None
        if status is None:
            self._buffer.append(msg)
            self._remaining -= 1
            if self._remaining <= 0:
                self._open_until = 0.0
        elif status != _HEARTBEAT:  # 404 no messages, 408 expired, 409 conflict: over
            self._open_until = 0.0
            if status == _CONFLICT:
                self._conflict = msg.headers.get("Description", "") if msg.headers else ""
        self._changed.set()

    async def _until(self, done: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout + LOST_REQUEST_MARGIN
        while not done() and time.monotonic() < deadline:
            self._changed.clear()
            await self._wait(deadline - time.monotonic())

    async def _wait(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, seconds)):
                await self._changed.wait()

    async def _pause_after_conflict(self) -> None:
        if self._conflict:
            log.warning("pull request refused", reason=self._conflict)
            self._conflict = ""
            await asyncio.sleep(1.0)
