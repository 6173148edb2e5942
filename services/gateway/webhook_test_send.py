"""A test send (POST /api/v1/webhooks/{id}/test): the synthetic `webhook.test` event
queued for one endpoint, in the platform's envelope (the fields of
`shared.events.Envelope`, in its order) but about no store (`store_id` null), with a
fresh id and a payload naming the endpoint. docs/operations.md, section 2.3, shows it.

Pure: no I/O imports. `routes_webhooks` builds the event; `webhook_db.queue_test` queues
it, refusing a test send while one is pending or sooner than `TEST_INTERVAL_SECONDS`
after the last.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import pydantic_core

from shared.events import SCHEMA_VERSION

TEST_EVENT_TYPE = "webhook.test"
TEST_MESSAGE = "test delivery from storefleet"
# A test delivery's row says store '' (no store event has an empty store id), so the
# senders claim it as a run of its own (migration 0018).
NO_STORE = ""
TEST_INTERVAL_SECONDS = 5


@dataclass(frozen=True)
class SyntheticEvent:
    id: str
    occurred_at: datetime
    body: bytes  # the envelope as it is sent


def synthetic_event(
    endpoint_id: uuid.UUID, actor: str, correlation_id: str, now: datetime | None = None
) -> SyntheticEvent:
    event_id = str(uuid.uuid4())
    occurred_at = now or datetime.now(UTC)
    envelope = {
        "id": event_id,
        "store_id": None,
        "occurred_at": occurred_at,
        "actor": actor,
        "correlation_id": correlation_id,
        "schema_version": SCHEMA_VERSION,
        "type": TEST_EVENT_TYPE,
        "data": {"endpoint_id": str(endpoint_id), "message": TEST_MESSAGE},
    }
    return SyntheticEvent(event_id, occurred_at, pydantic_core.to_json(envelope))
