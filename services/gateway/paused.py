"""The "store paused" page: what a suspended store's host answers while its workloads are
stopped. The provisioner points the store's Ingress here (a Service `storefleet-paused`
naming this port); every path and method gets the same small page, 503 with a
`Retry-After`, so browsers, crawlers and monitors read "come back later" rather than a
502. The page names nothing: not the store, not the Host it was asked for.
"""

from __future__ import annotations

from aiohttp import web

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Store paused</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:20vh auto;padding:0 1rem;
color:#1f2933}h1{font-size:1.5rem}</style></head>
<body><h1>This store is paused</h1>
<p>Its owner has paused it for now. Please come back later.</p></body></html>
"""

HEADERS = {
    "Retry-After": "3600",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Storefleet-Paused": "1",
}


async def paused(request: web.Request) -> web.Response:
    return web.Response(status=503, text=PAGE, content_type="text/html", headers=HEADERS)


def paused_app() -> web.Application:
    app = web.Application(client_max_size=1024)
    app.router.add_route("*", "/{tail:.*}", paused)
    return app
