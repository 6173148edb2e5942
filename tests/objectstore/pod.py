"""What a store's pod has: plain HTTP and the URLs it was handed, no key pair.

`Pod` sends URLs exactly as given (no re-quoting, so the server checks the signature
against what was signed). `swap_path`, `with_query` and `flip_signature` are the edits a
hostile pod would try on its own URLs.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from yarl import URL


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes


class Pod:
    """A store pod's HTTP client: no credentials, only URLs."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    async def send(self, method: str, url: str | URL, body: bytes | None = None) -> Answer:
        target = url if isinstance(url, URL) else URL(url, encoded=True)
        async with self._session.request(method, target, data=body) as resp:
            return Answer(resp.status, await resp.read())

    async def get(self, url: str | URL) -> Answer:
        return await self.send("GET", url)

    async def put(self, url: str | URL, body: bytes) -> Answer:
        return await self.send("PUT", url, body)


def swap_path(url: str, path: str) -> URL:
    """`url`, signature and all, aimed at another path of the same server."""
    return URL(url, encoded=True).with_path(path, encoded=True, keep_query=True)


def with_query(url: str | URL, **changes: str) -> URL:
    """`url` with query parameters added or replaced, the rest as signed."""
    signed = url if isinstance(url, URL) else URL(url, encoded=True)
    return signed.update_query(changes)


def flip_signature(url: str) -> URL:
    """`url` with the last hex digit of its signature changed."""
    signature = URL(url, encoded=True).query["X-Amz-Signature"]
    return with_query(url, **{"X-Amz-Signature": signature[:-1] + "01"[signature[-1] == "0"]})
