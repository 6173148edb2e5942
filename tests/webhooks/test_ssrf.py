"""The webhooks service's outgoing requests as an attacker aims them: loopback, private,
link-local and metadata addresses refused by default, whether written as an address or
reached through a name (judged at connect time), unless the operator allows a network;
redirects not followed; answers read only up to 1 KiB, and attempts cut off in time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from services.webhooks.addresses import Networks
from services.webhooks.sender import Sender

INTERNAL = (
    "127.0.0.1",
    "10.20.1.1",
    "172.16.0.1",
    "100.64.0.1",
    "169.254.169.254",
    "::1",
    "fe80::1",
    "fd00::1",
    "::ffff:10.0.0.1",
    "2002:0a00:0001::1",  # 6to4 of 10.0.0.1
    "224.0.0.1",
    "255.255.255.255",
    "100.100.100.200",
    "not-an-address",
)
SIGNED = {"webhook-id": "e1", "webhook-timestamp": "1", "webhook-signature": "v1,x"}


@pytest.fixture
async def local_server() -> AsyncIterator[tuple[str, list[str]]]:
    """A server on 127.0.0.1 that records the paths it was asked for."""
    hits: list[str] = []

    async def answer(request: web.Request) -> web.StreamResponse:
        hits.append(request.path)
        if request.path == "/redirect":
            raise web.HTTPFound("/landed")
        if request.path == "/big":
            return web.Response(text="y" * 1_000_000)
        if request.path == "/slow":
            await asyncio.sleep(30)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield f"http://127.0.0.1:{server.port}", hits
    await server.close()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/",
        "http://10.1.2.3:9/",
        "http://192.168.0.1:9/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:9/",
        "http://[::ffff:127.0.0.1]:9/",
        "http://0.0.0.0:9/",
        "http://localhost:9/",  # a name that resolves to loopback
    ],
)
async def test_default_settings_refuse_internal_addresses(url: str) -> None:
    async with Sender(Networks(), timeout=2) as sender:
        answer = await sender.post(url, SIGNED, b"{}")

    assert answer.status is None
    assert answer.error == "address refused"


async def test_a_name_is_judged_by_what_it_resolves_to_when_connecting(
    local_server: tuple[str, list[str]],
) -> None:
    base, hits = local_server
    port = base.rsplit(":", 1)[1]
    async with Sender(Networks(), timeout=2) as sender:
        refused = await sender.post(f"http://localhost:{port}/x", SIGNED, b"{}")
    async with Sender(Networks.parse("127.0.0.0/8"), timeout=2) as sender:
        allowed = await sender.post(f"http://localhost:{port}/x", SIGNED, b"{}")

    assert refused.error == "address refused"
    assert allowed.status == 200
    assert hits == ["/x"]


def test_only_public_addresses_pass_unless_a_network_is_allowed() -> None:
    default, allowed = Networks(), Networks.parse("10.20.0.0/16, fd00::/8")

    assert default.permits("93.184.215.14")
    assert default.permits("2606:4700::6810:84e5")
    for internal in INTERNAL:
        assert not default.permits(internal), internal
    assert allowed.permits("10.20.1.1") and allowed.permits("fd00::1")
    assert not allowed.permits("10.21.0.1") and not allowed.permits("169.254.169.254")


async def test_redirects_are_not_followed(local_server: tuple[str, list[str]]) -> None:
    base, hits = local_server
    async with Sender(Networks.parse("127.0.0.0/8"), timeout=2) as sender:
        answer = await sender.post(f"{base}/redirect", SIGNED, b"{}")

    assert answer.status == 302
    assert hits == ["/redirect"]


async def test_answers_are_read_up_to_a_kib_and_attempts_end_in_time(
    local_server: tuple[str, list[str]],
) -> None:
    base, _ = local_server
    async with Sender(Networks.parse("127.0.0.0/8"), timeout=1) as sender:
        big = await sender.post(f"{base}/big", SIGNED, b"{}")
        started = time.monotonic()
        slow = await sender.post(f"{base}/slow", SIGNED, b"{}")

    assert big.status == 200 and big.excerpt == "y" * 1024
    assert slow.status is None and slow.error == "timed out"
    assert time.monotonic() - started < 3
