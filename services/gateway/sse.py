"""`GET /stream`: Server-Sent Events of the caller's store events (admins: all), fed from
JetStream. Each connection reads the `STORES` stream through its own ephemeral ordered
consumer on `store.>` (or `store.*.<id>` when `store_id` narrows it to one store).

The SSE `id:` of each event is its stream sequence, so a reconnect with `Last-Event-ID`
(header, or `last_event_id` for clients that cannot set one) resumes right after it,
without gaps; without one the stream starts with new events. Events of stores the
caller does not own are skipped, using `OwnerCache`. Frames: `id`, `event` (the event
type), `data` (the envelope JSON); a comment line every keep-alive interval.
"""

from __future__ import annotations

import asyncio
import contextlib

import nats.errors
import prometheus_client
import structlog
from aiohttp import web
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy

from services.gateway import store_db
from services.gateway.accounts import Caller
from services.gateway.auth import caller
from services.gateway.context import JETSTREAM_KEY, POOL_KEY, SETTINGS_KEY, STOPPING_KEY
from services.gateway.errors import ApiError
from services.gateway.owners import OwnerCache
from services.gateway.validation import query_uuid
from services.gateway.views import API
from shared.subjects import ALL_STORE_SUBJECTS, SUBJECT_ROOT

log = structlog.get_logger(__name__)
routes = web.RouteTableDef()

OWNERS_KEY = web.AppKey("owners", OwnerCache)
CLIENTS = prometheus_client.Gauge("storefleet_gateway_sse_clients", "open event streams")
WAKE_SECONDS = 1.0  # how often an idle stream checks for shutdown


def last_event_id(request: web.Request) -> int | None:
    raw = request.headers.get("Last-Event-ID", request.query.get("last_event_id"))
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise ApiError(
            400,
            "invalid_last_event_id",
            "Last-Event-ID must be an id this stream sent",
            "Last-Event-ID",
        )
    return int(raw)


def consumer_config(after: int | None) -> ConsumerConfig:
    if after is None:
        return ConsumerConfig(deliver_policy=DeliverPolicy.NEW)
    return ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=after + 1)


def frame(sequence: int, event_type: str, data: bytes) -> bytes:
    """One SSE event; the envelope JSON is a single line, as JSON without raw newlines."""
    body = data.replace(b"\r", b"").replace(b"\n", b"")
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (sequence, event_type.encode(), body)


async def _visible(owners: OwnerCache, who: Caller, store_id: str) -> bool:
    return who.is_admin or await owners.owner_of(store_id) == who.id


@routes.get(f"{API}/stream")
async def stream(request: web.Request) -> web.StreamResponse:
    who = caller(request)
    only = query_uuid(request, "store_id")
    if only is not None:
        await store_db.visible_store(request.app[POOL_KEY], who, only)
    after = last_event_id(request)
    subject = f"{SUBJECT_ROOT}.*.{only}" if only else ALL_STORE_SUBJECTS
    sub = await request.app[JETSTREAM_KEY].subscribe(
        subject,
        stream=request.app[SETTINGS_KEY].stream_name,
        ordered_consumer=True,
        config=consumer_config(after),
    )
    try:
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-store",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        await response.write(b"retry: 2000\n: connected\n\n")
        CLIENTS.inc()
        try:
            await _relay(request.app, who, sub, response)
        finally:
            CLIENTS.dec()
        return response
    finally:
        with contextlib.suppress(nats.errors.Error):
            await sub.unsubscribe()


async def _relay(
    app: web.Application, who: Caller, sub: object, response: web.StreamResponse
) -> None:
    loop = asyncio.get_running_loop()
    quiet_since = loop.time()
    keepalive = app[SETTINGS_KEY].sse_keepalive_seconds
    owners, stopping = app[OWNERS_KEY], app[STOPPING_KEY]
    while not stopping.is_set():
        try:
            msg: Msg = await sub.next_msg(timeout=WAKE_SECONDS)  # type: ignore[attr-defined]
        except TimeoutError:
            if loop.time() - quiet_since >= keepalive:
                if not await _write(response, b": keepalive\n\n"):
                    return
                quiet_since = loop.time()
            continue
        except nats.errors.Error as exc:
            log.warning("event stream ended", error=type(exc).__name__)
            return
        tokens = msg.subject.split(".")
        if len(tokens) != 3 or not await _visible(owners, who, tokens[2]):
            continue
        sequence = msg.metadata.sequence.stream
        if not await _write(response, frame(sequence, tokens[1], msg.data)):
            return
        quiet_since = loop.time()


async def _write(response: web.StreamResponse, data: bytes) -> bool:
    """False once the client has gone."""
    try:
        await response.write(data)
    except (ConnectionResetError, RuntimeError):
        return False
    return True
