"""What a store may send through the relay, decided without I/O: whether a store in a
given status may send at all, which sender addresses are its own (any address at its
host `<slug>.<base domain>`, or the platform's one From), which addresses a message's
From and Sender headers name, and the trace header the relay puts on every message so
an abuse report upstream names the store.

Pure: no I/O. Called by `services.mailrelay.handler` for every message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses

from shared.lifecycle import Status

# A store that is being deleted, or is gone, sends nothing; one being provisioned,
# running, failed (its pods may still run) or retried still owns its namespace.
MAY_SEND = frozenset({Status.REQUESTED, Status.PROVISIONING, Status.READY, Status.FAILED})
TRACE_HEADER = b"X-Storefleet-Store"
SENDER_HEADERS = ("From", "Sender", "Resent-From", "Resent-Sender")
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_LINE = re.compile(rb"\r?\n")


def may_send(status: str | None) -> bool:
    return status in MAY_SEND


@dataclass(frozen=True)
class Senders:
    """The addresses a store may send as."""

    base_domain: str
    platform_from: str = ""

    def store_host(self, slug: str) -> str:
        return f"{slug}.{self.base_domain}".lower()

    def allowed(self, address: str, slug: str) -> bool:
        address = address.strip().lower()
        if self.platform_from and address == self.platform_from.strip().lower():
            return True
        local, at, domain = address.rpartition("@")
        return bool(local and at) and domain == self.store_host(slug)


def header_senders(content: bytes) -> list[str]:
    """The addresses of the message's From and Sender headers; an unparsable one comes
    back as "", which no store may send as."""
    head = _HEAD_END.split(content, maxsplit=1)[0]
    headers = BytesHeaderParser(policy=compat32).parsebytes(head + b"\r\n\r\n")
    values = [str(v) for name in SENDER_HEADERS for v in headers.get_all(name, [])]
    if not values:
        return []
    return [address for _, address in getaddresses(values)] or [""]


def with_trace(content: bytes, store_id: str) -> bytes:
    """The message with the relay's `X-Storefleet-Store` header on top, and any the
    store wrote itself (naming another store, say) taken out."""
    parts = _HEAD_END.split(content, maxsplit=1)
    kept: list[bytes] = []
    dropping = False
    for line in _LINE.split(parts[0]):
        if not line[:1].isspace():  # a new field; otherwise a continuation line
            dropping = line.lower().startswith(TRACE_HEADER.lower() + b":")
        if not dropping:
            kept.append(line)
    head = b"\r\n".join([TRACE_HEADER + b": " + store_id.encode(), *kept])
    return head + (b"\r\n\r\n" + parts[1] if len(parts) == 2 else b"\r\n")
