"""200 concurrent sign-ins against a real gateway process (as `python -m
services.gateway`, started through `devtools.launcher`) leave it under the pod's 512 MiB
memory limit, and every one of them gets an answer: 200, 401 or 429.

Each argon2id check allocates 64 MiB. Unbounded, the gateway ran as many at once as its
default thread pool has threads, which grows with the node's cores (6 on 2 cores, 20 on
16), so the test also holds the hashing memory, the peak (VmHWM) above the idle size
(VmRSS before the flood), under what `login_hash_workers` checks need: it must not
depend on the machine running the test.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from argon2 import PasswordHasher

from devtools import procs
from devtools.launcher import start_service
from services.gateway import accounts
from services.gateway.security import hash_password
from tests.security.gateways import wait_serving

MIB = 1024 * 1024
POD_LIMIT_MIB = 512
LOGINS = 200
HASH_WORKERS = 2  # the setting's default
PASSWORD = "right-password"
HASH_MEMORY_MIB = PasswordHasher().memory_cost // 1024  # what one check allocates: 64


def memory_mib(pid: int, field: str) -> float:
    """`VmRSS` or `VmHWM` (peak resident size) of process `pid`, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise LookupError(field)


@pytest.fixture
async def usernames(migrated_database_url: str) -> list[str]:
    """Ten users, all with the password `PASSWORD`."""
    stored = hash_password(PASSWORD)
    pool = await asyncpg.create_pool(migrated_database_url, min_size=1, max_size=2)
    try:
        names = [f"shopper-{n}" for n in range(10)]
        for name in names:
            await accounts.create_user(pool, name, stored)
        return names
    finally:
        await pool.close()


@pytest.fixture
def start_gateway(
    migrated_database_url: str, nats_server: Any, stores_stream_name: str, tmp_path: Path
) -> Iterator[Any]:
    started: list[subprocess.Popen[bytes]] = []

    def start(**settings: str) -> tuple[subprocess.Popen[bytes], str]:
        port = procs.free_port()
        env = {
            "STOREFLEET_DATABASE_URL": migrated_database_url,
            **nats_server.service_env("gateway"),
            "STOREFLEET_STREAM_NAME": stores_stream_name,
            "STOREFLEET_HTTP_HOST": "127.0.0.1",
            "STOREFLEET_HTTP_PORT": str(port),
            "STOREFLEET_HEALTH_PORT": str(procs.free_port()),
            "STOREFLEET_COOKIE_SECURE": "false",
            **{f"STOREFLEET_{key.upper()}": value for key, value in settings.items()},
        }
        started.append(start_service("gateway", tmp_path / "gateway.log", env))
        return started[-1], f"http://127.0.0.1:{port}"

    yield start
    for proc in started:
        procs.stop(proc, timeout=20)


async def flood(url: str, usernames: list[str]) -> Counter[int]:
    """`LOGINS` sign-ins at once: right and wrong passwords, and unknown users."""
    bodies = []
    for n in range(LOGINS):
        name = usernames[n % len(usernames)] if n % 2 == 0 else f"stranger-{n}"
        password = PASSWORD if n % 4 == 0 else "wrong"
        bodies.append({"username": name, "password": password})
    timeout = aiohttp.ClientTimeout(total=120)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as http:

        async def one(body: dict[str, str]) -> int:
            async with http.post(f"{url}/api/v1/auth/login", json=body) as resp:
                await resp.read()
                return resp.status

        return Counter(await asyncio.gather(*(one(body) for body in bodies)))


DEPLOYED: dict[str, str] = {}  # the defaults: every login limit in force
MANY_ADDRESSES = {  # as from a botnet: no address or account limit ever bites
    "rate_limit_requests": "100000/minute",
    "rate_limit_login_client": "100000/minute",
    "rate_limit_login_account": "100000/minute",
}


@pytest.mark.parametrize("settings", [DEPLOYED, MANY_ADDRESSES], ids=["defaults", "no-limits"])
async def test_two_hundred_concurrent_logins_stay_under_the_memory_limit_and_all_get_an_answer(
    start_gateway: Any, usernames: list[str], tmp_path: Path, settings: dict[str, str]
) -> None:
    proc, url = start_gateway(**settings)
    await wait_serving(url, tmp_path / "gateway.log", proc)
    idle = memory_mib(proc.pid, "VmRSS")

    answers = await flood(url, usernames)
    peak = memory_mib(proc.pid, "VmHWM")

    assert set(answers) <= {200, 401, 429}, answers
    assert sum(answers.values()) == LOGINS
    assert answers[200] + answers[401] > 0, answers  # some were checked, not all refused
    assert peak < POD_LIMIT_MIB, f"peak {peak:.0f} MiB, idle {idle:.0f} MiB: {answers}"
    hashing = peak - idle
    print(f"answers {dict(answers)}; idle {idle:.0f} MiB, peak {peak:.0f} MiB")
    assert hashing < (HASH_WORKERS + 1) * HASH_MEMORY_MIB, (
        f"logins took {hashing:.0f} MiB above idle ({idle:.0f} MiB); {answers}"
    )
