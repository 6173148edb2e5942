"""Has this store's deletion been asked for? The stream is the authority: a
`store.delete.<id>` message in it means yes (`requested`). A plain NATS subscription on
`store.delete.*` lets a handler that is waiting on Kubernetes hear of a deletion at once
(`listen`), and it then confirms with the stream.

Called by the handler before it creates a store's namespace, while it waits, after the
engine waves and before it publishes `ready`. Emits nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

import nats.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from shared.outcome import TemporaryError
from shared.subjects import subject_for, type_filter


class DeleteSignals:
    def __init__(self, nc: NATS, js: JetStreamContext, stream: str) -> None:
        self._nc, self._js, self._stream = nc, js, stream
        self._listeners: dict[str, set[asyncio.Event]] = defaultdict(set)
        self._sub: Subscription | None = None

    async def start(self) -> None:
        self._sub = await self._nc.subscribe(type_filter("delete"), cb=self._on_delete)

    async def stop(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(nats.errors.Error):  # the connection may be gone
                await self._sub.unsubscribe()
            self._sub = None

    async def requested(self, store_id: str) -> bool:
        """Whether the stream holds a delete request for the store."""
        try:
            await self._js.get_last_msg(self._stream, subject_for("delete", store_id))
        except NotFoundError:
            return False
        except (nats.errors.Error, TimeoutError) as exc:
            raise TemporaryError(f"could not check for a delete request: {exc!r}") from exc
        return True

    @contextmanager
    def listen(self, store_id: str) -> Iterator[asyncio.Event]:
        """An event set when a delete for the store is published while the block runs."""
        event = asyncio.Event()
        self._listeners[store_id].add(event)
        try:
            yield event
        finally:
            self._listeners[store_id].discard(event)
            if not self._listeners[store_id]:
                del self._listeners[store_id]

    async def _on_delete(self, msg: Msg) -> None:
        store_id = msg.subject.rsplit(".", 1)[-1]
        for event in self._listeners.get(store_id, ()):
            event.set()
