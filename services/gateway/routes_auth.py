"""Routes about the caller: signing in and out with a session cookie, `/me`, and the
API tokens programs use (created, listed, revoked; shown once, stored hashed).

Login counts the attempt against the client address and the username (429 beyond),
then checks the password through the bounded `hashing.PasswordHashing` (429 when its
queue is full), and sets an HttpOnly, SameSite=Strict cookie, `__Host-` prefixed when
Secure; its digest is a row in `sessions`. Only a session may create tokens; each has a
scope (`read` or `full`) and expires.
"""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from services.gateway import accounts
from services.gateway.auth import CALLERS_KEY, caller, unauthenticated
from services.gateway.context import POOL_KEY, SETTINGS_KEY
from services.gateway.errors import ApiError, json_reply, not_found
from services.gateway.hashing import HASHING_KEY, HashingBusy
from services.gateway.ratelimit import LIMITS_KEY, headers_for, refusal
from services.gateway.security import digest, new_api_token, new_session_id, session_cookie
from services.gateway.validation import CreateTokenBody, LoginBody, path_id, read_body
from services.gateway.views import API, Me, NewToken, TokenList, token_view, user_view

routes = web.RouteTableDef()


async def me_view(request: web.Request, user_id: str) -> Me:
    pool = request.app[POOL_KEY]
    row = await accounts.user_row(pool, user_id)
    if row is None:
        raise unauthenticated()
    max_stores = row["max_stores"]
    if max_stores is None:
        max_stores = request.app[SETTINGS_KEY].default_max_stores
    used = await accounts.stores_in_use(pool, user_id)
    return {"user": user_view(row), "quota": {"max_stores": max_stores, "stores": used}}


@routes.post(f"{API}/auth/login")
async def login(request: web.Request) -> web.Response:
    pool, settings = request.app[POOL_KEY], request.app[SETTINGS_KEY]
    if not settings.password_login:
        raise ApiError(
            403,
            "local_login_disabled",
            f"password sign-in is off here; sign in with {settings.oidc_display_name}",
        )
    body = await read_body(request, LoginBody)
    limits = request.app[LIMITS_KEY]
    verdict = await limits.hit_login(limits.client(request), body.username)
    if not verdict.allowed:
        raise refusal(verdict, "sign-in attempts")
    row = await accounts.login_row(pool, body.username)
    stored = None if row is None or row["disabled"] else row["password_hash"]
    if not await _password_matches(request, stored, body.password) or row is None:
        raise unauthenticated("wrong username or password")
    response = json_reply(await me_view(request, str(row["id"])), headers=headers_for(verdict))
    await start_session(request, response, str(row["id"]))
    return response


async def start_session(request: web.Request, response: web.Response, user_id: str) -> None:
    """A new session for the user, its cookie set on `response`."""
    settings = request.app[SETTINGS_KEY]
    session = new_session_id()
    ttl = timedelta(hours=settings.session_ttl_hours)
    await accounts.open_session(request.app[POOL_KEY], user_id, digest(session), ttl)
    response.set_cookie(
        session_cookie(settings.cookie_secure),
        session,
        max_age=int(ttl.total_seconds()),
        path="/",
        httponly=True,
        samesite="Strict",
        secure=settings.cookie_secure,
    )


async def _password_matches(request: web.Request, stored: str | None, password: str) -> bool:
    try:
        return await request.app[HASHING_KEY].verify(stored, password)
    except HashingBusy:
        raise ApiError(
            429,
            "login_busy",
            "too many sign-ins at once; retry shortly",
            headers={"Retry-After": "1"},
        ) from None


@routes.post(f"{API}/auth/logout")
async def logout(request: web.Request) -> web.Response:
    who = caller(request)
    if who.via == "cookie":
        await accounts.close_session(request.app[POOL_KEY], who.credential)
        request.app[CALLERS_KEY].forget_user(who.id)
    response = web.Response(status=204)
    response.del_cookie(
        session_cookie(request.app[SETTINGS_KEY].cookie_secure),
        path="/",
        secure=request.app[SETTINGS_KEY].cookie_secure,
    )
    return response


@routes.get(f"{API}/me")
async def me(request: web.Request) -> web.Response:
    return json_reply(await me_view(request, caller(request).id))


@routes.post(f"{API}/tokens")
async def create_token(request: web.Request) -> web.Response:
    who = caller(request)
    if who.via != "cookie":
        # A leaked token must not outlive its own revocation or expiry through children.
        raise ApiError(403, "session_required", "only a signed-in session may create API tokens")
    body = await read_body(request, CreateTokenBody)
    token = new_api_token()
    row = await accounts.create_token(
        request.app[POOL_KEY],
        who.id,
        body.name,
        digest(token),
        scope=body.scope,
        lifetime=timedelta(days=body.expires_in_days),
    )
    created: NewToken = {**token_view(row), "token": token}
    return json_reply(created, status=201, headers={"Cache-Control": "no-store"})


@routes.get(f"{API}/tokens")
async def list_tokens(request: web.Request) -> web.Response:
    rows = await accounts.list_tokens(request.app[POOL_KEY], caller(request).id)
    listing: TokenList = {"items": [token_view(row) for row in rows]}
    return json_reply(listing)


@routes.delete(f"{API}/tokens/{{id}}")
async def revoke_token(request: web.Request) -> web.Response:
    token_id = path_id(request, "token")
    who = caller(request)
    if not await accounts.revoke_token(request.app[POOL_KEY], who.id, token_id):
        raise not_found("token")
    request.app[CALLERS_KEY].forget_user(who.id)
    return web.Response(status=204)
