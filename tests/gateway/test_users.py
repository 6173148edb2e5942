"""`GET /users`: admins see every user with their quota and the stores they have that
are not deleted; anyone else gets 403, and no credential at all 401."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from tests.gateway.conftest import Harness

API = "/api/v1"


async def test_admins_see_every_user_with_their_quota_and_stores_not_deleted(
    gateway: Harness,
) -> None:
    admin = await gateway.add_user("admin-ada", admin=True)
    busy = await gateway.add_user("busy-bo", max_stores=5)
    idle = await gateway.add_user("idle-cy")
    kept, _, gone = [await gateway.create_store(busy) for _ in range(3)]
    await gateway.project(gone["id"], "deleted", deleted_at=datetime.now(UTC))
    await gateway.project(kept["id"], "failed", error="boom")
    await gateway.pool.execute("UPDATE users SET disabled = true WHERE id = $1", uuid.UUID(idle.id))

    async with gateway.client(admin).get(f"{API}/users") as resp:
        assert resp.status == 200
        body = await resp.json()

    rows = {row["username"]: row for row in body["items"]}
    assert [row["username"] for row in body["items"]] == sorted(rows)
    assert set(rows) >= {admin.username, busy.username, idle.username}
    assert body["default_max_stores"] == gateway.settings.default_max_stores
    assert rows[busy.username]["id"] == busy.id
    assert (rows[busy.username]["stores"], rows[busy.username]["max_stores"]) == (2, 5)
    assert (rows[idle.username]["stores"], rows[idle.username]["max_stores"]) == (0, None)
    assert (rows[admin.username]["role"], rows[busy.username]["role"]) == ("admin", "user")
    assert rows[idle.username]["disabled"] is True
    assert rows[busy.username]["disabled"] is False
    assert set(rows[busy.username]) == {
        "id",
        "username",
        "role",
        "disabled",
        "max_stores",
        "stores",
        "created_at",
    }
    assert rows[busy.username]["created_at"].endswith(("Z", "+00:00"))


async def test_someone_not_an_admin_gets_403_with_the_error_body(gateway: Harness) -> None:
    user = await gateway.add_user()

    async with gateway.client(user).get(f"{API}/users") as resp:
        assert resp.status == 403
        body = await resp.json()

    assert body["error"]["code"] == "forbidden"
    assert body["error"]["message"]


async def test_no_credential_gets_401(gateway: Harness) -> None:
    async with gateway.client().get(f"{API}/users") as resp:
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"] == "Bearer"
        assert (await resp.json())["error"]["code"] == "unauthenticated"
