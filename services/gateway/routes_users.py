"""The users route: `GET /users`, every user with their role, whether they are disabled,
their own quota (null: the default, given alongside) and how many stores they have that
are not deleted. Admins only; the same list as `python -m services.gateway users list`."""

from __future__ import annotations

from aiohttp import web

from services.gateway import accounts
from services.gateway.auth import require_admin
from services.gateway.context import POOL_KEY, SETTINGS_KEY
from services.gateway.errors import json_reply
from services.gateway.views import API, UserList, user_summary_view

routes = web.RouteTableDef()


@routes.get(f"{API}/users")
async def list_users(request: web.Request) -> web.Response:
    require_admin(request)
    rows = await accounts.list_users(request.app[POOL_KEY])
    body: UserList = {
        "items": [user_summary_view(row) for row in rows],
        "default_max_stores": request.app[SETTINGS_KEY].default_max_stores,
    }
    return json_reply(body)
