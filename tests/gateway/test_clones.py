"""Cloning a store from a backup: `POST /stores` with `from_backup` makes a new store
that starts with the backup's data, in the backup's engine, counted and named like any
other; its owner may clone a store that has since been deleted, nobody else may, and
every `requested` event of the clone, a retry's too, names the backup."""

from __future__ import annotations

from typing import Any

import pytest

from tests.gateway.backups import backup_of, published
from tests.gateway.conftest import Harness, TestUser

API = "/api/v1"


async def create(
    gateway: Harness, user: TestUser, body: dict[str, Any], **kw: Any
) -> tuple[int, Any]:
    async with gateway.client(user).post(f"{API}/stores", json=body, **kw) as resp:
        return resp.status, await resp.json()


async def backed_up_store(
    gateway: Harness, user: TestUser, engine: str = "woocommerce"
) -> tuple[dict[str, Any], str]:
    store = await gateway.create_store(user, engine=engine)
    await gateway.project(store["id"], "ready")
    return store, await backup_of(gateway, store["id"], engine=engine)


async def test_a_clone_gets_the_backups_engine_and_its_event_names_the_backup(
    gateway: Harness,
) -> None:
    user = await gateway.add_user()
    source, backup = await backed_up_store(gateway, user, engine="medusa")

    status, clone = await create(gateway, user, {"name": "Copy of shop", "from_backup": backup})

    assert status == 202
    assert (clone["engine"], clone["status"], clone["plan"]) == ("medusa", "requested", "small")
    assert clone["from_backup"] == {"store_id": source["id"], "backup_id": backup}
    row = await gateway.pool.fetchrow(
        "SELECT from_store_id, from_backup_id FROM store_requests WHERE id = $1::uuid",
        clone["id"],
    )
    assert (str(row["from_store_id"]), str(row["from_backup_id"])) == (source["id"], backup)
    [event] = await published(gateway, f"store.requested.{clone['id']}", 1)
    assert event["data"]["engine"] == "medusa"
    assert event["data"]["from_backup"] == {"store_id": source["id"], "backup_id": backup}
    _, shown = await _get(gateway, user, f"/stores/{clone['id']}")
    assert shown["from_backup"] == clone["from_backup"]


async def test_a_retried_clone_still_starts_from_the_backup(gateway: Harness) -> None:
    user = await gateway.add_user()
    source, backup = await backed_up_store(gateway, user)
    _, clone = await create(gateway, user, {"name": "Clone retried", "from_backup": backup})
    await gateway.project(clone["id"], "failed")

    async with gateway.client(user).post(f"{API}/stores/{clone['id']}/retry") as resp:
        assert resp.status == 202

    events = await published(gateway, f"store.requested.{clone['id']}", 2)
    assert [e["data"]["attempt"] for e in events] == [1, 2]
    assert {str(e["data"]["from_backup"]) for e in events} == {
        str({"store_id": source["id"], "backup_id": backup})
    }


async def test_a_deleted_stores_backup_is_cloned_by_its_owner_or_an_admin_but_nobody_else(
    gateway: Harness,
) -> None:
    alice, bob = await gateway.add_user(), await gateway.add_user()
    admin = await gateway.add_user(admin=True)
    source, backup = await backed_up_store(gateway, alice)
    await gateway.project(source["id"], "deleted")

    status, body = await create(gateway, bob, {"name": "Not yours", "from_backup": backup})
    assert (status, body["error"]) == (
        422,
        {"code": "backup_not_found", "field": "from_backup", "message": "no such backup"},
    )
    status, undeleted = await create(gateway, alice, {"name": "Back again", "from_backup": backup})
    assert status == 202
    assert undeleted["owner"]["id"] == alice.id
    status, by_admin = await create(gateway, admin, {"name": "Admin copy", "from_backup": backup})
    assert status == 202
    assert by_admin["owner"]["id"] == admin.id


async def test_a_clone_cannot_change_the_engine(gateway: Harness) -> None:
    user = await gateway.add_user()
    _, backup = await backed_up_store(gateway, user, engine="woocommerce")

    status, body = await create(
        gateway, user, {"name": "Other engine", "engine": "medusa", "from_backup": backup}
    )
    assert (status, body["error"]["code"], body["error"]["field"]) == (
        422,
        "engine_mismatch",
        "engine",
    )
    status, same = await create(
        gateway, user, {"name": "Same engine", "engine": "woocommerce", "from_backup": backup}
    )
    assert (status, same["engine"]) == (202, "woocommerce")


async def test_a_clone_runs_the_default_version_and_cannot_name_another(gateway: Harness) -> None:
    user = await gateway.add_user()
    _, backup = await backed_up_store(gateway, user, engine="woocommerce")

    status, body = await create(
        gateway, user, {"name": "Pinned clone", "engine_version": "0.0.1", "from_backup": backup}
    )
    assert (status, body["error"]["code"], body["error"]["field"]) == (
        422,
        "unknown_engine_version",
        "engine_version",
    )


@pytest.mark.parametrize("until", ["requested", "running", "completed", "failed", "deleted"])
async def test_only_a_verified_backup_can_be_cloned(gateway: Harness, until: str) -> None:
    user = await gateway.add_user()
    store, _ = await backed_up_store(gateway, user)
    backup = await backup_of(gateway, store["id"], until)

    status, body = await create(gateway, user, {"name": "Too early", "from_backup": backup})

    assert (status, body["error"]["code"]) == (409, "backup_not_restorable")
    assert await gateway.pool.fetchval("SELECT count(*) FROM store_requests") == 1


@pytest.mark.parametrize(
    ("from_backup", "code"),
    [
        ("not-a-uuid", "invalid"),
        (12345, "invalid"),
        ("", "invalid"),
        ("00000000-0000-0000-0000-000000000000", "backup_not_found"),
        ("x" * 5000, "invalid"),
    ],
)
async def test_a_bad_from_backup_is_refused_naming_it(
    gateway: Harness, from_backup: Any, code: str
) -> None:
    user = await gateway.add_user()

    status, body = await create(gateway, user, {"name": "Bad clone", "from_backup": from_backup})

    assert (status, body["error"]["code"], body["error"]["field"]) == (422, code, "from_backup")


async def test_a_clone_counts_against_the_quota_and_takes_a_free_name_like_any_store(
    gateway: Harness,
) -> None:
    user = await gateway.add_user(max_stores=2)
    source, backup = await backed_up_store(gateway, user)

    status, body = await create(gateway, user, {"name": source["name"], "from_backup": backup})
    assert (status, body["error"]["code"]) == (409, "slug_taken")
    status, _ = await create(gateway, user, {"name": "Second one", "from_backup": backup})
    assert status == 202
    status, body = await create(gateway, user, {"name": "Third one", "from_backup": backup})
    assert (status, body["error"]["code"]) == (403, "quota_exceeded")


async def test_an_idempotency_key_of_a_clone_is_not_reused_for_another_backup(
    gateway: Harness,
) -> None:
    user = await gateway.add_user()
    store, backup = await backed_up_store(gateway, user)
    other = await backup_of(gateway, store["id"])
    key = {"Idempotency-Key": "clone-1"}
    body = {"name": "Keyed clone", "from_backup": backup}

    status, first = await create(gateway, user, body, headers=key)
    assert status == 202
    status, again = await create(gateway, user, body, headers=key)
    assert (status, again["id"]) == (202, first["id"])
    status, refused = await create(gateway, user, body | {"from_backup": other}, headers=key)
    assert (status, refused["error"]["code"]) == (409, "idempotency_key_reused")


async def _get(gateway: Harness, user: TestUser, path: str) -> tuple[int, Any]:
    async with gateway.client(user).get(f"{API}{path}") as resp:
        return resp.status, await resp.json()
