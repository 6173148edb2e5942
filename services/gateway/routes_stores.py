"""The store routes: create (202, honouring `Idempotency-Key`; a clone names the backup
it starts from in `from_backup`), list (paginated; admins
see everyone's, filtered by owner and status), read, delete (202, status `deleting`) and
retry a failed store. Someone else's store is 404 on every route.

Creation is rate limited per user on top of the per-client limit; the quota is enforced
in `store_db` inside the create transaction.
"""

from __future__ import annotations

from dataclasses import replace

from aiohttp import web

from services.gateway import backup_db, store_db
from services.gateway.auth import caller
from services.gateway.context import POOL_KEY, SETTINGS_KEY, VERSIONS_KEY
from services.gateway.errors import correlation_id, json_reply, unprocessable
from services.gateway.ratelimit import LIMITS_KEY, headers_for, refusal
from services.gateway.validation import (
    CreateStoreBody,
    decode_cursor,
    encode_cursor,
    idempotency_key,
    page_limit,
    path_id,
    query_choice,
    query_uuid,
    read_body,
    store_request,
)
from services.gateway.views import API, StorePage, store_view
from shared.engine_versions import EngineVersions
from shared.lifecycle import STATUSES

routes = web.RouteTableDef()


@routes.post(f"{API}/stores")
async def create_store(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS_KEY]
    who = caller(request)
    body = await read_body(request, CreateStoreBody)
    source = None
    if body.from_backup is not None:
        source = await backup_db.clone_source(request.app[POOL_KEY], who, body.from_backup)
    wanted = store_request(body, settings, source)
    # A new store runs the version asked for, else its engine's default; a clone the default.
    version = _version(request.app[VERSIONS_KEY][wanted.engine], body.engine_version, source)
    wanted = replace(wanted, engine_version=version)
    key = idempotency_key(request)
    verdict = await request.app[LIMITS_KEY].hit_create(who.id)
    if not verdict.allowed:
        raise refusal(verdict, "store creations")
    row, created = await store_db.create_store(
        request.app[POOL_KEY],
        who,
        wanted,
        key,
        correlation_id(request),
        settings.default_max_stores,
    )
    view = store_view(row)
    headers = {"Location": view["links"]["self"], **headers_for(verdict)}
    if not created:
        headers["Idempotent-Replayed"] = "true"
    return json_reply(view, status=202, headers=headers)


@routes.get(f"{API}/stores")
async def list_stores(request: web.Request) -> web.Response:
    limit = page_limit(request)
    rows = await store_db.list_stores(
        request.app[POOL_KEY],
        caller(request),
        owner=query_uuid(request, "owner"),
        status=query_choice(request, "status", STATUSES),
        after=decode_cursor(request),
        limit=limit + 1,
    )
    page = rows[:limit]
    more = len(rows) > limit
    body: StorePage = {
        "items": [store_view(row) for row in page],
        "next_cursor": encode_cursor(page[-1]["created_at"], str(page[-1]["id"])) if more else None,
    }
    return json_reply(body)


@routes.get(f"{API}/stores/{{id}}")
async def get_store(request: web.Request) -> web.Response:
    row = await store_db.visible_store(request.app[POOL_KEY], caller(request), path_id(request))
    return json_reply(store_view(row))


@routes.delete(f"{API}/stores/{{id}}")
async def delete_store(request: web.Request) -> web.Response:
    row = await store_db.request_delete(
        request.app[POOL_KEY],
        caller(request),
        path_id(request),
        correlation_id(request),
    )
    return json_reply(store_view(row), status=202)


@routes.post(f"{API}/stores/{{id}}/retry")
async def retry_store(request: web.Request) -> web.Response:
    row = await store_db.request_retry(
        request.app[POOL_KEY],
        caller(request),
        path_id(request),
        correlation_id(request),
    )
    return json_reply(store_view(row), status=202)


def _version(versions: EngineVersions, asked: str | None, source: object | None) -> str:
    """The version a new store runs; 422 `unknown_engine_version` for one not offered."""
    if asked is None:
        return versions.default
    if source is not None:
        raise unprocessable(
            "engine_version",
            "a clone runs its engine's default version; leave engine_version out",
            "unknown_engine_version",
        )
    if asked not in versions.versions:
        offered = ", ".join(sorted(versions.versions))
        raise unprocessable(
            "engine_version",
            f"unknown version {asked!r} of this engine; offered: {offered}",
            "unknown_engine_version",
        )
    return asked
