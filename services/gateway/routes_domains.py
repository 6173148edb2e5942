"""The custom domain routes of a store: add one (201, answering with the DNS records to
create: the `_storefleet-challenge` TXT record holding the store's token, and the CNAME
or A record pointing at the platform's ingress), list them with their states, remove one
(204); choose an active one as the store's primary domain, the address its engine takes
as its own (`PUT .../primary-domain`, 202), or go back to the platform host (`DELETE`,
202). Administrators see the certificate queue (`GET /admin/domains/queue`): verified
domains waiting for room under the CA's limits, in the order the reaper's issuer takes
them, then those whose certificate is being issued. The domain is normalised
(`shared.domains.normalise`) before anything else; a name that cannot be a store's domain
is 422 with a code saying why. Someone else's store is 404.

The transactions are `domain_db`'s; the reaper's verifier checks DNS and the auditor
records the `store.domain.*` events in the store's timeline.
"""

from __future__ import annotations

import uuid

import asyncpg
from aiohttp import web

from services.gateway import domain_db
from services.gateway.auth import caller, require_admin
from services.gateway.context import POOL_KEY, SETTINGS_KEY
from services.gateway.domain_views import (
    Domain,
    DomainList,
    domain_view,
    primary_change_view,
    queue_view,
)
from services.gateway.errors import correlation_id, json_reply, not_found, unprocessable
from services.gateway.settings import GatewaySettings
from services.gateway.validation import (
    QUEUE_DEFAULT,
    QUEUE_MAX,
    AddDomainBody,
    PrimaryDomainBody,
    page_limit,
    path_id,
    read_body,
)
from services.gateway.views import API
from shared.domains import DomainRefused, normalise

routes = web.RouteTableDef()


@routes.post(f"{API}/stores/{{id}}/domains")
async def add_domain(request: web.Request) -> web.Response:
    store_id = path_id(request)
    body = await read_body(request, AddDomainBody)
    settings = request.app[SETTINGS_KEY]
    try:
        domain = normalise(body.domain, settings.reserved_domains())
    except DomainRefused as exc:
        raise unprocessable("domain", str(exc), exc.code) from None
    limits = {name: plan.max_domains for name, plan in settings.plans.items()}
    row = await domain_db.add_domain(
        request.app[POOL_KEY], caller(request), store_id, domain, limits, correlation_id(request)
    )
    return json_reply(_view(row, settings), status=201)


@routes.get(f"{API}/stores/{{id}}/domains")
async def list_domains(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS_KEY]
    store, rows = await domain_db.list_domains(
        request.app[POOL_KEY], caller(request), path_id(request)
    )
    plan = settings.plans.get(store["plan"])
    primary = store["primary_domain_id"]
    body: DomainList = {
        "items": [_view(row, settings, primary) for row in rows],
        "max_domains": plan.max_domains if plan else 0,
        "primary_domain_id": primary,
        "url": store["url"],
        "host": f"{store['slug']}.{settings.base_domain}",
    }
    return json_reply(body)


@routes.delete(f"{API}/stores/{{id}}/domains/{{domain}}")
async def remove_domain(request: web.Request) -> web.Response:
    store_id = path_id(request)
    try:
        domain = normalise(request.match_info["domain"])
    except DomainRefused:
        raise not_found("domain") from None
    await domain_db.remove_domain(
        request.app[POOL_KEY], caller(request), store_id, domain, correlation_id(request)
    )
    return web.Response(status=204)


@routes.put(f"{API}/stores/{{id}}/primary-domain")
async def choose_primary_domain(request: web.Request) -> web.Response:
    store_id = path_id(request)
    body = await read_body(request, PrimaryDomainBody)
    return await _choose(request, store_id, uuid.UUID(body.domain_id))


@routes.delete(f"{API}/stores/{{id}}/primary-domain")
async def reset_primary_domain(request: web.Request) -> web.Response:
    return await _choose(request, path_id(request), None)


async def _choose(
    request: web.Request, store_id: uuid.UUID, domain_id: uuid.UUID | None
) -> web.Response:
    operation_id, domain = await domain_db.choose_primary(
        request.app[POOL_KEY], caller(request), store_id, domain_id, correlation_id(request)
    )
    return json_reply(primary_change_view(operation_id, store_id, domain), status=202)


@routes.get(f"{API}/admin/domains/queue")
async def domain_queue(request: web.Request) -> web.Response:
    require_admin(request)
    limit = page_limit(request, QUEUE_DEFAULT, QUEUE_MAX)
    queued, issuing, counts = await domain_db.domain_queue(request.app[POOL_KEY], limit)
    return json_reply(queue_view(queued, issuing, counts))


def _view(
    row: asyncpg.Record, settings: GatewaySettings, primary: uuid.UUID | None = None
) -> Domain:
    return domain_view(row, settings.cname_target(), settings.a_target(), primary)
