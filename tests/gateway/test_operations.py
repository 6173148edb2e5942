"""Suspend and resume through the API: the owner suspends a ready store and resumes it
once suspended, one operation at a time; an administrator suspends anyone's store with a
reason the owner reads, never who they are; nobody else reaches the store; each command
publishes its event with the operation's id. The provisioner's events are folded with the
auditor's own batch."""

from __future__ import annotations

from typing import Any

import pytest

from tests.gateway.backups import fold, published
from tests.gateway.conftest import Harness
from tests.gateway.test_backups import get, post, ready_store


async def test_an_owner_suspends_a_ready_store_and_resumes_it_once_suspended(
    gateway: Harness,
) -> None:
    user = await gateway.add_user()
    store = await ready_store(gateway, user)
    sid = store["id"]

    status, suspend = await post(gateway, user, f"/stores/{sid}/suspend")

    assert status == 202
    assert suspend == {
        "operation_id": suspend["operation_id"],
        "store_id": sid,
        "kind": "suspend",
        "status": "suspending",
    }
    [event] = await published(gateway, f"store.suspend.requested.{sid}", 1)
    assert (event["actor"], event["data"]) == (
        user.id,
        {"operation_id": suspend["operation_id"], "requested_by": user.id, "reason": ""},
    )
    # Asked for, not started yet: a second suspend and a resume are both refused.
    for action in ("suspend", "resume"):
        status, body = await post(gateway, user, f"/stores/{sid}/{action}")
        assert (status, body["error"]["code"]) == (409, "operation_in_progress")

    op = {"operation_id": suspend["operation_id"]}
    await fold(gateway, sid, [("suspend.started", op)])
    assert (await get(gateway, user, f"/stores/{sid}"))[1]["status"] == "suspending"
    await fold(gateway, sid, [("suspend.completed", op | {"seconds": 3.0})])
    assert (await get(gateway, user, f"/stores/{sid}"))[1]["status"] == "suspended"
    status, body = await post(gateway, user, f"/stores/{sid}/suspend")
    assert (status, body["error"]["code"]) == (409, "store_not_suspendable")

    status, resume = await post(gateway, user, f"/stores/{sid}/resume")
    assert (status, resume["kind"], resume["status"]) == (202, "resume", "resuming")
    again = {"operation_id": resume["operation_id"]}
    await fold(
        gateway, sid, [("resume.started", again), ("resume.completed", again | {"seconds": 9.0})]
    )
    assert (await get(gateway, user, f"/stores/{sid}"))[1]["status"] == "ready"
    status, body = await post(gateway, user, f"/stores/{sid}/resume")
    assert (status, body["error"]["code"]) == (409, "store_not_resumeable")


@pytest.mark.parametrize(
    "store_status", ["requested", "provisioning", "failed", "restoring", "deleting", "deleted"]
)
async def test_only_a_ready_store_can_be_suspended(gateway: Harness, store_status: str) -> None:
    user = await gateway.add_user()
    store = await ready_store(gateway, user)
    await gateway.project(store["id"], store_status)

    status, body = await post(gateway, user, f"/stores/{store['id']}/suspend")

    assert (status, body["error"]["code"]) == (409, "store_not_suspendable")
    assert await gateway.pool.fetchval("SELECT count(*) FROM store_operations") == 0


async def test_an_admin_suspends_anyones_store_and_the_owner_reads_why_not_who(
    gateway: Harness,
) -> None:
    owner, admin = await gateway.add_user(), await gateway.add_user(admin=True)
    store = await ready_store(gateway, owner)

    status, _ = await post(gateway, admin, f"/stores/{store['id']}/suspend", {"reason": "unpaid"})

    assert status == 202
    [event] = await published(gateway, f"store.suspend.requested.{store['id']}", 1)
    assert event["data"]["reason"] == "suspended by an administrator: unpaid"
    assert admin.username not in str(event)


async def test_another_users_store_is_not_found_and_nothing_is_asked(gateway: Harness) -> None:
    alice, bob = await gateway.add_user(), await gateway.add_user()
    store = await ready_store(gateway, alice)

    for action in ("suspend", "resume"):
        status, body = await post(gateway, bob, f"/stores/{store['id']}/{action}")
        assert (status, body["error"]["code"]) == (404, "not_found")
    assert await gateway.pool.fetchval("SELECT count(*) FROM store_operations") == 0


@pytest.mark.parametrize(
    ("data", "status", "code", "field"),
    [
        (b'{"reason": "a\\nb"}', 422, "invalid", "reason"),
        (b'{"reason": "a\\u0000"}', 422, "invalid", "reason"),
        (b'{"reason": "' + b"x" * 201 + b'"}', 422, "invalid", "reason"),
        (b'{"reason": 7}', 422, "invalid", "reason"),
        (b'{"why": "x"}', 422, "unknown_field", "why"),
        (b"{not json", 400, "malformed_json", None),
        (b'{"reason": "' + b"a" * 17_000 + b'"}', 413, "body_too_large", None),
    ],
)
async def test_hostile_suspend_bodies_are_refused_naming_the_field(
    gateway: Harness, data: bytes, status: int, code: str, field: str | None
) -> None:
    user = await gateway.add_user(admin=True)
    store = await ready_store(gateway, user)

    async with gateway.client(user).post(
        f"/api/v1/stores/{store['id']}/suspend",
        data=data,
        headers={"Content-Type": "application/json"},
    ) as resp:
        assert resp.status == status
        error: dict[str, Any] = (await resp.json())["error"]

    assert (error["code"], error.get("field")) == (code, field)
    assert await gateway.pool.fetchval("SELECT count(*) FROM store_operations") == 0


async def test_template_syntax_and_quotes_in_a_reason_travel_as_plain_text(
    gateway: Harness,
) -> None:
    user = await gateway.add_user(admin=True)
    store = await ready_store(gateway, user)
    reason = "{{ .Values }} $(reboot) '; DROP TABLE stores; -- <b>"

    status, _ = await post(gateway, user, f"/stores/{store['id']}/suspend", {"reason": reason})

    assert status == 202
    [event] = await published(gateway, f"store.suspend.requested.{store['id']}", 1)
    assert event["data"]["reason"] == reason
