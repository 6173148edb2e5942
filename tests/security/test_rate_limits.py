"""Rate limits key signed-in calls on the user, so a team behind one NAT address (or one
busy integration) locks nobody else out; calls without credentials count per client
address; and that address comes from X-Forwarded-For only when a trusted proxy sent it.
The two-replica attacks are in `test_rate_limits_replicas.py`."""

from __future__ import annotations

from typing import Any

from structlog.testing import capture_logs

from devtools.procs import free_port
from tests.gateway.conftest import Harness, MakeGateway, TestUser

API = "/api/v1"
HSTS = "Strict-Transport-Security"
LOGINS_OUT_OF_THE_WAY = {"rate_limit_login_account": "1000/minute"}


async def calls(gateway: Harness, user: TestUser, count: int) -> list[int]:
    statuses = []
    http = gateway.client(user)
    for _ in range(count):
        async with http.get(f"{API}/stores") as resp:
            statuses.append(resp.status)
    return statuses


async def login(gateway: Harness, user: TestUser, **headers: str) -> int:
    body = {"username": user.username, "password": user.password}
    async with gateway.client(headers=headers).post(f"{API}/auth/login", json=body) as resp:
        return resp.status


async def guess(gateway: Harness, forwarded_for: str, **headers: str) -> tuple[int, Any]:
    """A wrong-password sign-in that says it comes through `forwarded_for`."""
    body = {"username": "nobody", "password": "guess"}
    sent = {"X-Forwarded-For": forwarded_for, **headers}
    async with gateway.client(headers=sent).post(f"{API}/auth/login", json=body) as resp:
        return resp.status, resp.headers


async def test_one_user_exhausting_their_limit_does_not_refuse_another_behind_the_same_address(
    make_gateway: MakeGateway,
) -> None:
    gateway = await make_gateway(rate_limit_requests="5/minute")
    greedy, colleague, newcomer = [await gateway.add_user() for _ in range(3)]

    assert await calls(gateway, greedy, 6) == [200] * 5 + [429]
    assert await calls(gateway, colleague, 5) == [200] * 5
    assert await login(gateway, newcomer) == 200  # the address's own count is untouched


async def test_a_team_behind_one_address_keeps_working_under_the_default_limits(
    make_gateway: MakeGateway,
) -> None:
    gateway = await make_gateway()  # every default in force
    team = [await gateway.add_user() for _ in range(4)]

    for member in team[:3]:  # a page load or two each, all from one NAT address
        assert await calls(gateway, member, 40) == [200] * 40
    assert await login(gateway, team[3]) == 200


async def test_one_callers_burst_beyond_sixty_in_ten_seconds_is_refused_by_default(
    make_gateway: MakeGateway,
) -> None:
    gateway = await make_gateway()
    script = await gateway.add_user()

    statuses = await calls(gateway, script, 61)
    assert statuses == [200] * 60 + [429]
    async with gateway.client(script).get(f"{API}/me") as resp:
        assert resp.status == 429
        assert 0 < int(resp.headers["Retry-After"]) <= 10


async def test_a_forged_x_forwarded_for_from_an_untrusted_peer_is_ignored(
    make_gateway: MakeGateway,
) -> None:
    # The proxies are on 10.0.0.0/8; this test's client (127.0.0.1) is not one of them.
    # trust_forwarded_for is what the chart used to set: trusted_proxies replaces it.
    gateway = await make_gateway(
        trusted_proxies=["10.0.0.0/8"],
        trust_forwarded_for=True,
        rate_limit_login_client="3/minute",
        **LOGINS_OUT_OF_THE_WAY,
    )

    tries = [await guess(gateway, f"198.51.100.{n}") for n in range(4)]
    assert [status for status, _ in tries] == [401, 401, 401, 429]
    _, headers = await guess(gateway, "198.51.100.99", **{"X-Forwarded-Proto": "https"})
    assert HSTS not in headers  # nor is its word that the client used TLS


async def test_x_forwarded_for_from_a_trusted_proxy_is_honoured_right_most_untrusted_hop(
    make_gateway: MakeGateway,
) -> None:
    # Two proxy tiers: this test's client plays the Ingress (127.0.0.1), 10.0.0.0/8 a CDN.
    gateway = await make_gateway(
        trusted_proxies=["127.0.0.1/32", "10.0.0.0/8"],
        rate_limit_login_client="3/minute",
        **LOGINS_OUT_OF_THE_WAY,
    )
    user = await gateway.add_user()

    flood = [await guess(gateway, "203.0.113.7") for _ in range(3)]
    assert [status for status, _ in flood] == [401] * 3
    # The flooder writes another address in front; the proxy appends the real one.
    assert (await guess(gateway, "198.51.100.2, 203.0.113.7"))[0] == 429
    assert (await guess(gateway, "203.0.113.7, 10.1.2.3"))[0] == 429  # via the CDN
    # Another client behind the same proxy signs in.
    assert await login(gateway, user, **{"X-Forwarded-For": "198.51.100.2"}) == 200
    _, headers = await guess(gateway, "198.51.100.3", **{"X-Forwarded-Proto": "https"})
    assert headers[HSTS] == "max-age=31536000"


async def test_an_unreachable_rate_limit_storage_lets_requests_through_without_its_secret(
    make_gateway: MakeGateway,
) -> None:
    secret = "redis-password-for-the-test"
    gateway = await make_gateway(rate_limit_storage=f"redis://:{secret}@127.0.0.1:{free_port()}/0")
    user = await gateway.add_user()

    with capture_logs() as logs:
        assert await calls(gateway, user, 3) == [200] * 3
        assert await login(gateway, user) == 200
    warnings = [entry for entry in logs if entry["log_level"] == "warning"]
    assert len(warnings) == 1, logs  # once a minute, not once a request
    assert secret not in repr(logs)


async def test_a_flood_of_made_up_tokens_is_limited_per_address(
    make_gateway: MakeGateway,
) -> None:
    gateway = await make_gateway(rate_limit_requests="5/minute")
    user = await gateway.add_user()
    forged = gateway.client(headers={"Authorization": "Bearer sf_made-up-token"})
    statuses = []
    for _ in range(7):
        async with forged.get(f"{API}/stores") as resp:
            statuses.append(resp.status)

    assert statuses == [401] * 5 + [429] * 2
    assert await calls(gateway, user, 1) == [200]  # people signed in there go on
