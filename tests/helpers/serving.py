"""Waiting for a service process a test started (`devtools.launcher`) to answer."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from pathlib import Path

import aiohttp
import pytest

from devtools import procs


async def wait_answering(
    url: str, log: Path, proc: subprocess.Popen[bytes] | None = None, seconds: float = 30.0
) -> None:
    """Until `url` answers 200; fails with the log's tail when the process exits first
    (`proc`) or `url` does not answer within `seconds`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    async with aiohttp.ClientSession() as http:
        while loop.time() < deadline:
            if proc is not None and proc.poll() is not None:
                pytest.fail(f"{log.stem} exited with {proc.returncode}:\n{procs.tail(log, 30)}")
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with http.get(url) as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.1)
    pytest.fail(f"{log.stem} did not answer {url} within {seconds:.0f}s:\n{procs.tail(log, 30)}")
