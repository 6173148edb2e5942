"""Security headers on every answer of the gateway: the API, its errors, the event stream
and the dashboard's files.

The built dashboard (web/dist) loads one module script and one stylesheet from its own
origin and talks only to its own origin (fetch and EventSource under /api/v1), so the
Content-Security-Policy allows `'self'` and nothing inline; `frame-ancestors 'none'`
(and X-Frame-Options for older browsers) keeps any site, a store's included, from
framing it. Strict-Transport-Security goes on answers that travelled over TLS: to the
gateway itself, or to a trusted proxy in front (`proxies.ProxyTrust`) that says
`X-Forwarded-Proto: https`.

`app.build_app` registers `security_headers(settings)` on `on_response_prepare`, which
runs for streamed answers too, just before their headers leave.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from services.gateway.proxies import ProxyTrust
from services.gateway.settings import GatewaySettings

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
ALWAYS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # the Origin check may fall back to our own Referer
    "X-Frame-Options": "DENY",
}

Hook = Callable[[web.Request, web.StreamResponse], Awaitable[None]]


def over_tls(request: web.Request, proxies: ProxyTrust) -> bool:
    """Whether the client reached us over TLS, directly or through a trusted proxy."""
    if request.secure:
        return True
    return proxies.over_tls(request.remote, request.headers.get("X-Forwarded-Proto"))


def security_headers(settings: GatewaySettings) -> Hook:
    """The `on_response_prepare` hook that adds the headers above to each answer."""
    hsts = f"max-age={settings.hsts_seconds}"
    proxies = settings.proxy_trust()

    async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
        for name, value in ALWAYS.items():
            response.headers.setdefault(name, value)
        if settings.hsts_seconds and over_tls(request, proxies):
            response.headers["Strict-Transport-Security"] = hsts

    return add_headers
