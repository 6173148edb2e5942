"""A real HTTP receiver for the webhook tests, on 127.0.0.1, and an independent check of
the Standard Webhooks signature (written from the spec, not from shared/webhook_signing).

Paths: `/ok/<name>` answers 204; `/hang/<name>` never answers; `/flaky/<name>` answers 500
to the first `fail_first` attempts of each event, then 204; `/down/<name>` always 500;
`/redirect/<name>` answers 302 to `/ok/<name>-target`. Every request is recorded under
its name, with whether its signature checked out against the secret registered for it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer


def verify(secret: str, headers: dict[str, str], body: bytes, tolerance: int = 300) -> bool:
    """The Standard Webhooks verification: whsec_ key, `id.timestamp.body`, any v1 entry."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    msg_id, stamp = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(time.time() - int(stamp)) > tolerance:
        return False
    expected = base64.b64encode(
        hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    ).decode()
    for entry in headers["webhook-signature"].split(" "):
        version, _, sig = entry.partition(",")
        if version == "v1" and hmac.compare_digest(sig, expected):
            return True
    return False


@dataclass
class Received:
    event: dict[str, Any]
    headers: dict[str, str]
    signed: bool


@dataclass
class Receiver:
    fail_first: int = 2
    secrets: dict[str, str] = field(default_factory=dict)
    got: dict[str, list[Received]] = field(default_factory=lambda: defaultdict(list))
    tries: Counter[tuple[str, str]] = field(default_factory=Counter)
    url: str = ""
    _server: TestServer | None = None
    _hanging: set[asyncio.Task[Any]] = field(default_factory=set)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{kind}/{name}", self._answer)
        self._server = TestServer(app, host="127.0.0.1")
        await self._server.start_server()
        self.url = str(self._server.make_url("")).rstrip("/")

    async def close(self) -> None:
        if self._server is not None:
            await self._server.close()

    def events(self, name: str) -> list[dict[str, Any]]:
        return [r.event for r in self.got[name]]

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        kind, name = request.match_info["kind"], request.match_info["name"]
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        secret = self.secrets.get(name)
        signed = secret is not None and verify(secret, headers, body)
        self.got[name].append(Received(json.loads(body), headers, signed))
        self.tries[(name, headers["webhook-id"])] += 1
        if kind == "hang":
            await asyncio.sleep(3600)
        if kind == "down":
            return web.Response(status=500, text="down " + "x" * 5000)
        if kind == "flaky" and self.tries[(name, headers["webhook-id"])] <= self.fail_first:
            return web.Response(status=500, text="try again")
        if kind == "redirect":
            raise web.HTTPFound(f"/ok/{name}-target")
        return web.Response(status=204)
