"""The JetStream adapter: connecting to NATS, declaring the stream and durable consumers
from `shared.subjects`, and publishing event envelopes.

Called by every service's `__main__` (connect, ensure_stream, ensure_consumer) and by the
publishers (the gateway's outbox relay, the provisioner, the reaper) through
`publish_event`. It emits JetStream messages on `store.<type>.<store_id>`, each carrying
`Nats-Msg-Id` = the envelope id, so a retried publish inside the stream's duplicate
window is stored once. Consuming lives in `shared.worker`.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import nats
import structlog
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    ConsumerInfo,
    DeliverPolicy,
    Header,
    PubAck,
    RetentionPolicy,
    StorageType,
    StreamConfig,
    StreamInfo,
)
from nats.js.errors import BadRequestError, NotFoundError

from shared.events import Envelope
from shared.nats_access import inbox_prefix
from shared.settings import CommonSettings
from shared.subjects import ConsumerSpec, StreamSpec

log = structlog.get_logger(__name__)

# The server's answer to STREAM.CREATE when the name exists with another configuration.
_STREAM_NAME_IN_USE = 10058
RECONNECT_WAIT_SECONDS = 0.5


class NatsUnavailable(Exception):
    """The first connection to NATS failed; the message names the endpoint only."""

    def __init__(self, url: str) -> None:
        super().__init__(f"NATS is unavailable at {url}")
        self.url = url


def _endpoints(url: str) -> list[str]:
    return [part.strip() for part in url.split(",") if part.strip()]


def _public(url: str) -> str:
    """scheme://host:port of each server, without user, password or token."""
    shown = []
    for server in _endpoints(url):
        parts = urlsplit(server if "://" in server else f"nats://{server}")
        netloc = parts.hostname or ""
        if parts.port:
            netloc = f"{netloc}:{parts.port}"
        shown.append(f"{parts.scheme}://{netloc}")
    return ",".join(shown)


async def connect(
    settings_or_url: CommonSettings | str, name: str, connect_timeout: float | None = None
) -> NATS:
    """Connect once within `connect_timeout`, then reconnect forever if the connection drops.

    Raises `NatsUnavailable` when the first connection cannot be made in time.
    """
    if isinstance(settings_or_url, CommonSettings):
        url = settings_or_url.nats_url
        timeout = connect_timeout or settings_or_url.connect_timeout_seconds
        identity = _identity(settings_or_url)
    else:
        url = settings_or_url
        timeout = connect_timeout or 10.0
        identity = {}
    shown = _public(url)
    nc = NATS()
    options: dict[str, Any] = {
        **identity,
        "servers": _endpoints(url),
        "name": name,
        # Per attempt, so a dead server in a list leaves time to try the next one.
        "connect_timeout": min(timeout, 5.0),
        "reconnect_time_wait": RECONNECT_WAIT_SECONDS,
        "max_reconnect_attempts": -1,
        "error_cb": _on_error,
        "disconnected_cb": _on_disconnected(nc, shown),
        "reconnected_cb": _on_reconnected(shown),
    }
    try:
        # With max_reconnect_attempts=-1 nats-py retries the first connect forever too,
        # so the deadline is ours.
        async with asyncio.timeout(timeout):
            await nc.connect(**options)
    except (TimeoutError, OSError, nats.errors.Error) as exc:
        await nc.close()
        raise NatsUnavailable(shown) from exc
    log.info("nats connected", endpoint=shown, name=name)
    return nc


def _identity(settings: CommonSettings) -> dict[str, Any]:
    """The user, its private reply inboxes, and the CA for tls:// servers."""
    options: dict[str, Any] = {}
    if settings.nats_user:
        password = settings.nats_password.get_secret_value() if settings.nats_password else ""
        options.update(
            user=settings.nats_user,
            password=password,
            inbox_prefix=inbox_prefix(settings.nats_user),
        )
    if settings.nats_ca_file:
        options["tls"] = ssl.create_default_context(cafile=settings.nats_ca_file)
    return options


async def _on_error(exc: Exception) -> None:
    # A permissions violation names the subject refused; never a credential.
    log.warning("nats connection error", error=type(exc).__name__, detail=str(exc)[:200])


def _on_disconnected(nc: NATS, endpoint: str) -> Callable[[], Awaitable[None]]:
    async def callback() -> None:
        if not nc.is_closed:  # close() also calls this; only a lost connection is news
            log.warning("nats disconnected, reconnecting", endpoint=endpoint)

    return callback


def _on_reconnected(endpoint: str) -> Callable[[], Awaitable[None]]:
    async def callback() -> None:
        log.info("nats reconnected", endpoint=endpoint)

    return callback


def stream_config(spec: StreamSpec) -> StreamConfig:
    """The nats-py config for a stream spec: file storage, limits retention."""
    return StreamConfig(
        name=spec.name,
        subjects=list(spec.subjects),
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=spec.max_age.total_seconds(),
        duplicate_window=spec.duplicate_window.total_seconds(),
        num_replicas=spec.replicas,
    )


# Deliveries the server makes beyond a consumer's `max_deliver`, for messages whose
# worker died while holding them (see `consumer_config`).
SPARE_DELIVERIES = 10


def consumer_config(spec: ConsumerSpec) -> ConsumerConfig:
    """The nats-py config for a durable pull consumer with explicit acks.

    nats-py takes durations in seconds (it converts to nanoseconds on the wire). The
    server replaces `ack_wait` with `backoff[0]` when a backoff is given.

    The server's `max_deliver` is the spec's plus `SPARE_DELIVERIES`: handlers give up at
    the spec's count and publish the operation's failure, and the spare deliveries make
    sure a handler sees the message again when its worker died holding the last one.
    With no spare, a worker killed during the final delivery left the operation without
    an outcome for good (the server stops delivering silently).
    """
    return ConsumerConfig(
        name=spec.durable,
        durable_name=spec.durable,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=spec.ack_wait.total_seconds(),
        max_deliver=spec.max_deliver + SPARE_DELIVERIES,
        max_ack_pending=spec.max_ack_pending,
        backoff=[delay.total_seconds() for delay in spec.backoff] or None,
        filter_subject=spec.filter_subject,
    )


async def ensure_stream(js: JetStreamContext, spec: StreamSpec) -> StreamInfo:
    """Create the stream, or bring an existing one to `spec`; safe to call on every start."""
    config = stream_config(spec)
    try:
        # Creating with an identical config is a no-op on the server.
        return await js.add_stream(config)
    except BadRequestError as exc:
        if exc.err_code != _STREAM_NAME_IN_USE:
            raise
    log.info("updating stream", stream=spec.name)
    return await js.update_stream(config)


async def ensure_consumer(js: JetStreamContext, stream: str, spec: ConsumerSpec) -> ConsumerInfo:
    """Create the durable consumer, or update it to `spec`; safe to call on every start.

    CONSUMER.CREATE without an action is create-or-update on the server, so one call
    covers both; settings the server cannot change in place raise `BadRequestError`.
    """
    return await js.add_consumer(stream, consumer_config(spec))


async def publish_event(
    js: JetStreamContext,
    envelope: Envelope,
    stream: str | None = None,
    ack_timeout: float = 5.0,
    *,
    once: bool = False,
) -> PubAck:
    """Publish one event and wait for the stream's ack.

    `ack.duplicate` is true when the stream already held this envelope id (a retry).
    Passing `stream` makes the server refuse a subject that lands in another stream.

    The server drops a repeated id only inside the stream's duplicate window (minutes);
    an operation redelivered later (its worker killed during a long backup) republishes
    its events with the same ids. `once` (with `stream`) first reads the last message on
    the envelope's subject and publishes nothing when it is this envelope: one read more
    per event, for the services whose events are derived from a redeliverable message.
    A repeat with a newer message on its subject in between is still stored again.
    """
    if once:
        if stream is None:
            raise ValueError("publish_event(once=True) needs the stream")
        held = await last_on_subject(js, stream, envelope.subject)
        if held is not None and held[1] == envelope.id:
            return PubAck(stream=stream, seq=held[0], duplicate=True)
    return await js.publish(
        envelope.subject,
        envelope.to_bytes(),
        timeout=ack_timeout,
        stream=stream,
        headers={Header.MSG_ID: envelope.id},
    )


async def last_on_subject(
    js: JetStreamContext, stream: str, subject: str
) -> tuple[int, str | None] | None:
    """The sequence number and `Nats-Msg-Id` of the stream's last message on `subject`,
    or None when it holds none."""
    try:
        msg = await js.get_last_msg(stream, subject)
    except NotFoundError:
        return None
    return msg.seq or 0, (msg.headers or {}).get(Header.MSG_ID)
