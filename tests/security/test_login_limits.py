"""Login is rate limited per username and per client address before any password is
hashed, so neither a password guesser nor a flood of sign-ins gets unbounded argon2id
work out of the gateway."""

from __future__ import annotations

from tests.gateway.conftest import Harness, MakeGateway

API = "/api/v1"
PLENTY = {"rate_limit_requests": "100000/minute"}


async def attempt(gateway: Harness, username: str, password: str) -> tuple[int, str | None]:
    body = {"username": username, "password": password}
    async with gateway.client().post(f"{API}/auth/login", json=body) as resp:
        code = None if resp.status == 200 else (await resp.json())["error"]["code"]
        return resp.status, code


async def test_a_guessed_account_is_refused_after_its_limit_even_with_the_right_password(
    make_gateway: MakeGateway,
) -> None:
    gateway = await make_gateway(rate_limit_login_account="3/minute", **PLENTY)
    user = await gateway.add_user()

    guesses = [await attempt(gateway, user.username, f"guess-{n}") for n in range(3)]
    assert guesses == [(401, "unauthenticated")] * 3
    assert await attempt(gateway, user.username, user.password) == (429, "rate_limited")
    # Others are not locked out by one account's limit.
    other = await gateway.add_user()
    assert await attempt(gateway, other.username, other.password) == (200, None)


async def test_one_address_trying_many_names_is_refused_after_its_limit(
    make_gateway: MakeGateway,
) -> None:
    gateway = await make_gateway(rate_limit_login_client="3/minute", **PLENTY)
    user = await gateway.add_user()

    tries = [await attempt(gateway, f"nobody-{n}", "guess") for n in range(3)]
    assert tries == [(401, "unauthenticated")] * 3
    assert await attempt(gateway, user.username, user.password) == (429, "rate_limited")
    # Signed-in work is not a login: API calls from that address still pass.
    async with gateway.client(user).get(f"{API}/me") as resp:
        assert resp.status == 200
