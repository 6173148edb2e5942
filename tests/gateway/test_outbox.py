"""The outbox: a store change and its event commit together, and the relay publishes
each event exactly once, in order, even while NATS is away or two replicas compete."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from nats.aio.msg import Msg

from services.gateway.outbox import OutboxRelay
from tests.gateway.conftest import RELAXED, Harness, MakeGateway, stream_messages

API = "/api/v1"


async def eventually_count(
    gateway: Harness, subject: str, want: int, within: float = 30.0
) -> list[object]:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        messages = await stream_messages(gateway.js, gateway.settings.stream_name, subject)
        if len(messages) >= want or asyncio.get_running_loop().time() > deadline:
            return messages
        await asyncio.sleep(0.3)


async def test_a_created_store_reaches_the_stream_with_its_event_id_as_msg_id(
    gateway: Harness,
) -> None:
    user = await gateway.add_user()
    store = await gateway.create_store(user)

    [msg] = await eventually_count(gateway, f"store.requested.{store['id']}", 1)
    envelope = json.loads(msg.data)  # type: ignore[attr-defined]
    assert msg.headers["Nats-Msg-Id"] == envelope["id"]  # type: ignore[attr-defined]
    assert envelope["store_id"] == store["id"]
    sent = await gateway.pool.fetchval("SELECT sent_at FROM outbox")
    assert sent is not None


async def test_twenty_creates_while_nats_is_down_are_published_once_when_it_returns(
    gateway: Harness, nats_server: object
) -> None:
    if not hasattr(nats_server, "stop"):
        pytest.skip("NATS is external; this test must stop and start it")
    user = await gateway.add_user(max_stores=30)
    nats_server.stop()
    try:
        ids = [(await gateway.create_store(user, f"offline shop {i}"))["id"] for i in range(20)]
        unsent = await gateway.pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
        assert unsent == 20
    finally:
        nats_server.start()  # type: ignore[attr-defined]

    messages = await eventually_count(gateway, "store.requested.*", 20)
    await asyncio.sleep(1.0)  # room for a duplicate to show up, if there were one
    messages = await stream_messages(gateway.js, gateway.settings.stream_name, "store.>")
    store_ids = [json.loads(m.data)["store_id"] for m in messages]
    assert sorted(store_ids) == sorted(ids)
    assert store_ids == ids  # in the order they were created
    assert await gateway.pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0


async def test_replicas_share_the_outbox_without_publishing_a_row_twice(
    make_gateway: MakeGateway,
) -> None:
    # The app's own relay wakes on NOTIFY only (which an UPDATE does not send), so the
    # three relays below compete for the reset rows among themselves.
    gateway = await make_gateway(outbox_poll_seconds=300.0, **RELAXED)
    user = await gateway.add_user(max_stores=1000)
    for i in range(30):
        await gateway.create_store(user, f"busy shop {i}")
    await eventually_count(gateway, "store.requested.*", 30)
    # Every publish, duplicates included, reaches a plain subscriber on the subject.
    seen: list[str] = []

    async def record(msg: Msg) -> None:
        seen.append(msg.headers["Nats-Msg-Id"] if msg.headers else "")

    sub = await gateway.nc.subscribe("store.requested.*", cb=record)
    try:
        await gateway.pool.execute("UPDATE outbox SET sent_at = NULL")  # as if never sent
        relays = [
            OutboxRelay(
                gateway.pool,
                "postgresql://unused",
                gateway.nc,
                gateway.js,
                gateway.settings.stream_name,
                batch=3,
            )
            for _ in range(3)
        ]

        async def drain(relay: OutboxRelay) -> int:
            total = 0
            while (result := await relay.publish_batch()).claimed:
                total += result.sent
            return total

        sent_here = await asyncio.gather(*(drain(r) for r in relays))
        await gateway.nc.flush()
        await asyncio.sleep(0.5)
    finally:
        await sub.unsubscribe()

    assert sum(sent_here) == 30
    assert len(seen) == 30
    assert len(set(seen)) == 30
    assert await gateway.pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0


async def test_the_relay_wakes_on_notify_instead_of_waiting_for_its_poll(
    make_gateway: MakeGateway,
) -> None:
    gateway = await make_gateway(outbox_poll_seconds=60.0, **RELAXED)
    user = await gateway.add_user()
    await asyncio.sleep(0.5)  # the relay is listening
    started = asyncio.get_running_loop().time()
    store = await gateway.create_store(user)

    await eventually_count(gateway, f"store.requested.{store['id']}", 1, within=5)
    assert asyncio.get_running_loop().time() - started < 5
    assert uuid.UUID(store["id"])
