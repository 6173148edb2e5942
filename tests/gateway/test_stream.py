"""Live updates over Server-Sent Events: a client sees its stores' events in stream
order (backup and restore events too), never another user's or, narrowed to one store,
another store's, and resumes after `Last-Event-ID` without gaps."""

from __future__ import annotations

import uuid
from typing import Any

from shared.events import new_event
from shared.jetstream import publish_event
from tests.gateway.backups import completed as completed_backup
from tests.gateway.backups import published
from tests.gateway.conftest import Harness
from tests.gateway.sse_client import no_frame_within, read_frames, wait_connected

API = "/api/v1"


async def progress(gateway: Harness, store: dict[str, Any]) -> list[str]:
    """What the provisioner would publish for the store; returns the event types."""
    events = [
        new_event(
            "provisioning", store["id"], {"worker": "w1"}, actor="provisioner", correlation_id="c"
        ),
        new_event(
            "progress", store["id"], {"wave": "guardrails"}, actor="provisioner", correlation_id="c"
        ),
        new_event(
            "ready",
            store["id"],
            {"url": "https://shop.example"},
            actor="provisioner",
            correlation_id="c",
        ),
    ]
    for event in events:
        await publish_event(gateway.js, event, stream=gateway.settings.stream_name)
    return [event.type for event in events]  # type: ignore[attr-defined]


async def test_a_client_sees_its_stores_events_in_order(gateway: Harness) -> None:
    user = await gateway.add_user()
    async with gateway.client(user).get(f"{API}/stream") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        await wait_connected(resp)
        store = await gateway.create_store(user)
        frames = await read_frames(resp, 1)  # the relay has published `requested`
        types = await progress(gateway, store)
        frames += await read_frames(resp, 3)

    assert [f.event for f in frames] == ["requested", *types]
    assert [f.data["store_id"] for f in frames] == [store["id"]] * 4
    assert [f.id for f in frames] == sorted(f.id for f in frames)
    assert len({f.id for f in frames}) == 4


async def test_a_client_never_sees_another_users_events(gateway: Harness) -> None:
    alice, bob, admin = (
        await gateway.add_user(),
        await gateway.add_user(),
        await gateway.add_user(admin=True),
    )
    http_bob, http_admin = gateway.client(bob), gateway.client(admin)
    async with (
        http_bob.get(f"{API}/stream") as bob_stream,
        http_admin.get(f"{API}/stream") as admin_stream,
    ):
        await wait_connected(bob_stream)
        await wait_connected(admin_stream)
        alices = await gateway.create_store(alice)
        await progress(gateway, alices)
        bobs = await gateway.create_store(bob)
        [seen_by_bob] = await read_frames(bob_stream, 1)
        assert await no_frame_within(bob_stream, 1.5)
        seen_by_admin = await read_frames(admin_stream, 5)

    assert seen_by_bob.data["store_id"] == bobs["id"]
    assert {f.data["store_id"] for f in seen_by_admin} == {alices["id"], bobs["id"]}


async def test_a_reconnect_with_last_event_id_resumes_without_gaps(gateway: Harness) -> None:
    user = await gateway.add_user()
    http = gateway.client(user)
    async with http.get(f"{API}/stream") as resp:
        await wait_connected(resp)
        store = await gateway.create_store(user)
        [first] = await read_frames(resp, 1)
    # Disconnected: these happen while nobody listens.
    await progress(gateway, store)
    other = await gateway.create_store(user)

    async with http.get(f"{API}/stream", headers={"Last-Event-ID": str(first.id)}) as resp:
        frames = await read_frames(resp, 4)

    assert [f.event for f in frames] == ["provisioning", "progress", "ready", "requested"]
    assert frames[-1].data["store_id"] == other["id"]
    assert all(f.id > first.id for f in frames)


async def test_a_stream_can_be_narrowed_to_one_store(gateway: Harness) -> None:
    user = await gateway.add_user()
    one, two = await gateway.create_store(user), await gateway.create_store(user)
    async with gateway.client(user).get(
        f"{API}/stream", params={"store_id": two["id"], "last_event_id": "0"}
    ) as resp:
        frames = await read_frames(resp, 1)
        assert await no_frame_within(resp, 1.0)

    assert frames[0].data["store_id"] == two["id"]
    assert one["id"] != two["id"]


async def test_a_malformed_last_event_id_is_400(gateway: Harness) -> None:
    user = await gateway.add_user()
    async with gateway.client(user).get(f"{API}/stream", headers={"Last-Event-ID": "abc"}) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"]["field"] == "Last-Event-ID"


async def test_a_single_store_stream_carries_its_backup_events_and_never_another_stores(
    gateway: Harness,
) -> None:
    user = await gateway.add_user()
    one, two = await gateway.create_store(user), await gateway.create_store(user)

    def completed(store_id: str) -> Any:
        data = completed_backup(str(uuid.uuid4()))
        return new_event(
            "backup.completed", store_id, data, actor="provisioner", correlation_id="c"
        )

    # Both `requested` events published before the stream opens (it starts with new
    # events), so the only frames are what is published below.
    for store in (one, two):
        await published(gateway, f"store.requested.{store['id']}", 1)
    async with gateway.client(user).get(f"{API}/stream", params={"store_id": two["id"]}) as resp:
        await wait_connected(resp)
        for event in (completed(one["id"]), completed(two["id"])):
            await publish_event(gateway.js, event, stream=gateway.settings.stream_name)
        frames = await read_frames(resp, 1)
        assert await no_frame_within(resp, 1.0)

    assert [(f.event, f.data["store_id"]) for f in frames] == [("backup.completed", two["id"])]
    assert frames[0].data["data"]["size"] == 4096
