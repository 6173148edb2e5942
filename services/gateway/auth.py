"""Who is calling: the middleware that authenticates every `/api/v1` request (bearer API
token for programs, session cookie for the SPA) and refuses cross-site use of the cookie.

`app.build_app` makes the middleware with `auth_middleware` over the pool, a
`CallerCache` (also under `CALLERS_KEY`, where logout and token revocation reach it), the
operator's extra origins and the session cookie's name (`security.session_cookie`: only
that cookie is read, so a same-named cookie without the `__Host-` prefix, which a sibling
host may set, is ignored). It runs before the rate limiter (which counts per user) and
the handlers; handlers read the result with `caller(request)`. Unauthenticated calls (and
expired tokens) get 401, a cookie-authenticated state change from a foreign Origin gets
403, and so does anything but GET, HEAD or OPTIONS with a `read` token.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from services.gateway import accounts
from services.gateway.accounts import Caller
from services.gateway.errors import ApiError
from services.gateway.security import digest, origin_allowed, request_origin
from services.gateway.views import API

if TYPE_CHECKING:
    import asyncpg

CALLER_KEY = web.RequestKey("caller", Caller)
LOGIN = ("POST", f"{API}/auth/login")
PUBLIC = frozenset(
    {
        LOGIN,
        ("GET", f"{API}/openapi.json"),
        ("GET", f"{API}/auth/providers"),
        ("GET", f"{API}/auth/oidc/login"),  # single sign-on: routes_sso
        ("GET", f"{API}/auth/oidc/callback"),
    }
)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CallerCache:
    """Callers by credential digest for a few seconds, sparing a query per request.

    A logout or token revocation on this replica forgets the user's entries at once;
    elsewhere (another replica, `users disable`) it takes effect within `ttl` seconds.
    """

    def __init__(self, ttl: float, size: int = 10_000) -> None:
        self._ttl = ttl
        self._size = size
        self._entries: dict[str, tuple[float, Caller]] = {}

    def get(self, credential: str) -> Caller | None:
        entry = self._entries.get(credential)
        if entry is None or entry[0] < time.monotonic():
            return None
        found = entry[1]
        if found.expires_at is not None and found.expires_at <= datetime.now(UTC):
            return None  # an expired token is not served from the cache either
        return found

    def put(self, found: Caller) -> None:
        if self._ttl <= 0:
            return
        if len(self._entries) >= self._size:
            self._entries.clear()
        self._entries[found.credential] = (time.monotonic() + self._ttl, found)

    def forget_user(self, user_id: str) -> None:
        for credential, (_, known) in list(self._entries.items()):
            if known.id == user_id:
                del self._entries[credential]


CALLERS_KEY = web.AppKey("callers", CallerCache)


def caller(request: web.Request) -> Caller:
    return request[CALLER_KEY]


def require_admin(request: web.Request) -> Caller:
    who = caller(request)
    if not who.is_admin:
        raise ApiError(403, "forbidden", "only administrators may do this")
    return who


def unauthenticated(message: str = "sign in or send an API token") -> ApiError:
    return ApiError(401, "unauthenticated", message, headers={"WWW-Authenticate": "Bearer"})


def auth_middleware(
    pool: asyncpg.Pool, callers: CallerCache, allowed_origins: list[str], cookie: str
) -> Middleware:
    """The middleware that puts the caller on every `/api/v1` request but the public ones;
    `cookie` is the session cookie's name."""

    @web.middleware
    async def authenticated(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(f"{API}/"):
            return await handler(request)
        if (request.method, request.path) in PUBLIC:
            if (request.method, request.path) == LOGIN:
                check_login_origin(request, allowed_origins)
            return await handler(request)
        who = await authenticate(request, pool, callers, cookie)
        if who.via == "cookie":
            check_cookie_origin(request, allowed_origins)
        check_scope(request, who)
        request[CALLER_KEY] = who
        return await handler(request)

    return authenticated


async def authenticate(
    request: web.Request, pool: asyncpg.Pool, callers: CallerCache, cookie: str
) -> Caller:
    """The caller by bearer token, else by the session cookie named `cookie`; 401 when
    neither proves one."""
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthenticated("the Authorization header must be `Bearer <token>`")
        found = await _recall(callers, digest(token.strip()), pool, accounts.caller_by_token)
        if found is None:
            raise unauthenticated("the API token is unknown, expired or revoked")
        return found
    session = request.cookies.get(cookie)
    if session:
        found = await _recall(callers, digest(session), pool, accounts.caller_by_session)
        if found is not None:
            return found
    raise unauthenticated()


async def _recall(
    callers: CallerCache,
    credential: str,
    pool: asyncpg.Pool,
    lookup: Callable[[asyncpg.Pool, str], Awaitable[Caller | None]],
) -> Caller | None:
    """The caller holding `credential`, from the cache or else from Postgres (then cached)."""
    found = callers.get(credential) or await lookup(pool, credential)
    if found is not None:
        callers.put(found)
    return found


def check_cookie_origin(request: web.Request, allowed: list[str]) -> None:
    """A state change riding on the cookie must come from our own pages."""
    if request.method in SAFE_METHODS:
        return
    origin = request_origin(request.headers.get("Origin"), request.headers.get("Referer"))
    if not origin_allowed(origin, request.host, allowed):
        raise ApiError(
            403, "cross_site_request", "this request came from another site; it was refused"
        )


def check_scope(request: web.Request, who: Caller) -> None:
    """A read-only token may look, never change."""
    if who.read_only and request.method not in SAFE_METHODS:
        raise ApiError(403, "read_only_token", "this API token may only read (GET)")


def check_login_origin(request: web.Request, allowed: list[str]) -> None:
    """Programs log in without an Origin; a browser form on a foreign site may not."""
    origin = request.headers.get("Origin")
    if origin is not None and not origin_allowed(origin, request.host, allowed):
        raise ApiError(403, "cross_site_request", "sign in from this site's own page")
