"""The operator's upstream SMTP relay, which every accepted message is handed to with
the operator's credentials (aiosmtplib). Those credentials live here, in the relay's
process in the platform namespace, and nowhere a store can read.

A refusal or failure upstream becomes `UpstreamTemporary` (the store may try again:
4xx, a timeout, a refused connection, or the operator's login refused, which is the
platform's fault) or `UpstreamRefused` (5xx for the message: it would fail again).
Neither carries the upstream's credentials; the upstream's reply goes to the log only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import aiosmtplib

Security = Literal["starttls", "tls", "none"]


class UpstreamTemporary(Exception):
    """Try again later."""


class UpstreamRefused(Exception):
    """The upstream relay refused the message for good."""


@dataclass(frozen=True)
class Upstream:
    host: str
    port: int
    security: Security
    username: str
    password: str = field(repr=False)
    timeout: float = 30.0

    async def send(self, sender: str, recipients: Sequence[str], message: bytes) -> int:
        """Hand `message` over; the number of recipients the upstream refused."""
        try:
            refused, _ = await aiosmtplib.send(
                message,
                sender=sender,
                recipients=list(recipients),
                hostname=self.host,
                port=self.port,
                username=self.username or None,
                password=self.password or None,
                use_tls=self.security == "tls",
                start_tls=self.security == "starttls",
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise UpstreamTemporary(f"upstream refused the operator's login: {exc.code}") from None
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = sorted({r.code for r in exc.recipients})
            error = UpstreamTemporary if all(400 <= c < 500 for c in codes) else UpstreamRefused
            raise error(f"upstream refused every recipient: {codes}") from None
        except aiosmtplib.SMTPResponseException as exc:
            error = UpstreamTemporary if 400 <= exc.code < 500 else UpstreamRefused
            raise error(f"upstream answered {exc.code} {exc.message[:200]}") from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise UpstreamTemporary(f"upstream unreachable: {type(exc).__name__}") from None
        return len(refused)
