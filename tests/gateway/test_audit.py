"""The audit routes read the auditor's `store_events` (written here as the auditor
would) and the gateway's credential views: a store's timeline for its owner, the whole
log for admins, filtered and paged."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.gateway.conftest import Harness

API = "/api/v1"
T0 = datetime(2030, 1, 1, tzinfo=UTC)


async def audited(
    gateway: Harness, store_id: str, event_type: str, actor: str, minutes: int, seq: int
) -> None:
    event_id = str(uuid.uuid4())
    envelope = {
        "id": event_id,
        "type": event_type,
        "store_id": store_id,
        "actor": actor,
        "data": {"n": seq},
    }
    await gateway.pool.execute(
        "INSERT INTO store_events (event_id, store_id, type, subject, actor, occurred_at,"
        " envelope, stream_seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        event_id,
        store_id,
        event_type,
        f"store.{event_type}.{store_id}",
        actor,
        T0 + timedelta(minutes=minutes),
        envelope,
        seq,
    )


async def get(gateway: Harness, user: Any, path: str, **params: str) -> tuple[int, Any]:
    async with gateway.client(user).get(API + path, params=params) as resp:
        return resp.status, await resp.json()


async def test_the_owner_reads_the_store_timeline_oldest_first_in_pages(
    gateway: Harness,
) -> None:
    user = await gateway.add_user()
    store = await gateway.create_store(user)
    for i, kind in enumerate(["requested", "provisioning", "progress", "ready"]):
        await audited(gateway, store["id"], kind, "provisioner", i, i + 1)

    status, first = await get(gateway, user, f"/stores/{store['id']}/events", limit="3")
    _, second = await get(
        gateway, user, f"/stores/{store['id']}/events", limit="3", cursor=first["next_cursor"]
    )

    assert status == 200
    assert [e["type"] for e in first["items"]] == ["requested", "provisioning", "progress"]
    assert [e["type"] for e in second["items"]] == ["ready"]
    assert second["next_cursor"] is None
    assert first["items"][0]["stream_seq"] == 1
    assert first["items"][0]["data"] == {"n": 1}


async def test_admins_filter_the_whole_log_by_store_actor_type_and_period(
    gateway: Harness,
) -> None:
    admin, user = await gateway.add_user(admin=True), await gateway.add_user()
    a, b = await gateway.create_store(user), await gateway.create_store(user)
    await audited(gateway, a["id"], "requested", user.id, 0, 1)
    await audited(gateway, b["id"], "requested", user.id, 1, 2)
    await audited(gateway, a["id"], "ready", "provisioner", 2, 3)

    def types(page: Any) -> list[tuple[str, str]]:
        return [(e["store_id"], e["type"]) for e in page["items"]]

    _, everything = await get(gateway, admin, "/audit")
    _, by_store = await get(gateway, admin, "/audit", store_id=a["id"])
    _, by_actor = await get(gateway, admin, "/audit", actor="provisioner")
    _, by_type = await get(gateway, admin, "/audit", type="requested")
    _, by_period = await get(
        gateway,
        admin,
        "/audit",
        since=(T0 + timedelta(minutes=1)).isoformat(),
        until=(T0 + timedelta(minutes=2)).isoformat(),
    )

    assert types(everything) == [(a["id"], "ready"), (b["id"], "requested"), (a["id"], "requested")]
    assert types(by_store) == [(a["id"], "ready"), (a["id"], "requested")]
    assert types(by_actor) == [(a["id"], "ready")]
    assert types(by_type) == [(b["id"], "requested"), (a["id"], "requested")]
    assert types(by_period) == [(b["id"], "requested")]


async def test_the_whole_log_is_for_admins_only(gateway: Harness) -> None:
    user = await gateway.add_user()
    status, body = await get(gateway, user, "/audit")
    assert status == 403
    assert body["error"]["code"] == "forbidden"


async def test_a_bad_cursor_or_filter_is_refused_naming_it(gateway: Harness) -> None:
    admin = await gateway.add_user(admin=True)
    status, body = await get(gateway, admin, "/audit", cursor="garbage!")
    assert (status, body["error"]["field"]) == (400, "cursor")
    status, body = await get(gateway, admin, "/audit", since="yesterday")
    assert (status, body["error"]["field"]) == (422, "since")
    status, body = await get(gateway, admin, "/stores", limit="1000")
    assert (status, body["error"]["field"]) == (422, "limit")
