"""A real mail relay for tests: the operator's upstream relay is an aiosmtpd server on
127.0.0.1 that takes mail only with the operator's login and keeps what it received;
the relay is `python -m services.mailrelay` started through `devtools.launcher`, with a
migrated database of its own, logging at debug level to a file the tests read."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
import asyncpg
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from devtools import procs
from devtools.launcher import settings_env
from shared.mailauth import store_mail_password

BASE_DOMAIN = "shops.example.test"
PLATFORM_FROM = "noreply@platform.example.test"
UPSTREAM_USER = "operator"
UPSTREAM_PASSWORD = "upstream-Pa55-only-the-operator-knows"
RELAY_KEY = "relay-key-0123456789-abcdefghijklmnopqrstuvwxyz"
MAX_BYTES = 64 * 1024
LIMIT = 3  # recipients per store per hour


@dataclass
class Received:
    login: str
    sender: str
    recipients: list[str]
    content: bytes


@dataclass
class Upstream:
    """What the operator's relay received, and with which login."""

    received: list[Received] = field(default_factory=list)

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            UPSTREAM_USER.encode(),
            UPSTREAM_PASSWORD.encode(),
        )
        return AuthResult(success=ok, handled=False, auth_data=data if ok else None)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        login = session.auth_data.login.decode() if session.auth_data else ""
        sender, recipients = str(envelope.mail_from), list(envelope.rcpt_tos)
        self.received.append(Received(login, sender, recipients, envelope.original_content or b""))
        return "250 2.0.0 OK"

    def to(self, recipient: str) -> list[Received]:
        return [r for r in self.received if recipient in r.recipients]


@dataclass
class Relay:
    port: int
    log: Path
    pool: asyncpg.Pool
    upstream: Upstream

    async def add_store(self, status: str = "ready") -> tuple[str, str]:
        """A store in `status`, as the stores view shows it; its id and slug."""
        store_id = uuid.uuid4()
        slug = f"shop-{store_id.hex[:8]}"
        await self.pool.execute(
            "INSERT INTO store_states (id, owner_id, name, slug, namespace, engine, plan,"
            " status) VALUES ($1, $2, 'Shop', $3, $4, 'woocommerce', 'small', $5)",
            store_id, uuid.uuid4(), slug, f"store-{slug}", status,
        )  # fmt: skip
        return str(store_id), slug

    async def send(
        self,
        login: str,
        password: str,
        sender: str,
        recipients: list[str],
        header_from: str | None = None,
        body: str = "Your order is on its way.",
    ) -> None:
        message = EmailMessage()
        message["From"] = header_from or sender
        message["To"] = ", ".join(recipients)
        message["Subject"] = "Order 1001"
        message.set_content(body)
        await aiosmtplib.send(
            message, sender=sender, recipients=recipients, hostname="127.0.0.1",
            port=self.port, username=login, password=password, start_tls=False, timeout=10,
        )  # fmt: skip


def password_of(store_id: str) -> str:
    """What the provisioner puts in the store's own Secret."""
    return store_mail_password(RELAY_KEY.encode(), store_id)


def start_upstream(upstream: Upstream) -> Controller:
    controller = Controller(
        upstream, hostname="127.0.0.1", port=procs.free_port(), auth_required=True,
        auth_require_tls=False, authenticator=upstream.authenticate,
    )  # fmt: skip
    controller.start()
    return controller


def relay_env(database_url: str, port: int, health: int, upstream_port: int) -> dict[str, str]:
    return settings_env(
        database_url=database_url, listen_host="127.0.0.1", listen_port=port,
        health_host="127.0.0.1", health_port=health, log_level="debug",
        mail_relay_key=RELAY_KEY, base_domain=BASE_DOMAIN, mail_from=PLATFORM_FROM,
        max_message_bytes=MAX_BYTES, mail_rate_limit=f"{LIMIT}/hour",
        upstream_host="127.0.0.1", upstream_port=upstream_port, upstream_security="none",
        upstream_username=UPSTREAM_USER, upstream_password=UPSTREAM_PASSWORD,
    )  # fmt: skip
