"""Waiting for a gateway process the attack tests started (`devtools.launcher`)."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from pathlib import Path

import aiohttp
import pytest

from devtools import procs


async def wait_serving(url: str, log: Path, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Until the gateway at `url` answers `/healthz`; fails with its log's tail when it
    exits first (`proc`) or does not answer within 30 s."""
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            if proc is not None:
                assert proc.poll() is None, procs.tail(log, 30)
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with http.get(f"{url}/healthz") as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.1)
    pytest.fail(f"{log.stem} did not start:\n{procs.tail(log, 30)}")
