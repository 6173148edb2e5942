"""Abuse limits with the `limits` package. Every `/api/` call counts against its caller:
the signed-in user (default 3000 per 15 minutes, at most 60 in any 10 seconds), or for a
call without credentials (login, the OpenAPI document) the client address. Store
creations count against the user (default 10 per 15 minutes), and login attempts
against both the client address and the username tried (defaults 30 and 10 per 5
minutes), before any password is hashed. A refused request gets 429 with `Retry-After`;
answers carry the `RateLimit-*` headers (IETF draft) so clients can pace themselves.

The per-user defaults: a busy dashboard session makes a handful of calls per page and
holds one event stream, an integration a few calls a second; 3000 per 15 minutes is
3.3 a second sustained, and 60 per 10 seconds lets a page load burst without letting one
token hammer the database. Keying by user means a team behind one NAT address, or one
busy integration, locks out nobody else.

The client address comes from `proxies.ProxyTrust` (X-Forwarded-For only from the
trusted proxies). Storage is in memory by default (then each replica counts alone);
`STOREFLEET_RATE_LIMIT_STORAGE=redis://host:6379/0` (the `coredis` client) shares the
counts between replicas. If the storage cannot be reached, requests are let through and
a warning is logged at most once a minute: a Redis outage must not take the API down.

`app.build_app` makes one `RateLimits`, hands it to `rate_limit_middleware` (which runs
after authentication, so it knows the user) and stores it under `LIMITS_KEY` for the
create route (per user), login and the single sign-on callback (per address).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from limits import RateLimitItem, parse, parse_many
from limits.aio.strategies import (
    FixedWindowRateLimiter,
    MovingWindowRateLimiter,
    RateLimiter,
    SlidingWindowCounterRateLimiter,
)
from limits.errors import StorageError
from limits.storage import storage_from_string

from services.gateway.auth import CALLER_KEY
from services.gateway.errors import ApiError
from services.gateway.proxies import ProxyTrust
from services.gateway.settings import GatewaySettings

log = structlog.get_logger(__name__)
WARN_EVERY_SECONDS = 60.0


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
    scheme = uri if uri.startswith("async+") else f"async+{uri}"
    storage = storage_from_string(scheme, wrap_exceptions=True)
    for kind in kinds:
        try:
            return kind(storage)
        except NotImplementedError:  # the storage lacks this strategy
            continue
    return FixedWindowRateLimiter(storage)


def _shortest_first(items: list[RateLimitItem]) -> tuple[RateLimitItem, ...]:
    # The burst window first: a call it refuses then never spends the long window's count.
    return tuple(sorted(items, key=lambda item: item.get_expiry()))


class RateLimits:
    """The gateway's limits over one `limits` storage, and who counts as the client."""

    def __init__(self, settings: GatewaySettings) -> None:
        uri = settings.rate_limit_storage
        # Sliding counters cost O(1) per hit (two counters per key, in Redis too) for the
        # busy per-caller limits; the create and login limits are small, so a moving
        # window gives an exact Retry-After.
        self._requests = _strategy(uri, (SlidingWindowCounterRateLimiter,))
        self._creates = _strategy(uri, (MovingWindowRateLimiter, SlidingWindowCounterRateLimiter))
        self.requests = _shortest_first(parse_many(settings.rate_limit_requests))
        self.creates = parse(settings.rate_limit_creates)
        self.login_client = parse(settings.rate_limit_login_client)
        self.login_account = parse(settings.rate_limit_login_account)
        self.proxies = settings.proxy_trust()
        self._warned_at = -WARN_EVERY_SECONDS

    def client(self, request: web.Request) -> str:
        """The caller's address (see `proxies.ProxyTrust.client`)."""
        return client_address(request, self.proxies)

    async def hit_request(self, *key: str) -> Verdict:
        """One `/api/` call by `key` ("user", id or "address", address): the refusal,
        else the tightest of its limits."""
        verdicts = []
        for item in self.requests:
            verdict = await self._hit(self._requests, item, "requests", *key)
            if not verdict.allowed:
                return verdict
            verdicts.append(verdict)
        return min(verdicts, key=lambda v: v.remaining)

    async def hit_create(self, user_id: str) -> Verdict:
        return await self._hit(self._creates, self.creates, "create", user_id)

    async def hit_login(self, client: str, username: str) -> Verdict:
        """One login attempt from `client` for `username`; the refusal, else the tighter."""
        by_client = await self._hit(self._creates, self.login_client, "login-client", client)
        if not by_client.allowed:
            return by_client
        by_account = await self._hit(
            self._creates, self.login_account, "login-account", username.casefold()
        )
        return min(by_client, by_account, key=lambda v: (v.allowed, v.remaining))

    async def hit_sso(self, client: str) -> Verdict:
        """One single sign-on callback from `client`, counted like its login attempts."""
        return await self._hit(self._creates, self.login_client, "sso-client", client)

    async def _hit(self, limiter: RateLimiter, item: RateLimitItem, *key: str) -> Verdict:
        try:
            return await _hit(limiter, item, *key)
        except StorageError as exc:
            self._warn_unreachable(exc)
            return Verdict(True, item.amount, item.get_expiry(), item.amount, 0.0)

    def _warn_unreachable(self, exc: StorageError) -> None:
        now = time.monotonic()
        if now - self._warned_at >= WARN_EVERY_SECONDS:
            self._warned_at = now
            # The error's type only: a storage URI in its text may carry a password.
            cause = type(exc.storage_error).__name__
            log.warning("rate limit storage unreachable; requests let through", error=cause)


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


def client_address(request: web.Request, proxies: ProxyTrust) -> str:
    """The caller's address: the peer's, or what a trusted proxy says in X-Forwarded-For."""
    forwarded = ",".join(request.headers.getall("X-Forwarded-For", ()))
    return proxies.client(request.remote, forwarded)


def refused_credentials_middleware(limits: RateLimits) -> Middleware:
    """The middleware around `auth.auth_middleware`: each call it refuses (401, 403: a
    wrong or made-up credential, or none) counts against the client address, and past the
    address's limit the refusal is 429. So a flood of made-up tokens is limited like any
    call without credentials, while people signed in behind the same address go on."""

    @web.middleware
    async def guarded(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/api/"):
            return await handler(request)
        try:
            return await handler(request)
        except ApiError as exc:
            if exc.status not in (401, 403) or request.get(CALLER_KEY) is not None:
                raise
            verdict = await limits.hit_request("refused", limits.client(request))
            if not verdict.allowed:
                raise refusal(verdict, "refused requests") from None
            raise

    return guarded


def rate_limit_middleware(limits: RateLimits) -> Middleware:
    """The middleware that counts every `/api/` call against the signed-in user, or the
    client address when there is none. It runs after `auth.auth_middleware`; a call
    refused there (401, 403) is counted by `refused_credentials_middleware` instead."""

    @web.middleware
    async def limited(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/api/"):
            return await handler(request)
        who = request.get(CALLER_KEY)
        key = ("user", who.id) if who is not None else ("address", limits.client(request))
        verdict = await limits.hit_request(*key)
        if not verdict.allowed:
            raise refusal(verdict, "requests")
        response = await handler(request)
        if not response.prepared and "RateLimit-Limit" not in response.headers:
            # A route with a stricter limit of its own (creation) reports that one.
            response.headers.update(headers_for(verdict))
        return response

    return limited
