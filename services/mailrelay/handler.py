"""One SMTP session of a store at the relay (aiosmtpd hooks), in the order SMTP runs:

- AUTH (`StoreLogins`): the username is a store id, the password must be the one
  derived for it from the relay key (`shared.mailauth`, constant-time compare); the
  store id is kept on the session. Nothing is accepted without it.
- MAIL FROM: the store must still exist and not be deleting or deleted (the `stores`
  view), and the envelope sender must be the store's own (`policy.Senders`).
- RCPT TO: at most `max_recipients` per message.
- DATA: the From and Sender headers must be the store's own too; the recipients count
  against the store's hourly quota; the message, with the relay's trace header on top,
  goes to the upstream relay with the operator's credentials, and the store gets the
  upstream's verdict (250, 451 to retry, 554 refused). The size bound is aiosmtpd's
  (`data_size_limit`, SIZE in EHLO, 552 beyond it).

Every outcome is counted (`metrics`) and logged with the store id, never a password or
a message's content.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import structlog
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from services.mailrelay import metrics
from services.mailrelay.policy import Senders, header_senders, may_send, with_trace
from services.mailrelay.quota import MailQuota
from services.mailrelay.stores import StoreDirectory, StoreLookupFailed, StoreRecord
from services.mailrelay.upstream import Upstream, UpstreamRefused, UpstreamTemporary
from shared.mailauth import is_store_mail_password

log = structlog.get_logger(__name__)

OK = "250 2.0.0 OK"
NOT_LIVE = "550 5.7.1 This store may not send mail"
SENDER_REFUSED = "553 5.7.1 Sender address is not this store's"
HEADER_REFUSED = "550 5.7.1 From or Sender header is not this store's"
TOO_MANY = "452 4.5.3 Too many recipients"
RATE_LIMITED = "451 4.7.1 This store's mail limit is reached; try again later"
LOOKUP_FAILED = "451 4.3.0 Temporary failure; try again later"
UPSTREAM_TEMPORARY = "451 4.4.1 Mail could not be handed on; try again later"
UPSTREAM_REFUSED = "554 5.0.0 Mail refused by the outgoing relay"


class StoreLogins:
    """aiosmtpd's authenticator: a store's id and its derived password."""

    def __init__(self, key: bytes) -> None:
        self.key = key

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        store_id = data.login.decode(errors="replace")
        ok = is_store_mail_password(self.key, store_id, data.password.decode(errors="replace"))
        metrics.LOGINS.labels(result="accepted" if ok else "refused").inc()
        if not ok:
            log.info("login refused", login=store_id[:64], peer=str(session.peer))
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=store_id)


class RelayHandler:
    def __init__(
        self,
        stores: StoreDirectory,
        senders: Senders,
        quota: MailQuota,
        upstream: Upstream,
        max_recipients: int,
    ) -> None:
        self.stores = stores
        self.senders = senders
        self.quota = quota
        self.upstream = upstream
        self.max_recipients = max_recipients
        self.in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        store_id = str(session.auth_data)
        record = await self._live_store(store_id)
        if isinstance(record, str):
            return record
        if not self.senders.allowed(address, record.slug):
            return _refused("sender_refused", SENDER_REFUSED, store_id, sender=address)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def _live_store(self, store_id: str) -> StoreRecord | str:
        """The store's record, or the reply refusing it."""
        try:
            record = await self.stores.lookup(store_id)
        except StoreLookupFailed as exc:
            return _refused("lookup_failed", LOOKUP_FAILED, store_id, detail=str(exc))
        if record is None or not may_send(record.status):
            status = record.status if record else "unknown"
            return _refused("store_not_live", NOT_LIVE, store_id, status=status)
        return record

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if len(envelope.rcpt_tos) >= self.max_recipients:
            return _refused("too_many_recipients", TOO_MANY, str(session.auth_data))
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.in_flight += 1
        self._idle.clear()
        try:
            return await self._deliver(str(session.auth_data), envelope)
        finally:
            self.in_flight -= 1
            if self.in_flight == 0:
                self._idle.set()

    async def _deliver(self, store_id: str, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        sender = str(envelope.mail_from)
        record = await self._live_store(store_id)  # again: it may be deleted since MAIL
        if isinstance(record, str):
            return record
        forged = [a for a in header_senders(content) if not self.senders.allowed(a, record.slug)]
        if forged:
            return _refused("sender_refused", HEADER_REFUSED, store_id, header=forged[0][:200])
        recipients = list(envelope.rcpt_tos)
        if not await self.quota.take(store_id, len(recipients)):
            return _refused("rate_limited", RATE_LIMITED, store_id, recipients=len(recipients))
        started = time.monotonic()
        try:
            refused = await self.upstream.send(sender, recipients, with_trace(content, store_id))
        except UpstreamTemporary as exc:
            return _refused("upstream_temporary", UPSTREAM_TEMPORARY, store_id, detail=str(exc))
        except UpstreamRefused as exc:
            return _refused("upstream_refused", UPSTREAM_REFUSED, store_id, detail=str(exc))
        finally:
            metrics.UPSTREAM_SECONDS.observe(time.monotonic() - started)
        metrics.MESSAGES.labels(outcome="sent").inc()
        metrics.RECIPIENTS.inc(len(recipients) - refused)
        log.info("mail sent", store_id=store_id, recipients=len(recipients), refused=refused)
        return OK

    async def drain(self, timeout: float) -> int:
        """Wait up to `timeout` for messages being handed upstream; how many were left."""
        try:
            async with asyncio.timeout(timeout):
                await self._idle.wait()
        except TimeoutError:
            pass
        return self.in_flight


def _refused(outcome: str, reply: str, store_id: str, **fields: Any) -> str:
    metrics.MESSAGES.labels(outcome=outcome).inc()
    log.info("mail refused", outcome=outcome, store_id=store_id, **fields)
    return reply
