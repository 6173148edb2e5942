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


async def patch(gateway: Harness, user: Any, path: str, body: Any) -> tuple[int, Any]:
    async with gateway.client(user).patch(f"/api/v1{path}", json=body) as resp:
        return resp.status, await resp.json()


async def test_an_owner_moves_a_ready_store_to_another_plan_once_at_a_time(
    gateway: Harness,
) -> None:
    user = await gateway.add_user()
    store = await ready_store(gateway, user)
    sid = store["id"]

    status, change = await patch(gateway, user, f"/stores/{sid}", {"plan": "medium"})

    assert status == 202
    assert change == {
        "operation_id": change["operation_id"],
        "store_id": sid,
        "plan": "medium",
        "previous_plan": "small",
    }
    [event] = await published(gateway, f"store.plan.requested.{sid}", 1)
    assert event["data"] == {
        "operation_id": change["operation_id"],
        "plan": "medium",
        "previous_plan": "small",
        "requested_by": user.id,
    }
    # Under way: another change, and a suspend, wait for it.
    status, body = await patch(gateway, user, f"/stores/{sid}", {"plan": "small"})
    assert (status, body["error"]["code"]) == (409, "operation_in_progress")
    status, body = await post(gateway, user, f"/stores/{sid}/suspend")
    assert (status, body["error"]["code"]) == (409, "operation_in_progress")

    op = {"operation_id": change["operation_id"], "plan": "medium", "previous_plan": "small"}
    await fold(gateway, sid, [("plan.changed", op | {"seconds": 2.0})])
    shown = (await get(gateway, user, f"/stores/{sid}"))[1]
    assert (shown["plan"], shown["status"]) == ("medium", "ready")
    status, body = await patch(gateway, user, f"/stores/{sid}", {"plan": "medium"})
    assert (status, body["error"]["code"], body["error"]["field"]) == (409, "same_plan", "plan")

    # Refused by the provisioner (usage does not fit): the store stays on its plan.
    status, again = await patch(gateway, user, f"/stores/{sid}", {"plan": "small"})
    assert status == 202
    refused = {"operation_id": again["operation_id"], "plan": "small",
               "code": "usage_exceeds_plan", "reason": "x"}  # fmt: skip
    await fold(gateway, sid, [("plan.failed", refused)])
    shown = (await get(gateway, user, f"/stores/{sid}"))[1]
    assert (shown["plan"], shown["status"]) == ("medium", "ready")


async def test_a_retry_after_a_plan_change_asks_for_the_store_on_its_new_plan(
    gateway: Harness,
) -> None:
    user = await gateway.add_user()
    store = await ready_store(gateway, user)
    sid = store["id"]
    _, change = await patch(gateway, user, f"/stores/{sid}", {"plan": "medium"})
    op = {"operation_id": change["operation_id"], "plan": "medium", "previous_plan": "small"}
    await fold(gateway, sid, [("plan.changed", op | {"seconds": 2.0})])
    await gateway.project(sid, "failed", plan="medium")

    status, _ = await post(gateway, user, f"/stores/{sid}/retry")

    assert status == 202
    requested = await published(gateway, f"store.requested.{sid}", 2)
    assert requested[-1]["data"]["plan"] == "medium"


@pytest.mark.parametrize(
    ("store_status"), ["requested", "provisioning", "failed", "suspended", "deleting"]
)
async def test_only_a_ready_store_changes_plans(gateway: Harness, store_status: str) -> None:
    user = await gateway.add_user()
    store = await ready_store(gateway, user)
    await gateway.project(store["id"], store_status)

    status, body = await patch(gateway, user, f"/stores/{store['id']}", {"plan": "medium"})

    assert (status, body["error"]["code"]) == (409, "store_not_ready")


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"plan": "platinum"}, 422, "unknown_plan", "plan"),
        ({"plan": "--all"}, 422, "unknown_plan", "plan"),
        ({"plan": "{{ .Values }}"}, 422, "unknown_plan", "plan"),
        ({"plan": ""}, 422, "invalid", "plan"),
        ({"plan": 3}, 422, "invalid", "plan"),
        ({}, 422, "required", "plan"),
        ({"plan": "medium", "name": "x"}, 422, "unknown_field", "name"),
    ],
)
async def test_bad_plan_changes_are_refused_naming_the_field(
    gateway: Harness, body: Any, status: int, code: str, field: str
) -> None:
    user = await gateway.add_user()
    store = await ready_store(gateway, user)

    answer, error = await patch(gateway, user, f"/stores/{store['id']}", body)

    assert (answer, error["error"]["code"], error["error"].get("field")) == (status, code, field)
    assert await gateway.pool.fetchval("SELECT count(*) FROM store_operations") == 0


async def test_nobody_changes_another_users_store(gateway: Harness) -> None:
    alice, bob = await gateway.add_user(), await gateway.add_user()
    store = await ready_store(gateway, alice)

    status, body = await patch(gateway, bob, f"/stores/{store['id']}", {"plan": "medium"})

    assert (status, body["error"]["code"]) == (404, "not_found")
