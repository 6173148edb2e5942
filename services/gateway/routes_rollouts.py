"""Fleet rollouts of an engine upgrade (issue 15), administrators only:
`POST /admin/rollouts` asks for one (201), `GET /admin/rollouts` lists them,
`GET /admin/rollouts/{id}` shows one with its waves' progress and its stores, and
`POST /admin/rollouts/{id}/pause|resume|abort` move it. The gateway only writes the
rows: the reaper's rollout driver picks the stores and requests their upgrades.
"""

from __future__ import annotations

from aiohttp import web

from services.gateway import rollouts_db
from services.gateway.auth import require_admin
from services.gateway.context import POOL_KEY, SETTINGS_KEY, VERSIONS_KEY
from services.gateway.errors import json_reply, unprocessable
from services.gateway.rollout_views import RolloutList, detail_view, rollout_view
from services.gateway.validation import CreateRolloutBody, path_id, read_body
from services.gateway.views import API
from shared.rollout_waves import DEFAULT_WAVES, WaveError, parse_waves

routes = web.RouteTableDef()
BASE = f"{API}/admin/rollouts"


def _checked(body: CreateRolloutBody, request: web.Request) -> tuple[str, ...]:
    """The normalised waves, once the engine and version are known ones."""
    engines = request.app[SETTINGS_KEY].engines
    if body.engine not in engines:
        offered = ", ".join(engines)
        message = f"unknown engine {body.engine!r}; offered: {offered}"
        raise unprocessable("engine", message, "unknown_engine")
    versions = request.app[VERSIONS_KEY][body.engine]
    if body.version not in versions.versions:
        offered = ", ".join(sorted(versions.versions))
        message = f"{body.engine} has no version {body.version!r}; offered: {offered}"
        raise unprocessable("version", message, "unknown_version")
    try:
        return parse_waves(body.waves if body.waves is not None else DEFAULT_WAVES)
    except WaveError as exc:
        raise unprocessable("waves", str(exc), "invalid_waves") from None


@routes.post(BASE)
async def create_rollout(request: web.Request) -> web.Response:
    admin = require_admin(request)
    body = await read_body(request, CreateRolloutBody)
    waves = _checked(body, request)
    row = await rollouts_db.create(
        request.app[POOL_KEY],
        admin.id,
        body.engine,
        body.version,
        waves,
        body.max_concurrent,
        body.failure_threshold,
        body.pause_seconds,
    )
    return json_reply(rollout_view(row), status=201)


@routes.get(BASE)
async def list_rollouts(request: web.Request) -> web.Response:
    require_admin(request)
    rows = await rollouts_db.listing(request.app[POOL_KEY])
    body: RolloutList = {"items": [rollout_view(r) for r in rows]}
    return json_reply(body)


@routes.get(f"{BASE}/{{id}}")
async def get_rollout(request: web.Request) -> web.Response:
    require_admin(request)
    rollout_id = path_id(request, "rollout")
    pool = request.app[POOL_KEY]
    row = await rollouts_db.one(pool, rollout_id)
    return json_reply(detail_view(row, await rollouts_db.members(pool, rollout_id)))


async def _move(request: web.Request, command: str) -> web.Response:
    require_admin(request)
    row = await rollouts_db.move(request.app[POOL_KEY], path_id(request, "rollout"), command)
    return json_reply(rollout_view(row))


@routes.post(f"{BASE}/{{id}}/pause")
async def pause_rollout(request: web.Request) -> web.Response:
    return await _move(request, "pause")


@routes.post(f"{BASE}/{{id}}/resume")
async def resume_rollout(request: web.Request) -> web.Response:
    return await _move(request, "resume")


@routes.post(f"{BASE}/{{id}}/abort")
async def abort_rollout(request: web.Request) -> web.Response:
    return await _move(request, "abort")
