"""The webhook routes: register an endpoint (its signing secret in the answer, once),
list, delete, rotate its secret (the new one shown once), read its deliveries with their
attempts, queue deliveries again (one event, or everything since a time), and queue a
test delivery of a synthetic `webhook.test` event (`webhook_test_send`). Someone
else's endpoint is 404, unless the caller is an administrator.

The transactions are `webhook_db`'s; the webhooks service (`services/webhooks`) sends.
"""

from __future__ import annotations

from aiohttp import web

from services.gateway import webhook_db
from services.gateway.auth import caller
from services.gateway.context import POOL_KEY
from services.gateway.errors import ApiError, correlation_id, json_reply
from services.gateway.validation import (
    decode_cursor,
    encode_cursor,
    page_limit,
    path_id,
    read_body,
)
from services.gateway.views import API
from services.gateway.webhook_test_send import synthetic_event
from services.gateway.webhook_validation import CreateWebhookBody, RedeliverBody
from services.gateway.webhook_views import (
    DeliveryPage,
    TestSend,
    delivery_view,
    endpoint_view,
    new_endpoint_view,
)
from shared.webhook_signing import new_secret, present_secret

routes = web.RouteTableDef()


@routes.post(f"{API}/webhooks")
async def create_webhook(request: web.Request) -> web.Response:
    body = await read_body(request, CreateWebhookBody)
    secret = new_secret()
    row = await webhook_db.create_endpoint(request.app[POOL_KEY], caller(request), body, secret)
    return json_reply(new_endpoint_view(row, present_secret(secret)), status=201)


@routes.get(f"{API}/webhooks")
async def list_webhooks(request: web.Request) -> web.Response:
    rows = await webhook_db.list_endpoints(request.app[POOL_KEY], caller(request))
    return json_reply({"items": [endpoint_view(row) for row in rows]})


@routes.get(f"{API}/webhooks/{{id}}")
async def get_webhook(request: web.Request) -> web.Response:
    endpoint_id = path_id(request, "webhook")
    row = await webhook_db.visible_endpoint(request.app[POOL_KEY], caller(request), endpoint_id)
    return json_reply(endpoint_view(row))


@routes.delete(f"{API}/webhooks/{{id}}")
async def delete_webhook(request: web.Request) -> web.Response:
    endpoint_id = path_id(request, "webhook")
    await webhook_db.delete_endpoint(request.app[POOL_KEY], caller(request), endpoint_id)
    return web.Response(status=204)


@routes.post(f"{API}/webhooks/{{id}}/rotate-secret")
async def rotate_webhook_secret(request: web.Request) -> web.Response:
    endpoint_id = path_id(request, "webhook")
    secret = new_secret()
    await webhook_db.rotate_secret(request.app[POOL_KEY], caller(request), endpoint_id, secret)
    return json_reply({"id": endpoint_id, "secret": present_secret(secret)})


@routes.get(f"{API}/webhooks/{{id}}/deliveries")
async def list_webhook_deliveries(request: web.Request) -> web.Response:
    endpoint_id = path_id(request, "webhook")
    limit = page_limit(request)
    after = decode_cursor(request)
    if after is not None and not (after[1].isascii() and after[1].isdigit()):
        raise ApiError(400, "invalid_cursor", "cursor is not one this API gave", "cursor")
    listing = await webhook_db.list_deliveries(
        request.app[POOL_KEY], caller(request), endpoint_id, after, limit + 1
    )
    page = listing.rows[:limit]
    last = page[-1] if len(listing.rows) > limit else None
    body: DeliveryPage = {
        "items": [delivery_view(row, listing.attempts.get(row["id"], [])) for row in page],
        "next_cursor": encode_cursor(last["created_at"], str(last["id"])) if last else None,
    }
    return json_reply(body)


@routes.post(f"{API}/webhooks/{{id}}/redeliver")
async def redeliver_webhook(request: web.Request) -> web.Response:
    endpoint_id = path_id(request, "webhook")
    body = await read_body(request, RedeliverBody)
    count = await webhook_db.redeliver(request.app[POOL_KEY], caller(request), endpoint_id, body)
    return json_reply({"redelivered": count}, status=202)


@routes.post(f"{API}/webhooks/{{id}}/test")
async def send_test_webhook(request: web.Request) -> web.Response:
    endpoint_id = path_id(request, "webhook")
    who = caller(request)
    event = synthetic_event(endpoint_id, who.id, correlation_id(request))
    delivery_id = await webhook_db.queue_test(request.app[POOL_KEY], who, endpoint_id, event)
    sent: TestSend = {"id": delivery_id, "event_id": event.id}
    return json_reply(sent, status=202)
