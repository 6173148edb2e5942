"""Test sends (POST /api/v1/webhooks/{id}/test) with the webhooks service as a process
and a real receiver: the synthetic `webhook.test` event arrives signed, in the
platform's envelope, beside a store's own events, retried and logged like them; other
users' endpoints are missing, read-only tokens may not send, and an endpoint gets no
second test send while one is pending or within seconds of the last."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from services.gateway import accounts
from services.gateway.security import digest, new_api_token
from tests.gateway.conftest import Harness, TestUser
from tests.webhooks.conftest import StartService, publish_progress, register
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_delivery import get, until


async def send_test(harness: Harness, user: TestUser, endpoint_id: str) -> tuple[int, Any]:
    async with harness.client(user).post(f"/api/v1/webhooks/{endpoint_id}/test") as resp:
        return resp.status, await resp.json()


async def test_a_test_send_arrives_signed_beside_a_store_s_events_and_is_logged(
    gateway: Harness, receiver: Receiver, start_webhooks: StartService
) -> None:
    user = await gateway.add_user()
    store = await gateway.create_store(user)
    endpoint = await register(gateway, user, receiver, "ok/tested")  # progress events only
    await start_webhooks()

    await publish_progress(gateway, store["id"], 3)
    status, sent = await send_test(gateway, user, endpoint["id"])
    await until(lambda: len(receiver.got["tested"]) >= 4, 15, "the store's events and the test")
    [test] = [r for r in receiver.got["tested"] if r.event["type"] == "webhook.test"]
    page = await until_delivered(gateway, user, endpoint["id"], sent["event_id"])

    assert status == 202 and isinstance(sent["id"], int)
    assert test.signed and test.headers["webhook-id"] == sent["event_id"]
    assert test.event["id"] == sent["event_id"] and test.event["store_id"] is None
    assert test.event["actor"] == user.id and test.event["schema_version"] == 1
    assert test.event["data"] == {
        "endpoint_id": endpoint["id"],
        "message": "test delivery from storefleet",
    }
    assert {"occurred_at", "correlation_id"} <= set(test.event)
    [logged] = [d for d in page["items"] if d["id"] == sent["id"]]
    assert logged["event_type"] == "webhook.test" and logged["store_id"] is None
    assert [a["status_code"] for a in logged["attempts"]] == [204]
    assert sorted(d["store_id"] or "" for d in page["items"]) == ["", *[store["id"]] * 3]


async def until_delivered(
    harness: Harness, user: TestUser, endpoint_id: str, event_id: str
) -> dict[str, Any]:
    """The endpoint's deliveries once the one of `event_id` is no longer pending."""
    deadline = time.monotonic() + 15
    while True:
        page: dict[str, Any] = await get(harness, user, f"/{endpoint_id}/deliveries")
        if any(d["event_id"] == event_id and d["outcome"] != "pending" for d in page["items"]):
            return page
        if time.monotonic() > deadline:
            pytest.fail(f"the delivery of {event_id} still pending after 15s")
        await asyncio.sleep(0.05)


async def test_a_failing_test_send_is_retried_and_each_attempt_logged(
    gateway: Harness, receiver: Receiver, start_webhooks: StartService
) -> None:
    user = await gateway.add_user()
    endpoint = await register(gateway, user, receiver, "flaky/retried")
    await start_webhooks()

    status, sent = await send_test(gateway, user, endpoint["id"])
    await until(lambda: receiver.tries[("retried", sent["event_id"])] >= 3, 15, "third attempt")
    page = await until_delivered(gateway, user, endpoint["id"], sent["event_id"])

    assert status == 202
    [logged] = page["items"]
    assert logged["outcome"] == "delivered"
    assert [a["status_code"] for a in logged["attempts"]] == [500, 500, 204]
    assert all(r.signed for r in receiver.got["retried"])


async def test_a_second_test_send_is_refused_while_one_is_pending(gateway: Harness) -> None:
    user = await gateway.add_user()
    endpoint = await register(gateway, user, Receiver(url="http://127.0.0.1:9"), "ok/x")

    first, _ = await send_test(gateway, user, endpoint["id"])  # no webhooks service: pending
    pending, refusal = await send_test(gateway, user, endpoint["id"])

    assert (first, pending) == (202, 409)
    assert refusal["error"]["code"] == "test_pending"
    page = await get(gateway, user, f"/{endpoint['id']}/deliveries")
    assert len(page["items"]) == 1


async def test_a_test_send_just_delivered_holds_off_the_next_for_the_interval(
    gateway: Harness, receiver: Receiver, start_webhooks: StartService
) -> None:
    user = await gateway.add_user()
    endpoint = await register(gateway, user, receiver, "ok/capped")
    await start_webhooks()

    first, sent = await send_test(gateway, user, endpoint["id"])
    # Delivered and recorded (the receiver hears it before the service writes the outcome).
    await until_delivered(gateway, user, endpoint["id"], sent["event_id"])
    async with gateway.client(user).post(f"/api/v1/webhooks/{endpoint['id']}/test") as resp:
        soon, retry_after, body = resp.status, resp.headers.get("Retry-After"), await resp.json()

    assert first == 202
    assert (soon, retry_after) == (429, "5"), body
    assert body["error"]["code"] == "test_too_soon"
    page = await get(gateway, user, f"/{endpoint['id']}/deliveries")
    assert len(page["items"]) == 1 and len(receiver.got["capped"]) == 1


async def test_only_the_owner_or_an_administrator_may_send_a_test(gateway: Harness) -> None:
    owner, other = await gateway.add_user(), await gateway.add_user()
    admin = await gateway.add_user(admin=True)
    created = await register(gateway, owner, Receiver(url="http://127.0.0.1:9"), "ok/x")

    assert (await send_test(gateway, other, created["id"]))[0] == 404
    assert (await send_test(gateway, other, str(uuid.uuid4())))[0] == 404
    assert (await send_test(gateway, admin, created["id"]))[0] == 202
    page = await get(gateway, owner, f"/{created['id']}/deliveries")
    assert [d["event_type"] for d in page["items"]] == ["webhook.test"]


async def test_a_read_only_token_may_not_send_a_test(gateway: Harness) -> None:
    owner = await gateway.add_user()
    created = await register(gateway, owner, Receiver(url="http://127.0.0.1:9"), "ok/x")
    token = new_api_token()
    await accounts.create_token(gateway.pool, owner.id, "reader", digest(token), scope="read")
    reader = TestUser(owner.id, owner.username, owner.password, token)

    status, refusal = await send_test(gateway, reader, created["id"])

    assert (status, refusal["error"]["code"]) == (403, "read_only_token")
    assert (await get(gateway, owner, f"/{created['id']}/deliveries"))["items"] == []
