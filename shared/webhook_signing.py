"""Signing webhook deliveries the Standard Webhooks way (standardwebhooks.com): the
headers `webhook-id`, `webhook-timestamp` and `webhook-signature`, the signature being
`v1,<base64(HMAC-SHA256(secret, "<id>.<timestamp>.<body>"))>`; the secret is shown to its
owner as `whsec_<base64>`.

Pure: no I/O. The gateway makes and shows secrets (`new_secret`, `present_secret`); the
webhooks service signs each attempt (`signed_headers`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SECRET_BYTES = 32
SECRET_PREFIX = "whsec_"


def new_secret() -> bytes:
    return secrets.token_bytes(SECRET_BYTES)


def present_secret(secret: bytes) -> str:
    """The secret as its owner configures it in their receiver."""
    return SECRET_PREFIX + base64.b64encode(secret).decode()


def signature(secret: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(secret: bytes, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The headers of one attempt; `message_id` is the event's id, the same on every retry
    so receivers can drop duplicates."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, message_id, timestamp, body),
        "content-type": "application/json",
    }
