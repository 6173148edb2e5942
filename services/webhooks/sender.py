"""One HTTP attempt at an endpoint, with the defences a server that sends requests to
addresses its users choose needs:

- the address actually connected to is checked (`addresses.Networks.permits`) after the
  name is resolved, for every connection, so a name that resolves to a private address
  now, though it did not when the endpoint was registered, is refused (DNS rebinding);
  an address literal in the URL is checked the same way;
- redirects are not followed; proxies from the environment are ignored;
- the whole attempt has a deadline, and at most `EXCERPT_BYTES` of the answer are read.

Called by `services.webhooks.senders`; holds one aiohttp session for the service's life.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiohttp
from aiohttp.abc import ResolveResult

from services.webhooks.addresses import Networks

EXCERPT_BYTES = 1024
USER_AGENT = "storefleet-webhooks/1"


class AddressRefused(aiohttp.ClientConnectionError):
    """The endpoint's name resolved only to addresses we may not connect to."""


class GuardedConnector(aiohttp.TCPConnector):
    """A connector that drops every resolved address `networks` does not permit."""

    def __init__(self, networks: Networks, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._networks = networks

    async def _resolve_host(
        self, host: str, port: int, traces: Sequence[Any] | None = None
    ) -> list[ResolveResult]:
        found = await super()._resolve_host(host, port, traces)
        allowed = [entry for entry in found if self._networks.permits(entry["host"])]
        if not allowed:
            raise AddressRefused(f"{host} resolves to no public address")
        return allowed


@dataclass(frozen=True)
class Answer:
    status: int | None
    latency_ms: int
    excerpt: str = ""
    error: str = ""  # when there was no HTTP answer: what happened instead


def excerpt_of(raw: bytes) -> str:
    return raw[:EXCERPT_BYTES].decode("utf-8", "replace").replace("\x00", "\ufffd")


class Sender:
    """Posts signed bodies; use as an async context manager."""

    def __init__(self, networks: Networks, timeout: float) -> None:
        self._networks = networks
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Sender:
        connector = GuardedConnector(self._networks, use_dns_cache=False, limit=0)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self._timeout),
            headers={"User-Agent": USER_AGENT},
            trust_env=False,
        )
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()

    async def post(self, url: str, headers: dict[str, str], body: bytes) -> Answer:
        assert self._session is not None, "use Sender as an async context manager"
        started = time.monotonic()

        def elapsed() -> int:
            return int((time.monotonic() - started) * 1000)

        try:
            async with self._session.post(
                url, data=body, headers=headers, allow_redirects=False
            ) as resp:
                raw = await resp.content.read(EXCERPT_BYTES)
                return Answer(resp.status, elapsed(), excerpt_of(raw))
        except AddressRefused:
            return Answer(None, elapsed(), error="address refused")
        except TimeoutError:
            return Answer(None, elapsed(), error="timed out")
        except aiohttp.ClientError as exc:
            return Answer(None, elapsed(), error=type(exc).__name__)
        except (OSError, ValueError) as exc:
            return Answer(None, elapsed(), error=type(exc).__name__)
