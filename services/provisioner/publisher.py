"""Publish the provisioner's events on a store's operations (backups, restores), each with
an id derived from the operation, so a redelivered operation's events are the same
messages and the stream's duplicate window drops them.

Called by `services.provisioner.backups` and `services.provisioner.restores`. Raises
`TemporaryError` when NATS does not take the event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import nats.errors
from nats.js import JetStreamContext

from shared.events import Payload, new_event
from shared.jetstream import publish_event
from shared.outcome import TemporaryError

ACTOR = "provisioner"


@dataclass(frozen=True)
class Publisher:
    js: JetStreamContext
    stream: str

    async def __call__(
        self,
        event_type: str,
        store_id: str,
        data: Payload | dict[str, Any],
        *,
        correlation_id: str,
        event_id: str,
    ) -> None:
        envelope = new_event(
            event_type,
            store_id,
            data,
            actor=ACTOR,
            correlation_id=correlation_id,
            event_id=event_id,
        )
        try:
            await publish_event(self.js, envelope, stream=self.stream, once=True)
        except (nats.errors.Error, TimeoutError) as exc:
            raise TemporaryError(f"could not publish {event_type}: {exc!r}") from exc
