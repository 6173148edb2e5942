"""The "store paused" page a suspended store's host answers: every path and method gets
the same small page, 503 with `Retry-After` (not a 502), naming nothing of what was asked
(not the Host, not the path), however hostile the request."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from services.gateway.paused import paused_app


@pytest.fixture
async def server() -> AsyncIterator[TestServer]:
    server = TestServer(paused_app())
    await server.start_server()
    yield server
    await server.close()


@pytest.mark.parametrize(
    ("method", "path", "host"),
    [
        ("GET", "/", "shop.stores.localhost"),
        ("GET", "/storefront/config?x=<script>", "shop.stores.localhost"),
        ("POST", "/wp-login.php", "shop.stores.localhost"),
        ("HEAD", "/", "shop.stores.localhost"),
        ("GET", "/%7B%7B.Values%7D%7D/$(reboot)", "<b>evil</b>.stores.localhost"),
    ],
)
async def test_every_request_gets_the_paused_page_naming_nothing_of_it(
    server: TestServer, method: str, path: str, host: str
) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.request(
            method, server.make_url(path), headers={"Host": host}, data=b"x" * 100
        ) as resp,
    ):
        body = await resp.text()
        assert resp.status == 503
        assert resp.headers["Retry-After"] == "3600"
        assert resp.headers["Cache-Control"] == "no-store"
        assert resp.headers["X-Storefleet-Paused"] == "1"
    if method != "HEAD":
        assert "This store is paused" in body
        for asked in ("shop", "evil", "script", "reboot", "Values", "wp-login"):
            assert asked not in body
