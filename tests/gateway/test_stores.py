"""Creating, reading, listing, deleting and retrying stores through the API, with the
rules on names, engines, plans and fields, the per-user quota under concurrency, the
Idempotency-Key, and the per-user create rate limit."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from services.gateway.settings import REPO
from shared.engine_versions import load_versions
from tests.gateway.conftest import Harness, MakeGateway, TestUser

API = "/api/v1"
WOOCOMMERCE_DEFAULT = load_versions(REPO / "charts" / "engines", "woocommerce").default


async def outbox_rows(gateway: Harness) -> list[Any]:
    return list(await gateway.pool.fetch("SELECT subject, envelope FROM outbox ORDER BY id"))


async def test_a_create_answers_202_with_the_new_store_and_queues_its_event(
    gateway: Harness,
) -> None:
    user = await gateway.add_user()
    async with gateway.client(user).post(f"{API}/stores", json={"name": "Café Olé!"}) as resp:
        assert resp.status == 202
        store = await resp.json()
        assert resp.headers["Location"] == f"{API}/stores/{store['id']}"

    assert store["slug"] == "cafe-ole"
    assert store["engine"] == "woocommerce"
    assert store["engine_version"] == WOOCOMMERCE_DEFAULT
    assert store["plan"] == "small"
    assert store["status"] == "requested"
    assert store["namespace"] == f"store-cafe-ole-{store['id'].replace('-', '')[:6]}"
    assert store["owner"] == {"id": user.id, "username": user.username}
    assert store["links"]["self"] == f"{API}/stores/{store['id']}"
    [row] = await outbox_rows(gateway)
    assert row["subject"] == f"store.requested.{store['id']}"
    assert row["envelope"]["data"] == {
        "name": "Café Olé!",
        "slug": "cafe-ole",
        "engine": "woocommerce",
        "plan": "small",
        "owner": user.id,
        "namespace": store["namespace"],
        "attempt": 1,
        "from_backup": None,
        "engine_version": WOOCOMMERCE_DEFAULT,
    }
    assert row["envelope"]["actor"] == user.id


async def test_a_create_may_name_one_of_the_engines_versions(gateway: Harness) -> None:
    user = await gateway.add_user()
    body = {"name": "Pinned Shop", "engine_version": WOOCOMMERCE_DEFAULT}
    async with gateway.client(user).post(f"{API}/stores", json=body) as resp:
        assert resp.status == 202
        store = await resp.json()
    assert store["engine_version"] == WOOCOMMERCE_DEFAULT
    [row] = await outbox_rows(gateway)
    assert row["envelope"]["data"]["engine_version"] == WOOCOMMERCE_DEFAULT


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"name": "ab"}, 422, "invalid", "name"),
        ({"name": "x" * 41}, 422, "invalid", "name"),
        ({"name": "!!!"}, 422, "invalid_name", "name"),
        ({"name": "Admin"}, 422, "reserved_slug", "name"),
        ({"name": "www"}, 422, "reserved_slug", "name"),
        ({"name": "good shop", "engine": "magento"}, 422, "unknown_engine", "engine"),
        ({"name": "good shop", "plan": "huge"}, 422, "unknown_plan", "plan"),
        (
            {"name": "good shop", "engine_version": "9.9.9"},
            422,
            "unknown_engine_version",
            "engine_version",
        ),
        (
            {"name": "good shop", "engine_version": "{{ .Values }}"},
            422,
            "unknown_engine_version",
            "engine_version",
        ),
        (
            {"name": "good shop", "engine_version": "../0.1.0"},
            422,
            "unknown_engine_version",
            "engine_version",
        ),
        ({"name": "good shop", "engine_version": "1" * 42}, 422, "invalid", "engine_version"),
        ({"name": "good shop", "engine_version": ""}, 422, "invalid", "engine_version"),
        ({"name": "good shop", "namespace": "kube-system"}, 422, "unknown_field", "namespace"),
        ({"name": "good shop", "owner": "someone"}, 422, "unknown_field", "owner"),
        ({"name": "good shop", "status": "ready"}, 422, "unknown_field", "status"),
        ({"name": "good shop", "image": "evil"}, 422, "unknown_field", "image"),
        ({"name": "good shop", "max_stores": 99}, 422, "unknown_field", "max_stores"),
        ({"name": 12345}, 422, "invalid", "name"),
        ({}, 422, "required", "name"),
    ],
)
async def test_invalid_create_requests_are_refused_naming_the_field(
    gateway: Harness, body: dict[str, Any], status: int, code: str, field: str
) -> None:
    user = await gateway.add_user()
    async with gateway.client(user).post(f"{API}/stores", json=body) as resp:
        assert resp.status == status
        assert (await resp.json())["error"] | {"message": ""} == {
            "code": code,
            "field": field,
            "message": "",
        }
    assert await outbox_rows(gateway) == []


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        (b"{not json", "application/json", 400),
        (b"[1, 2]", "application/json", 422),
        (b"name=shop", "application/x-www-form-urlencoded", 415),
        (b'{"name": "' + b"x" * 17_000 + b'"}', "application/json", 413),
    ],
)
async def test_malformed_bodies_get_the_matching_status_and_an_error_body(
    gateway: Harness, data: bytes, content_type: str, status: int
) -> None:
    user = await gateway.add_user()
    async with gateway.client(user).post(
        f"{API}/stores", data=data, headers={"Content-Type": content_type}
    ) as resp:
        assert resp.status == status
        body = await resp.json()
    assert set(body["error"]) >= {"code", "message"}


async def test_a_slug_in_use_is_409_until_that_store_is_deleted(gateway: Harness) -> None:
    alice, bob = await gateway.add_user(), await gateway.add_user()
    first = await gateway.create_store(alice, "Corner Shop")
    async with gateway.client(bob).post(f"{API}/stores", json={"name": "corner  shop"}) as resp:
        assert resp.status == 409
        assert (await resp.json())["error"]["code"] == "slug_taken"

    await gateway.project(first["id"], "deleted")
    await gateway.create_store(bob, "corner shop")


async def test_delete_answers_202_sets_deleting_and_queues_one_delete_event(
    gateway: Harness,
) -> None:
    user = await gateway.add_user()
    store = await gateway.create_store(user)
    http = gateway.client(user)
    for _ in range(2):
        async with http.delete(f"{API}/stores/{store['id']}") as resp:
            assert resp.status == 202
            assert (await resp.json())["status"] == "deleting"
    async with http.get(f"{API}/stores/{store['id']}") as resp:
        assert (await resp.json())["status"] == "deleting"

    subjects = [row["subject"] for row in await outbox_rows(gateway)]
    assert subjects == [f"store.requested.{store['id']}", f"store.delete.{store['id']}"]
    delete = (await outbox_rows(gateway))[1]["envelope"]
    assert delete["data"]["requested_by"] == user.id


async def test_retry_re_requests_a_failed_store_and_refuses_any_other(gateway: Harness) -> None:
    user = await gateway.add_user()
    store = await gateway.create_store(user)
    http = gateway.client(user)
    async with http.post(f"{API}/stores/{store['id']}/retry") as resp:
        assert resp.status == 409
        assert (await resp.json())["error"]["code"] == "not_failed"
    await gateway.project(store["id"], "failed", error="boom")

    async with http.post(f"{API}/stores/{store['id']}/retry") as resp:
        assert resp.status == 202
        retried = await resp.json()
    assert (retried["status"], retried["error"]) == ("requested", None)
    subjects = [row["subject"] for row in await outbox_rows(gateway)]
    assert subjects == [f"store.requested.{store['id']}"] * 2


async def test_a_retry_requests_the_version_the_store_runs_and_the_store_shows_it(
    gateway: Harness,
) -> None:
    user = await gateway.add_user()
    store = await gateway.create_store(user)
    await gateway.project(store["id"], "failed", error="boom", engine_version="0.9-old")
    http = gateway.client(user)
    async with http.get(f"{API}/stores/{store['id']}") as resp:
        assert (await resp.json())["engine_version"] == "0.9-old"

    async with http.post(f"{API}/stores/{store['id']}/retry") as resp:
        assert resp.status == 202
        assert (await resp.json())["engine_version"] == "0.9-old"
    retry = (await outbox_rows(gateway))[-1]["envelope"]
    assert retry["data"]["engine_version"] == "0.9-old"


async def test_a_store_from_before_versions_shows_none_and_retries_on_the_default(
    gateway: Harness,
) -> None:
    user = await gateway.add_user()
    store = await gateway.create_store(user)
    sid = store["id"]
    await gateway.pool.execute(
        "UPDATE store_requests SET engine_version = NULL WHERE id = $1::uuid", sid
    )
    await gateway.project(sid, "failed", error="boom")
    http = gateway.client(user)
    async with http.get(f"{API}/stores/{sid}") as resp:
        assert (await resp.json())["engine_version"] is None

    async with http.post(f"{API}/stores/{sid}/retry") as resp:
        assert resp.status == 202
    retry = (await outbox_rows(gateway))[-1]["envelope"]
    assert retry["data"]["engine_version"] is None


async def test_the_list_is_paginated_newest_first(gateway: Harness) -> None:
    user = await gateway.add_user()
    made = [(await gateway.create_store(user, f"shop number {i}"))["id"] for i in range(5)]
    seen: list[str] = []
    cursor = None
    http = gateway.client(user)
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        async with http.get(f"{API}/stores", params=params) as resp:
            page = await resp.json()
        seen += [s["id"] for s in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert seen == list(reversed(made))


async def test_admins_list_everyones_stores_filtered_by_owner_and_status(
    gateway: Harness,
) -> None:
    admin = await gateway.add_user(admin=True)
    alice, bob = await gateway.add_user(), await gateway.add_user()
    a = await gateway.create_store(alice)
    b = await gateway.create_store(bob)
    await gateway.project(b["id"], "ready")

    async def ids(user: TestUser, **params: str) -> set[str]:
        async with gateway.client(user).get(f"{API}/stores", params=params) as resp:
            assert resp.status == 200
            return {s["id"] for s in (await resp.json())["items"]}

    assert await ids(admin) == {a["id"], b["id"]}
    assert await ids(admin, owner=alice.id) == {a["id"]}
    assert await ids(admin, status="ready") == {b["id"]}
    assert await ids(alice) == {a["id"]}
    assert await ids(alice, owner=bob.id) == set()


async def test_fifty_concurrent_creates_against_a_quota_of_ten_make_exactly_ten(
    gateway: Harness,
) -> None:
    user = await gateway.add_user(max_stores=10)
    http = gateway.client(user)

    async def create(i: int) -> int:
        async with http.post(f"{API}/stores", json={"name": f"rush shop {i}"}) as resp:
            return resp.status

    statuses = await asyncio.gather(*(create(i) for i in range(50)))

    assert statuses.count(202) == 10
    assert statuses.count(403) == 40
    assert await gateway.pool.fetchval("SELECT count(*) FROM stores") == 10
    assert await gateway.pool.fetchval("SELECT count(*) FROM outbox") == 10


async def test_a_hundred_concurrent_posts_with_one_idempotency_key_make_one_store(
    gateway: Harness,
) -> None:
    user = await gateway.add_user(max_stores=100)
    http = gateway.client(user, headers={"Idempotency-Key": "order-42"})

    async def create() -> tuple[int, str]:
        async with http.post(f"{API}/stores", json={"name": "once only"}) as resp:
            return resp.status, (await resp.json())["id"]

    answers = await asyncio.gather(*(create() for _ in range(100)))

    assert {status for status, _ in answers} == {202}
    assert len({store_id for _, store_id in answers}) == 1
    assert await gateway.pool.fetchval("SELECT count(*) FROM stores") == 1
    assert await gateway.pool.fetchval("SELECT count(*) FROM outbox") == 1


async def test_an_idempotency_key_reused_for_another_store_is_409(gateway: Harness) -> None:
    user = await gateway.add_user()
    http = gateway.client(user, headers={"Idempotency-Key": "k1"})
    async with http.post(f"{API}/stores", json={"name": "first one"}) as resp:
        assert resp.status == 202
    async with http.post(f"{API}/stores", json={"name": "second one"}) as resp:
        assert resp.status == 409
        assert (await resp.json())["error"]["field"] == "Idempotency-Key"


async def test_the_eleventh_create_in_the_window_gets_429_with_retry_after(
    make_gateway: MakeGateway,
) -> None:
    gateway = await make_gateway()  # the default limits: 10 creates per 15 minutes
    user = await gateway.add_user(max_stores=50)
    http = gateway.client(user)
    for i in range(10):
        async with http.post(f"{API}/stores", json={"name": f"limited {i}"}) as resp:
            assert resp.status == 202
            assert resp.headers["RateLimit-Remaining"] == str(9 - i)

    async with http.post(f"{API}/stores", json={"name": "one too many"}) as resp:
        assert resp.status == 429
        assert (await resp.json())["error"]["code"] == "rate_limited"
        assert 0 < int(resp.headers["Retry-After"]) <= 15 * 60
        assert resp.headers["RateLimit-Limit"] == "10"
        assert resp.headers["RateLimit-Remaining"] == "0"
    other = await gateway.add_user()
    await gateway.create_store(other)  # the limit is per user


async def test_every_client_address_is_limited_across_all_routes(
    make_gateway: MakeGateway,
) -> None:
    gateway = await make_gateway(rate_limit_requests="5/minute")
    user = await gateway.add_user()
    http = gateway.client(user)
    statuses = []
    for _ in range(6):
        async with http.get(f"{API}/me") as resp:
            statuses.append(resp.status)
            retry_after = resp.headers.get("Retry-After")

    assert statuses == [200] * 5 + [429]
    assert retry_after is not None and re.fullmatch(r"\d+", retry_after)
    async with http.get("/healthz") as resp:
        assert resp.status == 200
