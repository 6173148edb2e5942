"""The provisioner's and the reaper's publishers store an event once even when it is
published again after the stream's duplicate window: their events are derived from
messages that can be redelivered long after (a worker killed during a long backup), and
the soak found such an event twice in the stream. Real nats-server."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from nats.js import JetStreamContext

from services.provisioner.publisher import Publisher
from services.reaper import notices
from services.reaper.app import publisher as reaper_publisher
from tests.fixtures.nats import MakeStream

WINDOW = timedelta(seconds=1)


async def messages(js: JetStreamContext, stream: str) -> int:
    return (await js.stream_info(stream)).state.messages


async def test_the_provisioner_publishes_a_redelivered_operations_event_once(
    js: JetStreamContext, make_stream: MakeStream
) -> None:
    store_id = str(uuid.uuid4())
    subject = f"store.backup.requested.{store_id}"
    stream = await make_stream(subjects=(subject,), duplicate_window=WINDOW)
    publish = Publisher(js, stream.name)
    backup_id = str(uuid.uuid4())
    request = {"backup_id": backup_id, "reason": "pre_upgrade", "requested_by": "provisioner"}

    async def once_more() -> None:
        await publish("backup.requested", store_id, request,
                      correlation_id="c-1", event_id=f"{backup_id}:requested")  # fmt: skip

    await once_more()
    await asyncio.sleep(3 * WINDOW.total_seconds())
    await once_more()

    assert await messages(js, stream.name) == 1


async def test_the_reaper_publishes_a_repeated_notice_once(
    js: JetStreamContext, make_stream: MakeStream
) -> None:
    store_id = str(uuid.uuid4())
    stream = await make_stream(subjects=(f"store.*.{store_id}",), duplicate_window=WINDOW)
    publish = reaper_publisher(js, stream.name)
    notice = notices.deleted(store_id, f"store-{store_id}", None, "c-1")

    await publish(notice)
    await asyncio.sleep(3 * WINDOW.total_seconds())
    await publish(notice)

    assert await messages(js, stream.name) == 1
