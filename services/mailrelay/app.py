"""The mail relay process: opens a read-only Postgres pool (the `stores` view), then
serves SMTP to the stores (aiosmtpd, AUTH required) and hands every accepted message to
the operator's upstream relay, until told to stop. Stopping closes the listener, lets
messages being handed upstream finish within the grace period, logs how many it
dropped, and closes the stores' remaining connections.

Called from `services.mailrelay.__main__` through `shared.service.run_service`.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import warnings
import weakref

import structlog
from aiosmtpd.smtp import SMTP

from services.mailrelay.handler import RelayHandler, StoreLogins
from services.mailrelay.policy import Senders
from services.mailrelay.quota import MailQuota
from services.mailrelay.settings import MailRelaySettings
from services.mailrelay.stores import PostgresStores
from services.mailrelay.upstream import Upstream
from shared.resources import open_database
from shared.service import Runtime
from shared.settings import SettingsError

log = structlog.get_logger(__name__)
# aiosmtpd's own log writes AUTH LOGIN answers and message lines at debug level, and
# warns on every connection that AUTH needs no TLS (the pod network carries it; see
# docs/security.md). The relay logs what happens itself, without secrets.
logging.getLogger("mail.log").setLevel(logging.ERROR)
warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
SESSION_TIMEOUT = 60.0


def upstream_of(settings: MailRelaySettings) -> Upstream:
    return Upstream(
        settings.upstream_host,
        settings.upstream_port,
        settings.upstream_security,
        settings.upstream_username,
        settings.upstream_password.get_secret_value(),
        settings.upstream_timeout_seconds,
    )


def handler_of(settings: MailRelaySettings, stores: PostgresStores) -> RelayHandler:
    return RelayHandler(
        stores,
        Senders(settings.base_domain, settings.mail_from),
        MailQuota(settings.rate_limit_storage, settings.mail_rate_limit),
        upstream_of(settings),
        settings.max_recipients,
    )


async def serve_smtp(
    settings: MailRelaySettings, handler: RelayHandler, sessions: weakref.WeakSet[SMTP]
) -> asyncio.Server:
    logins = StoreLogins(settings.mail_relay_key.get_secret_value().encode())
    hostname = socket.gethostname()

    def session() -> SMTP:
        protocol = SMTP(
            handler,
            hostname=hostname,
            data_size_limit=settings.max_message_bytes,
            auth_required=True,
            auth_require_tls=False,
            authenticator=logins,
            timeout=SESSION_TIMEOUT,
        )
        sessions.add(protocol)
        return protocol

    loop = asyncio.get_running_loop()
    try:
        return await loop.create_server(session, settings.listen_host, settings.listen_port)
    except OSError as exc:
        where = f"{settings.listen_host}:{settings.listen_port}"
        raise SettingsError(f"cannot serve SMTP on {where}: {exc.strerror}") from exc


async def main(settings: MailRelaySettings, runtime: Runtime) -> None:
    pool = await open_database(
        runtime, settings, max_size=settings.database_pool_size, read_only=True
    )
    handler = handler_of(settings, PostgresStores(pool))
    sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()
    server = await serve_smtp(settings, handler, sessions)

    async def serving() -> bool:
        return server.is_serving()

    runtime.health.add("smtp", serving)
    log.info("serving SMTP", host=settings.listen_host, port=settings.listen_port)
    await runtime.stopping.wait()
    server.close()
    dropped = await handler.drain(settings.shutdown_grace_seconds)
    if dropped:
        log.warning("stopped with messages still being handed upstream", dropped=dropped)
    for protocol in list(sessions):
        if protocol.transport is not None:
            protocol.transport.close()
    await server.wait_closed()
