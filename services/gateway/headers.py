"""Security headers on every answer of the gateway: the API, its errors, the event stream
and the dashboard's files.

The built dashboard (web/dist) loads one module script and one stylesheet from its own
origin and talks only to its own origin (fetch and EventSource under /api/v1), so the
Content-Security-Policy allows `'self'` and nothing inline; `frame-ancestors 'none'`
(and X-Frame-Options for older browsers) keeps any site, a store's included, from
framing it. Strict-Transport-Security goes on answers that travelled over TLS: to the
gateway itself, or to the proxy in front when `trust_forwarded_for` is set and it says
`X-Forwarded-Proto: https`.

`app.build_app` registers `security_headers(settings)` on `on_response_prepare`, which
runs for streamed answers too, just before their headers leave.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

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


def over_tls(request: web.Request, trust_forwarded: bool) -> bool:
    """Whether the client reached us over TLS, directly or through a trusted proxy."""
    if request.secure:
        return True
    forwarded = request.headers.get("X-Forwarded-Proto") if trust_forwarded else None
    return forwarded is not None and forwarded.split(",")[-1].strip().lower() == "https"


def security_headers(settings: GatewaySettings) -> Hook:
    """The `on_response_prepare` hook that adds the headers above to each answer."""
    hsts = f"max-age={settings.hsts_seconds}"

    async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
        for name, value in ALWAYS.items():
            response.headers.setdefault(name, value)
        if settings.hsts_seconds and over_tls(request, settings.trust_forwarded_for):
            response.headers["Strict-Transport-Security"] = hsts

    return add_headers
