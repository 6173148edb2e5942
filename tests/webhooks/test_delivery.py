"""The webhooks service as a process against real NATS, Postgres and a real receiver:
signed deliveries, a hanging endpoint beside an answering one, retries and their log,
giving up (the endpoint marked failing), per-store order, redelivery, and a SIGKILL in
the middle of a burst."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.gateway.conftest import Harness
from tests.webhooks.conftest import StartService, publish_progress, register
from tests.webhooks.receiver import Receiver


async def until(check: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {within}s")
        await asyncio.sleep(0.05)


def numbers(events: list[dict[str, Any]], store_id: str | None = None) -> list[int]:
    return [
        int(e["data"]["message"]) for e in events if store_id is None or e["store_id"] == store_id
    ]


async def get(harness: Harness, user: Any, path: str) -> Any:
    async with harness.client(user).get(f"/api/v1/webhooks{path}") as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def test_a_hanging_endpoint_never_delays_one_that_answers(
    gateway: Harness, receiver: Receiver, start_webhooks: StartService
) -> None:
    user = await gateway.add_user()
    store = await gateway.create_store(user)
    slow = await register(gateway, user, receiver, "hang/slow")
    await register(gateway, user, receiver, "ok/fast")
    service = await start_webhooks(STOREFLEET_WEBHOOK_TIMEOUT_SECONDS="30")

    started = time.monotonic()
    await publish_progress(gateway, store["id"], 100)
    await until(lambda: len(receiver.got["fast"]) >= 100, 20, "the answering endpoint got all")

    assert time.monotonic() - started < 20
    assert numbers(receiver.events("fast")) == list(range(100))
    assert all(r.signed for r in receiver.got["fast"])
    assert len(receiver.got["slow"]) == 1  # still waiting on its first event
    await asyncio.sleep(0.3)  # a poll of the dispatcher, which sets the lag gauge
    lags = {k: v for k, v in (await service.metrics()).items() if "lag_seconds" in k}
    assert list(lags) == [f'storefleet_webhooks_lag_seconds{{endpoint="{slow["id"]}"}}']
    assert all(lag > 0 for lag in lags.values())


async def test_a_failing_endpoint_is_retried_and_its_log_shows_each_attempt(
    gateway: Harness, receiver: Receiver, start_webhooks: StartService
) -> None:
    user = await gateway.add_user()
    store = await gateway.create_store(user)
    flaky = await register(gateway, user, receiver, "flaky/retried")
    await start_webhooks()

    [event_id] = await publish_progress(gateway, store["id"], 1)
    await until(lambda: receiver.tries[("retried", event_id)] >= 3, 15, "third attempt")
    await asyncio.sleep(0.5)
    page = await get(gateway, user, f"/{flaky['id']}/deliveries")

    [delivery] = page["items"]
    assert delivery["event_id"] == event_id
    assert delivery["outcome"] == "delivered"
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 500, 204]
    assert [a["attempt"] for a in delivery["attempts"]] == [1, 2, 3]
    assert delivery["attempts"][0]["response"] == "try again"
    assert all(a["latency_ms"] >= 0 for a in delivery["attempts"])
    assert all(r.signed for r in receiver.got["retried"])


async def test_an_endpoint_that_never_answers_well_is_marked_failing_with_a_reason(
    gateway: Harness, receiver: Receiver, start_webhooks: StartService
) -> None:
    user = await gateway.add_user()
    store = await gateway.create_store(user)
    down = await register(gateway, user, receiver, "down/broken")
    service = await start_webhooks()

    await publish_progress(gateway, store["id"], 2)
    await until(lambda: len(receiver.got["broken"]) >= 5, 20, "every attempt")
    await asyncio.sleep(0.5)
    endpoint = await get(gateway, user, f"/{down['id']}")
    page = await get(gateway, user, f"/{down['id']}/deliveries")
    samples = await service.metrics()

    assert endpoint["failing"] is True
    assert endpoint["failing_reason"] == "4 attempts failed, the last: HTTP 500"
    # Once failing, the next event gets one attempt, not a day of them.
    assert [(d["outcome"], len(d["attempts"])) for d in page["items"]] == [
        ("failed", 1),
        ("failed", 4),
    ]
    assert all(len(a["response"]) <= 1024 for d in page["items"] for a in d["attempts"])
    assert len(receiver.got["broken"]) == 5
    assert samples['storefleet_webhooks_attempts_total{result="retry"}'] == 3
    assert samples['storefleet_webhooks_attempts_total{result="given_up"}'] == 2
    assert samples["storefleet_webhooks_failures_total"] == 2


async def test_each_store_s_events_reach_an_endpoint_in_order_despite_retries(
    gateway: Harness, receiver: Receiver, start_webhooks: StartService
) -> None:
    receiver.fail_first = 1  # every event fails once, then goes through
    user = await gateway.add_user()
    first, second = await gateway.create_store(user), await gateway.create_store(user)
    await register(gateway, user, receiver, "flaky/ordered")
    await start_webhooks()

    for n in range(0, 30, 10):
        await publish_progress(gateway, first["id"], 10, start=n)
        await publish_progress(gateway, second["id"], 10, start=n)
    await until(lambda: len(receiver.got["ordered"]) >= 120, 30, "every event twice")

    for store in (first, second):
        sent = numbers(receiver.events("ordered"), store["id"])
        assert sent == [n for n in range(30) for _ in range(2)]


async def test_redelivery_sends_one_event_or_everything_since_a_time_again(
    gateway: Harness, receiver: Receiver, start_webhooks: StartService
) -> None:
    user = await gateway.add_user()
    store = await gateway.create_store(user)
    endpoint = await register(gateway, user, receiver, "ok/again")
    await start_webhooks()
    ids = await publish_progress(gateway, store["id"], 3)
    await until(lambda: len(receiver.got["again"]) == 3, 10, "first deliveries")
    # A round's attempts are recorded together, after its last answer.
    for _ in range(200):
        page = await get(gateway, user, f"/{endpoint['id']}/deliveries")
        if [d["outcome"] for d in page["items"]] == ["delivered"] * 3:
            break
        await asyncio.sleep(0.05)
    client = gateway.client(user)
    url = f"/api/v1/webhooks/{endpoint['id']}/redeliver"

    async with client.post(url, json={"event_id": ids[1]}) as resp:
        assert resp.status == 202
        assert await resp.json() == {"redelivered": 1}
    await until(lambda: len(receiver.got["again"]) == 4, 10, "one redelivered")
    async with client.post(url, json={"since": "2000-01-01T00:00:00Z"}) as resp:
        assert await resp.json() == {"redelivered": 3}
    await until(lambda: len(receiver.got["again"]) == 7, 10, "all redelivered")

    assert [r.headers["webhook-id"] for r in receiver.got["again"]] == [*ids, ids[1], *ids]


async def test_every_event_arrives_at_least_once_across_a_sigkill(
    gateway: Harness, receiver: Receiver, start_webhooks: StartService
) -> None:
    user = await gateway.add_user()
    store = await gateway.create_store(user)
    await register(gateway, user, receiver, "ok/survivor")
    first = await start_webhooks()
    publishing = asyncio.create_task(publish_progress(gateway, store["id"], 300))

    await until(lambda: len(receiver.got["survivor"]) >= 60, 20, "some delivered")
    first.kill()
    ids = await publishing
    await start_webhooks()
    await until(
        lambda: {r.headers["webhook-id"] for r in receiver.got["survivor"]} >= set(ids),
        60,
        "every event after the restart",
    )

    got = numbers(receiver.events("survivor"))
    assert sorted(set(got)) == list(range(300))
    # At least once, and in order apart from the repeats a kill may cause.
    firsts = list(dict.fromkeys(got))
    assert firsts == list(range(300))


async def test_an_endpoint_gets_only_its_owner_s_stores_and_an_administrator_s_all(
    gateway: Harness, receiver: Receiver, start_webhooks: StartService
) -> None:
    alice, bob = await gateway.add_user(), await gateway.add_user()
    admin = await gateway.add_user(admin=True)
    alices, bobs = await gateway.create_store(alice), await gateway.create_store(bob)
    await register(gateway, alice, receiver, "ok/alice")
    await register(gateway, bob, receiver, "ok/bob", store_id=bobs["id"])
    await register(gateway, admin, receiver, "ok/admin")
    await start_webhooks()

    await publish_progress(gateway, alices["id"], 2)
    await publish_progress(gateway, bobs["id"], 3)
    await until(lambda: len(receiver.got["admin"]) == 5, 10, "the administrator got all")
    await asyncio.sleep(0.5)

    assert {e["store_id"] for e in receiver.events("alice")} == {alices["id"]}
    assert {e["store_id"] for e in receiver.events("bob")} == {bobs["id"]}
    assert (len(receiver.got["alice"]), len(receiver.got["bob"])) == (2, 3)


async def test_two_replicas_share_the_work_and_keep_each_store_s_order(
    gateway: Harness, receiver: Receiver, start_webhooks: StartService
) -> None:
    receiver.fail_first = 1
    user = await gateway.add_user()
    stores = [await gateway.create_store(user) for _ in range(3)]
    await register(gateway, user, receiver, "flaky/shared")
    await start_webhooks()
    await start_webhooks()

    for store in stores:
        await publish_progress(gateway, store["id"], 20)
    await until(lambda: len(receiver.got["shared"]) >= 120, 30, "every event twice")
    await asyncio.sleep(0.5)

    for store in stores:
        assert numbers(receiver.events("shared"), store["id"]) == [
            n for n in range(20) for _ in range(2)
        ]
