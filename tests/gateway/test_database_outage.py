"""While Postgres is down or restarting the gateway answers 503 with `Retry-After`, a
reply a client retries, never a 500 that says a defect of ours; once Postgres is back,
the same gateway answers normally again without a restart."""

from __future__ import annotations

import aiohttp

from devtools.postgres import LocalPostgres
from shared.db import migrate
from tests.gateway.conftest import MakeGateway


async def _sign_in(url: str) -> tuple[int, dict[str, str], dict[str, object]]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{url}/api/v1/auth/login", json={"username": "ann", "password": "x" * 12}) as r,
    ):
        return r.status, dict(r.headers), await r.json()


async def test_a_database_outage_is_a_503_to_retry_and_service_resumes_after_it(
    fresh_server: LocalPostgres, make_gateway: MakeGateway
) -> None:
    await migrate(fresh_server.dsn())
    gateway = await make_gateway(database_url=fresh_server.dsn())
    assert (await _sign_in(gateway.url))[0] == 401  # up: nobody of that name

    fresh_server.shut_down()
    status, headers, body = await _sign_in(gateway.url)
    assert status == 503
    assert headers["Retry-After"] == "2"
    assert body["error"]["code"] == "database_unavailable"
    assert "postgres" not in str(body).lower()  # nothing of the server's own words

    fresh_server.start()
    assert (await _sign_in(gateway.url))[0] == 401
