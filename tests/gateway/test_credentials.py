"""A store's admin login comes from the provisioner by NATS request-reply and is never
stored by the gateway; nobody answering is a clear 503; every access is audited."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from nats.aio.msg import Msg

from shared.subjects import CREDENTIALS_SUBJECT
from tests.gateway.conftest import Harness, MakeGateway

API = "/api/v1"


@asynccontextmanager
async def provisioner(
    gateway: Harness, answer: Callable[[dict[str, Any]], Any]
) -> AsyncIterator[list[Any]]:
    """A stand-in provisioner answering on the real subject; yields what it was asked."""
    asked: list[Any] = []

    async def reply(msg: Msg) -> None:
        request = json.loads(msg.data)
        asked.append(request)
        body = answer(request)
        if body is not None:
            await msg.respond(json.dumps(body).encode())

    sub = await gateway.nc.subscribe(CREDENTIALS_SUBJECT, cb=reply)
    try:
        yield asked
    finally:
        await sub.unsubscribe()


async def accesses(gateway: Harness) -> list[tuple[str, str]]:
    rows = await gateway.pool.fetch(
        "SELECT user_id::text, outcome FROM credential_access ORDER BY id"
    )
    return [(r["user_id"], r["outcome"]) for r in rows]


async def test_the_owner_gets_the_login_from_the_provisioner_and_the_access_is_audited(
    gateway: Harness,
) -> None:
    user = await gateway.add_user()
    store = await gateway.create_store(user)
    login = {"username": "admin", "password": "s3cret-pw", "url": "https://shop.example/wp-admin"}
    http = gateway.client(user)
    path = f"{API}/stores/{store['id']}/credentials"
    async with provisioner(gateway, lambda _: login) as asked, http.get(path) as resp:
        assert resp.status == 200
        assert resp.headers["Cache-Control"] == "no-store"
        assert await resp.json() == login

    assert asked == [{"store_id": store["id"]}]
    assert await accesses(gateway) == [(user.id, "granted")]
    dump = await gateway.pool.fetchval("SELECT string_agg(t::text, '') FROM credential_access t")
    assert "s3cret-pw" not in dump


async def test_nobody_answering_is_a_503_that_says_so(gateway: Harness) -> None:
    user = await gateway.add_user()
    store = await gateway.create_store(user)
    async with gateway.client(user).get(f"{API}/stores/{store['id']}/credentials") as resp:
        assert resp.status == 503
        error = (await resp.json())["error"]
    assert error["code"] == "credentials_unavailable"
    assert "provisioner did not answer" in error["message"]
    assert await accesses(gateway) == [(user.id, "unavailable")]


async def test_a_provisioner_that_answers_too_late_is_a_503_after_the_timeout(
    make_gateway: MakeGateway,
) -> None:
    gateway = await make_gateway(credentials_timeout_seconds=0.5)
    user = await gateway.add_user()
    store = await gateway.create_store(user)
    async with provisioner(gateway, lambda _: None):  # listens, never answers
        started = asyncio.get_running_loop().time()
        async with gateway.client(user).get(f"{API}/stores/{store['id']}/credentials") as resp:
            assert resp.status == 503
    assert 0.4 < asyncio.get_running_loop().time() - started < 5


async def test_a_refusal_from_the_provisioner_is_passed_on_and_audited(gateway: Harness) -> None:
    user = await gateway.add_user()
    store = await gateway.create_store(user)
    refusal = {"error": {"code": "not_ready", "message": "the store is still provisioning"}}
    http = gateway.client(user)
    path = f"{API}/stores/{store['id']}/credentials"
    async with provisioner(gateway, lambda _: refusal), http.get(path) as resp:
        assert resp.status == 409
        assert (await resp.json())["error"]["code"] == "not_ready"
    assert await accesses(gateway) == [(user.id, "refused")]


async def test_credential_views_show_in_the_audit_log(gateway: Harness) -> None:
    admin, user = await gateway.add_user(admin=True), await gateway.add_user()
    store = await gateway.create_store(user)
    async with gateway.client(user).get(f"{API}/stores/{store['id']}/credentials") as resp:
        assert resp.status == 503
    async with gateway.client(admin).get(
        f"{API}/audit", params={"type": "credentials_viewed"}
    ) as resp:
        items = (await resp.json())["items"]

    assert [(i["kind"], i["store_id"], i["actor"], i["data"]["outcome"]) for i in items] == [
        ("credentials_access", store["id"], user.id, "unavailable")
    ]
    assert uuid.UUID(items[0]["store_id"])
