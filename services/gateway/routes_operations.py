"""Suspend and resume a store, and move it to another plan (202): the owner, or an
administrator for anyone's store. A suspended store's workloads are scaled to zero and its
host answers the platform's "store paused" page; resuming brings it back with the same
data and secrets. `PATCH /stores/{id}` `{"plan": ...}` moves a ready store's quota, limits
and workloads to the plan (the provisioner refuses, with `plan.failed`, a plan its current
usage does not fit). Someone else's store is 404. The body of a suspend is optional
(`{"reason": ...}`).
"""

from __future__ import annotations

from aiohttp import web

from services.gateway import operations_db
from services.gateway.auth import caller
from services.gateway.context import POOL_KEY, SETTINGS_KEY
from services.gateway.errors import correlation_id, json_reply
from services.gateway.validation import (
    ChangeStoreBody,
    SuspendBody,
    known_plan,
    path_id,
    read_body,
)
from services.gateway.views import API, operation_view, plan_change_view

routes = web.RouteTableDef()


async def _operate(request: web.Request, kind: operations_db.Kind, reason: str) -> web.Response:
    store_id = path_id(request)
    operation_id = await operations_db.request_operation(
        request.app[POOL_KEY], caller(request), store_id, kind, reason, correlation_id(request)
    )
    return json_reply(operation_view(str(operation_id), str(store_id), kind), status=202)


@routes.post(f"{API}/stores/{{id}}/suspend")
async def suspend_store(request: web.Request) -> web.Response:
    body = SuspendBody() if not request.body_exists else await read_body(request, SuspendBody)
    return await _operate(request, "suspend", body.reason)


@routes.post(f"{API}/stores/{{id}}/resume")
async def resume_store(request: web.Request) -> web.Response:
    return await _operate(request, "resume", "")


@routes.patch(f"{API}/stores/{{id}}")
async def change_store(request: web.Request) -> web.Response:
    store_id = path_id(request)
    body = await read_body(request, ChangeStoreBody)
    plan = known_plan(body.plan, request.app[SETTINGS_KEY])
    operation_id, previous = await operations_db.request_plan_change(
        request.app[POOL_KEY], caller(request), store_id, plan, correlation_id(request)
    )
    view = plan_change_view(str(operation_id), str(store_id), plan, previous)
    return json_reply(view, status=202)
