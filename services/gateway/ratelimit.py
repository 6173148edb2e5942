"""Abuse limits with the `limits` package: every `/api/` request counts against its client
address (default 100 per 15 minutes), store creations against the user (default 10
per 15 minutes), and login attempts against both the client address and the username
tried (defaults 30 and 10 per 5 minutes), before any password is hashed. A refused
request gets 429 with `Retry-After`; answers carry the `RateLimit-*` headers (IETF
draft) so clients can pace themselves.

Storage is in memory by default; `STOREFLEET_RATE_LIMIT_STORAGE` takes any `limits`
storage URI (redis://..., memcached://...) so several replicas share the counts.
`app.build_app` makes one `RateLimits`, hands it to `rate_limit_middleware` (per client)
and stores it under `LIMITS_KEY` for the create route (per user) and login.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from limits import RateLimitItem, parse
from limits.aio.strategies import (
    FixedWindowRateLimiter,
    MovingWindowRateLimiter,
    RateLimiter,
    SlidingWindowCounterRateLimiter,
)
from limits.storage import storage_from_string

from services.gateway.errors import ApiError
from services.gateway.settings import GatewaySettings


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    window_seconds: int
    remaining: int
    reset_in: float  # seconds until one more request is allowed


def headers_for(verdict: Verdict) -> dict[str, str]:
    """The `RateLimit-*` headers, plus `Retry-After` on a refusal (pure)."""
    reset = max(1, math.ceil(verdict.reset_in))
    headers = {
        "RateLimit-Limit": str(verdict.limit),
        "RateLimit-Remaining": str(verdict.remaining),
        "RateLimit-Reset": str(reset),
        "RateLimit-Policy": f"{verdict.limit};w={verdict.window_seconds}",
    }
    if not verdict.allowed:
        headers["Retry-After"] = str(reset)
    return headers


def _strategy(uri: str, kinds: tuple[type[RateLimiter], ...]) -> RateLimiter:
    storage = storage_from_string(uri if uri.startswith("async+") else f"async+{uri}")
    for kind in kinds:
        try:
            return kind(storage)
        except NotImplementedError:  # the storage lacks this strategy
            continue
    return FixedWindowRateLimiter(storage)


class RateLimits:
    """The gateway's limits over one `limits` storage."""

    def __init__(self, settings: GatewaySettings) -> None:
        uri = settings.rate_limit_storage
        # Sliding counters cost O(1) per hit for the busy per-client limit; the create
        # limit is small, so a moving window gives an exact Retry-After.
        self._requests = _strategy(uri, (SlidingWindowCounterRateLimiter,))
        self._creates = _strategy(uri, (MovingWindowRateLimiter, SlidingWindowCounterRateLimiter))
        self.requests = parse(settings.rate_limit_requests)
        self.creates = parse(settings.rate_limit_creates)
        self.login_client = parse(settings.rate_limit_login_client)
        self.login_account = parse(settings.rate_limit_login_account)

    async def hit_request(self, client: str) -> Verdict:
        return await _hit(self._requests, self.requests, "client", client)

    async def hit_create(self, user_id: str) -> Verdict:
        return await _hit(self._creates, self.creates, "create", user_id)

    async def hit_login(self, client: str, username: str) -> Verdict:
        """One login attempt from `client` for `username`; the refusal, else the tighter."""
        by_client = await _hit(self._creates, self.login_client, "login-client", client)
        if not by_client.allowed:
            return by_client
        by_account = await _hit(
            self._creates, self.login_account, "login-account", username.casefold()
        )
        return min(by_client, by_account, key=lambda v: (v.allowed, v.remaining))


LIMITS_KEY = web.AppKey("limits", RateLimits)


async def _hit(limiter: RateLimiter, item: RateLimitItem, *key: str) -> Verdict:
    allowed = await limiter.hit(item, *key)
    stats = await limiter.get_window_stats(item, *key)
    return Verdict(
        allowed, item.amount, item.get_expiry(), stats.remaining, stats.reset_time - time.time()
    )


def refusal(verdict: Verdict, what: str) -> ApiError:
    return ApiError(
        429, "rate_limited", f"too many {what}; retry later", headers=headers_for(verdict)
    )


def client_address(request: web.Request, trust_forwarded_for: bool) -> str:
    """The caller's address; behind a trusted proxy, the last X-Forwarded-For entry."""
    forwarded = request.headers.get("X-Forwarded-For") if trust_forwarded_for else None
    if forwarded:
        return forwarded.split(",")[-1].strip()
    return request.remote or "unknown"


def rate_limit_middleware(limits: RateLimits, trust_forwarded_for: bool) -> Middleware:
    """The middleware that counts every `/api/` request against its client address."""

    @web.middleware
    async def limited(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/api/"):
            return await handler(request)
        verdict = await limits.hit_request(client_address(request, trust_forwarded_for))
        if not verdict.allowed:
            raise refusal(verdict, "requests")
        response = await handler(request)
        if not response.prepared and "RateLimit-Limit" not in response.headers:
            # A route with a stricter limit of its own (creation) reports that one.
            response.headers.update(headers_for(verdict))
        return response

    return limited
