"""`GET /stream`: Server-Sent Events of the caller's store events (admins: all), fed from
JetStream. Each connection reads the `STORES` stream through its own ephemeral ordered
consumer on `store.>` (or `store.*.<id>` and `store.*.*.<id>` when `store_id` narrows it
to one store).

The SSE `id:` of each event is its stream sequence, so a reconnect with `Last-Event-ID`
(header, or `last_event_id` for clients that cannot set one) resumes right after it,
without gaps; without one the stream starts with new events. A Last-Event-ID more than
`sse_replay_max_events` behind the stream's end replays nothing: the stream opens with a
`reset` event (its id is the stream's last sequence) telling the client to re-read the
store list, then carries new events. Events of stores the caller does not own are
skipped, using `OwnerCache`. Frames: `id`, `event` (the event type), `data` (the envelope
JSON); a comment line every keep-alive interval.

A user holds at most `sse_streams_per_user` streams on a replica (429 beyond), and a
stream ends, after an `end` event, once its token or session no longer holds (see
`streams`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass

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
from services.gateway.streams import STREAMS_KEY, OpenStream
from services.gateway.validation import query_uuid
from services.gateway.views import API
from shared.subjects import ALL_STORE_SUBJECTS, split_subject, store_filters

log = structlog.get_logger(__name__)
routes = web.RouteTableDef()

OWNERS_KEY = web.AppKey("owners", OwnerCache)
CLIENTS = prometheus_client.Gauge("storefleet_gateway_sse_clients", "open event streams")
WAKE_SECONDS = 1.0  # how often an idle stream checks for shutdown and a prompted re-check
ENDED = (
    b'event: end\ndata: {"code": "unauthenticated", "message":'
    b' "the credential of this stream was revoked or has expired"}\n\n'
)


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


@dataclass(frozen=True)
class Start:
    """Where a stream starts: after sequence `after` (None: new events only), and the
    `reset` frame to send first when the client's Last-Event-ID was too far back."""

    after: int | None
    reset: bytes | None = None


async def start_of(app: web.Application, after: int | None) -> Start:
    """Bound the replay: more than `sse_replay_max_events` back starts at the end instead."""
    settings = app[SETTINGS_KEY]
    if after is None:
        return Start(None)
    info = await app[JETSTREAM_KEY].stream_info(settings.stream_name)
    last = info.state.last_seq
    if last - after <= settings.sse_replay_max_events:
        return Start(after)
    limit = settings.sse_replay_max_events
    body = json.dumps(
        {
            "reason": "replay_limit",
            "message": f"Last-Event-ID is more than {limit} events back; re-read the store list",
        }
    )
    return Start(last, b"id: %d\nevent: reset\ndata: %s\n\n" % (last, body.encode()))


@routes.get(f"{API}/stream")
async def stream(request: web.Request) -> web.StreamResponse:
    who = caller(request)
    only = query_uuid(request, "store_id")
    if only is not None:
        await store_db.visible_store(request.app[POOL_KEY], who, only)
    after = last_event_id(request)
    async with request.app[STREAMS_KEY].open(request.app[POOL_KEY], who) as opened:
        start = await start_of(request.app, after)
        config = consumer_config(start.after)
        if only:
            config.filter_subjects = list(store_filters(str(only)))
        sub = await request.app[JETSTREAM_KEY].subscribe(
            ALL_STORE_SUBJECTS,
            stream=request.app[SETTINGS_KEY].stream_name,
            ordered_consumer=True,
            config=config,
        )
        try:
            return await _serve(request, opened, sub, start)
        finally:
            with contextlib.suppress(nats.errors.Error):
                await sub.unsubscribe()


async def _serve(
    request: web.Request, opened: OpenStream, sub: object, start: Start
) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    await response.write(b"retry: 2000\n: connected\n\n")
    if start.reset is not None and not await _write(response, start.reset):
        return response
    CLIENTS.inc()
    try:
        await _relay(request.app, opened, sub, response)
    finally:
        CLIENTS.dec()
    return response


async def _relay(
    app: web.Application, opened: OpenStream, sub: object, response: web.StreamResponse
) -> None:
    loop = asyncio.get_running_loop()
    quiet_since = loop.time()
    keepalive = app[SETTINGS_KEY].sse_keepalive_seconds
    owners, stopping, pool = app[OWNERS_KEY], app[STOPPING_KEY], app[POOL_KEY]
    while not stopping.is_set():
        if not await opened.credential_holds(pool):
            await _write(response, ENDED)
            return
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
        parts = split_subject(msg.subject)
        if parts is None or not await _visible(owners, opened.who, parts[1]):
            continue
        sequence = msg.metadata.sequence.stream
        if not await _write(response, frame(sequence, parts[0], msg.data)):
            return
        quiet_since = loop.time()


async def _write(response: web.StreamResponse, data: bytes) -> bool:
    """False once the client has gone."""
    try:
        await response.write(data)
    except (ConnectionResetError, RuntimeError):
        return False
    return True
