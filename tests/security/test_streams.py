"""Event streams end with their credential, are capped per user, and replay a bounded
number of events (issue 19: the gateway must not fall over under cheap requests)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import timedelta

import aiohttp
import pytest

from services.gateway import accounts
from services.gateway.security import SESSION_COOKIE, digest, new_session_id
from tests.gateway.conftest import RELAXED, Harness, MakeGateway, TestUser
from tests.gateway.sse_client import next_frame, no_frame_within, read_frames, wait_connected
from tests.gateway.test_stream import progress

STREAM = "/api/v1/stream"
# So long that only the NOTIFY on revocation can end a stream within the test.
NEVER = {"sse_recheck_seconds": 600}


async def until_closed(resp: aiohttp.ClientResponse, seconds: float) -> bytes:
    """What the stream sends until the gateway ends it; fails if it is still open."""
    try:
        async with asyncio.timeout(seconds):
            return await resp.content.read()
    except TimeoutError:
        pytest.fail(f"the stream was still open {seconds} s later")


async def session_client(
    gateway: Harness, user: TestUser, ttl: timedelta = timedelta(hours=1)
) -> aiohttp.ClientSession:
    """A browser-like client signed in with a session cookie of `user`."""
    session = new_session_id()
    await accounts.open_session(gateway.pool, user.id, digest(session), ttl)
    return gateway.client(headers={"Cookie": f"{SESSION_COOKIE}={session}", "Origin": gateway.url})


async def test_revoking_a_token_ends_the_stream_it_opened(make_gateway: MakeGateway) -> None:
    gateway = await make_gateway(**RELAXED, **NEVER)
    user = await gateway.add_user()
    async with gateway.client(user).get(STREAM) as resp:
        await wait_connected(resp)
        token_id = await gateway.pool.fetchval(
            "SELECT id FROM api_tokens WHERE user_id = $1", uuid.UUID(user.id)
        )
        # As another replica's DELETE /tokens/{id} would: this replica hears only NOTIFY.
        assert await accounts.revoke_token(gateway.pool, user.id, token_id)
        rest = await until_closed(resp, 5)

    assert b"event: end" in rest


async def test_logging_out_ends_the_sessions_stream(make_gateway: MakeGateway) -> None:
    gateway = await make_gateway(**RELAXED, **NEVER)
    user = await gateway.add_user()
    http = await session_client(gateway, user)
    async with http.get(STREAM) as resp:
        assert resp.status == 200
        await wait_connected(resp)
        async with http.post("/api/v1/auth/logout") as out:
            assert out.status == 204
        rest = await until_closed(resp, 5)

    assert b"event: end" in rest


async def test_disabling_a_user_ends_their_token_and_session_streams(
    make_gateway: MakeGateway,
) -> None:
    gateway = await make_gateway(**RELAXED, **NEVER)
    user = await gateway.add_user()
    browser = await session_client(gateway, user)
    async with gateway.client(user).get(STREAM) as by_token, browser.get(STREAM) as by_cookie:
        await wait_connected(by_token)
        await wait_connected(by_cookie)
        # What `python -m services.gateway users disable` does, from another process.
        assert await accounts.disable_user(gateway.pool, user.username)
        rests = [await until_closed(by_token, 5), await until_closed(by_cookie, 5)]

    assert all(b"event: end" in rest for rest in rests)


async def test_an_expired_session_ends_its_stream_within_the_recheck_interval(
    make_gateway: MakeGateway,
) -> None:
    """Nothing is notified when a session runs out: the periodic re-check ends it."""
    gateway = await make_gateway(**RELAXED, sse_recheck_seconds=1)
    user = await gateway.add_user()
    http = await session_client(gateway, user, ttl=timedelta(seconds=2))
    async with http.get(STREAM) as resp:
        assert resp.status == 200
        await wait_connected(resp)
        rest = await until_closed(resp, 2 + 1 + 4)

    assert b"event: end" in rest


async def test_a_users_sixth_stream_is_refused_with_429(make_gateway: MakeGateway) -> None:
    gateway = await make_gateway(**RELAXED)
    user, other = await gateway.add_user(), await gateway.add_user()
    http = gateway.client(user)
    async with contextlib.AsyncExitStack() as open_streams:
        streams = [await open_streams.enter_async_context(http.get(STREAM)) for _ in range(5)]
        for resp in streams:
            await wait_connected(resp)
        async with http.get(STREAM) as sixth:
            assert sixth.status == 429
            assert (await sixth.json())["error"]["code"] == "too_many_streams"
        async with gateway.client(other).get(STREAM) as others:
            assert others.status == 200
        streams[0].close()
        await asyncio.sleep(1.5)  # the handler notices the client left at its next write
        async with http.get(STREAM) as again:
            assert again.status == 200


async def test_the_cap_holds_over_two_replicas_and_a_closed_stream_frees_its_place(
    make_gateway: MakeGateway,
) -> None:
    a, b = await make_gateway(**RELAXED), await make_gateway(**RELAXED)  # one database
    user = await a.add_user()
    on_a, on_b = a.client(user), b.client(user)
    async with contextlib.AsyncExitStack() as open_streams:
        streams = [
            await open_streams.enter_async_context(client.get(STREAM))
            for client in (on_a, on_b, on_a, on_b, on_a)
        ]
        for resp in streams:
            await wait_connected(resp)
        for client in (on_a, on_b):
            async with client.get(STREAM) as sixth:
                assert sixth.status == 429
                assert (await sixth.json())["error"]["code"] == "too_many_streams"
        streams[1].close()  # one of replica b's
        await asyncio.sleep(1.5)  # the handler notices the client left at its next write
        async with on_a.get(STREAM) as again:
            assert again.status == 200


async def test_places_left_by_a_replica_that_died_run_out(make_gateway: MakeGateway) -> None:
    gateway = await make_gateway(**RELAXED)
    user = await gateway.add_user()
    for _ in range(5):  # a dead replica's streams, their leases just run out
        await gateway.pool.execute(
            "INSERT INTO stream_places (id, user_id, held_until) VALUES ($1, $2, now())",
            uuid.uuid4(),
            user.id,
        )
    async with gateway.client(user).get(STREAM) as resp:
        assert resp.status == 200


async def test_a_replay_from_zero_is_bounded_and_says_reset(make_gateway: MakeGateway) -> None:
    gateway = await make_gateway(**RELAXED, sse_replay_max_events=3)
    user = await gateway.add_user()
    http = gateway.client(user)
    async with http.get(STREAM) as resp:
        await wait_connected(resp)
        store = await gateway.create_store(user)
        await read_frames(resp, 1)  # `requested` is in the stream
    await progress(gateway, store)  # three more: four in all
    last = (await gateway.js.stream_info(gateway.settings.stream_name)).state.last_seq

    async with http.get(STREAM, headers={"Last-Event-ID": "0"}) as resp:
        async with asyncio.timeout(10):
            reset = await next_frame(resp)
        assert await no_frame_within(resp, 1.0)  # nothing of the four old events

    assert (reset.event, reset.id) == ("reset", last)
    assert reset.data["reason"] == "replay_limit"


async def test_a_reset_id_resumes_with_the_events_after_it(make_gateway: MakeGateway) -> None:
    gateway = await make_gateway(**RELAXED, sse_replay_max_events=3)
    user = await gateway.add_user()
    http = gateway.client(user)
    async with http.get(STREAM) as resp:
        await wait_connected(resp)
        store = await gateway.create_store(user)
        await read_frames(resp, 1)  # `requested` is in the stream
    await progress(gateway, store)  # four events: more than three back from 0
    async with http.get(STREAM, params={"last_event_id": "0"}) as resp:
        async with asyncio.timeout(10):
            reset = await next_frame(resp)
    await progress(gateway, store)  # three more after the reset's id

    async with http.get(STREAM, headers={"Last-Event-ID": str(reset.id)}) as resp:
        frames = await read_frames(resp, 3)

    assert reset.event == "reset"
    assert [f.event for f in frames] == ["provisioning", "progress", "ready"]
