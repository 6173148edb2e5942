"""The backup routes of a store: back it up now (202, honouring `Idempotency-Key`), list
its backups (newest first, paginated; deleted ones only when asked) with when the newest
verified one started and whether that is staler than its plan allows, and restore it from
one of its verified backups (202). A clone is a store create with `from_backup`
(`routes_stores`). Someone else's store, or a backup not of this store, is 404.

The decisions and the transactions are `backup_db`'s; the provisioner carries the work
out and the auditor records how it went.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from aiohttp import web

from services.gateway import backup_db
from services.gateway.auth import caller
from services.gateway.context import POOL_KEY, SETTINGS_KEY
from services.gateway.errors import correlation_id, json_reply
from services.gateway.rules import backups_stale
from services.gateway.validation import (
    RestoreBody,
    decode_cursor,
    encode_cursor,
    idempotency_key,
    page_limit,
    path_id,
    query_choice,
    read_body,
)
from services.gateway.views import API, BackupPage, backup_view, restore_view
from shared.plans import BackupPolicy

routes = web.RouteTableDef()


@routes.post(f"{API}/stores/{{id}}/backups")
async def back_up_store(request: web.Request) -> web.Response:
    row, created = await backup_db.request_backup(
        request.app[POOL_KEY],
        caller(request),
        path_id(request),
        idempotency_key(request),
        correlation_id(request),
    )
    headers = {} if created else {"Idempotent-Replayed": "true"}
    return json_reply(backup_view(row), status=202, headers=headers)


@routes.get(f"{API}/stores/{{id}}/backups")
async def list_backups(request: web.Request) -> web.Response:
    store_id = path_id(request)
    limit = page_limit(request)
    listing = await backup_db.list_backups(
        request.app[POOL_KEY],
        caller(request),
        store_id,
        include_deleted=query_choice(request, "include_deleted", ("true", "false")) == "true",
        after=decode_cursor(request),
        limit=limit + 1,
    )
    page = listing.rows[:limit]
    more = len(listing.rows) > limit
    store, last_verified_at = listing.store, listing.last_verified_at
    # A plan since taken out of the catalog: the defaults, as the backup scheduler does.
    plan = request.app[SETTINGS_KEY].plans.get(store["plan"])
    policy = plan.backup if plan else BackupPolicy()
    now = datetime.now(UTC)
    body: BackupPage = {
        "items": [backup_view(row) for row in page],
        "next_cursor": encode_cursor(page[-1]["requested_at"], str(page[-1]["id"]))
        if more
        else None,
        "last_verified_at": last_verified_at,
        "stale": backups_stale(store["status"], store["ready_at"], last_verified_at, policy, now),
        "interval_hours": policy.interval_hours,
    }
    return json_reply(body)


@routes.post(f"{API}/stores/{{id}}/restore")
async def restore_store(request: web.Request) -> web.Response:
    store_id = path_id(request)
    body = await read_body(request, RestoreBody)
    restore_id = await backup_db.request_restore(
        request.app[POOL_KEY],
        caller(request),
        store_id,
        uuid.UUID(body.backup_id),
        correlation_id(request),
    )
    view = restore_view(str(restore_id), str(store_id), body.backup_id)
    return json_reply(view, status=202)
