"""Single sign-on through OpenID Connect: which ways of signing in are on, the redirect
to the provider, and its callback, which opens the same session as password login.

The login route makes a state, a nonce and a PKCE verifier, keeps them (with where to
go afterwards) in `oidc_logins` under the state's digest and the digest of a random
binding it sets as a short-lived HttpOnly cookie, and redirects to the provider's
authorization endpoint. The callback takes that row back only with the same state from
the same browser (once), exchanges the code, checks the ID token (`oidc.check_id_token`),
finds or creates the user of (issuer, subject) and sets their role from the admin
mapping, then sets the session cookie and redirects to the local `next` path. Any
refusal redirects to `/login?error=<code>`; the log gets the reason, never a code,
token, claim or the client secret.
"""

from __future__ import annotations

import re
import secrets
import time
from typing import Any
from urllib.parse import urlencode

import structlog
from aiohttp import web

from services.gateway import sso_db
from services.gateway.auth import CALLERS_KEY
from services.gateway.context import POOL_KEY, SETTINGS_KEY
from services.gateway.errors import ApiError, json_reply
from services.gateway.oidc import (
    Expectation,
    TokenRefused,
    check_id_token,
    is_admin,
    key_id,
    pkce_challenge,
    safe_next,
    username_from,
)
from services.gateway.oidc_provider import PROVIDER_KEY, OidcProvider, ProviderError
from services.gateway.ratelimit import LIMITS_KEY
from services.gateway.routes_auth import start_session
from services.gateway.security import HOST_PREFIX, digest
from services.gateway.settings import GatewaySettings
from services.gateway.views import API, AuthProviders

log = structlog.get_logger(__name__)
routes = web.RouteTableDef()

BINDING_COOKIE = "storefleet_oidc"
_PROVIDER_ERROR = re.compile(r"^[a-z_]{1,40}$")


class SsoRefused(Exception):
    """A sign-in that ends at `/login?error=<code>`; `reason` is for the log."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def binding_cookie(secure: bool) -> str:
    return HOST_PREFIX + BINDING_COOKIE if secure else BINDING_COOKIE


@routes.get(f"{API}/auth/providers")
async def providers(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS_KEY]
    found: AuthProviders = {
        "password": settings.password_login,
        "sso": settings.sso_enabled,
        "sso_name": settings.oidc_display_name if settings.sso_enabled else None,
    }
    return json_reply(found)


@routes.get(f"{API}/auth/oidc/login")
async def sso_login(request: web.Request) -> web.Response:
    provider, settings = _provider(request), request.app[SETTINGS_KEY]
    try:
        endpoint = (await provider.metadata()).authorization_endpoint
    except ProviderError as exc:
        log.warning("single sign-on provider unavailable", reason=str(exc))
        return _refused(settings, "sso_unavailable")
    state, binding = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    pending = sso_db.PendingLogin(
        nonce=secrets.token_urlsafe(32),
        verifier=secrets.token_urlsafe(48),
        next_path=safe_next(request.query.get("next")),
    )
    await sso_db.begin_login(request.app[POOL_KEY], digest(state), digest(binding), pending)
    query = {
        "response_type": "code",
        "client_id": settings.oidc_client_id,
        "redirect_uri": settings.oidc_redirect_url,
        "scope": settings.oidc_scopes,
        "state": state,
        "nonce": pending.nonce,
        "code_challenge": pkce_challenge(pending.verifier),
        "code_challenge_method": "S256",
    }
    separator = "&" if "?" in endpoint else "?"
    response = _redirect(endpoint + separator + urlencode(query))
    response.set_cookie(
        binding_cookie(settings.cookie_secure),
        binding,
        max_age=int(sso_db.PENDING_LIFETIME.total_seconds()),
        path="/",
        httponly=True,
        samesite="Lax",  # sent on the provider's redirect back, a top-level navigation
        secure=settings.cookie_secure,
    )
    return response


@routes.get(f"{API}/auth/oidc/callback")
async def sso_callback(request: web.Request) -> web.Response:
    _provider(request)
    settings, limits = request.app[SETTINGS_KEY], request.app[LIMITS_KEY]
    if not (await limits.hit_sso(limits.client(request))).allowed:
        return _refused(settings, "rate_limited")
    try:
        user, next_path = await _sign_in(request)
    except SsoRefused as exc:
        log.info("single sign-on refused", code=exc.code, reason=exc.reason)
        return _refused(settings, exc.code)
    request.app[CALLERS_KEY].forget_user(user.id)  # a changed role shows at once
    response = _redirect(next_path)
    await start_session(request, response, user.id)
    _forget_binding(response, settings)
    log.info("signed in through single sign-on", user_id=user.id)
    return response


async def _sign_in(request: web.Request) -> tuple[sso_db.SsoUser, str]:
    settings, pool = request.app[SETTINGS_KEY], request.app[POOL_KEY]
    query = request.query
    if "error" in query:
        said = query["error"] if _PROVIDER_ERROR.match(query["error"]) else "unreadable"
        raise SsoRefused("sso_denied", f"the provider answered {said}")
    state, code = query.get("state"), query.get("code")
    binding = request.cookies.get(binding_cookie(settings.cookie_secure))
    if not state or not code or not binding:
        raise SsoRefused("sso_state_invalid", "no state, code or binding cookie")
    pending = await sso_db.take_login(pool, digest(state), digest(binding))
    if pending is None:
        raise SsoRefused(
            "sso_state_invalid", "state unknown, used, expired or from another browser"
        )
    claims = await _checked_claims(request.app[PROVIDER_KEY], settings, code, pending)
    user = await sso_db.sign_in_user(
        pool,
        settings.oidc_issuer,
        claims["sub"],
        username_from(claims, settings.oidc_username_claim),
        admin=is_admin(claims, settings.oidc_admin_claim, settings.oidc_admin_values),
    )
    if user.disabled:
        raise SsoRefused("sso_user_disabled", "the user is disabled")
    return user, pending.next_path


async def _checked_claims(
    provider: OidcProvider, settings: GatewaySettings, code: str, pending: sso_db.PendingLogin
) -> dict[str, Any]:
    try:
        token = await provider.exchange(code, pending.verifier)
        keys = await provider.keys(key_id(token))
    except ProviderError as exc:
        raise SsoRefused("sso_unavailable", str(exc)) from None
    expect = Expectation(
        settings.oidc_issuer,
        settings.oidc_client_id,
        pending.nonce,
        settings.oidc_clock_skew_seconds,
    )
    try:
        return check_id_token(token, keys, expect, time.time())
    except TokenRefused as exc:
        raise SsoRefused("sso_token_refused", f"ID token refused: {exc.reason}") from None


def _provider(request: web.Request) -> OidcProvider:
    provider = request.app.get(PROVIDER_KEY)
    if provider is None:
        raise ApiError(404, "sso_off", "single sign-on is not configured")
    return provider


def _redirect(location: str) -> web.Response:
    return web.Response(status=302, headers={"Location": location, "Cache-Control": "no-store"})


def _refused(settings: GatewaySettings, code: str) -> web.Response:
    response = _redirect("/login?" + urlencode({"error": code}))
    _forget_binding(response, settings)
    return response


def _forget_binding(response: web.Response, settings: GatewaySettings) -> None:
    response.del_cookie(
        binding_cookie(settings.cookie_secure), path="/", secure=settings.cookie_secure
    )
