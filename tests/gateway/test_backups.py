"""Backups through the API: an owner backs a ready store up, lists its backups, restores
it from a verified one and clones one into a new store, a deleted store's too; nobody
reaches another user's store or backup, a backup of one store never restores another,
and each command publishes its event with the fields the provisioner needs. The backups
are made by folding the provisioner's events with the auditor's own batch."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.gateway.backups import backup_of, backup_steps, fold, published
from tests.gateway.conftest import Harness, TestUser

API = "/api/v1"


async def ready_store(
    gateway: Harness, user: TestUser, ready_at: datetime | None = None, **extra: Any
) -> dict[str, Any]:
    store = await gateway.create_store(user, **extra)
    await gateway.project(store["id"], "ready", **({"ready_at": ready_at} if ready_at else {}))
    return store


async def post(
    gateway: Harness, user: TestUser, path: str, body: Any = None, **kwargs: Any
) -> tuple[int, Any]:
    async with gateway.client(user).post(f"{API}{path}", json=body, **kwargs) as resp:
        return resp.status, await resp.json()


async def get(gateway: Harness, user: TestUser, path: str, **params: str) -> tuple[int, Any]:
    async with gateway.client(user).get(f"{API}{path}", params=params) as resp:
        return resp.status, await resp.json()


async def test_an_owner_backs_up_a_ready_store_and_sees_the_backup_requested_at_once(
    gateway: Harness,
) -> None:
    user = await gateway.add_user()
    store = await ready_store(gateway, user)

    status, backup = await post(gateway, user, f"/stores/{store['id']}/backups")

    assert status == 202
    assert backup | {"id": "", "requested_at": ""} == {
        "id": "",
        "store_id": store["id"],
        "reason": "on_demand",
        "status": "requested",
        "requested_by": user.id,
        "requested_at": "",
        "started_at": None,
        "completed_at": None,
        "verified_at": None,
        "size_bytes": None,
        "engine": None,
        "engine_version": None,
        "orders": None,
        "error": None,
    }
    status, page = await get(gateway, user, f"/stores/{store['id']}/backups")
    assert status == 200
    assert page == {
        "items": [backup],
        "next_cursor": None,
        "last_verified_at": None,
        "stale": False,
        "interval_hours": 24,
    }
    [event] = await published(gateway, f"store.backup.requested.{store['id']}", 1)
    assert event["type"] == "backup.requested"
    assert event["store_id"] == store["id"]
    assert event["actor"] == user.id
    assert event["data"] == {
        "backup_id": backup["id"],
        "reason": "on_demand",
        "requested_by": user.id,
    }


async def test_a_second_backup_waits_until_the_first_has_ended_folded_or_not(
    gateway: Harness,
) -> None:
    user = await gateway.add_user()
    store = await ready_store(gateway, user)
    path = f"/stores/{store['id']}/backups"
    _, first = await post(gateway, user, path)

    # Not folded yet: only the gateway knows of it.
    status, body = await post(gateway, user, path)
    assert (status, body["error"]["code"]) == (409, "backup_in_progress")

    await fold(gateway, store["id"], backup_steps(first["id"], "running")[1:])
    status, body = await post(gateway, user, path)
    assert (status, body["error"]["code"]) == (409, "backup_in_progress")

    await fold(gateway, store["id"], backup_steps(first["id"], "verified")[2:])
    status, second = await post(gateway, user, path)
    assert status == 202
    assert second["id"] != first["id"]
    _, page = await get(gateway, user, path)
    assert [b["id"] for b in page["items"]] == [second["id"], first["id"]]
    assert page["items"][1]["status"] == "verified"


async def test_a_scheduled_backup_under_way_also_blocks_one_on_demand(gateway: Harness) -> None:
    user = await gateway.add_user()
    store = await ready_store(gateway, user)
    await backup_of(gateway, store["id"], "requested")

    status, body = await post(gateway, user, f"/stores/{store['id']}/backups")

    assert (status, body["error"]["code"]) == (409, "backup_in_progress")


@pytest.mark.parametrize("store_status", ["requested", "provisioning", "failed", "deleting"])
async def test_only_a_ready_store_can_be_backed_up(gateway: Harness, store_status: str) -> None:
    user = await gateway.add_user()
    store = await gateway.create_store(user)
    await gateway.project(store["id"], store_status)

    status, body = await post(gateway, user, f"/stores/{store['id']}/backups")

    assert (status, body["error"]["code"]) == (409, "store_not_ready")
    assert await gateway.pool.fetchval("SELECT count(*) FROM backup_requests") == 0


async def test_an_idempotency_key_gives_back_the_same_backup(gateway: Harness) -> None:
    user = await gateway.add_user()
    one, two = await ready_store(gateway, user), await ready_store(gateway, user)
    key = {"Idempotency-Key": "nightly-1"}

    async with gateway.client(user).post(f"{API}/stores/{one['id']}/backups", headers=key) as resp:
        assert resp.status == 202
        first = await resp.json()
    async with gateway.client(user).post(f"{API}/stores/{one['id']}/backups", headers=key) as resp:
        assert resp.status == 202
        assert resp.headers["Idempotent-Replayed"] == "true"
        assert (await resp.json())["id"] == first["id"]
    status, body = await post(gateway, user, f"/stores/{two['id']}/backups", headers=key)

    assert (status, body["error"]["code"]) == (409, "idempotency_key_reused")
    assert len(await published(gateway, "store.backup.requested.*", 1)) == 1


async def test_the_list_is_newest_first_paginated_and_leaves_deleted_backups_out_unless_asked(
    gateway: Harness,
) -> None:
    user = await gateway.add_user()
    store = await ready_store(gateway, user)
    old = await backup_of(gateway, store["id"], "deleted")
    failed = await backup_of(gateway, store["id"], "failed")
    verified = await backup_of(gateway, store["id"], "verified")
    path = f"/stores/{store['id']}/backups"

    _, page = await get(gateway, user, path)
    assert [b["id"] for b in page["items"]] == [verified, failed]
    good, bad = page["items"]
    assert (good["status"], good["orders"], good["size_bytes"]) == ("verified", 12, 4096)
    assert (good["engine"], good["engine_version"], good["reason"]) == (
        "woocommerce",
        "6.5.2",
        "scheduled",
    )
    assert (bad["status"], bad["error"]) == ("failed", "verification failed: no orders table")

    _, first = await get(gateway, user, path, include_deleted="true", limit="2")
    _, rest = await get(gateway, user, path, include_deleted="true", cursor=first["next_cursor"])
    assert [b["id"] for b in first["items"] + rest["items"]] == [verified, failed, old]
    assert rest["items"][0]["status"] == "deleted"
    assert rest["next_cursor"] is None


async def stale_after(gateway: Harness, store: dict[str, Any]) -> timedelta:
    """How old the newest verified backup of the store may be: its plan's interval plus
    tolerance."""
    policy = gateway.settings.plans[store["plan"]].backup
    return timedelta(hours=policy.interval_hours + policy.stale_tolerance_hours)


async def test_a_store_whose_newest_verified_backup_is_older_than_its_plan_allows_is_stale(
    gateway: Harness,
) -> None:
    user = await gateway.add_user()
    now = datetime.now(UTC)
    store = await ready_store(gateway, user, ready_at=now - timedelta(days=30))
    allowed = await stale_after(gateway, store)
    last = now - allowed - timedelta(minutes=5)
    await backup_of(gateway, store["id"], "verified", at=last - timedelta(days=1))
    await backup_of(gateway, store["id"], "verified", at=last)
    # Newer, but none verified: they do not make it fresh.
    await backup_of(gateway, store["id"], "failed", at=now - timedelta(hours=1))
    await backup_of(gateway, store["id"], "completed", at=now - timedelta(minutes=10))

    _, page = await get(gateway, user, f"/stores/{store['id']}/backups", limit="1")

    assert page["stale"] is True
    assert datetime.fromisoformat(page["last_verified_at"]) == last
    assert page["interval_hours"] == gateway.settings.plans[store["plan"]].backup.interval_hours


async def test_a_store_with_a_verified_backup_within_its_interval_is_not_stale(
    gateway: Harness,
) -> None:
    user = await gateway.add_user()
    now = datetime.now(UTC)
    store = await ready_store(gateway, user, ready_at=now - timedelta(days=30))
    allowed = await stale_after(gateway, store)
    last = now - allowed + timedelta(minutes=5)
    await backup_of(gateway, store["id"], "verified", at=last)
    await backup_of(gateway, store["id"], "failed", at=now - timedelta(hours=1))

    _, page = await get(gateway, user, f"/stores/{store['id']}/backups")

    assert page["stale"] is False
    assert datetime.fromisoformat(page["last_verified_at"]) == last


async def test_a_store_resumed_after_a_long_suspension_gets_an_interval_before_it_is_stale(
    gateway: Harness,
) -> None:
    user = await gateway.add_user()
    now = datetime.now(UTC)
    store = await ready_store(gateway, user, ready_at=now - timedelta(days=30))
    allowed = await stale_after(gateway, store)
    await backup_of(gateway, store["id"], "verified", at=now - timedelta(days=20))
    op = {"operation_id": str(uuid.uuid4())}
    suspension = [("suspend.started", op), ("suspend.completed", op | {"seconds": 1.0})]
    await fold(gateway, store["id"], suspension, at=now - timedelta(days=19))
    op = {"operation_id": str(uuid.uuid4())}
    resumed = now - allowed + timedelta(minutes=5)
    resumption = [("resume.started", op), ("resume.completed", op | {"seconds": 1.0})]
    await fold(gateway, store["id"], resumption, at=resumed)

    _, page = await get(gateway, user, f"/stores/{store['id']}/backups")
    assert page["stale"] is False

    # Once an interval has passed since the resume without a verified backup: stale.
    await fold(gateway, store["id"], [("resume.completed", op | {"seconds": 1.0})],
               at=now - allowed - timedelta(minutes=5))  # fmt: skip
    await gateway.project(store["id"], "ready", ready_at=now - allowed - timedelta(minutes=5))
    _, page = await get(gateway, user, f"/stores/{store['id']}/backups")
    assert page["stale"] is True


async def test_a_store_with_only_failed_backups_is_stale_once_older_than_its_first_interval(
    gateway: Harness,
) -> None:
    user = await gateway.add_user()
    now = datetime.now(UTC)
    old = await gateway.create_store(user)
    allowed = await stale_after(gateway, old)
    await gateway.project(old["id"], "ready", ready_at=now - allowed - timedelta(minutes=5))
    young = await ready_store(gateway, user, ready_at=now - allowed + timedelta(minutes=5))
    for store in (old, young):
        await backup_of(gateway, store["id"], "failed", at=now - timedelta(hours=1))

    _, old_page = await get(gateway, user, f"/stores/{old['id']}/backups")
    _, young_page = await get(gateway, user, f"/stores/{young['id']}/backups")

    assert (old_page["stale"], old_page["last_verified_at"]) == (True, None)
    assert (young_page["stale"], young_page["last_verified_at"]) == (False, None)


async def test_a_deleted_store_is_never_stale(gateway: Harness) -> None:
    user = await gateway.add_user()
    now = datetime.now(UTC)
    store = await ready_store(gateway, user, ready_at=now - timedelta(days=30))
    await backup_of(gateway, store["id"], "verified", at=now - timedelta(days=20))
    await gateway.project(store["id"], "deleted", deleted_at=now - timedelta(days=1))

    _, page = await get(gateway, user, f"/stores/{store['id']}/backups")

    assert page["stale"] is False
    assert page["last_verified_at"] is not None


@pytest.mark.parametrize("status", ["suspending", "suspended", "resuming"])
async def test_a_suspended_store_is_never_stale_nor_one_on_its_way_there_or_back(
    gateway: Harness, status: str
) -> None:
    user = await gateway.add_user()
    now = datetime.now(UTC)
    store = await ready_store(gateway, user, ready_at=now - timedelta(days=30))
    await backup_of(gateway, store["id"], "verified", at=now - timedelta(days=20))
    await gateway.project(store["id"], status)

    _, page = await get(gateway, user, f"/stores/{store['id']}/backups")

    assert page["stale"] is False
    assert page["last_verified_at"] is not None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"include_deleted": "yes"}, "include_deleted"),
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "1e3"}, "limit"),
    ],
)
async def test_bad_list_parameters_are_refused_naming_them(
    gateway: Harness, params: dict[str, str], field: str
) -> None:
    user = await gateway.add_user()
    store = await ready_store(gateway, user)

    status, body = await get(gateway, user, f"/stores/{store['id']}/backups", **params)

    assert (status, body["error"]["field"]) == (422, field)


async def test_another_users_store_and_its_backups_are_not_found_but_an_admin_reaches_them(
    gateway: Harness,
) -> None:
    alice, bob = await gateway.add_user(), await gateway.add_user()
    admin = await gateway.add_user(admin=True)
    store = await ready_store(gateway, alice)
    backup = await backup_of(gateway, store["id"])
    base = f"/stores/{store['id']}"

    answers = [
        (await post(gateway, bob, f"{base}/backups"))[0],
        (await get(gateway, bob, f"{base}/backups"))[0],
        (await post(gateway, bob, f"{base}/restore", {"backup_id": backup}))[0],
    ]
    assert answers == [404, 404, 404]
    assert await gateway.pool.fetchval("SELECT count(*) FROM outbox") == 1  # alice's create

    _, page = await get(gateway, admin, f"{base}/backups")
    assert [b["id"] for b in page["items"]] == [backup]
    status, _ = await post(gateway, admin, f"{base}/backups")
    assert status == 202


async def test_an_owner_restores_from_a_verified_backup_once_at_a_time(gateway: Harness) -> None:
    user = await gateway.add_user()
    store = await ready_store(gateway, user)
    backup = await backup_of(gateway, store["id"])
    path = f"/stores/{store['id']}/restore"

    status, restore = await post(gateway, user, path, {"backup_id": backup.upper()})

    assert status == 202
    assert restore == {
        "restore_id": restore["restore_id"],
        "store_id": store["id"],
        "backup_id": backup,
        "status": "restoring",
    }
    [event] = await published(gateway, f"store.restore.requested.{store['id']}", 1)
    assert (event["type"], event["actor"]) == ("restore.requested", user.id)
    assert event["data"] == {
        "restore_id": restore["restore_id"],
        "backup_id": backup,
        "requested_by": user.id,
    }

    # Asked for, not started yet: the gateway's own record refuses a second.
    status, body = await post(gateway, user, path, {"backup_id": backup})
    assert (status, body["error"]["code"]) == (409, "restore_in_progress")

    ids = {"restore_id": restore["restore_id"], "backup_id": backup}
    pre = {"pre_restore_backup_id": str(uuid.uuid4())}
    await fold(gateway, store["id"], [("restore.started", ids | pre)])
    _, shown = await get(gateway, user, f"/stores/{store['id']}")
    assert shown["status"] == "restoring"
    status, body = await post(gateway, user, path, {"backup_id": backup})
    assert (status, body["error"]["code"]) == (409, "restore_in_progress")

    await fold(gateway, store["id"], [("restore.completed", ids | {"seconds": 4.0})])
    status, again = await post(gateway, user, path, {"backup_id": backup})
    assert status == 202
    assert again["restore_id"] != restore["restore_id"]


async def test_a_backup_of_one_store_never_restores_another(gateway: Harness) -> None:
    alice, bob = await gateway.add_user(), await gateway.add_user()
    one, two = await ready_store(gateway, alice), await ready_store(gateway, alice)
    bobs = await ready_store(gateway, bob)
    of_one = await backup_of(gateway, one["id"])
    of_bobs = await backup_of(gateway, bobs["id"])

    for backup in (of_one, of_bobs, str(uuid.uuid4())):
        status, body = await post(
            gateway, alice, f"/stores/{two['id']}/restore", {"backup_id": backup}
        )
        assert (status, body["error"]) == (404, {"code": "not_found", "message": "no such backup"})
    assert await gateway.pool.fetchval("SELECT count(*) FROM restore_requests") == 0


@pytest.mark.parametrize("until", ["requested", "running", "completed", "failed", "deleted"])
async def test_only_a_verified_backup_can_be_restored(gateway: Harness, until: str) -> None:
    user = await gateway.add_user()
    store = await ready_store(gateway, user)
    backup = await backup_of(gateway, store["id"], until)

    status, body = await post(
        gateway, user, f"/stores/{store['id']}/restore", {"backup_id": backup}
    )

    assert (status, body["error"]["code"]) == (409, "backup_not_restorable")


@pytest.mark.parametrize("store_status", ["requested", "provisioning", "deleting", "deleted"])
async def test_a_store_on_its_way_or_gone_cannot_be_restored(
    gateway: Harness, store_status: str
) -> None:
    user = await gateway.add_user()
    store = await ready_store(gateway, user)
    backup = await backup_of(gateway, store["id"])
    await gateway.project(store["id"], store_status)

    status, body = await post(
        gateway, user, f"/stores/{store['id']}/restore", {"backup_id": backup}
    )

    assert (status, body["error"]["code"]) == (409, "store_not_restorable")


async def test_a_failed_store_can_be_restored(gateway: Harness) -> None:
    user = await gateway.add_user()
    store = await ready_store(gateway, user)
    backup = await backup_of(gateway, store["id"])
    await gateway.project(store["id"], "failed")

    status, _ = await post(gateway, user, f"/stores/{store['id']}/restore", {"backup_id": backup})

    assert status == 202


@pytest.mark.parametrize(
    ("data", "content_type", "status", "code", "field"),
    [
        (b'{"backup_id": "not-a-uuid"}', "application/json", 422, "invalid", "backup_id"),
        (b'{"backup_id": 7}', "application/json", 422, "invalid", "backup_id"),
        (b"{}", "application/json", 422, "required", "backup_id"),
        (b'{"backup_id": null}', "application/json", 422, "invalid", "backup_id"),
        (
            b'{"backup_id": "00000000-0000-0000-0000-000000000000", "store_id": "x"}',
            "application/json",
            422,
            "unknown_field",
            "store_id",
        ),
        (b'{"backup_id": "a\\u0000"}', "application/json", 422, "invalid", "backup_id"),
        (b"[]", "application/json", 422, "invalid", "body"),
        (b"{not json", "application/json", 400, "malformed_json", None),
        (b"backup_id=1", "application/x-www-form-urlencoded", 415, "unsupported_media_type", None),
        (
            b'{"backup_id": "' + b"a" * 17_000 + b'"}',
            "application/json",
            413,
            "body_too_large",
            None,
        ),
    ],
)
async def test_hostile_restore_bodies_are_refused_naming_the_field(
    gateway: Harness, data: bytes, content_type: str, status: int, code: str, field: str | None
) -> None:
    user = await gateway.add_user()
    store = await ready_store(gateway, user)

    async with gateway.client(user).post(
        f"{API}/stores/{store['id']}/restore", data=data, headers={"Content-Type": content_type}
    ) as resp:
        assert resp.status == status
        error = (await resp.json())["error"]

    assert (error["code"], error.get("field")) == (code, field)
    assert await gateway.pool.fetchval("SELECT count(*) FROM restore_requests") == 0


@pytest.mark.parametrize("store_id", ["not-a-uuid", "1 OR 1=1", "%00", "..%2f..%2fusers"])
async def test_a_malformed_store_id_in_a_backup_path_is_not_found(
    gateway: Harness, store_id: str
) -> None:
    user = await gateway.add_user()
    async with gateway.client(user).get(f"{API}/stores/{store_id}/backups") as resp:
        assert resp.status == 404
    async with gateway.client(user).post(f"{API}/stores/{store_id}/backups") as resp:
        assert resp.status == 404
