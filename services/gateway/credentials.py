"""`GET /stores/{id}/credentials`: the store's WordPress admin login, fetched from the
provisioner by NATS request-reply and never persisted by the gateway.

Contract (subject `shared.subjects.CREDENTIALS_SUBJECT`, outside the `STORES` stream):
the request body is `{"store_id": "<uuid>"}`; the reply is `{"username", "password",
"url"}` or `{"error": {"code", "message"}}` (a bare `{"error": "message"}` is accepted
too). No answer within `STOREFLEET_CREDENTIALS_TIMEOUT_SECONDS` is a 503. Every access,
granted or not, is a row in `credential_access` (see `audit_db`), shown in the audit log.
"""

from __future__ import annotations

import json
from typing import Any

import nats.errors
from aiohttp import web

from services.gateway import audit_db, store_db
from services.gateway.auth import caller
from services.gateway.context import NATS_KEY, POOL_KEY, SETTINGS_KEY
from services.gateway.errors import ApiError, correlation_id, json_reply
from services.gateway.validation import path_id
from services.gateway.views import API, Credentials
from shared.subjects import CREDENTIALS_SUBJECT

routes = web.RouteTableDef()


class Unavailable(Exception):
    """Nobody answered, or the answer made no sense."""


def interpret(reply: Any) -> Credentials | ApiError:
    """The provisioner's reply as credentials or as the refusal to pass on (pure)."""
    if not isinstance(reply, dict):
        raise Unavailable("the provisioner's reply was not a JSON object")
    if "error" in reply:
        error = reply["error"]
        detail = error if isinstance(error, dict) else {"message": str(error)}
        code = str(detail.get("code", "credentials_refused"))
        message = str(detail.get("message", "the provisioner refused"))
        status = 404 if code == "not_found" else 409
        return ApiError(status, code, message)
    fields = ("username", "password", "url")
    if not all(isinstance(reply.get(name), str) for name in fields):
        raise Unavailable("the provisioner's reply lacked username, password or url")
    return {"username": reply["username"], "password": reply["password"], "url": reply["url"]}


async def ask_provisioner(request: web.Request, store_id: str) -> Credentials | ApiError:
    timeout = request.app[SETTINGS_KEY].credentials_timeout_seconds
    payload = json.dumps({"store_id": store_id}).encode()
    try:
        msg = await request.app[NATS_KEY].request(CREDENTIALS_SUBJECT, payload, timeout=timeout)
        return interpret(json.loads(msg.data))
    except (nats.errors.Error, TimeoutError):
        raise Unavailable(f"the provisioner did not answer within {timeout:g} s") from None
    except ValueError:
        raise Unavailable("the provisioner's reply was not JSON") from None


@routes.get(f"{API}/stores/{{id}}/credentials")
async def store_credentials(request: web.Request) -> web.Response:
    pool = request.app[POOL_KEY]
    who = caller(request)
    store_id = path_id(request)
    await store_db.visible_store(pool, who, store_id)
    try:
        answer = await ask_provisioner(request, str(store_id))
    except Unavailable as exc:
        await audit_db.record_access(pool, store_id, who.id, "unavailable", correlation_id(request))
        raise ApiError(
            503,
            "credentials_unavailable",
            f"{exc}; try again shortly",
            headers={"Retry-After": "5"},
        ) from None
    outcome = "refused" if isinstance(answer, ApiError) else "granted"
    await audit_db.record_access(pool, store_id, who.id, outcome, correlation_id(request))
    if isinstance(answer, ApiError):
        raise answer
    return json_reply(answer, headers={"Cache-Control": "no-store"})
