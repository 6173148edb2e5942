"""A minimal Server-Sent Events reader for the tests: frames as (id, event, data)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import aiohttp


@dataclass(frozen=True)
class Frame:
    id: int
    event: str
    data: dict[str, Any]


async def next_frame(resp: aiohttp.ClientResponse) -> Frame:
    fields: dict[str, str] = {}
    while True:
        line = (await resp.content.readline()).decode().rstrip("\n")
        if line == "":
            if "data" in fields:
                return Frame(int(fields["id"]), fields["event"], json.loads(fields["data"]))
            fields.clear()  # a comment or retry block
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(": ")
        fields[name] = value


async def read_frames(
    resp: aiohttp.ClientResponse, count: int, timeout: float = 10.0
) -> list[Frame]:
    frames = []
    async with asyncio.timeout(timeout):
        while len(frames) < count:
            frames.append(await next_frame(resp))
    return frames


async def no_frame_within(resp: aiohttp.ClientResponse, seconds: float) -> bool:
    try:
        async with asyncio.timeout(seconds):
            await next_frame(resp)
    except TimeoutError:
        return True
    return False


async def wait_connected(resp: aiohttp.ClientResponse) -> None:
    """The stream writes `: connected` once its consumer exists."""
    async with asyncio.timeout(10):
        while (await resp.content.readline()).decode().strip() != ": connected":
            pass
