"""The audit routes: a store's timeline (`GET /stores/{id}/events`, oldest first, for
whoever may see the store) and the whole log (`GET /audit`, newest first, admins only,
filtered by store, actor, type and period). Both page with an opaque cursor."""

from __future__ import annotations

from aiohttp import web

from services.gateway import audit_db, store_db
from services.gateway.auth import caller, require_admin
from services.gateway.context import POOL_KEY
from services.gateway.errors import json_reply
from services.gateway.validation import (
    decode_cursor,
    encode_cursor,
    page_limit,
    path_id,
    query_text,
    query_time,
    query_uuid,
)
from services.gateway.views import API, AuditPage, audit_view

routes = web.RouteTableDef()


async def _page(request: web.Request, query: audit_db.AuditQuery) -> web.Response:
    rows = await audit_db.audit_entries(request.app[POOL_KEY], query)
    page = rows[: query.limit - 1]
    last = page[-1] if page else None
    more = len(rows) >= query.limit and last is not None
    body: AuditPage = {
        "items": [audit_view(row) for row in page],
        "next_cursor": encode_cursor(last["occurred_at"], last["entry_id"])
        if more and last
        else None,
    }
    return json_reply(body)


@routes.get(f"{API}/stores/{{id}}/events")
async def store_timeline(request: web.Request) -> web.Response:
    store_id = path_id(request)
    await store_db.visible_store(request.app[POOL_KEY], caller(request), store_id)
    query = audit_db.AuditQuery(
        store_id=store_id,
        after=decode_cursor(request),
        limit=page_limit(request) + 1,
        newest_first=False,
    )
    return await _page(request, query)


@routes.get(f"{API}/audit")
async def audit_log(request: web.Request) -> web.Response:
    require_admin(request)
    query = audit_db.AuditQuery(
        store_id=query_uuid(request, "store_id"),
        actor=query_text(request, "actor"),
        type=query_text(request, "type"),
        since=query_time(request, "since"),
        until=query_time(request, "until"),
        after=decode_cursor(request),
        limit=page_limit(request) + 1,
    )
    return await _page(request, query)
