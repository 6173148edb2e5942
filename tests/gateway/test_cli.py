"""The operators' command line: `users add` prints a password that signs in, `users
list` shows the users, `users disable` stops them, and a second add is refused; all of it
as the gateway's own Postgres role, as in a gateway pod."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.gateway.conftest import Harness

ROOT = Path(__file__).resolve().parents[2]


async def cli(database_url: str, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.gateway",
        *args,
        cwd=ROOT,
        env={**os.environ, "STOREFLEET_DATABASE_URL": database_url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode().strip(), err.decode().strip()


async def login(gateway: Harness, username: str, password: str) -> int:
    async with gateway.client().post(
        "/api/v1/auth/login", json={"username": username, "password": password}
    ) as resp:
        return resp.status


async def test_users_add_list_and_disable(
    gateway: Harness, service_database_urls: dict[str, str]
) -> None:
    as_gateway = service_database_urls["gateway"]
    code, password, _ = await cli(
        as_gateway, "users", "add", "olga", "--admin", "--max-stores", "3"
    )
    assert code == 0
    assert len(password) >= 16
    assert await login(gateway, "olga", password) == 200

    code, _, err = await cli(as_gateway, "users", "add", "olga")
    assert code == 1
    assert "already exists" in err

    code, listing, _ = await cli(as_gateway, "users", "list")
    assert code == 0
    [row] = [line.split() for line in listing.splitlines() if line.startswith("olga")]
    assert row[1:5] == ["admin", "false", "0", "3"]

    code, _, _ = await cli(as_gateway, "users", "disable", "olga")
    assert code == 0
    assert await login(gateway, "olga", password) == 401
