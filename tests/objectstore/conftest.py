"""A store pod's HTTP client for the object storage tests (tests/objectstore/pod.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.objectstore.pod import Pod


@pytest.fixture
async def pod() -> AsyncIterator[Pod]:
    async with aiohttp.ClientSession() as session:
        yield Pod(session)
