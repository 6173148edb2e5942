"""Login's password checks, bounded per process: argon2id verifications run on a few
threads of their own, and only a short queue of logins may wait for them.

Memory math. One verification allocates `security.HASH_MEMORY_MIB` (64 MiB with
argon2-cffi's RFC 9106 low-memory defaults) for as long as it runs, also for unknown
users (the dummy hash). The gateway's peak is therefore about its idle size (near
100 MiB) plus `login_hash_workers` x 64 MiB; waiting logins cost almost nothing. The
default, 2 workers, peaks near 230 MiB, well under the pod's 512 MiB limit whatever the
node's core count (Python's default thread pool grows with the cores: 6 threads on 2
cores, 20 on 16). Raise the setting only with the limit: workers <= (limit - 150 MiB) / 64.

`app.build_app` makes one `PasswordHashing` from the settings and stores it under
`HASHING_KEY`; `routes_auth.login` verifies through it and answers 429 on `HashingBusy`.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from services.gateway.security import verify_password


class HashingBusy(Exception):
    """More logins are waiting for a password check than the queue holds."""


class PasswordHashing:
    """At most `workers` argon2id verifications at once; at most `queue` more waiting."""

    def __init__(self, workers: int, queue: int) -> None:
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="argon2")
        self._capacity = workers + queue
        self._pending = 0

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Whether `password` matches (a None hash never does, at the same cost)."""
        if self._pending >= self._capacity:
            raise HashingBusy
        self._pending += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(
                self._executor, verify_password, password_hash, password
            )
        finally:
            self._pending -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


HASHING_KEY = web.AppKey("hashing", PasswordHashing)
